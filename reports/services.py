"""The one write of the reports app: the record, in the ledger, of what it exported.

Everything else in ``reports`` only reads (``selectors``, ``gsn``, ``pdf``, ``package``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from evidence import ledger
from evidence.ledger import Record, Subject
from evidence.models import EntryKind, LogEntry
from projects.models import Project
from projects.permissions import Action, require
from reports import selectors
from reports.package import Package, build_package


@dataclass(frozen=True)
class Export:
    path: Path
    package: Package
    entry: LogEntry


def record_export(*, user, project: Project, package: Package, file_name: str) -> LogEntry:
    """Record in the ledger that ``package`` was exported as ``file_name``."""
    require(user, project, Action.VIEW)
    manifest = package.manifest
    (entry,) = ledger.append(
        project,
        [
            Record(
                EntryKind.REPORT,
                [Subject(f"package:{file_name}", package.sha256)],
                {
                    "report": "certification-package",
                    "file": file_name,
                    "bytes": len(package.data),
                    "baseline": manifest["baseline"],
                    "checkpoint": {
                        "size": manifest["checkpoint"]["size"],
                        "root": manifest["checkpoint"]["root"],
                    },
                },
            )
        ],
        user=user,
    )
    return entry


def export_package(
    *, user, project: Project, path: Path, baseline_name: str | None = None
) -> Export:
    """Build the package, write it to ``path`` and record the export in the ledger.

    The file is written beside ``path`` first and renamed into place once the ledger entry is
    committed, so a failed export leaves neither a file nor an entry behind.
    """
    baseline = selectors.baseline_named(project, baseline_name)
    package = build_package(user=user, project=project, baseline=baseline)
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(package.data)
        entry = record_export(user=user, project=project, package=package, file_name=path.name)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Export(path=path, package=package, entry=entry)
