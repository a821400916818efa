"""``.reqifz`` archives: a zip of ``.reqif`` files (plus attachments), read defensively.

Members with unsafe names (``..``, absolute paths, drive letters), symlinks, encrypted members,
too many entries, or more than ``max_total_bytes`` of ``.reqif`` content (checked on the
declared sizes and again while decompressing, see :mod:`compliance.archives`) are refused.
"""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile

from compliance import archives
from compliance.reqif.document import ReqIFDocument, ReqIFError
from compliance.reqif.reader import parse_reqif

__all__ = [
    "DEFAULT_MAX_ARCHIVE_BYTES",
    "DEFAULT_MAX_ARCHIVE_FILES",
    "DEFAULT_MAX_EXPANSION_RATIO",
    "parse_reqif_archive",
    "read_reqif_archive",
]

DEFAULT_MAX_ARCHIVE_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_ARCHIVE_FILES = 1000
DEFAULT_MAX_EXPANSION_RATIO = 200

_DRIVE = re.compile(r"^[A-Za-z]:")


def _unsafe_member_reason(info: zipfile.ZipInfo) -> str | None:
    raw = info.orig_filename
    name = raw.replace("\\", "/")
    if "\x00" in raw:
        return "contains a NUL character"
    if name.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(name):
        return "starts with a drive letter"
    if any(part == ".." for part in name.split("/")):
        return "climbs out of the archive with '..'"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    if info.flag_bits & 0x1:
        return "is encrypted"
    return None


def read_reqif_archive(
    source: str | os.PathLike[str] | bytes,
    max_total_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES,
    max_files: int = DEFAULT_MAX_ARCHIVE_FILES,
    max_ratio: int | None = DEFAULT_MAX_EXPANSION_RATIO,
    *,
    include_files: bool = False,
) -> dict[str, bytearray]:
    """Read the ``.reqif`` members of a ``.reqifz`` archive; return ``{member name: content}``.

    ``source`` is a path or the archive's bytes. The whole archive is refused (ReqIFError) if
    it has more than ``max_files`` entries, or any entry with an unsafe name (``..``, absolute
    path, drive letter, NUL), a symlink or an encrypted entry, a repeated name, or if the
    ``.reqif`` members declare or expand to more than ``max_total_bytes`` in total. The
    expansion is counted while decompressing, keeping nothing, and stops at the cap (see
    :mod:`compliance.archives`), so a decompression bomb costs one chunk of memory; with
    ``max_ratio``, no more than that many times the archive's own size either. Other members
    (attachments such as images) are read too with ``include_files``, under the same limit.
    """
    opened: io.BytesIO | str | os.PathLike[str]
    opened = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        archive = zipfile.ZipFile(opened)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise ReqIFError(f"not a readable .reqifz (zip) archive: {exc}") from None
    except OSError as exc:
        raise ReqIFError(f"cannot open the archive: {exc}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > max_files:
            raise ReqIFError(
                f"archive refused: {len(infos)} entries, more than the limit of {max_files}"
            )
        members: list[zipfile.ZipInfo] = []
        seen: set[str] = set()
        for info in infos:
            reason = _unsafe_member_reason(info)
            if reason is not None:
                raise ReqIFError(f"archive refused: member {info.orig_filename!r} {reason}")
            if info.filename in seen:
                raise ReqIFError(f"archive refused: member name {info.filename!r} repeats")
            seen.add(info.filename)
            if not info.is_dir() and (include_files or info.filename.lower().endswith(".reqif")):
                members.append(info)
        if not any(info.filename.lower().endswith(".reqif") for info in members):
            raise ReqIFError("the archive contains no .reqif file")
        try:
            limit = max_total_bytes
            if max_ratio is not None:
                size = (
                    len(source)
                    if isinstance(source, (bytes, bytearray))
                    else os.path.getsize(source)
                )
                limit = archives.expansion_limit(size, max_total_bytes, max_ratio)
            what = "its members" if include_files else "its .reqif members"
            sizes = archives.measure(archive, members, limit, what)
            return archives.read_measured(archive, members, sizes)
        except archives.ArchiveRefused as exc:
            raise ReqIFError(f"archive refused: {exc}") from None


def parse_reqif_archive(
    source: str | os.PathLike[str] | bytes,
    max_total_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES,
    max_files: int = DEFAULT_MAX_ARCHIVE_FILES,
) -> dict[str, ReqIFDocument]:
    """:func:`read_reqif_archive` then :func:`parse_reqif` on each member."""
    members = read_reqif_archive(source, max_total_bytes=max_total_bytes, max_files=max_files)
    return {name: parse_reqif(data) for name, data in members.items()}
