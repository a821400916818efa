"""Running the suite in parallel with pytest-xdist (``make test`` passes ``-n auto``).

The processes receive work units, each run by one process from start to end: a test module,
so that its module fixtures are built once, unless :func:`work_unit` puts the test in a larger
unit. The units that start other programs go out first (:data:`FIRST`); within a unit the tests
keep their order (pytest-django's: transactional tests after the others).

The workers collect the tests and the controlling process only sees their ids, so each worker
writes the units it found to a folder that the controlling process names in the environment
(:data:`UNITS_ENV`). xdist's own channel for ``xdist_group`` (a suffix to the test id) no
longer reaches the scheduler since pytest 9.2 changed how test ids are kept (pytest-xdist issue
1386); this scheduler reads ``xdist_group`` marks through the folder as well.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

#: More processes than this cost more in start-up and collection than they win.
MAX_WORKERS = 4
#: Tests with these marks start another program (a JVM, a browser, a Celery worker, an S3
#: server); their units go out first, the slowest to start first, so that no process is still
#: starting one when the others run out of work.
FIRST = ("spark", "browser", "broker", "s3")
UNITS_ENV = "SAFECASE_TEST_UNITS"


def auto_num_workers() -> int:
    return min(MAX_WORKERS, len(os.sched_getaffinity(0)))


def is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def work_unit(item) -> str | None:
    """The unit of the tests that must run in one process together, or None (the module's).

    - an ``xdist_group`` mark names it;
    - ``broker``: the tests that start a real Celery worker share the broker's queues, so they
      run one at a time, and no Celery worker takes the tasks of another test;
    - ``spark``: one Spark session (it takes seconds to start) for all the Spark tests;
    - a package fixture (``tests/ui``'s committed demo, which a transactional test there
      empties): the whole package, in one process and in its order.
    """
    group = item.get_closest_marker("xdist_group")
    if group is not None:
        return str(group.args[0] if group.args else group.kwargs.get("name", "default"))
    if item.get_closest_marker("broker"):
        return "broker"
    if item.get_closest_marker("spark") or "spark" in item.fixturenames:
        return "spark"
    for fixturedefs in item._fixtureinfo.name2fixturedefs.values():
        if fixturedefs and fixturedefs[-1].scope == "package":
            return fixturedefs[-1].baseid or "."
    return None


def start(config) -> None:
    """In the controlling process: the folder the workers write their units to."""
    if is_worker(config) or config.getoption("dist", "no") == "no" or not config.getoption("tx"):
        return
    folder = tempfile.mkdtemp(prefix="safecase-test-units-")
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
    os.environ[UNITS_ENV] = folder


def order_and_record(config, items: list[pytest.Item]) -> None:
    """In a worker: the units that start other programs first, then record the units."""
    if not is_worker(config) or UNITS_ENV not in os.environ:
        return
    units = {item.nodeid: work_unit(item) or _module(item.nodeid) for item in items}
    rank: dict[str, int] = {}
    for item in items:
        marks = {mark.name for mark in item.iter_markers()}
        first = next((i for i, name in enumerate(FIRST) if name in marks), len(FIRST))
        unit = units[item.nodeid]
        rank[unit] = min(rank.get(unit, first), first)
    items.sort(key=lambda item: rank[units[item.nodeid]])
    path = Path(os.environ[UNITS_ENV]) / f"{config.workerinput['workerid']}.json"
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(units))
    partial.replace(path)


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


class UnitScheduling(LoadScopeScheduling):
    """Sends whole units (see the module docstring); with ``--no-loadscope-reorder`` in the
    order of the collection, which the workers begin with the slow units."""

    def __init__(self, config, log=None):
        super().__init__(config, log)
        self.units: dict[str, str] = {}

    def schedule(self) -> None:
        if self.collection is None and UNITS_ENV in os.environ:
            for path in Path(os.environ[UNITS_ENV]).glob("*.json"):
                self.units.update(json.loads(path.read_text()))
        super().schedule()

    def _split_scope(self, nodeid: str) -> str:
        return self.units.get(nodeid) or _module(nodeid)
