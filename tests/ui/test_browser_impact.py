"""The impact of a change in a real browser (Debian's Chromium through Playwright): an engineer
sees what an edit will make suspect or stale before saving it, nothing changes until it is
saved, and the open impact page then lists what the change left to clear; a viewer reads the
same requirement and its hazardous event without a form to change them."""

from __future__ import annotations

import re

from tests.ui.test_browser import (  # noqa: F401 (fixtures)
    browser,
    log_in,
    page,
    pytestmark,
    shot,
    site,
)


def test_an_engineer_sees_the_impact_before_saving_and_what_is_left_to_clear(
    page,  # noqa: F811
    site,  # noqa: F811
):
    from compliance.models import Requirement, TraceLink

    log_in(page, site, "erin")
    page.goto(f"{site}/p/AEB/requirements/FSR-001/")
    before = Requirement.objects.get(project__key="AEB", code="FSR-001")

    def suspect_links():
        return set(TraceLink.objects.filter(project__key="AEB", suspect=True))

    suspect_before = suspect_links()  # the demo has some to clear already

    edit = page.locator("#edit form")
    edit.locator("textarea[name='text']").fill(before.text + " Within 150 ms.")
    preview = page.locator("#impact-preview")
    preview.wait_for()
    summary = preview.locator("strong").inner_text()
    found = re.fullmatch(r"This change makes (\d+) items? suspect or stale\.", summary)
    assert found and int(found.group(1)) > 0, summary
    foretold = set(re.findall(r"(\S+ \S+ \S+) \(turns suspect\)", preview.inner_text()))
    shot(page, "30-impact-preview")
    # Shown, not done: the requirement and its links are as they were.
    after_preview = Requirement.objects.get(pk=before.pk)
    assert (after_preview.version, after_preview.text) == (before.version, before.text)
    assert suspect_links() == suspect_before

    with page.expect_navigation():
        edit.locator("button:has-text('Save')").press("Enter")
    saved = Requirement.objects.get(pk=before.pk)
    assert saved.version == before.version + 1
    suspect = suspect_links() - suspect_before
    assert suspect, "the edit turned no link suspect"
    # The preview said exactly which links the saved change turns suspect.
    assert foretold == {f"{link.source.code} {link.kind} {link.target.code}" for link in suspect}

    page.click("nav >> text=Impact")
    page.wait_for_selector("h1:has-text('Open impact')")
    links = page.locator("#suspect-links").inner_text()
    for link in suspect:
        assert f"{link.source.code} {link.kind} {link.target.code}" in links
    shot(page, "31-open-impact")


def test_a_viewer_reads_without_a_form(page, site):  # noqa: F811
    log_in(page, site, "vic")
    page.goto(f"{site}/p/AEB/requirements/FSR-001/")
    page.wait_for_selector("h1:has-text('FSR-001')")
    assert page.locator("#edit").count() == 0
    page.goto(f"{site}/p/AEB/hara/HE-01/")
    page.wait_for_selector("text=HE-01")
    assert page.locator("main form").count() == 0
    shot(page, "32-viewer-event")
