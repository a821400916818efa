"""Query counts of every page, pinned on the seeded demo (after one run of its campaign).

A count that changes is a regression to look at, not a number to update blindly: each page
reads in a fixed number of queries, so the dashboard and the traceability matrix are also
checked on a project grown several times over, where the counts must stay the same.

What the counts are made of: 2 for the session and the user, 1 for the project, 1 for the
membership (the role), then the page's own reads.
"""

from __future__ import annotations

import math

import pytest
from django.db import connection
from django.urls import reverse

from compliance.models import (
    Baseline,
    HazardousEvent,
    Requirement,
    SafetyGoal,
    TraceLink,
    Verification,
)
from compliance.selectors import traceability_matrix
from evidence import ledger
from evidence.ledger import Record, Subject
from ui.views.common import PAGE_SIZE
from validation.models import CaseResult, Run, Verdict

# On PostgreSQL the requirements and links are read where they changed
# (compliance.content_memo): one query names the ranges of each table, one reads the rows of
# the ranges this process has not read (all, the first time), and one the goals' codes the
# links name. Elsewhere each table is one read.
ROWS_NAMED = connection.vendor == "postgresql"
REQUIREMENTS_READ = 2 if ROWS_NAMED else 1
EVERYTHING_READ = 5 if ROWS_NAMED else 2  # the requirements and the links

PAGES = [
    ("ui:projects", [], 3),
    # The gaps are counted by the database (compliance.navigation.dashboard_gaps): one grouped
    # query for the totals, orphans and unverified per ASIL, one each for the suspect links, the
    # stale verifications, the listed unverified, the goals and events without the other, the
    # approved per ASIL, one for the ASIL drops and two for the decomposition children; the
    # reviews are checked against the work products they cite (the approvals, the demo's HARA
    # and functional safety concept), their citations read once per process (one query the
    # first time); one for the criteria judged on no case in their scope.
    ("ui:dashboard", ["AEB"], 31 + REQUIREMENTS_READ),
    ("ui:dashboard-runs", ["AEB"], 5),
    ("ui:hara", ["AEB"], 9),
    # the event, its safety goals, and the form's hazard and situation choices
    ("ui:hazardous-event", ["AEB", "HE-01"], 8),
    # one page of safety goals and its count: the levels below are fetched when expanded
    ("ui:requirements", ["AEB"], 6),
    # two for its acceptance criteria and their latest verdicts (what each was judged on)
    ("ui:requirement", ["AEB", "FSR-002"], 13),
    ("ui:matrix", ["AEB"], 9),
    ("ui:campaigns", ["AEB"], 5),
    ("ui:campaign-new", ["AEB"], 9),
    ("ui:campaign", ["AEB", "campaign"], 8),
    ("ui:run", ["AEB", "run"], 11),  # one to know which cases the plotted criterion judges
    ("ui:run-progress", ["AEB", "run"], 6),
    ("ui:run-coverage", ["AEB", "run"], 8),  # the cases are read in one plain query
    ("ui:evidence", ["AEB"], 7),
    ("ui:entry-proof", ["AEB", 3], 7),  # the checkpoint key comes from the trust roots
    # case_snapshot's lean form: only what the argument reads (one for the supplier claims, one
    # for the review signatures; no decisions, artifacts, requirement approvals or gap
    # analysis; the reviews' citations once per process) and one for the log's head, which keys
    # the cached drawing of a large argument
    ("ui:gsn", ["AEB"], 29 + EVERYTHING_READ),
    ("ui:baselines", ["AEB"], 7),
    ("ui:asil", [], 2),
]


def _args(args, run):
    return [{"campaign": run.campaign_id, "run": run.pk}.get(a, a) for a in args]


@pytest.mark.parametrize("name,args,queries", PAGES)
def test_query_count(as_user, demo_run, django_assert_num_queries, name, args, queries):
    client = as_user("sam")  # a safety manager: every form and button is on the page
    url = reverse(name, args=_args(args, demo_run))
    with django_assert_num_queries(queries):
        assert client.get(url).status_code == 200


def grow(project, user, factor: int = 20) -> None:
    """Make the project ``factor`` times bigger, with bulk inserts: requirements linked to the
    goals and to each other, verifications, hazardous events, a second run with its results and
    verdicts, and ledger entries."""
    goals = list(SafetyGoal.objects.filter(project=project))
    hazard, situation = HazardousEvent.objects.values_list("hazard", "situation").first()
    HazardousEvent.objects.bulk_create(
        HazardousEvent(
            project=project,
            code=f"HE-{100 + i}",
            hazard_id=hazard,
            situation_id=situation,
            severity="S2",
            exposure="E3",
            controllability="C2",
            severity_rationale="r",
            exposure_rationale="r",
            controllability_rationale="r",
            asil="A",
        )
        for i in range(5 * factor)
    )
    reqs = Requirement.objects.bulk_create(
        Requirement(
            project=project,
            code=f"TSR-{1000 + i}",
            kind="TSR",
            title=f"Grown requirement {i}",
            asil="BCD"[i % 3],
            status="approved" if i % 2 else "draft",
        )
        for i in range(15 * factor)
    )
    links = [
        TraceLink(project=project, kind="derives-from", source=r, target_goal=goals[i % 3])
        for i, r in enumerate(reqs)
    ]
    links += [
        TraceLink(
            project=project,
            kind="derives-from",
            source=reqs[i],
            target_requirement=reqs[i - 1],
            suspect=i % 7 == 0,
        )
        for i in range(1, len(reqs))
    ]
    TraceLink.objects.bulk_create(links)
    (entry,) = ledger.append(
        project, [Record("change", [Subject(f"grown:{i}", "0" * 64)]) for i in range(factor)]
    )[:1]
    Verification.objects.bulk_create(
        Verification(
            project=project,
            requirement=r,
            requirement_version=1,
            method="test",
            result="pass",
            entry=entry,
            stale=i % 5 == 0,
        )
        for i, r in enumerate(reqs)
    )
    first = Run.objects.filter(campaign__project=project).first()
    run = Run.objects.create(
        campaign=first.campaign,
        executor="local",
        status="succeeded",
        cases_total=100 * factor,
        started_by=user,
    )
    CaseResult.objects.bulk_create(
        CaseResult(run=run, shard=0, case_id=f"c{i:06d}", scenario="CCRs", kpis={"min_ttc": 2.0})
        for i in range(100 * factor)
    )
    Verdict.objects.bulk_create(
        Verdict(
            run=run,
            criterion=v.criterion,
            verdict="pass",
            failures=0,
            trials=100 * factor,
            upper_bound=0.01,
            target=v.target,
            progress=1.0,
        )
        for v in first.verdicts.all()
    )
    # a queued run too: the dashboard then shows (and polls) a running campaign
    Run.objects.create(campaign=first.campaign, executor="local", cases_total=10, started_by=user)


@pytest.mark.parametrize(
    "name,queries", [("ui:dashboard", 31 + REQUIREMENTS_READ), ("ui:matrix", 9)]
)
def test_the_count_does_not_grow_with_the_project(
    as_user,
    demo,
    demo_run,
    people,
    django_assert_num_queries,
    django_assert_max_num_queries,
    name,
    queries,
):
    client = as_user("sam")
    url = reverse(name, args=["AEB"])
    before = (Requirement.objects.count(), TraceLink.objects.count())
    with django_assert_num_queries(queries):
        small = client.get(url)
    grow(demo, people["erin"])
    after = (Requirement.objects.count(), TraceLink.objects.count())
    assert after[0] > 20 * before[0] and after[1] > 40 * before[1]
    with django_assert_max_num_queries(queries):  # the reviews' citations are read already
        big = client.get(url)
    assert small.status_code == big.status_code == 200
    assert b"TSR-1000" in big.content or name == "ui:dashboard"
    if name == "ui:matrix":
        pages = math.ceil(traceability_matrix(project=demo).count() / PAGE_SIZE)
        assert pages > 1
        assert f"page 1 of {pages}".encode() in big.content


def test_a_filtered_matrix_page_costs_the_same(as_user, demo, django_assert_num_queries):
    client = as_user("vic")
    url = reverse("ui:matrix", args=["AEB"])
    with django_assert_num_queries(9):
        client.get(url, {"asil": "D", "kind": "FSR", "coverage": "unverified", "page": 1})


def test_the_baseline_page_has_no_query_per_baseline(
    as_user, demo, people, django_assert_num_queries
):
    from compliance.services import baseline_freeze

    for name in ("v1.1", "v1.2", "v1.3"):
        baseline_freeze(user=people["sam"], project=demo, name=name)
    assert Baseline.objects.filter(project=demo).count() == 4
    client = as_user("sam")
    with django_assert_num_queries(7):
        client.get(reverse("ui:baselines", args=["AEB"]))


@pytest.fixture
def signed_reviews(demo, people):
    """Two reviews of the demo's functional safety concept, signed by the assessor."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import RequestFactory

    from compliance import review_sessions as rs

    def one(title):
        session = rs.session_open(
            user=people["sam"],
            project=demo,
            title=title,
            measure="functional_safety_concept",
            reviewers=[people["ada"], people["eli"]],
            keys=["requirement:FSR-001", "requirement:FSR-002"],
        )
        request = RequestFactory().post("/", REMOTE_ADDR="127.0.0.1")
        request.session = SessionStore()
        for item in session.items.all():
            rs.signature_sign(
                user=people["ada"],
                request=request,
                item=item,
                decision="approve",
                meaning="approved",
                password="safecase-demo",
            )
        rs.comment_add(
            user=people["eli"], project=demo, key="requirement:FSR-001", text=f"@ada {title}"
        )
        return session

    return one


# The review's page reads the session, its items, its signatures (with their revocations) and
# the work products they cite; the impact preview of a content change reads the links, the
# verifications, the approvals, the signatures, the open reviews and the links up to the goals.
REVIEW_PAGES = [
    ("ui:reviews", lambda s: ["AEB"], {}, 6),
    ("ui:review", lambda s: ["AEB", s.pk], {}, 10),
    ("ui:item-reviews", lambda s: ["AEB", "requirement:FSR-001"], {}, 8),
    # the reviews' citations, once per process; the requirements read twice (on PostgreSQL,
    # named twice: signing the reviews read their rows, and none changed since)
    ("ui:impact", lambda s: ["AEB"], {}, 15),
    ("ui:requirement-impact", lambda s: ["AEB", "FSR-001"], {}, 5),
    ("ui:requirement-impact", lambda s: ["AEB", "FSR-001"], {"text": "Changed."}, 11),
]


@pytest.mark.parametrize("name,args,query,queries", REVIEW_PAGES)
def test_the_review_pages_cost_the_same_for_more_reviews(
    as_user,
    signed_reviews,
    django_assert_num_queries,
    django_assert_max_num_queries,
    name,
    args,
    query,
    queries,
):
    client = as_user("ada")  # a named reviewer: the signing forms are on the page
    first = signed_reviews("First")
    url = reverse(name, args=args(first))
    with django_assert_num_queries(queries):
        assert client.get(url, query).status_code == 200
    signed_reviews("Second")
    signed_reviews("Third")
    with django_assert_max_num_queries(queries):  # confirmation reviews' citations read already
        response = client.get(url, query)
    assert response.status_code == 200
    if name == "ui:review":
        assert response.content.count(b'type="password"') == 2


# The tree's pages: a count and a page of rows (with their flags in the same query); the
# children of a node need the node first.
TREE_PAGES = [
    ({}, 6),
    ({"parent": "SG-01"}, 7),
    ({"parent": "FSR-001"}, 8),
    ({"q": "-", "gap": "suspect"}, 6),
    ({"coverage": "unverified", "page": 2}, 6),
]


@pytest.mark.parametrize("name", ["ui:requirements", "ui:requirement-tree-children"])
@pytest.mark.parametrize("query,queries", TREE_PAGES)
def test_the_tree_costs_the_same_for_a_bigger_project(
    as_user, demo, demo_run, people, django_assert_num_queries, name, query, queries
):
    client = as_user("sam" if name == "ui:requirements" else "vic")
    url = reverse(name, args=["AEB"])
    # the full page with the new-requirement form reads the goals and requirements it offers
    with django_assert_num_queries(queries):
        assert client.get(url, query).status_code == 200
    grow(demo, people["erin"])
    with django_assert_num_queries(queries):
        assert client.get(url, query).status_code == 200


# The chains: the goals for the filter, a count and a page (one SQL statement each), the
# hazardous events of the page's goals and the criteria with their latest verdicts.
@pytest.mark.parametrize("query", [{}, {"goal": "SG-01", "gap": "on", "page": 2}])
def test_the_chains_cost_the_same_for_a_bigger_project(
    as_user, demo, demo_run, people, django_assert_num_queries, query
):
    client = as_user("vic")
    url = reverse("ui:chains", args=["AEB"])
    with django_assert_num_queries(10):
        assert client.get(url, query).status_code == 200
    grow(demo, people["erin"])
    with django_assert_num_queries(10):
        assert client.get(url, query).status_code == 200


def test_a_baseline_difference_costs_the_same_for_more_changes(
    as_user, demo, people, django_assert_num_queries
):
    """The two baselines, their entries, one comparison of their contents (kept in the cache
    afterwards), the verifications and reviews recorded between them and their counts."""
    from django.core.cache import cache

    from compliance.services import baseline_freeze, requirement_update

    baseline_freeze(user=people["sam"], project=demo, name="v1.1")
    for code in ("FSR-001", "FSR-002", "FSR-010"):
        requirement = Requirement.objects.get(project=demo, code=code)
        requirement_update(user=people["erin"], requirement=requirement, text=f"{code} anew.")
    baseline_freeze(user=people["sam"], project=demo, name="v1.2")
    client = as_user("vic")
    url = reverse("ui:baselines", args=["AEB"])
    cache.clear()
    with django_assert_num_queries(16):
        assert client.get(url, {"old": "v1.0-demo", "new": "v1.1"}).status_code == 200
    with django_assert_num_queries(16):
        assert client.get(url, {"old": "v1.0-demo", "new": "v1.2"}).status_code == 200
    with django_assert_num_queries(15):  # the same pair again: compared once
        assert client.get(url, {"old": "v1.0-demo", "new": "v1.2"}).status_code == 200
    cache.clear()


def test_the_gsn_costs_the_same_for_a_bigger_project(
    as_user, demo, demo_run, people, django_assert_num_queries, django_assert_max_num_queries
):
    """The first view of the argument reads each table once, whatever the project's size (the
    requirements and links as rows); on the grown project it is then kept in the cache, and
    the next view reads only what keys it (the log's head and checkpoint) and the page."""
    from django.core.cache import cache

    client = as_user("vic")
    url = reverse("ui:gsn", args=["AEB"])
    cache.clear()
    with django_assert_num_queries(29 + EVERYTHING_READ):
        assert client.get(url).status_code == 200
    grow(demo, people["erin"])
    cache.clear()
    with django_assert_max_num_queries(29 + EVERYTHING_READ):  # the citations are read already
        big = client.get(url)
    assert big.status_code == 200 and b"three levels" in big.content
    with django_assert_num_queries(7):
        assert client.get(url).status_code == 200
