"""Compute the KPIs of a shard of cases: the entry point of the SageMaker Processing job.

    python -m validation.jobs.kpi_job --input cases.json --output kpis.json

``--input`` is the JSON object the SageMaker executor uploads, ``{"run_id", "shard", "cases":
[...]}`` (a bare list of cases is accepted too). ``--output`` receives ``{case_id: kpis}`` as
:func:`validation.execution.local.compute` returns it, written atomically (a temporary file
renamed into place), so a failed job leaves no partial output. Needs numpy and pyarrow, not
Django.

Exit status: 0 on success, 2 for unusable input (unreadable, not JSON, malformed cases),
1 when the KPIs could not be computed; the reason goes to standard error, where SageMaker's
job log (CloudWatch) shows it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from validation.execution.base import ExecutorError
from validation.execution.local import compute


class InputError(ValueError):
    """The input file is not a usable list of cases."""


def read_cases(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc
    cases = data.get("cases") if isinstance(data, dict) else data
    if not isinstance(cases, list):
        raise InputError(f"{path}: expected an object with a 'cases' list")
    for number, case in enumerate(cases):
        if not isinstance(case, dict) or not isinstance(case.get("case_id"), str):
            raise InputError(f"{path}: case {number} is not an object with a string case_id")
    ids = [case["case_id"] for case in cases]
    if len(set(ids)) != len(ids):
        raise InputError(f"{path}: case ids are not unique")
    return cases


def write_json(data: dict, path: Path) -> None:
    """Write ``data`` as JSON to ``path`` atomically (temporary file in the same folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kpis-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, sort_keys=True, allow_nan=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m validation.jobs.kpi_job", description=__doc__)
    parser.add_argument("--input", required=True, type=Path, help="cases JSON file")
    parser.add_argument("--output", required=True, type=Path, help="KPI JSON file to write")
    args = parser.parse_args(argv)
    try:
        cases = read_cases(args.input)
    except InputError as exc:
        print(f"kpi_job: {exc}", file=sys.stderr)
        return 2
    try:
        results = compute(cases)
    except (ExecutorError, ValueError) as exc:  # ValueError: KpiError on malformed tracks
        print(f"kpi_job: {exc}", file=sys.stderr)
        return 1
    write_json(results, args.output)
    print(f"kpi_job: KPIs of {len(results)} of {len(cases)} cases written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
