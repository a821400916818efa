"""The requirements and links kept between reads (``compliance.content_memo``) never stand in
for rows that changed: after each kind of change, made straight in the database as an insider
would, a warm read gives what a cold read of every row gives, and a review citing the old
content is stale. PostgreSQL only: elsewhere every row is read each time."""

import re

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from compliance import content_memo, reviews
from compliance import models as m
from compliance.selectors import approval_currency
from projects.models import Project

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    if connection.vendor != "postgresql":
        pytest.skip("the memo of requirement and link rows works on PostgreSQL only")
    call_command("seed_demo")
    return Project.objects.get(key="AEB")


def cold(project) -> tuple[dict, dict]:
    """Every work product read anew, with the digests of every scope over the whole case."""
    reviews.forget_digests()
    content = reviews.work_product_content(project)
    return content, reviews.scope_digests("safety_case", content)


def warm(project) -> tuple[dict, dict]:
    content, known = reviews.content_and_digests(project)
    return content, reviews.scope_digests("safety_case", content, known)


def assert_warm_is_cold(project) -> dict:
    content, digests = warm(project)
    expected, expected_digests = cold(project)
    assert content == expected
    assert digests == expected_digests
    return content


def requirement(project, code="FSR-001") -> m.Requirement:
    return m.Requirement.objects.get(project=project, code=code)


EDITS = [
    ("code", "FSR-001-renamed"),
    ("kind", "TSR"),
    ("title", "Brake later than agreed"),
    ("text", "A changed word"),
    ("status", "obsolete"),
    ("version", 9),
    ("asil", "A"),
    ("section", "9.9"),
]


@pytest.mark.parametrize(("field", "value"), EDITS)
def test_a_requirement_edited_in_the_database_is_read_anew(demo, field, value):
    assert_warm_is_cold(demo)  # the memo holds every range now
    m.Requirement.objects.filter(pk=requirement(demo).pk).update(**{field: value})
    content = assert_warm_is_cold(demo)
    code = value if field == "code" else "FSR-001"
    assert content[f"requirement:{code}"][field] == value
    if field == "code":  # and the links that name it, made again from their kept rows
        ends = [re.split("[:>]", k)[1::2] for k in content if k.startswith("link:")]
        assert "requirement:FSR-001" not in content
        assert any("FSR-001-renamed" in pair for pair in ends)
        assert not any("FSR-001" in pair for pair in ends)


def test_a_goal_renamed_in_the_database_renames_the_links_to_it(demo):
    assert_warm_is_cold(demo)
    link = m.TraceLink.objects.filter(project=demo, target_goal__isnull=False).first()
    m.SafetyGoal.objects.filter(pk=link.target_goal_id).update(code="SG-RENAMED")
    content = assert_warm_is_cold(demo)
    assert f"link:{link.source.code}>{link.kind}>SG-RENAMED" in content


def test_links_flagged_added_and_removed_in_the_database_are_read_anew(demo):
    assert_warm_is_cold(demo)
    links = m.TraceLink.objects.filter(project=demo).order_by("id")
    first, last = links.first(), links.last()
    m.TraceLink.objects.filter(pk=first.pk).update(suspect=not first.suspect)
    m.TraceLink.objects.filter(pk=last.pk).delete()
    added = m.TraceLink.objects.create(
        project=demo,
        kind="satisfies",
        source=requirement(demo, "FSR-002"),
        target_goal=first.target_goal or m.SafetyGoal.objects.filter(project=demo).first(),
    )
    content = assert_warm_is_cold(demo)
    assert content[f"link:{first.source.code}>{first.kind}>{first.target.code}"]["suspect"] is (
        not first.suspect
    )
    assert f"link:{last.source.code}>{last.kind}>{last.target.code}" not in content
    assert f"link:FSR-002>satisfies>{added.target.code}" in content


def test_requirements_added_and_removed_in_the_database_are_read_anew(demo):
    assert_warm_is_cold(demo)
    gone = m.Requirement.objects.filter(project=demo, kind="SW").order_by("code").last()
    m.TraceLink.objects.filter(source=gone).delete()
    m.TraceLink.objects.filter(target_requirement=gone).delete()
    m.Decomposition.objects.filter(parent=gone).delete()
    m.Requirement.objects.filter(pk=gone.pk).delete()
    m.Requirement.objects.create(project=demo, code="NEW-1", kind="SW", title="New", asil="B")
    content = assert_warm_is_cold(demo)
    assert f"requirement:{gone.code}" not in content
    assert content["requirement:NEW-1"]["title"] == "New"


def test_a_change_rolled_back_is_not_kept(demo):
    before = assert_warm_is_cold(demo)
    target = requirement(demo)
    try:
        with transaction.atomic():
            m.Requirement.objects.filter(pk=target.pk).update(title="Never committed")
            assert warm(demo)[0]["requirement:FSR-001"]["title"] == "Never committed"
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert assert_warm_is_cold(demo) == before


def test_an_insider_edit_makes_the_review_over_the_whole_case_stale(demo):
    """The staged attack: a safety case review is current; an insider rewrites a requirement's
    text in the database (no service, no ledger entry); the review must now count as stale,
    naming the requirement, although this process read every row before."""
    from django.contrib.auth import get_user_model

    from compliance import services
    from evidence.membership import membership_seed

    users = get_user_model().objects
    author, assessor = users.create_user("memo-author"), users.create_user("memo-assessor")
    membership_seed(project=demo, member=author, role="engineer", team="A", org_unit="Eng")
    membership_seed(project=demo, member=assessor, role="assessor", team="B", org_unit="Assess")
    approval = services.approval_record(
        user=assessor,
        project=demo,
        measure="safety_case",
        work_product="safety case",
        author=author,
        asil="D",
        outcome="confirmed",
    )
    assert not approval_currency(project=demo)[approval.pk].stale  # and the memo is warm
    m.Requirement.objects.filter(pk=requirement(demo).pk).update(text="Quietly weakened")
    currency = approval_currency(project=demo)[approval.pk]
    assert currency.stale
    assert currency.changed == ["requirement:FSR-001"]
    assert not currency.added and not currency.removed


def test_the_memo_is_used_only_where_the_database_names_row_versions(demo):
    assert content_memo.tracked()
    warm(demo)
    assert content_memo._KEPT  # and so each test above read warm, then cold


def test_a_row_written_and_changed_again_in_one_transaction_is_read_anew(demo):
    """Within one transaction every version of a row carries the same ``xmin``: where the new
    version lies tells it from the old one."""
    made = m.Requirement.objects.create(project=demo, code="ONE-TX", kind="SW", title="First")
    assert warm(demo)[0]["requirement:ONE-TX"]["title"] == "First"
    m.Requirement.objects.filter(pk=made.pk).update(title="Second")  # no savepoint between
    assert assert_warm_is_cold(demo)["requirement:ONE-TX"]["title"] == "Second"
