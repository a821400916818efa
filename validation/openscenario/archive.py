"""Zip archives of scenario folders, expanded into a folder in bounded time and memory.

An archive holds a folder as the user laid it out (``Distributions/``, ``Scenarios/``,
``Catalogs/``, ...). Only its ``.xosc`` members are expanded: first measured chunk by chunk
keeping nothing (:mod:`compliance.archives`), refused as soon as the bytes that come out pass
the limit, whatever the headers declare; then written out a chunk at a time, never more than
measured. Unsafe names (``..``, absolute paths, drive letters, NUL), symbolic links,
encrypted and repeated members refuse the whole archive.
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from compliance import archives
from validation.openscenario.errors import ScenarioError

MAX_MEMBERS = 2000
SUFFIX = ".xosc"


def _unsafe(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\x00" in name or "\\" in name:
        return "has an unsafe name"
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or (len(name) > 1 and name[1] == ":"):
        return "points outside the archive"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    if info.flag_bits & 0x1:
        return "is encrypted"
    return None


def extract_scenarios(
    source: Path,
    target: Path,
    what: str,
    max_total_bytes: int,
    max_ratio: int | None = None,
    max_members: int = MAX_MEMBERS,
) -> list[Path]:
    """Expand the ``.xosc`` members of the zip ``source`` under ``target``; return their paths.

    ``what`` names the archive in messages. Raises :class:`ScenarioError` when the archive is
    unreadable or unsafe, holds no ``.xosc`` file, or its ``.xosc`` members declare or expand to
    more than ``max_total_bytes`` (and, with ``max_ratio``, that many times the archive's size).
    """
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
        raise ScenarioError(f"{what}: not a readable zip archive ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > max_members:
            raise ScenarioError(
                f"{what}: archive refused: {len(infos)} entries, more than {max_members}"
            )
        seen: set[str] = set()
        members = []
        for info in infos:
            reason = _unsafe(info)
            if reason:
                raise ScenarioError(
                    f"{what}: archive refused: member {info.orig_filename!r} {reason}"
                )
            key = info.filename.rstrip("/").casefold()
            if key in seen:
                raise ScenarioError(f"{what}: archive refused: {info.filename!r} repeats")
            seen.add(key)
            if not info.is_dir() and info.filename.lower().endswith(SUFFIX):
                members.append(info)
        if not members:
            raise ScenarioError(f"{what}: the archive holds no {SUFFIX} file")
        limit: int | archives.Limit = max_total_bytes
        if max_ratio is not None:
            limit = archives.expansion_limit(source.stat().st_size, max_total_bytes, max_ratio)
        try:
            sizes = archives.measure(archive, members, limit, f"its {SUFFIX} members")
        except archives.ArchiveRefused as exc:
            raise ScenarioError(f"{what}: archive refused: {exc}") from None
        paths = []
        base = target.resolve()
        for info in members:
            out = (base / info.filename).resolve()
            if not out.is_relative_to(base):
                raise ScenarioError(f"{what}: archive refused: {info.filename!r} escapes")
            out.parent.mkdir(parents=True, exist_ok=True)
            expected, written = sizes[info.filename], 0
            try:
                with archive.open(info) as stream, out.open("xb") as sink:
                    while chunk := stream.read(min(archives.CHUNK, expected - written + 1)):
                        written += len(chunk)
                        if written > expected:
                            break
                        sink.write(chunk)
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
                raise ScenarioError(
                    f"{what}: member {info.filename!r} is unreadable ({exc})"
                ) from None
            if written != expected:
                raise ScenarioError(f"{what}: member {info.filename!r} changed while read")
            paths.append(out)
        return paths
