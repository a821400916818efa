"""A large batch is signed by worker processes; its entries are byte for byte what one process
writes, in the ledger's envelope format, and a malformed record stops it the same way."""

import base64

import pytest

from evidence import ledger, verify
from evidence.keys import load_signing_key
from evidence.ledger import LedgerError, Record, Subject
from evidence.models import LogEntry
from evidence.verification import verify_project

PREDICATES = [
    {"i": 0, "kpi": 1.5},
    {"naïve": "Zürich → 東京", "emoji": "\U0001f697", "\U0001f600": 1, "\ue000": 2},
    {"big": 2**53 - 1, "whole": 3.0, "tiny": 1e-7, "huge": 1e21, "neg": -0.0},
    {"nested": [{"b": [1, 2, {"c": None}], "a": True}, False], "text": 'a "quote"\n\t\\'},
    {},
]


def records(count):
    return [
        Record(
            "validation-result",
            [Subject(f"case-{i}", f"{i:064x}"), Subject("extra", "f" * 64)],
            PREDICATES[i % len(PREDICATES)] | {"n": i},
        )
        for i in range(count)
    ]


def reference_envelope(key, statement):
    """The DSSE envelope as the general canonical JSON serializer writes it."""
    out: list[str] = []
    verify._serialize(statement, out)
    payload = "".join(out).encode()
    signature = key.sign(verify.pae(ledger.PAYLOAD_TYPE, payload))
    envelope = {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": ledger.PAYLOAD_TYPE,
        "signatures": [{"keyid": key.key_id, "sig": base64.b64encode(signature).decode()}],
    }
    out = []
    verify._serialize(envelope, out)
    return "".join(out).encode()


def test_workers_sign_the_same_bytes_in_the_envelope_format(project, monkeypatch):
    key = load_signing_key()
    batch = records(23)
    stamp = "2026-12-03T08:00:00.123456Z"
    monkeypatch.setattr(ledger, "_SIGN_CHUNK", 4)
    alone = ledger._envelopes(project, batch, None, stamp, key, workers=1)
    together = ledger._envelopes(project, batch, None, stamp, key, workers=2)
    assert together == alone
    for record, envelope in zip(batch, together, strict=True):
        statement = ledger._statement(project, record, None, stamp)
        assert envelope == reference_envelope(key, statement)


def test_a_malformed_record_stops_the_workers_with_its_own_error(project, monkeypatch):
    key = load_signing_key()
    batch = records(23)
    batch[9] = Record("validation-result", [], {"n": 9})
    batch[17] = Record("validation-result", [Subject("x", "0" * 64)], {"bad": float("nan")})
    monkeypatch.setattr(ledger, "_SIGN_CHUNK", 4)
    errors = []
    for workers in (1, 2):
        with pytest.raises(LedgerError) as caught:
            ledger._envelopes(project, batch, None, "t", key, workers=workers)
        errors.append(str(caught.value))
    assert errors[0] == errors[1] == "a validation-result record needs at least one subject"


def test_a_batch_appended_by_workers_verifies_and_matches_one_process(
    ledger_transactional_db, project, monkeypatch
):
    monkeypatch.setattr(ledger, "PARALLEL_SIGN_MIN", 10)
    monkeypatch.setattr(ledger, "_SIGN_CHUNK", 4)
    batch = records(30)
    ledger.append(project, batch)
    entries = list(LogEntry.objects.filter(project=project).order_by("index"))
    stamp = ledger._timestamp(entries[0].recorded_at)
    expected = ledger._envelopes(project, batch, None, stamp, load_signing_key(), workers=1)
    assert [bytes(e.envelope) for e in entries] == expected
    assert verify_project(project, signatures=True).ok


def test_without_worker_processes_the_batch_is_signed_here(project, monkeypatch):
    """Where no process can be started (a daemonic worker, no semaphores), one process signs."""
    import multiprocessing.context

    def refuse(*args, **kwargs):
        raise AssertionError("daemonic processes are not allowed to have children")

    key = load_signing_key()
    batch = records(12)
    monkeypatch.setattr(ledger, "_SIGN_CHUNK", 4)
    alone = ledger._envelopes(project, batch, None, "t", key, workers=1)
    monkeypatch.setattr(multiprocessing.context.ForkContext, "Pool", refuse)
    assert ledger._envelopes(project, batch, None, "t", key, workers=2) == alone
