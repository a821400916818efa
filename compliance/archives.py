"""Zip archives from users, expanded in bounded time and memory (``.reqifz``, ``.xlsx``).

A zip member's sizes in the central directory and the local header are whatever the sender
wrote, and a small archive can expand a thousandfold or more (a decompression bomb). So the
members are first decompressed in fixed-size chunks with a running count of the bytes that
actually come out, keeping none of them, and the archive is refused as soon as the count
passes the cap: refusing costs one chunk of memory and the time to inflate the cap, whatever
the compression ratio. The cap itself is also bounded by a multiple of the archive's own size
(:func:`expansion_limit`), so a bomb that would fit under it is refused after a few
hundredfold too. Only an archive that fits is read for real, each member once, into one
buffer of the size just measured.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable, Iterable

CHUNK = 1 << 20
# Below this, the ratio to the archive's size is not held against an archive: a small file
# of repetitive XML may legitimately expand a few hundredfold.
RATIO_FLOOR = 8 << 20

__all__ = ["ArchiveRefused", "Limit", "expansion_limit", "measure", "read_measured"]


class ArchiveRefused(ValueError):
    """The archive cannot be expanded safely; the message is meant for the user."""


class Limit(int):
    """A byte limit that says where it comes from, for the refusal message."""

    why: str = ""

    def __new__(cls, value: int, why: str = ""):
        limit = super().__new__(cls, value)
        limit.why = why
        return limit

    def __str__(self) -> str:
        return f"{int(self):,} bytes{self.why}"


def expansion_limit(archive_size: int, cap: int, max_ratio: int) -> Limit:
    """What an archive of ``archive_size`` bytes may expand to: ``cap``, and no more than
    ``max_ratio`` times its own size (above :data:`RATIO_FLOOR`).

    Real ReqIF and workbook XML deflates 10 to 25-fold; a decompression bomb a thousandfold.
    The ratio bound stops a bomb after inflating a few hundred times its size, so even one
    that expands to just under the cap costs next to nothing.
    """
    by_ratio = max(max_ratio * archive_size, RATIO_FLOOR)
    if by_ratio < cap:
        return Limit(by_ratio, f" ({max_ratio} times the archive's size)")
    return Limit(cap)


def _corrupt(info: zipfile.ZipInfo, exc: BaseException) -> ArchiveRefused:
    return ArchiveRefused(f"member {info.filename!r} is corrupt or unreadable: {exc}")


_READ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
)


def measure(
    archive: zipfile.ZipFile,
    members: Iterable[zipfile.ZipInfo],
    limit: int | Limit,
    what: str,
    inspect: Callable[[zipfile.ZipInfo, bytes], None] | None = None,
) -> dict[str, int]:
    """Decompress ``members`` chunk by chunk and return ``{name: actual size}``.

    Raises :class:`ArchiveRefused` when the declared or the actual total passes ``limit``
    bytes (``what`` names the members in the message, e.g. "its .reqif members") or a member
    is corrupt. ``inspect(info, window)`` sees every chunk with the end of the previous one
    in front of it, for scanning without keeping the content.
    """
    members = list(members)
    limit = limit if isinstance(limit, Limit) else Limit(limit)
    declared = sum(info.file_size for info in members)
    if declared > limit:
        raise ArchiveRefused(
            f"{what} declare {declared:,} bytes uncompressed; the limit is {limit}"
        )
    sizes: dict[str, int] = {}
    total = 0
    for info in members:
        size = 0
        tail = b""
        try:
            with archive.open(info) as stream:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    total += len(chunk)
                    if total > limit:
                        raise ArchiveRefused(
                            f"{what} expand to more than the limit of {limit} "
                            f"(passed while expanding member {info.filename!r}, whatever "
                            "the archive declares)"
                        )
                    if inspect is not None:
                        inspect(info, tail + chunk)
                        tail = chunk[-64:]
        except _READ_ERRORS as exc:
            raise _corrupt(info, exc) from None
        sizes[info.filename] = size
    return sizes


def read_measured(
    archive: zipfile.ZipFile, members: Iterable[zipfile.ZipInfo], sizes: dict[str, int]
) -> dict[str, bytearray]:
    """Read ``members`` whose sizes :func:`measure` established; never more than measured.

    Each member goes into one buffer of exactly its measured size, a chunk at a time: reading
    it whole would hold it twice while zlib grows its output.
    """
    result: dict[str, bytearray] = {}
    for info in members:
        expected = sizes[info.filename]
        buffer = bytearray(expected)
        view = memoryview(buffer)
        filled = 0
        try:
            with archive.open(info) as stream:
                while chunk := stream.read(min(CHUNK, expected - filled + 1)):
                    if filled + len(chunk) > expected:
                        raise ArchiveRefused(f"member {info.filename!r} changed while it was read")
                    view[filled : filled + len(chunk)] = chunk
                    filled += len(chunk)
        except _READ_ERRORS as exc:
            raise _corrupt(info, exc) from None
        finally:
            view.release()
        if filled != expected:
            raise ArchiveRefused(f"member {info.filename!r} changed while it was read")
        result[info.filename] = buffer
    return result
