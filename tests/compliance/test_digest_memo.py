"""The digests of the work products, memoised per process (``reviews.item_digest``): after a
change most items are as they were, so their digests are looked up rather than computed again.
A memoised digest must be exactly the digest of the item as it is now: compared type by type
(Python's ``1 == True == 1.0`` would merge items JSON tells apart), never for nested values."""

from __future__ import annotations

import pytest

from compliance import reviews
from compliance.reviews import digest_of, item_digest


@pytest.fixture(autouse=True)
def cold():
    reviews.forget_digests()
    yield
    reviews.forget_digests()


REQUIREMENT = {
    "code": "FSR-001",
    "kind": "FSR",
    "title": "Brake",
    "text": "The vehicle shall brake \u00e9 \U0001f697.",
    "status": "approved",
    "version": 2,
    "asil": "D",
    "section": "",
}


def test_a_memoised_digest_is_the_items_digest():
    first = item_digest("requirement:FSR-001", dict(REQUIREMENT))
    again = item_digest("requirement:FSR-001", dict(REQUIREMENT))  # an equal, new dict
    assert first == again == digest_of(REQUIREMENT)
    assert len(reviews._DIGESTS) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("text", "The vehicle shall brake."),
        ("version", 3),
        ("version", True),  # 2 is not True, but 1 == True in Python: see below
        ("section", None),
        ("asil", "D "),
    ],
)
def test_a_changed_item_gets_its_new_digest(field, value):
    item_digest("requirement:FSR-001", dict(REQUIREMENT))
    changed = {**REQUIREMENT, field: value}
    assert item_digest("requirement:FSR-001", changed) == digest_of(changed)
    assert digest_of(changed) != digest_of(REQUIREMENT)


@pytest.mark.parametrize(("before", "after"), [(1, True), (True, 1), (0, False)])
def test_values_python_holds_equal_and_json_tells_apart_get_their_own_digests(before, after):
    old, new = {"code": "X-1", "version": before}, {"code": "X-1", "version": after}
    assert old == new  # in Python
    item_digest("link:X-1", old)
    assert item_digest("link:X-1", new) == digest_of(new) != digest_of(old)


def test_an_item_with_nested_values_is_digested_each_time():
    goal = {"code": "SG-01", "events": ["HE-01"], "asil": "D"}
    assert item_digest("goal:SG-01", goal) == digest_of(goal)
    goal["events"].append("HE-02")  # the same list, changed in place
    assert item_digest("goal:SG-01", goal) == digest_of(goal)
    assert "goal:SG-01" not in reviews._DIGESTS


def test_the_memo_is_bounded(monkeypatch):
    monkeypatch.setattr(reviews, "DIGEST_MEMO_SIZE", 10)
    for n in range(25):
        item = {**REQUIREMENT, "code": f"FSR-{n:03d}"}
        assert item_digest(f"requirement:FSR-{n:03d}", item) == digest_of(item)
    assert len(reviews._DIGESTS) <= 10


def test_a_scope_is_digested_the_same_cold_and_warm(db):
    content = {
        **{
            f"requirement:R-{n}": {**REQUIREMENT, "code": f"R-{n}", "version": n} for n in range(50)
        },
        "goal:SG-01": {"code": "SG-01", "events": ["HE-01"], "asil": "D"},
        "item": {"function": "AEB", "odd": "motorway"},
    }
    cold = reviews.scope_digests("safety_case", content)
    content["requirement:R-7"] = {**content["requirement:R-7"], "title": "Changed"}
    warm = reviews.scope_digests("safety_case", content)
    assert warm == {key: digest_of(value) for key, value in sorted(content.items())}
    assert [k for k in cold if cold[k] != warm[k]] == ["requirement:R-7"]


@pytest.fixture
def demo(db):
    from django.core.management import call_command

    from projects.models import Project

    call_command("seed_demo")
    reviews.forget_citations()
    yield Project.objects.get(key="AEB")
    reviews.forget_citations()


def test_a_reviews_citations_are_read_once_per_process(demo, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from compliance.models import Approval

    def read():
        with CaptureQueriesContext(connection) as queries:
            found = reviews.currencies(demo, Approval.objects.filter(project=demo).order_by("id"))
        return found, [q["sql"] for q in queries.captured_queries]

    first, first_sql = read()
    again, again_sql = read()
    assert any('"cited"' in sql for sql in first_sql)
    assert not any('"cited"' in sql for sql in again_sql)  # from the memo
    assert len(again_sql) == len(first_sql) - 1
    rows = list(Approval.objects.filter(project=demo).order_by("id"))  # citations read
    expected = reviews.currencies(demo, rows)
    assert {pk: (c.changed, c.added, c.removed) for pk, c in again.items()} == {
        pk: (c.changed, c.added, c.removed) for pk, c in expected.items()
    }
    assert {pk: c.approval.cited for pk, c in again.items()} == {a.pk: a.cited for a in rows}


def test_another_row_under_the_same_id_is_read_anew(demo):
    """A row the memo has not seen (another database's under the same id and entry, say, told
    apart by its time of recording) is read from the database."""
    import datetime

    from compliance.models import Approval

    approval = Approval.objects.filter(project=demo).order_by("id").first()
    reviews.currencies(demo, Approval.objects.filter(pk=approval.pk))
    other = {"requirement:FSR-001": "0" * 64}
    later = approval.created_at + datetime.timedelta(seconds=1)
    Approval.objects.filter(pk=approval.pk).update(cited=other, created_at=later)
    found = reviews.currencies(demo, Approval.objects.filter(pk=approval.pk))
    assert found[approval.pk].approval.cited == other
    assert found[approval.pk].removed == ["requirement:FSR-001"]
