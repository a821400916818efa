"""The witness's state: durable across restarts, torn writes ignored, one witness per folder."""

import pytest

from witness.state import Latest, State, StateError

ROOT_A, ROOT_B = bytes(32), bytes([1]) * 32


def test_the_latest_checkpoint_survives_a_restart(tmp_path):
    state = State(tmp_path)
    state.record("log/A", Latest(4, ROOT_A, "note a\n"))
    state.record("log/B", Latest(2, ROOT_B, "note b\n"))
    state.record("log/A", Latest(9, ROOT_B, "note a9\n"))
    state.close()
    again = State(tmp_path)
    assert again.latest("log/A") == Latest(9, ROOT_B, "note a9\n")
    assert again.latest("log/B") == Latest(2, ROOT_B, "note b\n")
    assert again.latest("log/C") is None
    again.close()
    # The journal was folded into the snapshot; a third start reads the same.
    assert (tmp_path / "journal.jsonl").read_bytes() == b""
    third = State(tmp_path)
    assert third.latest("log/A").size == 9
    third.close()


def test_a_line_torn_by_a_crash_is_ignored(tmp_path):
    state = State(tmp_path)
    state.record("log/A", Latest(4, ROOT_A, "note\n"))
    state.close()
    with open(tmp_path / "journal.jsonl", "ab") as journal:
        journal.write(b'{"origin": "log/A", "size": 99, "ro')  # never answered
    restarted = State(tmp_path)
    assert restarted.latest("log/A").size == 4
    restarted.close()


def test_a_damaged_journal_stops_the_witness(tmp_path):
    State(tmp_path).close()
    (tmp_path / "journal.jsonl").write_bytes(b"not json\n")
    with pytest.raises(StateError, match="journal line 1"):
        State(tmp_path)


def test_two_witnesses_cannot_serve_one_folder(tmp_path):
    first = State(tmp_path)
    with pytest.raises(StateError, match="another witness"):
        State(tmp_path)
    first.close()
    State(tmp_path).close()
