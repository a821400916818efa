"""A reviewer signs in a real browser (Debian's Chromium through Playwright): the password is
asked again and a wrong one signs nothing; an approval and a rejection with its comment then
show on the review and on the requirement's page."""

from __future__ import annotations

import pytest

from tests.ui.test_browser import (  # noqa: F401 (fixtures)
    PASSWORD,
    browser,
    log_in,
    page,
    pytestmark,
    shot,
    site,
)


@pytest.fixture
def review(site):  # noqa: F811
    from django.contrib.auth import get_user_model

    from compliance import review_sessions as rs
    from projects.models import Project

    people = get_user_model().objects.in_bulk(["sam", "ada"], field_name="username")
    return rs.session_open(
        user=people["sam"],
        project=Project.objects.get(key="AEB"),
        title="FSC review",
        measure="functional_safety_concept",
        reviewers=[people["ada"]],
        keys=["requirement:FSR-001", "requirement:FSR-002"],
    )


def test_a_reviewer_signs_with_the_password_again_and_rejects_with_a_comment(
    page,  # noqa: F811
    site,  # noqa: F811
    review,
):
    from compliance.models import Signature

    log_in(page, site, "ada")
    page.goto(f"{site}/p/AEB/reviews/")
    page.click("text=FSC review")
    page.wait_for_selector("h1:has-text('FSC review')")
    first, second = (review.items.get(key=f"requirement:{c}") for c in ("FSR-001", "FSR-002"))

    form = page.locator(f"#item-{first.pk} form.sign")
    form.locator("input[value='approve']").check()
    form.locator("select").select_option("approved")
    form.locator("input[type='password']").fill("not-my-password")
    form.locator("button:has-text('Sign FSR-001')").click()
    page.wait_for_selector("text=That is not your password; nothing was signed.")
    assert not Signature.objects.exists()
    shot(page, "20-review-wrong-password")

    form = page.locator(f"#item-{first.pk} form.sign")
    form.locator("input[value='approve']").check()
    form.locator("select").select_option("approved")
    form.locator("input[type='password']").fill(PASSWORD)
    form.locator("button:has-text('Sign FSR-001')").click()
    page.wait_for_selector("text=FSR-001: you signed approve (approved)")

    form = page.locator(f"#item-{second.pk} form.sign")
    form.locator("input[value='reject']").check()
    form.locator("select").select_option("approved")
    form.locator("textarea").fill("The FTTI of 1.5 s is not argued.")
    form.locator("input[type='password']").fill(PASSWORD)
    form.locator("button:has-text('Sign FSR-002')").click()
    page.wait_for_selector("text=FSR-002: you signed reject (approved)")
    rejected = page.locator(f"#item-{second.pk} table.signatures tbody tr").first
    assert "Reject" in rejected.inner_text()
    assert "The FTTI of 1.5 s is not argued." in rejected.inner_text()
    shot(page, "21-review-signed")
    assert sorted(Signature.objects.values_list("item__key", "decision", "signer__username")) == [
        ("requirement:FSR-001", "approve", "ada"),
        ("requirement:FSR-002", "reject", "ada"),
    ]

    # The requirement's page loads its reviews (htmx) and shows the rejection.
    page.goto(f"{site}/p/AEB/requirements/FSR-002/")
    page.wait_for_selector("#reviews-of-item")
    assert "The FTTI of 1.5 s is not argued." in page.inner_text("#reviews-of-item")
