"""Decompression bombs built by hand, for the tests and the benchmark that refuse them.

The zip is assembled byte by byte so that a test controls what the headers declare: a
member's central-directory size may be the truth or a lie. Zeros compress about a
thousandfold with deflate, so 400 MB of them fit in about 400 KB.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

MB = 1 << 20


@dataclass(frozen=True)
class Member:
    name: str
    compressed: bytes
    crc: int
    size: int  # what the member really expands to
    declared: int | None = None  # what the headers say, when that is a lie

    @classmethod
    def of(cls, name: str, data: bytes) -> Member:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        compressed = packer.compress(data) + packer.flush()
        return cls(name, compressed, zlib.crc32(data), len(data))

    @classmethod
    def zeros(cls, name: str, size: int, declared: int | None = None) -> Member:
        """``size`` zero bytes, deflated (never held whole)."""
        return cls.filled(name, size, declared=declared)

    @classmethod
    def filled(
        cls,
        name: str,
        size: int,
        fill: bytes = b"\0",
        head: bytes = b"",
        tail: bytes = b"",
        declared: int | None = None,
    ) -> Member:
        """``head``, then ``fill`` repeated, then ``tail``: ``size`` bytes, never held whole.

        After a full flush the compressor forgets its history, so every further megabyte of
        the fill compresses to the same bytes: the stream is built by repeating them.
        """
        blocks, rest = divmod(size - len(head) - len(tail), MB)
        assert blocks >= 2
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        block = fill * MB
        start = packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH)
        first = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
        again = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
        assert again == first
        end = fill * rest + tail
        compressed = b"".join([start, first * blocks, packer.compress(end), packer.flush()])
        crc = zlib.crc32(head)
        for _ in range(blocks):
            crc = zlib.crc32(block, crc)
        return cls(name, compressed, zlib.crc32(end, crc), size, declared)

    def renamed(self, name: str, declared: int | None = None) -> Member:
        return Member(name, self.compressed, self.crc, self.size, declared)


def build_zip(members: list[Member]) -> bytes:
    """A zip (deflate, no ZIP64) of ``members``, each declaring ``declared`` or its size."""
    out, central = bytearray(), bytearray()
    for m in members:
        name = m.name.encode()
        size = m.size if m.declared is None else m.declared
        fields = (20, 0, 8, 0, 0x21, m.crc, len(m.compressed), size, len(name))
        offset = len(out)
        out += struct.pack("<I5HIIIHH", 0x04034B50, *fields, 0) + name + m.compressed
        central += struct.pack("<IH5HIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, 0, offset)
        central += name
    start = len(out)
    out += central
    out += struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), start, 0
    )
    return bytes(out)


CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    b'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
    b"</Types>"
)


def reqifz(bomb: Member) -> bytes:
    """A .reqifz whose one .reqif member is the bomb."""
    return build_zip([bomb.renamed("requirements.reqif", bomb.declared)])


def xlsx(bomb: Member) -> bytes:
    """An .xlsx whose worksheet is the bomb."""
    return build_zip(
        [
            Member.of("[Content_Types].xml", CONTENT_TYPES),
            bomb.renamed("xl/worksheets/sheet1.xml", bomb.declared),
        ]
    )


SHEET_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org'
    b'/spreadsheetml/2006/main"><sheetData>'
)
SHEET_TAIL = b"</sheetData></worksheet>"


def workbook(sheet_size: int) -> bytes:
    """A real workbook (made by openpyxl) whose worksheet is ``sheet_size`` bytes of blanks."""
    from openpyxl import Workbook

    buffer = io.BytesIO()
    Workbook().save(buffer)
    source = zipfile.ZipFile(buffer)
    sheet = "xl/worksheets/sheet1.xml"
    members = [
        Member.of(i.filename, source.read(i)) for i in source.infolist() if i.filename != sheet
    ]
    members.append(Member.filled(sheet, sheet_size, b" ", SHEET_HEAD, SHEET_TAIL))
    return build_zip(members)
