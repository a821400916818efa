"""The commit-link services: who may link, and that a link, its ledger entry and the evidence it
makes stale are written together or not at all."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from compliance import services
from compliance.commits import services as commit_services
from compliance.commits.records import Commit
from compliance.commits.services import WebhookSender, link_commits, push_record
from compliance.models import CommitLink, Verification, WebhookDelivery
from evidence.models import LogEntry
from tests.compliance.test_webhooks import stored  # (links, their entries, deliveries)

pytestmark = pytest.mark.django_db

SHA = "a" * 40
TREE = "c" * 40


def commit(message="Clamp\n\nImplements: FSR-001\nVerifies: TSR-002", sha=SHA, day=10):
    return Commit.build(
        sha=sha,
        tree=TREE,
        author="Ann <ann@example.com>",
        authored_at=datetime(2024, 3, day, 9, 0, tzinfo=UTC),
        message=message,
        files=["src/brake.c"],
    )


@pytest.fixture
def requirements(project, members):
    return {
        code: services.requirement_create(
            user=members["engineer"], project=project, code=code, kind="FSR", asil="B"
        )
        for code in ("FSR-001", "TSR-002")
    }


class TestLinkCommits:
    def test_an_engineer_links_and_each_link_is_a_ledger_entry(
        self, project, members, requirements
    ):
        result = link_commits(
            user=members["engineer"], project=project, commits=[commit()], repository="aeb"
        )
        assert (result.commits, result.links) == (1, 2)
        assert stored(project) == (2, 2, 0)
        for link in CommitLink.objects.filter(project=project):
            assert link.entry.subject == f"commit:{SHA}"
            assert link.entry.recorded_by == members["engineer"]

    @pytest.mark.parametrize(
        ("who", "refusal"),
        [("viewer", PermissionDenied), ("assessor", PermissionDenied), ("outsider", Http404)],
    )
    def test_a_role_without_edit_is_refused(
        self, project, members, outsider, requirements, who, refusal
    ):
        user = outsider if who == "outsider" else members[who]
        with pytest.raises(refusal):
            link_commits(user=user, project=project, commits=[commit()], repository="aeb")
        assert stored(project) == (0, 0, 0)

    def test_a_failure_after_the_links_rolls_back_the_links_and_their_entries(
        self, project, members, requirements, monkeypatch
    ):
        engineer = members["engineer"]
        services.verification_record(
            user=engineer,
            project=project,
            requirement=requirements["FSR-001"],
            method="test",
            result="pass",
        )
        before = LogEntry.objects.filter(project=project).count()

        def fail(*args, **kwargs):
            raise RuntimeError("stale marking failed")

        monkeypatch.setattr(commit_services, "_mark_stale_evidence", fail)
        with pytest.raises(RuntimeError):
            link_commits(user=engineer, project=project, commits=[commit()], repository="aeb")
        assert stored(project) == (0, 0, 0)
        assert LogEntry.objects.filter(project=project).count() == before
        assert not Verification.objects.filter(project=project, stale=True).exists()


class TestPushRecord:
    def push(self, sender, project, delivery="d-1"):
        return push_record(
            sender=sender,
            project=project,
            delivery_id=delivery,
            commits=[commit()],
            repository="https://github.com/acme/aeb",
        )

    def test_an_authenticated_sender_links_with_no_acting_user(self, project, requirements):
        outcome = self.push(WebhookSender(project, "github"), project)
        assert outcome.status == "processed"
        assert outcome.result.links == 2
        assert stored(project) == (2, 2, 1)
        entry = CommitLink.objects.filter(project=project).first().entry
        assert entry.recorded_by is None
        delivery = WebhookDelivery.objects.get(project=project)
        assert (delivery.provider, delivery.delivery_id) == ("github", "d-1")

    @pytest.mark.parametrize("who", ["admin", "engineer", "system"])
    def test_a_person_is_no_sender(self, project, members, requirements, who):
        from projects.services import SYSTEM

        actor = SYSTEM if who == "system" else members[who]
        with pytest.raises(PermissionDenied, match="webhook secret of AEB"):
            self.push(actor, project)
        assert stored(project) == (0, 0, 0)

    def test_another_projects_sender_is_refused(self, project, other_project, requirements):
        with pytest.raises(PermissionDenied):
            self.push(WebhookSender(other_project, "github"), project)
        assert stored(project) == (0, 0, 0)
        assert stored(other_project) == (0, 0, 0)

    def test_a_delivery_id_is_processed_once(self, project, requirements):
        sender = WebhookSender(project, "gitlab")
        assert self.push(sender, project).status == "processed"
        again = self.push(sender, project)
        assert again.status == "duplicate"
        assert again.result.links == 2  # what the first delivery linked
        assert stored(project) == (2, 2, 1)
