"""What an import of files, folders and zip archives holds, before anything is stored.

The user imports files, folders (every ``.xosc`` below them) or zip archives of a folder. Each
file belongs to a root: ``root`` when given, else the deepest folder holding everything given
(for an archive, the archive itself). Nothing outside the root is read: not a file given, not a
distribution's ``ScenarioFile`` (which may sit in a sibling folder such as ``../Scenarios/``
as long as the root holds both), not a catalog directory, and no symbolic link that leads out
of it. Messages name files relative to their root, never by the server's path.

Every file is classified (:func:`~validation.openscenario.parsing.document_kind`): catalogs
are parsed, scenarios and distributions expanded into cases, and each scenario's
``CatalogReference`` elements are resolved against the catalogs of the import, those in its
``CatalogLocations`` directories (inside the root) and, last, those already stored.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from validation.openscenario.archive import extract_scenarios
from validation.openscenario.catalogs import (
    Catalog,
    ResolvedReference,
    parse_catalog,
    resolve_references,
)
from validation.openscenario.errors import ScenarioError
from validation.openscenario.expansion import Expansion, expand
from validation.openscenario.parsing import CATALOG, file_kind

SUFFIX = ".xosc"
ARCHIVE_SUFFIX = ".zip"


@dataclass(frozen=True)
class Source:
    """One file to import: where it is, how messages name it and the folder it may use."""

    path: Path
    shown: str
    root: Path


@dataclass
class CatalogFile:
    catalog: Catalog
    shown: str
    data: bytes


@dataclass
class ScenarioFile:
    """A scenario or distribution file with its cases and resolved catalog references."""

    shown: str
    data: bytes
    expansion: Expansion
    scenario_shown: str
    scenario_data: bytes
    references: list[ResolvedReference]
    missing_catalogs: list[str]


@dataclass
class ImportPlan:
    catalogs: list[CatalogFile] = field(default_factory=list)
    scenarios: list[ScenarioFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _inside(path: Path, root: Path) -> bool:
    return path.is_relative_to(root)


def _shown(path: Path, root: Path, prefix: str = "") -> str:
    return prefix + path.relative_to(root).as_posix()


def collect_sources(
    given: Sequence[str | os.PathLike[str]],
    root: str | os.PathLike[str] | None,
    workdir: Path,
    max_total_bytes: int,
    max_ratio: int | None,
) -> list[Source]:
    """The files to import, each with its root; archives are expanded under ``workdir``.

    Raises :class:`ScenarioError` for a name that does not exist, a file or link that leads
    outside the root, or an archive that cannot be expanded safely.
    """
    plain: list[tuple[str, Path]] = []
    zips: list[tuple[str, Path]] = []
    for item in given:
        name = os.fspath(item)
        path = Path(name)
        if not path.exists():
            raise ScenarioError(f"{name}: no such file or folder")
        if path.is_file() and path.suffix.lower() == ARCHIVE_SUFFIX:
            zips.append((name, path))
        else:
            plain.append((name, path))
    if root is not None:
        base = Path(root).resolve()
        if not base.is_dir():
            raise ScenarioError(f"--root {os.fspath(root)}: not a folder")
    elif plain:
        folders = [p.absolute() if p.is_dir() else p.absolute().parent for _, p in plain]
        base = Path(os.path.commonpath([os.path.normpath(f) for f in folders])).resolve()
        if base.parent == base:
            raise ScenarioError(
                "the files given share no folder but the file system's root; pass --root"
            )
    else:
        base = None
    sources: list[Source] = []
    seen: set[Path] = set()

    def add(path: Path, name: str, limit: Path, prefix: str = "") -> None:
        resolved = path.resolve()
        if not _inside(resolved, limit):
            raise ScenarioError(
                f"{name}: lies outside the imported folder (a link or path leading out of it)"
            )
        if resolved not in seen:
            seen.add(resolved)
            sources.append(Source(resolved, _shown(resolved, limit, prefix), limit))

    for name, path in plain:
        if path.is_dir():
            if not _inside(path.resolve(), base):
                raise ScenarioError(f"{name}: lies outside the imported folder")
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() == SUFFIX)
            for file in files:
                if file.is_file() or file.is_symlink():
                    add(file, f"{name.rstrip('/')}/{file.relative_to(path).as_posix()}", base)
        else:
            add(path, name, base)
    for index, (name, path) in enumerate(zips):
        target = workdir / f"archive-{index}"
        target.mkdir(parents=True)
        for member in extract_scenarios(path, target, name, max_total_bytes, max_ratio):
            add(member, member.name, target.resolve(), prefix=f"{Path(name).name}/")
    if not sources:
        raise ScenarioError("nothing to import: no .xosc file among the files given")
    return sources


def _catalogs_in_locations(
    scenario_path: Path,
    locations: Iterable[str],
    source: Source,
    known: dict[Path, CatalogFile],
    plan: ImportPlan,
    scenario_shown: str,
) -> list[CatalogFile]:
    found = []
    for directory in locations:
        folder = (scenario_path.parent / directory.replace("\\", "/")).resolve()
        if not _inside(folder, source.root):
            plan.warnings.append(
                f"{scenario_shown}: catalog directory {directory!r} lies outside the imported "
                "folder and was not read"
            )
            continue
        if not folder.is_dir():
            continue
        for file in sorted(folder.glob(f"*{SUFFIX}")):
            resolved = file.resolve()
            if not _inside(resolved, source.root):
                where = _shown(folder, source.root, _prefix(source))
                raise ScenarioError(
                    f"{where}/{file.name}: lies outside the imported folder (a link leading "
                    "out of it)"
                )
            shown = _shown(resolved, source.root, _prefix(source))
            if resolved not in known:
                if file_kind(resolved, shown) != CATALOG:
                    continue
                data = resolved.read_bytes()
                known[resolved] = CatalogFile(parse_catalog(data, shown), shown, data)
            found.append(known[resolved])
    return found


def _prefix(source: Source) -> str:
    """The archive prefix of a source's display name (empty for plain files)."""
    relative = source.path.relative_to(source.root).as_posix()
    return source.shown[: len(source.shown) - len(relative)]


def plan_import(
    sources: Sequence[Source],
    seed: int | None = None,
    stored: Callable[[str], Catalog | None] = lambda name: None,
) -> ImportPlan:
    """Classify, parse and expand ``sources``; resolve catalog references. Stores nothing.

    ``stored(name)`` returns a catalog kept from an earlier import, or None. Raises
    :class:`ScenarioError` for the first file that cannot be imported, naming it.
    """
    plan = ImportPlan()
    kinds = {s.path: file_kind(s.path, s.shown) for s in sources}
    known: dict[Path, CatalogFile] = {}
    for source in sources:
        if kinds[source.path] == CATALOG:
            data = source.path.read_bytes()
            known[source.path] = CatalogFile(parse_catalog(data, source.shown), source.shown, data)
    by_name: dict[str, CatalogFile] = {}

    def register(item: CatalogFile) -> None:
        other = by_name.get(item.catalog.name)
        if other is not None and other is not item:
            raise ScenarioError(
                f"{item.shown}: catalog {item.catalog.name!r} is also defined by {other.shown}"
            )
        if other is None:
            by_name[item.catalog.name] = item
            plan.catalogs.append(item)

    for item in list(known.values()):
        register(item)
    for source in sources:
        if kinds[source.path] == CATALOG:
            continue
        data = source.path.read_bytes()
        try:
            expansion = expand(source.path, seed=seed, root=source.root, name=source.shown)
        except ScenarioError as exc:
            if str(exc).startswith(f"{source.shown}:"):
                raise
            raise ScenarioError(f"{source.shown}: {exc}") from None
        scenario = expansion.scenario
        scenario_path = scenario.path.resolve() if scenario.path else source.path
        scenario_shown = _shown(scenario_path, source.root, _prefix(source))
        available = {name: item.catalog for name, item in by_name.items()}
        for directories in scenario.catalog_locations.values():
            for item in _catalogs_in_locations(
                scenario_path, directories, source, known, plan, scenario_shown
            ):
                register(item)
                available.setdefault(item.catalog.name, item.catalog)
        for ref in scenario.catalog_references:
            if ref.catalog not in available and "$" not in ref.catalog:
                kept = stored(ref.catalog)
                if kept is not None:
                    available[ref.catalog] = kept
        references, missing = resolve_references(
            scenario, available, expansion.cases, what=scenario_shown
        )
        if missing:
            count = len(scenario.catalog_references) - len(references)
            plan.warnings.append(
                f"{scenario_shown}: catalog(s) {', '.join(missing)} not found in the import, "
                f"its CatalogLocations or the project; {count} CatalogReference(s) left "
                "unresolved"
            )
        plan.scenarios.append(
            ScenarioFile(
                shown=source.shown,
                data=data,
                expansion=expansion,
                scenario_shown=scenario_shown,
                scenario_data=scenario_path.read_bytes(),
                references=references,
                missing_catalogs=missing,
            )
        )
    return plan
