"""Fixtures of the evidence tests: a small signed log, and tampering as an insider would."""

from contextlib import contextmanager

import pytest
from django.db import connection

from evidence import ledger
from evidence.db import drop_triggers, install_triggers
from evidence.ledger import Record, Subject


@contextmanager
def tampering():
    """Drop the append-only triggers, as an attacker with database access would."""
    drop_triggers(connection)
    try:
        yield connection.cursor()
    finally:
        install_triggers(connection)


@pytest.fixture
def log(project, django_capture_on_commit_callbacks):
    """Twenty entries in five appends, each checkpoint published (sizes 4, 8, ..., 20)."""
    for start in range(0, 20, 4):
        with django_capture_on_commit_callbacks(execute=True):
            ledger.append(
                project,
                [
                    Record("decision", [Subject(f"d{i}", f"{i:064x}")], {"i": i})
                    for i in range(start, start + 4)
                ],
            )
    return project
