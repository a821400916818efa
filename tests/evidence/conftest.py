"""Fixtures of the evidence tests: a small signed log, and tampering as an insider would."""

import pytest

from evidence import ledger
from evidence.ledger import Record, Subject
from tests.owner import owner_cursor


def tampering():
    """Lift the append-only triggers and write as the tables' owner, as an insider with the
    owner's powers would. The owner's own connection sees committed rows only, so tests that
    tamper use a transactional database (as :func:`log` does)."""
    return owner_cursor()


@pytest.fixture
def log(ledger_transactional_db, project, django_capture_on_commit_callbacks):
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
