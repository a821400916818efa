"""The local executor: KPIs computed in the calling process with numpy and pyarrow.

:func:`compute` is also what the SageMaker job runs inside its container
(:mod:`validation.jobs.kpi_job`), and what the Spark executor's results are checked against.
"""

from __future__ import annotations

import uuid

import pyarrow as pa

from validation import kpis, lake
from validation.execution.base import ExecutorError
from validation.execution.cases import case_tables


def compute(cases: list[dict]) -> dict[str, dict]:
    """KPIs per case for a list of cases, in one vectorised pass over their concatenated rows."""
    if not cases:
        return {}
    try:
        tables = case_tables(cases)
    except (lake.LakeError, OSError, ValueError) as exc:
        raise ExecutorError(str(exc)) from exc
    table = pa.concat_tables(tables, promote_options="default")
    results = kpis.case_kpis(table)
    travelled = kpis.ego_distance_km(table)
    return {
        str(case_id): kpis.case_record(values, travelled.get(str(case_id), 0.0))
        for case_id, values in results.items()
    }


class LocalExecutor:
    """Computes in the calling process; submit does the work, so poll is always final."""

    name = "local"

    def __init__(self) -> None:
        self._results: dict[str, dict[str, dict]] = {}
        self._cancelled: set[str] = set()

    def submit(self, run_id: int, shard: int, cases: list[dict]) -> str:
        handle = f"local-{run_id}-{shard}-{uuid.uuid4().hex[:8]}"
        self._results[handle] = compute(cases)
        return handle

    def poll(self, handle: str) -> str:
        if handle in self._cancelled:
            return "cancelled"
        return "succeeded" if handle in self._results else "failed"

    def collect(self, handle: str) -> dict[str, dict]:
        return self._results.pop(handle)

    def cancel(self, handle: str) -> None:
        self._cancelled.add(handle)
        self._results.pop(handle, None)

    def failure_reason(self, handle: str) -> str | None:
        """None: a local job fails by raising in :meth:`submit`, and a handle this executor never
        ran (polled ``failed``) has no reason to give."""
        return None
