"""The dashboard's gaps on the seeded demo: each listed item links to its page."""

import pytest
from django.urls import reverse

from compliance import services
from validation.models import Verdict
from validation.selectors import criteria_without_cases

pytestmark = pytest.mark.django_db


def test_a_criterion_no_run_judged_on_a_case_is_a_gap(as_user, demo, demo_run, people):
    judged = set(
        Verdict.objects.filter(run=demo_run, trials__gt=0).values_list("criterion__code", flat=True)
    )
    assert judged
    services.acceptance_criterion_save(
        user=people["sam"],
        project=demo,
        code="AC-09",
        unit="cases",
        allowed_failure_probability=1e-2,
        description="Cut-in at close range: no collision",
    )
    gap = criteria_without_cases(project=demo)
    codes = [c["code"] for c in gap["items"]]
    assert "AC-09" in codes and not judged & set(codes)
    assert gap["count"] == len(codes)
    page = as_user("vic").get(reverse("ui:dashboard", args=["AEB"])).content.decode()
    row = page.split('id="gap-criteria"')[1].split("</li>")[0]
    assert f"<strong>{len(codes)}</strong>" in row and ">AC-09</a>" in row
    assert reverse("ui:sotif", args=["AEB"]) in row
    assert "Not release ready" in page


def test_the_demo_has_no_stale_confirmation_review(demo):
    """The demo signs its reviews after the last change to what they confirm; only FSR-002,
    changed after its approval, is stale (back in review)."""
    from compliance.selectors import stale_reviews

    stale = stale_reviews(project=demo)
    assert stale["approvals"] == []
    assert [(r["code"], r["status"]) for r in stale["requirements"]] == [("FSR-002", "in_review")]
