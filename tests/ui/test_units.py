"""Every page that shows a rate, a bound, a confidence or a target writes it with its unit, as
``compliance.units`` does."""

from __future__ import annotations

import html as markup
import re

from django.urls import reverse

from compliance import services as compliance
from compliance import units
from compliance.models import AcceptanceCriterion
from validation import selectors
from validation.models import Verdict

HTMX = {"HTTP_HX_REQUEST": "true"}


def _row(page: str, code: str) -> str:
    """The table row that starts with ``code``."""
    match = re.search(rf"<tr>\s*<td[^>]*>{re.escape(code)}</td>(?:(?!</tr>).)*</tr>", page, re.S)
    assert match, f"no row for {code}"
    return markup.unescape(match.group(0))


def _allowed(ac) -> str:
    if ac.unit == "cases":
        return units.rate(ac.allowed_failure_probability, "cases")
    return units.rate(ac.hazardous_behaviour_rate, ac.unit)


def _done(verdict) -> float:
    return verdict.trials if verdict.criterion.unit == "cases" else verdict.exposure or 0.0


def test_the_sotif_page_writes_rates_confidences_and_targets_with_units(as_user, demo, people):
    compliance.acceptance_criterion_save(
        user=people["sam"],
        project=demo,
        code="AC-90",
        description="A rare hazardous behaviour per hour",
        unit="h",
        hazardous_behaviour_rate=2.5e-7,
        confidence=0.999,
    )
    form = as_user("erin").get(reverse("ui:sotif", args=["AEB"])).content.decode()
    assert "a fraction: 0.95 for 95 %" in form  # the form asks for what the table shows
    page = as_user("vic").get(reverse("ui:sotif", args=["AEB"])).content.decode()
    row = _row(page, "AC-90")
    assert "2.5e-07 per hour" in row and "99.9 %" in row
    ac = AcceptanceCriterion.objects.get(project=demo, code="AC-90")
    assert f"{ac.validation_target:,.0f} h" in row  # grouped, with its unit
    for ac in AcceptanceCriterion.objects.filter(project=demo):
        row = _row(page, ac.code)
        assert _allowed(ac) in row
        assert units.confidence(ac.confidence) in row
        assert units.exposure(ac.validation_target, ac.unit) in row
    assert "0.000" not in page  # a small rate is never rounded away


def test_the_run_page_writes_bounds_allowed_values_and_progress_with_units(as_user, demo_run):
    page = as_user("vic").get(reverse("ui:run", args=["AEB", demo_run.pk])).content.decode()
    verdicts = selectors.run_verdicts(run=demo_run)
    assert {v.criterion.unit for v in verdicts} >= {"km", "cases"}
    for v in verdicts:
        ac = v.criterion
        row = _row(page, ac.code)
        assert units.bound(v.upper_bound, ac.unit) in row
        assert f"at {units.confidence(ac.confidence)}" in row
        assert _allowed(ac) in row
        assert units.exposure(v.exposure, ac.unit) in row
        assert units.target_progress(_done(v), v.target, ac.unit) in row
        assert f"({units.percent(v.progress)})" in row
        width = f"{100 * units.log_position(_done(v), v.target):.1f}"
        assert f'style="width: {width}%"' in row
    km = next(v for v in verdicts if v.criterion.unit == "km")
    assert re.search(r"[0-9.e+-]+ km of [0-9.,]+( million| billion)? km needed", page)
    assert f"{units.number(km.upper_bound)} per km" in page
    fragment = as_user("vic").get(reverse("ui:run-progress", args=["AEB", demo_run.pk]), **HTMX)
    assert units.target_progress(_done(km), km.target, "km") in fragment.content.decode()


def test_the_dashboard_writes_verdicts_and_target_progress_with_units(as_user, demo_run):
    page = as_user("vic").get(reverse("ui:dashboard", args=["AEB"])).content.decode()
    verdicts = page.split('id="verdicts-h"')[1].split('id="targets-h"')[0]
    targets = page.split('id="targets-h"')[1].split("</section>")[0]
    for v in Verdict.objects.filter(run=demo_run).select_related("criterion"):
        ac = v.criterion
        row = _row(verdicts, ac.code)
        assert units.bound(v.upper_bound, ac.unit) in row
        assert units.confidence(ac.confidence) in row
        row = _row(targets, ac.code)
        assert units.target_progress(_done(v), v.target, ac.unit) in row
        assert f"({units.percent(v.progress)})" in row
    assert "log scale" in targets
    assert not re.search(r"\d%", verdicts)  # a confidence is written 95 %, not 95%


def test_the_campaign_page_writes_the_criteria_with_units(as_user, demo_run):
    campaign = demo_run.campaign
    page = markup.unescape(
        as_user("vic").get(reverse("ui:campaign", args=["AEB", campaign.pk])).content.decode()
    )
    for ac in selectors.campaign_criteria(campaign_id=campaign.pk):
        assert (
            f"allowed {_allowed(ac)}; target {units.exposure(ac.validation_target, ac.unit)} "
            f"at {units.confidence(ac.confidence)}"
        ) in page
