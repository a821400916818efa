"""What the pages show of the ledger: statements, inclusion checks, and only one project's."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.http import Http404
from django.shortcuts import get_object_or_404

from evidence import ledger, selectors, verify
from evidence.keys import log_name, public_bytes
from evidence.ledger import Record, Subject
from evidence.models import Checkpoint, SigningKey
from projects.permissions import get_project_for_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def log(project):
    """Six entries in two appends: checkpoints at sizes 3 and 6."""
    for start in (0, 3):
        ledger.append(
            project,
            [
                Record("decision", [Subject(f"d{i}", f"{i:064x}")], {"i": i})
                for i in range(start, start + 3)
            ],
        )
    return project


def test_an_entry_shows_its_statement_and_proves_its_inclusion(log):
    entry = get_object_or_404(selectors.entry_list(project=log), index=4)
    statement = selectors.statement_of(entry)
    assert statement["subject"][0]["name"] == "d4" and statement["predicate"]["i"] == 4
    check = selectors.inclusion_check(project=log, entry=entry)
    assert check.ok, check.reason
    assert check.size == selectors.log_size(project=log) == 6
    assert check.root == bytes(selectors.latest_checkpoint(project=log).root).hex()


def test_another_projects_member_sees_no_entry(log, other_project, outsider):
    with pytest.raises(Http404):
        get_project_for_user(outsider, log.key)
    theirs = get_project_for_user(outsider, other_project.key)
    assert not selectors.entry_list(project=theirs).exists()
    with pytest.raises(Http404):
        get_object_or_404(selectors.entry_list(project=theirs), index=0)
    assert selectors.latest_checkpoint(project=theirs) is None
    entry = selectors.entry_list(project=log).first()
    check = selectors.inclusion_check(project=theirs, entry=entry)
    assert not check.ok and check.reason == "The log has no checkpoint yet."


def test_a_checkpoint_signed_by_a_key_row_alone_is_not_trusted(log, monkeypatch):
    """A key in the key table that no trust root reaches signs the genuine root: the check
    refuses the checkpoint instead of proving inclusion against it."""
    rogue = Ed25519PrivateKey.generate()
    public = public_bytes(rogue)
    key_id = verify.note_key_id(log_name(), public)
    SigningKey.objects.create(key_id=key_id.hex(), name=log_name(), public_key=public)
    root = ledger.root_at(log, 5)
    body = verify.format_checkpoint_body(ledger.origin(log), 5, root)
    note = verify.format_signed_note(body, [(log_name(), key_id, rogue.sign(body.encode()))])
    planted = Checkpoint(project=log, size=5, root=root, note=note, key_id=key_id.hex())
    monkeypatch.setattr(ledger, "latest_checkpoint", lambda project: planted)
    entry = selectors.entry_list(project=log).get(index=2)
    check = selectors.inclusion_check(project=log, entry=entry)
    assert not check.ok
    assert check.reason.startswith("The latest checkpoint does not verify")
