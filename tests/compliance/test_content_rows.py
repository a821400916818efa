"""The work products a baseline freezes, read as database rows for speed, are the very dicts
the model instances' ``snapshot()`` give: same keys, same values, same types, so the Merkle
root of a baseline, the digests an approval cites and the digest a signature binds do not move.

Checked on the demo project (every kind of work product: item, HARA, goals, requirements,
links with a suspect one, a decomposition, SOTIF elements, criteria) and on the demo grown
with requirements, links to goals and to requirements and a second decomposition."""

import pytest
from django.core.management import call_command

from compliance import models as m
from compliance import review_sessions, reviews
from compliance.iso26262 import ConfirmationMeasure
from compliance.services import merkle_root_of
from evidence.verify import canonical_json
from projects.models import Project

pytestmark = pytest.mark.django_db

KINDS = ("item", "hazard", "situation", "event", "tc", "requirement", "goal", "fi", "hb")
KINDS += ("ac", "link", "decomposition")


def from_instances(project) -> dict[str, dict]:
    """The work products as each model instance's ``snapshot()`` gives them (the definition)."""
    content = {}
    item = m.ItemDefinition.objects.filter(project=project).first()
    if item:
        content["item"] = item.snapshot()
    for model, prefix in (
        (m.Hazard, "hazard"),
        (m.OperationalSituation, "situation"),
        (m.HazardousEvent, "event"),
        (m.TriggeringCondition, "tc"),
        (m.Requirement, "requirement"),
        (m.SafetyGoal, "goal"),
        (m.FunctionalInsufficiency, "fi"),
        (m.HazardousBehaviour, "hb"),
        (m.AcceptanceCriterion, "ac"),
    ):
        for obj in model.objects.filter(project=project):
            content[f"{prefix}:{obj.code}"] = obj.snapshot()
    for link in m.TraceLink.objects.filter(project=project):
        content[f"link:{link.source.code}>{link.kind}>{link.target.code}"] = link.snapshot()
    for dec in m.Decomposition.objects.filter(project=project):
        content[f"decomposition:{dec.parent.code}:{dec.first.code}+{dec.second.code}"] = (
            dec.snapshot()
        )
    return content


def assert_same_digests(project) -> dict[str, dict]:
    expected = from_instances(project)
    content = reviews.work_product_content(project)
    assert sorted(content) == sorted(expected)
    for key, value in expected.items():  # value and type: canonical JSON tells 1 from True
        assert canonical_json(content[key]) == canonical_json(value), key
        assert review_sessions.item_digest(key, content[key]) == review_sessions.item_digest(
            key, value
        )
    assert merkle_root_of(content) == merkle_root_of(expected)
    known = {}  # shared by the measures, as the GSN and the evidence pack share it
    for measure in ConfirmationMeasure:
        scope = reviews.MEASURE_SCOPES[measure.value]
        cited = {k: reviews.digest_of(v) for k, v in sorted(expected.items()) if scope(k, v)}
        assert reviews.current_digests(project, measure.value) == cited, measure
        assert reviews.scope_digests(measure.value, expected, known) == cited, measure
        assert list(reviews.scope_digests(measure.value, expected)) == list(cited)
    for kind in KINDS:  # each prefix read alone, as a review session reads it
        alone = reviews.work_product_content(project, [kind])
        assert alone == {k: v for k, v in expected.items() if k.split(":", 1)[0] == kind}
    return content


@pytest.fixture
def demo():
    call_command("seed_demo")
    return Project.objects.get(key="AEB")


def test_the_demo_reads_the_same_from_rows_as_from_instances(demo):
    content = assert_same_digests(demo)
    assert {key.split(":", 1)[0] for key in content} == set(KINDS)
    assert any(v.get("suspect") for k, v in content.items() if k.startswith("link:"))
    frozen = m.Baseline.objects.get(project=demo, name="v1.0-demo")
    assert frozen.root == merkle_root_of(from_instances(demo))  # nothing changed since


def test_a_grown_project_reads_the_same_from_rows_as_from_instances(demo):
    from django.contrib.auth import get_user_model

    from compliance import services

    sam = get_user_model().objects.get(username="sam")
    goal = m.SafetyGoal.objects.filter(project=demo).order_by("code").first()
    grown = m.Requirement.objects.bulk_create(
        m.Requirement(
            project=demo,
            code=f"GRW-{i:03d}",
            kind=("FSR", "TSR", "SW", "HW", "SOTIF")[i % 5],
            title=f"Grown {i} \u00e9\u2013\U0001f697",
            text=f"Grown requirement {i}\nwith a second line" if i % 3 else "",
            status=("draft", "in_review", "approved", "obsolete")[i % 4],
            version=1 + i % 3,
            asil=("QM", "A", "B(D)", "C", "D")[i % 5],
            section=f"{i % 7}.{i % 3}" if i % 2 else "",
        )
        for i in range(60)
    )
    links = [
        m.TraceLink(project=demo, kind="derives-from", source=req, target_goal=goal)
        for req in grown[:20]
    ]
    links += [
        m.TraceLink(
            project=demo,
            kind=("derives-from", "satisfies", "verifies")[i % 3],
            source=grown[i],
            target_requirement=grown[i - 20],
            suspect=i % 4 == 0,
        )
        for i in range(20, 60)
    ]
    m.TraceLink.objects.bulk_create(links)
    services.decomposition_record(
        user=sam,
        project=demo,
        parent=grown[24],  # D into B(D) + B(D)
        first=grown[27],
        second=grown[22],
        elements="two channels",
        dependent_failure_analysis="DFA-02",
    )
    content = assert_same_digests(demo)
    assert len([k for k in content if k.startswith("requirement:GRW-")]) == 60


def test_the_currencies_of_many_measures_read_the_content_once(demo, django_assert_max_num_queries):
    """Each review is judged against the same digests as its measure's own read gives, while
    the measures share one read of the work products and one digest per item."""
    from types import SimpleNamespace

    reviews_ = []
    for n, measure in enumerate(ConfirmationMeasure):
        cited = reviews.current_digests(demo, measure.value)
        if n % 2 and cited:  # every other review cites something since changed
            key = sorted(cited)[0]
            cited = {**cited, key: "0" * 64}
        reviews_.append(SimpleNamespace(pk=n, measure=measure.value, cited=cited))
    expected = {
        r.pk: reviews.compare(r, reviews.current_digests(demo, r.measure)) for r in reviews_
    }
    with django_assert_max_num_queries(16):  # one read of every kind, not one per measure
        found = reviews.currencies(demo, reviews_)
    assert {pk: (c.changed, c.added, c.removed) for pk, c in found.items()} == {
        pk: (c.changed, c.added, c.removed) for pk, c in expected.items()
    }
    assert any(c.stale for c in found.values()) and not all(c.stale for c in found.values())
