"""Navigating a large safety case: the requirement tree a level at a time with its search and
filters, the dashboard's counts as links to the filtered lists, the traceability chains and
their exports, and the baseline difference field by field."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse

from compliance.models import Decomposition, Requirement, SafetyGoal, TraceLink, Verification
from compliance.selectors import PARENT_KINDS


def _get(client, name, *args, **params):
    response = client.get(reverse(name, args=["AEB", *args]), params)
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


def _codes(html: str) -> list[str]:
    """The codes of the tree rows, in order."""
    return re.findall(r'<a class="item" href="[^"]*">(?:<strong>)?([^<]+)', html)


# --- The requirement tree ---------------------------------------------------------------------


def test_it_shows_the_goals_first_and_their_children_on_demand(as_user, demo):
    client = as_user("vic")
    html = _get(client, "ui:requirements")
    goals = list(
        SafetyGoal.objects.filter(project=demo).order_by("code").values_list("code", flat=True)
    )
    assert _codes(html) == [*goals, "Without a parent"]
    assert "FSR-001" not in _codes(html)  # below a goal: fetched when it is expanded
    assert 'data-children="/p/AEB/tree/rows/?parent=SG-01"' in html
    assert 'href="/p/AEB/requirements/?parent=SG-01"' in html  # the same without JavaScript

    rows = _get(client, "ui:requirement-tree-children", parent="SG-01")
    under = set(
        TraceLink.objects.filter(target_goal__code="SG-01", kind__in=PARENT_KINDS)
        .exclude(source__status="obsolete")
        .values_list("source__code", flat=True)
    )
    assert set(_codes(rows)) == under and "FSR-001" in under
    assert "<html" not in rows  # a fragment, not a page
    page = _get(client, "ui:requirements", parent="SG-01")
    assert set(_codes(page)) == under and "Under SG-01" in page


def test_a_node_without_children_has_no_toggle(as_user, demo):
    leaf = (
        Requirement.objects.filter(project=demo)
        .exclude(links_down__kind__in=PARENT_KINDS)
        .exclude(status="obsolete")
        .order_by("code")
        .first()
    )
    html = _get(as_user("vic"), "ui:requirements", q=leaf.code)
    row = html.split(f">{leaf.code}</a>")[0].rsplit("<li", 1)[1]
    assert "data-children" not in row and 'class="toggle leaf"' in row


def test_search_and_filters_give_a_flat_paged_list(as_user, demo):
    client = as_user("vic")
    html = _get(client, "ui:requirements", q="fsr-00")
    assert _codes(html) and all("FSR-00" in c for c in _codes(html))
    d = _get(client, "ui:requirements", asil="D", kind="FSR")
    expected = Requirement.objects.filter(project=demo, kind="FSR", asil__startswith="D")
    assert sorted(_codes(d)) == sorted(
        expected.exclude(status="obsolete").values_list("code", flat=True)
    )
    assert "No requirement matches." in _get(client, "ui:requirements", q="nothing-like-this")


def test_the_gap_filters_match_the_gap_analysis(as_user, demo):
    client = as_user("vic")
    suspect = set(
        TraceLink.objects.filter(project=demo, suspect=True).values_list("source__code", flat=True)
    )
    assert suspect
    assert set(_codes(_get(client, "ui:requirements", gap="suspect"))) == suspect
    stale = set(
        Verification.objects.filter(project=demo, stale=True).values_list(
            "requirement__code", flat=True
        )
    )
    assert set(_codes(_get(client, "ui:requirements", gap="stale"))) == stale
    verified = set(
        Verification.objects.filter(project=demo, stale=False, result="pass").values_list(
            "requirement__code", flat=True
        )
    )
    shown = set(_codes(_get(client, "ui:requirements", coverage="verified")))
    assert shown and shown <= verified


def test_the_tree_pages_a_long_level(as_user, demo):
    goal = SafetyGoal.objects.get(project=demo, code="SG-01")
    reqs = Requirement.objects.bulk_create(
        Requirement(project=demo, code=f"TSR-9{i:03d}", kind="TSR", title="t", asil="B")
        for i in range(120)
    )
    TraceLink.objects.bulk_create(
        TraceLink(project=demo, kind="derives-from", source=r, target_goal=goal) for r in reqs
    )
    client = as_user("vic")
    first = _get(client, "ui:requirement-tree-children", parent="SG-01")
    assert len(_codes(first)) == 50
    more = re.search(r'data-more="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(more).content.decode()
    assert len(_codes(second)) == 50 and not set(_codes(first)) & set(_codes(second))
    page = _get(client, "ui:requirements", parent="SG-01")
    assert "page 1 of 3" in page and "data-more" not in page


@pytest.mark.parametrize("query", [{"parent": "NOPE-1"}])
def test_an_unknown_parent_is_a_404(as_user, demo, query):
    client = as_user("vic")
    assert client.get(reverse("ui:requirements", args=["AEB"]), query).status_code == 404
    assert (
        client.get(reverse("ui:requirement-tree-children", args=["AEB"]), query).status_code == 404
    )


def test_a_bad_filter_value_is_ignored(as_user, demo):
    html = _get(as_user("vic"), "ui:requirements", asil="Z", gap="<script>")
    assert "Safety goals and what derives from them" in html


def test_another_projects_member_gets_404(stranger, demo):
    from django.test import Client

    client = Client()
    client.force_login(stranger)
    url = reverse("ui:requirement-tree-children", args=["AEB"])
    assert client.get(url, {"parent": "SG-01"}).status_code == 404
    assert Client().get(url).status_code == 302  # to the login page


# --- The dashboard's counts -------------------------------------------------------------------


def test_the_dashboard_counts_link_to_the_filtered_lists(as_user, demo):
    client = as_user("vic")
    html = _get(client, "ui:dashboard")
    links = {
        "gap=suspect": r"(\d+)</strong> suspect link",
        "gap=stale": r"(\d+)</strong> stale verification",
        "gap=orphan": r"(\d+)</strong> requirements? without a parent",
        "coverage=unverified": r"(\d+)</strong> requirements? not verified",
    }
    for query, count in links.items():
        match = re.search(rf'href="/p/AEB/requirements/\?{query}"><strong>{count}', html)
        assert match, query
        listed = _get(client, "ui:requirements", **dict([query.split("=")]))
        if query == "gap=suspect":  # a requirement per suspect link up
            assert len(_codes(listed)) <= int(match.group(1))
        elif query != "gap=stale":
            assert f"{match.group(1)} requirement" in listed, query
    assert 'href="/p/AEB/requirements/?asil=D&amp;coverage=verified"' in html


def _same_gaps(project):
    from compliance.navigation import dashboard_gaps
    from compliance.selectors import full_gap_analysis

    full, fast = full_gap_analysis(project=project), dashboard_gaps(project=project)
    for name in ("without_parent", "without_verification"):
        assert fast[name]["count"] == full[name]["count"], name
        assert fast[name]["by_asil"] == full[name]["by_asil"], name
    assert fast["without_verification"]["items"] == full["without_verification"]["items"]
    for name in (
        "events_without_goal",
        "goals_without_requirements",
        "unlinked_decomposition_children",
        "stale_reviews",
        "criteria_without_cases",
    ):
        assert fast[name] == full[name], name
    for name in ("requirements", "stale_verifications", "suspect_links", "approved", "approvals"):
        assert fast[name] == full[name], name
    drops = full["undecomposed_asil_drops"]
    assert fast["undecomposed_asil_drops"] == {"count": len(drops)}
    assert fast["release_ready"] == full["release_ready"]
    return fast


def test_the_dashboard_counts_what_the_gap_analysis_finds(demo, demo_run, people):
    from tests.ui.test_queries import grow

    before = _same_gaps(demo)
    grow(demo, people["erin"])
    after = _same_gaps(demo)
    assert after["suspect_links"] > before["suspect_links"]
    assert after["requirements"] > before["requirements"]


# --- The traceability chains ------------------------------------------------------------------


def _expected_chains(project, goal=None):
    """Every path goal → FSR → TSR → SW/HW, computed here from the links, independently of the
    page's SQL: a level with nothing below ends its chain."""
    links = TraceLink.objects.filter(project=project, kind__in=PARENT_KINDS).exclude(
        source__status="obsolete"
    )
    below: dict = {}
    for source, kind, target_goal, target_req in links.values_list(
        "source_id", "source__kind", "target_goal__code", "target_requirement_id"
    ):
        below.setdefault(target_goal or target_req, []).append((source, kind))
    code = dict(Requirement.objects.filter(project=project).values_list("id", "code"))

    def down(parent, levels):
        wanted, *rest = levels
        found = [s for s, kind in below.get(parent, []) if kind in wanted]
        if not found:
            return [()]
        return [(code[s], *tail) for s in found for tail in (down(s, rest) if rest else [()])]

    chains = set()
    for g in SafetyGoal.objects.filter(project=project).values_list("code", flat=True):
        if goal and g != goal:
            continue
        for path in down(g, [("FSR",), ("TSR",), ("SW", "HW")]):
            chains.add((g, *path, *[None] * (3 - len(path))))
    return chains


def _csv_rows(response):
    import csv
    import io

    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_the_chains_are_every_path_from_goal_to_leaf(as_user, demo):
    from compliance.navigation import ChainQuery

    got = {
        (c.goal, *(p[1] if p else None for p in (c.fsr, c.tsr, c.leaf)))
        for c in ChainQuery(demo).iterate()
    }
    expected = _expected_chains(demo)
    assert got == expected and len(expected) > 3
    assert any(row[2] for row in expected)  # some chain reaches a TSR
    client = as_user("vic")
    html = _get(client, "ui:chains")
    assert html.count("<tr") - 1 == min(len(expected), 50)
    assert ">FSR-001</a>" in html and 'href="/p/AEB/hara/HE-' in html


def test_the_chain_filters_and_exports(as_user, demo):
    client = as_user("vic")
    url = reverse("ui:chains", args=["AEB"])
    html = _get(client, "ui:chains", goal="SG-01")
    assert set(re.findall(r"#goal-(SG-\d+)", html)) == {"SG-01"}
    gaps = _get(client, "ui:chains", gap="on")
    assert "complete</span>" not in gaps
    rows = _csv_rows(client.get(url, {"export": "csv", "goal": "SG-01"}))
    assert rows[0][:3] == ["hazards", "hazardous events", "safety goal"]
    assert {r[2] for r in rows[1:]} == {"SG-01"}
    assert len(rows) - 1 == len(_expected_chains(demo, goal="SG-01"))
    assert all(r[1].startswith("HE-") for r in rows[1:])
    response = client.get(url, {"export": "xlsx"})
    assert response["Content-Disposition"] == 'attachment; filename="AEB-chains.xlsx"'
    from io import BytesIO

    from openpyxl import load_workbook

    sheet = load_workbook(BytesIO(response.content)).active
    table = [[c or "" for c in row] for row in sheet.iter_rows(values_only=True)]
    assert table == _csv_rows(client.get(url, {"export": "csv"}))


# --- The GSN view -----------------------------------------------------------------------------


def _gsn_links(html: str) -> dict:
    import json

    return json.loads(re.search(r'id="gsn-links"[^>]*>(.*?)</script>', html, re.S).group(1))


def _drawing(html: str) -> str:
    return html[html.index("<svg") : html.index("</svg>")]


def test_the_gsn_nodes_lead_to_their_items(as_user, demo):
    html = _get(as_user("vic"), "ui:gsn")
    links = _gsn_links(html)
    assert "/p/AEB/requirements/FSR-001/" in links.values()
    assert any(v.startswith("/p/AEB/hara/#goal-SG-") for v in links.values())
    for node in re.findall(r'data-node="([^"]+)"', html):
        assert node in links or not node.startswith(("G:requirement", "G:goal"))
    assert "gsn.js" in html and 'class="gsn-tools" hidden' in html


def test_the_page_argues_from_a_lean_snapshot_what_the_package_argues(demo, demo_run, people):
    """The GSN page gathers only what the argument reads (no gap analysis, decisions,
    artifacts or requirement approvals): the argument is the one the full snapshot, the
    package's, gives, node for node and status for status, live and from a baseline."""
    from compliance.models import Baseline
    from reports import gsn
    from reports.selectors import case_snapshot

    sam = people["sam"]
    for baseline in (None, Baseline.objects.get(project=demo, name="v1.0-demo")):
        full = case_snapshot(user=sam, project=demo, baseline=baseline)
        lean = case_snapshot(user=sam, project=demo, baseline=baseline, full=False)
        assert full.gaps and full.artifacts and full.requirement_approvals
        assert not (lean.gaps or lean.decisions or lean.artifacts or lean.requirement_approvals)
        argument = gsn.build(full).to_json()
        assert gsn.build(lean).to_json() == argument
        assert {n["status"] for n in argument["nodes"]} >= {"supported", "challenged", "stale"}


def test_a_large_argument_is_drawn_from_the_cache_until_the_log_grows(
    as_user, demo, demo_run, people, django_assert_max_num_queries
):
    from django.core.cache import cache

    from evidence import ledger
    from evidence.ledger import Record, Subject
    from tests.ui.test_queries import grow

    cache.clear()
    grow(demo, people["erin"])
    client = as_user("vic")
    first = _get(client, "ui:gsn")
    assert "nodes drawn: the argument is shown three levels deep" in first
    with django_assert_max_num_queries(8):  # the session, the project, the log's head...
        again = _get(client, "ui:gsn")
    assert _drawing(again) == _drawing(first)
    root = {"root": "G:requirement:TSR-1000"}
    assert "Changed meanwhile" not in _get(client, "ui:gsn", **root)
    Requirement.objects.filter(project=demo, code="TSR-1000").update(title="Changed meanwhile")
    assert "Changed meanwhile" not in _get(client, "ui:gsn", **root)  # nothing recorded
    ledger.append(demo, [Record("change", [Subject("requirement:TSR-1000", "1" * 64)])])
    assert "Changed meanwhile" in _get(client, "ui:gsn", **root)
    cache.clear()


# --- The baseline difference ------------------------------------------------------------------


def test_the_baseline_difference_is_field_by_field_with_what_was_recorded(as_user, demo, people):
    from compliance.services import baseline_diff, baseline_freeze, requirement_update

    requirement = Requirement.objects.get(project=demo, code="FSR-010")
    requirement_update(user=people["erin"], requirement=requirement, text="New wording.")
    baseline_freeze(user=people["sam"], project=demo, name="v1.1")
    client = as_user("vic")
    html = _get(client, "ui:baselines", old="v1.0-demo", new="v1.1")
    table = html.split("<h4>requirement:FSR-010</h4>")[1].split("</table>")[0]
    rows = dict(re.findall(r'<th scope="row">(\w+)</th><td>(.*?)</td><td>.*?</td>', table))
    assert "<ins>New wording.</ins>" in table and "text" in rows and "<del>" in rows["text"]
    assert "version" in rows and "code" not in rows  # only the fields that changed
    assert "Verifications recorded between them" in html
    # the same items as the service's whole-content comparison, page by page
    from compliance.models import Baseline

    old, new = (Baseline.objects.get(project=demo, name=n) for n in ("v1.0-demo", "v1.1"))
    expected = baseline_diff(old, new)
    counts = re.search(
        r"(\d+) added</span>\s*<span class=\"tag\">(\d+) removed.*?(\d+) changed", html, re.S
    )
    assert [int(n) for n in counts.groups()] == [
        len(expected["added"]),
        len(expected["removed"]),
        len(expected["changed"]),
    ]
    keys = [unescape(k) for k in re.findall(r"<h4>([^<]+)</h4>", html)]
    assert keys == sorted(expected["added"] + expected["removed"] + list(expected["changed"]))[:50]
    only = _get(client, "ui:baselines", old="v1.0-demo", new="v1.1", kind="requirement")
    assert all(k.startswith("requirement:") for k in re.findall(r"<h4>([^<]+)</h4>", only))


def test_the_database_comparison_finds_what_the_whole_content_comparison_finds(demo, people):
    """Added, removed and changed items (added requirements, a removed link, a changed text
    with non-ASCII characters and quotes), compared by the database the suite runs on: the same keys
    in the same code-point order, the same statuses and fields as the service's comparison."""
    from compliance.models import Baseline
    from compliance.navigation import BaselineChanges
    from compliance.services import (
        baseline_diff,
        baseline_freeze,
        link_remove,
        requirement_create,
        requirement_update,
    )

    erin, sam = people["erin"], people["sam"]
    requirement = Requirement.objects.get(project=demo, code="FSR-010")
    requirement_update(user=erin, requirement=requirement, text='Brakes \u00e9 "fully".')
    requirement_create(user=erin, project=demo, code="ZZ-1", kind="FSR", title="new")
    requirement_create(user=erin, project=demo, code="A-1", kind="FSR", title="new")
    split = Decomposition.objects.filter(project=demo).values_list("first", "second")
    children = {pk for pair in split for pk in pair}  # their links carry the decomposition
    link = TraceLink.objects.filter(project=demo).exclude(source__in=children).order_by("id")[0]
    link_remove(user=sam, link=link, reason="no longer derived")
    baseline_freeze(user=sam, project=demo, name="v1.1")
    old, new = (Baseline.objects.get(project=demo, name=n) for n in ("v1.0-demo", "v1.1"))
    expected = baseline_diff(old, new)
    assert expected["added"] and expected["removed"] and expected["changed"]
    changes = BaselineChanges(old, new)
    found = changes[0 : changes.count()]
    assert [c["key"] for c in found] == sorted(
        expected["added"] + expected["removed"] + list(expected["changed"])
    )
    for change in found:
        key, fields = change["key"], {name: [a, b] for name, a, b in change["fields"]}
        if key in expected["changed"]:
            assert change["status"] == "changed" and fields == expected["changed"][key], key
        else:
            status = "added" if key in expected["added"] else "removed"
            content = (new if status == "added" else old).content[key]
            assert change["status"] == status, key
            assert fields == {
                f: ([None, v] if status == "added" else [v, None]) for f, v in content.items()
            }, key
    assert changes.counts() == {
        "added": len(expected["added"]),
        "removed": len(expected["removed"]),
        "changed": len(expected["changed"]),
    }


def test_the_baseline_difference_lists_the_verifications_recorded_between(as_user, demo, people):
    from compliance.models import Baseline
    from compliance.services import baseline_freeze

    before = Baseline.objects.get(project=demo, name="v1.0-demo")
    recorded = Verification.objects.filter(project=demo, entry__index__gt=before.entry.index)
    baseline_freeze(user=people["sam"], project=demo, name="v1.1")
    html = _get(as_user("vic"), "ui:baselines", old="v1.0-demo", new="v1.1")
    section = html.split("Verifications recorded between them")[1].split("<h3>")[0]
    assert f'<small class="muted">{recorded.count()}</small>' in section
    for v in recorded[:50]:
        assert f">#{v.entry.index}</a>" in section
