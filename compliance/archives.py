"""Zip archives from users, expanded in bounded time and memory (``.reqifz``, ``.xlsx``).

A zip member's sizes in the central directory and the local header are whatever the sender
wrote, and a small archive can expand a thousandfold or more (a decompression bomb). So the
members are first decompressed in fixed-size chunks with a running count of the bytes that
actually come out, keeping none of them, and the archive is refused as soon as the count
passes the cap: refusing costs one chunk of memory and the time to inflate the cap, whatever
the compression ratio. Only an archive that fits is read for real, each member once, in one
buffer of the size just measured.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable, Iterable

CHUNK = 1 << 20

__all__ = ["ArchiveRefused", "measure", "read_measured"]


class ArchiveRefused(ValueError):
    """The archive cannot be expanded safely; the message is meant for the user."""


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
    limit: int,
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
    declared = sum(info.file_size for info in members)
    if declared > limit:
        raise ArchiveRefused(
            f"{what} declare {declared:,} bytes uncompressed; the limit is {limit:,} bytes"
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
                            f"{what} expand to more than the limit of {limit:,} bytes "
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
) -> dict[str, bytes]:
    """Read ``members`` whose sizes :func:`measure` established; never more than measured."""
    result: dict[str, bytes] = {}
    for info in members:
        expected = sizes[info.filename]
        try:
            with archive.open(info) as stream:
                data = stream.read(expected + 1)
        except _READ_ERRORS as exc:
            raise _corrupt(info, exc) from None
        if len(data) != expected:
            raise ArchiveRefused(f"member {info.filename!r} changed while it was read")
        result[info.filename] = data
    return result
