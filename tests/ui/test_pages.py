"""What the reading pages show: dashboard indicators, the requirement tree and detail, the
traceability matrix and its CSV export; and the server-drawn charts."""

from __future__ import annotations

import re
from collections import Counter

from django.urls import reverse

from compliance.iso26262 import parse_asil
from compliance.models import (
    CommitLink,
    HazardousEvent,
    Requirement,
    SafetyGoal,
    TraceLink,
    Verification,
)
from evidence.models import LogEntry
from ui import charts


def _get(client, name, *args, **params) -> str:
    response = client.get(reverse(name, args=["AEB", *args]), params)
    assert response.status_code == 200
    return response.content.decode()


def _row(table: str, heading: str) -> list[int]:
    """The numbers in the row of ``table`` whose heading contains ``heading``."""
    row = re.search(rf"<tr><th[^>]*>(?:<a [^>]*>)?{heading}.*?</tr>", table, re.S).group(0)
    return [int(n) for n in re.findall(r"<td>(\d+)</td>", row)]


def test_the_dashboard_counts_by_asil(as_user, demo):
    html = _get(as_user("vic"), "ui:dashboard")
    hara = re.search(r'id="hara-h".*?</table>', html, re.S).group(0)
    columns = re.findall(r'title="ASIL (\w+)"', hara.split("</thead>")[0])
    assert columns == ["QM", "A", "B", "C", "D"]
    for heading, model in (("Hazardous events", HazardousEvent), ("Safety goals", SafetyGoal)):
        levels = Counter(
            parse_asil(a).level
            for a in model.objects.filter(project=demo).values_list("asil", flat=True)
        )
        assert _row(hara, heading) == [levels[level] for level in columns], heading
    suspect = TraceLink.objects.filter(project=demo, suspect=True).count()
    assert suspect > 0  # the demo changes FSR-002 after linking it
    assert f"{suspect}</strong> suspect link" in html
    assert "Confirmation review: impact analysis at item level" in html  # pending measure
    assert "Not release ready" in html


def test_the_tree_puts_requirements_under_their_goals(as_user, demo):
    client = as_user("vic")
    html = _get(client, "ui:requirements")
    assert html.index("<strong>SG-01</strong>") < html.index("<strong>SG-02</strong>")
    under_goal = _get(client, "ui:requirement-tree-children", parent="SG-01")
    assert ">FSR-001</a>" in under_goal and "?parent=FSR-001" in under_goal
    assert ">TSR-001</a>" in _get(client, "ui:requirement-tree-children", parent="FSR-001")
    assert "decomposed" in under_goal + _get(
        client, "ui:requirement-tree-children", parent="FSR-001"
    )


def test_the_requirement_page_shows_evidence_commits_and_versions(as_user, demo):
    requirement = Requirement.objects.get(project=demo, code="FSR-002")
    CommitLink.objects.create(
        project=demo,
        requirement=requirement,
        kind="implements",
        commit="a" * 40,
        subject="Limit the braking request",
        author="Erin <erin@example.com>",
        entry=LogEntry.objects.filter(project=demo).first(),
    )
    html = _get(as_user("vic"), "ui:requirement", "FSR-002")
    assert "Limit the braking request" in html
    assert "stale" in html and "older than FSR-002 v2" in html
    assert "<del>The braking request is limited to 3 m/s² unless confirmation holds" in html
    assert "FSR-002 changed to version 2" in html  # why the links are suspect


def test_the_matrix_filters_and_exports_the_same_rows(as_user, demo):
    client = as_user("vic")
    html = _get(client, "ui:matrix", asil="D", kind="FSR")
    rows = re.findall(r'<a href="/p/AEB/requirements/([A-Z0-9-]+)/">', html)
    assert rows == ["FSR-001", "FSR-002"]
    csv_url = re.search(r'href="(/api/v1/projects/AEB/traceability/\?[^"]+)"', html).group(1)
    assert "asil=D" in csv_url and "kind=FSR" in csv_url and "export=csv" in csv_url
    export = client.get(csv_url.replace("&amp;", "&"))
    assert export["Content-Type"].startswith("text/csv")
    codes = [line.split(",")[0] for line in export.content.decode().splitlines()[1:]]
    assert codes == rows


def test_the_matrix_marks_suspect_rows_and_coverage(as_user, demo):
    html = _get(as_user("vic"), "ui:matrix", coverage="unverified")
    assert '<tr class="suspect">' in html
    assert "/requirements/FSR-002/" in html
    assert "/requirements/TSR-010/" not in html  # verified by the campaign run
    assert "No requirement matches." in _get(as_user("vic"), "ui:matrix", asil="A")


def test_charts_escape_their_text():
    dots = charts.scatter(
        [charts.Point(1, 2, "fail", '"><script>')],
        title="t<",
        x_label="<b>",
        y_label="a & b",
        threshold=1.5,
    )
    assert "<script>" not in dots and 'class="limit"' in dots
    assert "<b>" not in dots and "&lt;b&gt;" in dots and "a &amp; b" in dots
    assert "<title>t&lt;</title>" in dots


def test_nice_ticks():
    assert charts.nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    assert charts.nice_ticks(0.013, 0.048) == [0.01, 0.02, 0.03, 0.04, 0.05]
    assert charts.nice_ticks(5, 5)[0] <= 5 <= charts.nice_ticks(5, 5)[-1]


def test_a_histogram_of_one_value_and_of_none():
    assert "<svg" in charts.histogram([3.0], title="h", x_label="x")
    assert "<svg" in charts.histogram([], title="h", x_label="x")


def _matrix_cells(html: str) -> dict[str, tuple]:
    """code -> (suspect row, parents, children, verification) as the matrix page shows them."""
    cells = {}
    for row in re.findall(
        r"<tr( class=\"suspect\")?>\s*<td><a [^>]*>([^<]+)</a>(.*?)</tr>", html, re.S
    ):
        suspect, code, rest = row
        tds = re.findall(r"<td>(.*?)</td>", rest, re.S)
        codes = [
            re.findall(r"<span[^>]*title=\"([^\"]*)\"[^>]*>([^<]+)</span>", td) for td in tds[4:6]
        ]
        verification = re.search(r'class="badge\s+(\S+)"', tds[6]).group(1)
        cells[code] = (bool(suspect), *[tuple(c) for c in codes], verification)
    return cells


def test_the_matrix_rows_say_what_the_records_say(as_user, demo, people):
    """Each row against the requirement's own records, after verification histories of every
    shape: a pass then a fail (the latest counts), a history gone stale, and none."""
    from compliance import services
    from compliance.selectors import traceability_matrix
    from ui.views.common import PAGE_SIZE

    erin = people["erin"]
    requirements = list(Requirement.objects.filter(project=demo).order_by("code"))
    first, second = requirements[:2]
    services.verification_record(
        user=erin, project=demo, requirement=first, method="test", result="pass"
    )
    services.verification_record(
        user=erin, project=demo, requirement=first, method="test", result="fail"
    )
    services.verification_record(
        user=erin, project=demo, requirement=second, method="test", result="pass"
    )
    services.requirement_update(user=erin, requirement=second, text=second.text + " Reworded.")

    expected = {}
    for req in traceability_matrix(project=demo)[:PAGE_SIZE]:
        links = list(req.verifications.all())
        current = [v for v in links if not v.stale]
        up, down = list(req.links_up.all()), list(req.links_down.all())
        expected[req.code] = (
            any(link.suspect for link in up + down),
            tuple(
                (f"{link.kind}{': suspect' if link.suspect else ''}", link.target.code)
                for link in up
            ),
            tuple(
                (f"{link.kind}{': suspect' if link.suspect else ''}", link.source.code)
                for link in down
            ),
            current[0].result if current else ("stale" if links else "none"),
        )
    shown = _matrix_cells(_get(as_user("vic"), "ui:matrix"))
    assert shown == expected
    assert shown[first.code][3] == "fail"
    assert shown[second.code][3] == "stale"
    assert {cells[3] for cells in shown.values()} >= {"fail", "stale", "none"}
    assert any(cells[0] for cells in shown.values())  # a suspect row among them


def test_the_requirement_page_lists_the_newest_verifications_and_the_rest_on_asking(
    as_user, demo, people, monkeypatch
):
    """A nightly CI records a verification a night: the page shows the newest few, says how
    many there are, and lists them all when asked; each row names its own ledger entry."""
    from compliance import selectors, services

    monkeypatch.setattr(selectors, "VERIFICATIONS_SHOWN", 3)
    requirement = Requirement.objects.get(project=demo, code="FSR-002")
    before = Verification.objects.filter(requirement=requirement).count()
    recorded = [
        services.verification_record(
            user=people["erin"],
            project=demo,
            requirement=requirement,
            method="ci",
            result="pass",
            summary=f"night {n}",
        )
        for n in range(5)
    ]
    client = as_user("vic")
    html = _get(client, "ui:requirement", "FSR-002")
    nights = re.findall(r"night (\d)", html)
    assert nights == ["4", "3", "2"]  # the newest first, three of them
    assert f"The newest 3 of {before + 5} verifications" in html
    for v in recorded[2:]:
        assert f">#{v.entry.index}</a>" in html
    everything = _get(client, "ui:requirement", "FSR-002", verifications="all")
    assert re.findall(r"night (\d)", everything) == ["4", "3", "2", "1", "0"]
    assert "The newest" not in everything
