"""The verdict rows of each run, compared with the ledger entry that recorded the run.

A run's entry states, per criterion, the verdict, its counts, the digest of the judged cases
and the digest of the coverage recorded with it (:func:`validation.coverage.summary`). Someone
who can edit the database but not the log could turn a fail into a pass or fill the holes of a
coverage, and every page and the evidence pack would believe the row. :func:`row_problems`
reads each verdict beside its run's statement and names the run, the criterion and every field
that differs; ``verify_ledger`` runs it (registered in :class:`validation.apps
.ValidationConfig`).
"""

from __future__ import annotations

from collections.abc import Iterator

from evidence.verification import statement_of
from projects.models import Project
from validation import coverage
from validation.models import Run, RunStatus, Verdict

_CHUNK = 200


def _stated(run: Run) -> dict[str, dict]:
    predicate = statement_of(bytes(run.entry.envelope)).get("predicate")
    verdicts = predicate.get("verdicts") if isinstance(predicate, dict) else None
    if not isinstance(verdicts, list):
        return {}
    return {v["criterion"]: v for v in verdicts if isinstance(v, dict) and "criterion" in v}


def _row(v: Verdict, stated: dict) -> dict:
    row = {
        "verdict": v.verdict,
        "failures": v.failures,
        "trials": v.trials,
        "scope": v.scope,
        "cases_in_scope": v.cases_in_scope,
        "cases_out_of_scope": v.cases_out_of_scope,
        "judged_cases": v.judged_sha256,
    }
    stated_row = {k: stated.get(k) for k in row}
    stated_row["judged_cases"] = (stated.get("judged_cases") or {}).get("sha256")
    # A run recorded before coverage was recorded states none and has none.
    if "coverage" in stated or v.coverage:
        row["coverage"] = coverage.digest(v.coverage) if v.coverage else None
        stated_row["coverage"] = (stated.get("coverage") or {}).get("sha256")
    return {k: (row[k], stated_row[k]) for k in row}


def row_problems(project: Project) -> Iterator[str]:
    """Every verdict of ``project``'s runs that disagrees with its run's ledger entry."""
    runs = (
        Run.objects.filter(campaign__project=project, entry__isnull=False)
        .select_related("entry")
        .prefetch_related("verdicts__criterion")
        .order_by("id")
    )
    for run in runs.iterator(chunk_size=_CHUNK):
        stated = _stated(run)
        rows = {v.criterion.code: v for v in run.verdicts.all()}
        if run.entry.project_id != project.pk:
            yield f"run {run.pk} cites ledger entry {run.entry.index} of another project"
            continue
        for code in sorted(set(stated) - set(rows)):
            if run.status == RunStatus.SUCCEEDED:
                yield (
                    f"run {run.pk}: the verdict on {code} that ledger entry {run.entry.index} "
                    "states is missing: the row was deleted after it was recorded"
                )
        for code, v in sorted(rows.items()):
            if code not in stated:
                yield (
                    f"run {run.pk}: ledger entry {run.entry.index} states no verdict on {code}: "
                    "the row was added after the run was recorded"
                )
                continue
            differ = sorted(
                k for k, (mine, theirs) in _row(v, stated[code]).items() if mine != theirs
            )
            if differ:
                yield (
                    f"run {run.pk}: its verdict on {code} disagrees with ledger entry "
                    f"{run.entry.index} on {', '.join(differ)}: the row was changed after it "
                    "was recorded"
                )
