"""Criterion scopes on the pages: the SOTIF form, what a run judged, plots that grey the rest."""

import re

from django.urls import reverse

from compliance.models import AcceptanceCriterion
from ui import charts
from validation.models import Verdict

JUDGED_DOT = re.compile(r'class="dot (pass|fail)(?: outlier)?"')


def test_the_plot_colours_only_the_cases_the_criterion_judges(as_user, demo_run):
    verdict = Verdict.objects.get(run=demo_run, criterion__code="AC-03")
    url = reverse("ui:run", args=["AEB", demo_run.pk])
    query = {"x": "ego_speed", "y": "impact_speed_kmh", "criterion": "AC-03"}
    html = as_user("vic").get(url, query).content.decode()
    assert verdict.trials > 0
    assert len(JUDGED_DOT.findall(html)) == verdict.trials  # in scope: by AC-03's own rule
    plotted = int(re.search(r"(\d+) cases drawn", html).group(1))
    outside = html.count('class="dot outside')
    assert outside == plotted - verdict.trials > 0  # the rest grey
    assert f"grey: {outside} outside its scope, not judged by it" in html
    assert "CPNA; ego_speed up to 40" in html


def test_the_run_page_says_what_each_criterion_was_judged_on(as_user, demo_run):
    html = as_user("vic").get(reverse("ui:run", args=["AEB", demo_run.pk])).content.decode()
    section = re.search(r'<section class="card" id="judged-on">.*?</section>', html, re.S).group(0)
    ac02 = Verdict.objects.get(run=demo_run, criterion__code="AC-02")
    assert "CCRs; ego_speed 20 to 50" in section
    assert ac02.judged_sha256[:12] in section
    ac02_part = section.split("<td>AC-02 ")[1].split("<td>AC-03 ")[0]
    row = re.search(r"<tr><td>CCRs</td>.*?</tr>", ac02_part).group(0)
    cells = re.findall(r'<td class="num">(\d+)</td>', row)
    breakdown = {r["scenario"]: r for r in ac02.scenarios}["CCRs"]
    assert cells == [str(breakdown[k]) for k in ("cases", "in_scope", "judged", "failing")]
    assert breakdown["failing"] == ac02.failures
    assert "<td>CCRb</td>" not in ac02_part  # no braking-target case is in AC-02's scope


def test_an_outlier_does_not_flatten_the_scatter():
    points = [charts.Point(float(i), 0.5 + i / 10, "pass") for i in range(40)]
    points.append(charts.Point(20.0, 5481.0, "pass", "far"))
    svg = charts.scatter(points, title="t", x_label="x", y_label="min_ttc", threshold=1.0)
    ticks = [float(t) for t in re.findall(r'text-anchor="end">([-\d.e+]+)</text>', svg)]
    assert max(ticks) < 10  # the axis spans the cases, not the outlier
    assert svg.count('class="dot pass outlier"') == 1
    assert "1 beyond the axis" in svg
    plain = charts.scatter(points, title="t", x_label="x", y_label="y", robust=False)
    assert "outlier" not in plain and "beyond" not in plain
    histogram = charts.histogram([p.y for p in points], title="h", x_label="min_ttc")
    assert "1 beyond the axis" in histogram


def test_the_sotif_form_takes_a_scope_and_refuses_a_bad_one(as_user, demo):
    page = as_user("vic").get("/p/AEB/sotif/").content.decode()
    assert "Scope: CCRs; ego_speed 20 to 50" in page
    data = {
        "code": "AC-11",
        "description": "stopped vehicle at night",
        "unit": "cases",
        "allowed_failure_probability": "0.01",
        "confidence": "0.9",
        "tolerated_failures": "0",
        "scope": '{"scenarios": ["CCRs"], "odd": {"lighting": ["night"]}}',
    }
    response = as_user("erin").post("/p/AEB/sotif/criteria/new/", data)
    assert response.status_code == 302, response.content.decode()[:500]
    criterion = AcceptanceCriterion.objects.get(project=demo, code="AC-11")
    assert criterion.scope == {"scenarios": ["CCRs"], "odd": {"lighting": ["night"]}}
    bad = {**data, "code": "AC-12", "scope": '{"parameters": {"ego_speed": [50, 20]}}'}
    response = as_user("erin").post("/p/AEB/sotif/criteria/new/", bad)
    assert response.status_code == 400
    assert "above the high bound" in response.content.decode()
    assert not AcceptanceCriterion.objects.filter(project=demo, code="AC-12").exists()


def test_the_requirement_page_shows_what_its_criterion_was_judged_on(as_user, demo_run):
    html = as_user("vic").get(reverse("ui:requirement", args=["AEB", "FSR-010"])).content.decode()
    section = re.search(r'<section class="card" id="validation">.*?</section>', html, re.S).group(0)
    ac02 = Verdict.objects.get(run=demo_run, criterion__code="AC-02")
    part = section.split('id="criterion-AC-02"')[1]
    assert "CCRs; ego_speed 20 to 50" in part
    assert f'<td class="num">{ac02.cases_in_scope}</td>' in part
    assert reverse("ui:run", args=["AEB", demo_run.pk]) in part
    row = re.search(r"<tr><td>CCRs</td>.*?</tr>", part).group(0)
    cells = re.findall(r'<td class="num">(\d+)</td>', row)
    breakdown = {r["scenario"]: r for r in ac02.scenarios}["CCRs"]
    assert cells == [str(breakdown[k]) for k in ("cases", "in_scope", "judged", "failing")]
    assert "<td>CCRb</td>" not in part


def test_the_gsn_page_puts_the_breakdown_beside_the_requirement(as_user, demo_run):
    svg = as_user("vic").get(reverse("ui:gsn-svg", args=["AEB"])).content.decode()
    ac02 = Verdict.objects.get(run=demo_run, criterion__code="AC-02")
    ccrs = {r["scenario"]: r for r in ac02.scenarios}["CCRs"]
    assert (
        f"scope CCRs; ego_speed 20 to 50: CCRs {ccrs['in_scope']}/{ccrs['cases']} in scope, "
        f"{ccrs['judged']} judged, {ccrs['failing']} failing"
    ) in svg


def test_a_verdict_not_judged_says_why():
    from ui.templatetags.ui_tags import badge

    assert ">not judged: no case in scope</span>" in badge("not_judged")
    assert 'class="badge  not_judged"' in badge("not_judged")
    assert ">fail</span>" in badge("fail")
