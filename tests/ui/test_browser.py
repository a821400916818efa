"""The main path through the UI in a real browser: Debian's Chromium, headless, driven by
Playwright against pytest-django's live server.

Log in, add a hazardous event and watch its ASIL appear as S, E and C are chosen, plan a
campaign, start it and see it finish, watch the dashboard follow a running campaign without a
reload, check a ledger entry, open the GSN view and download the certification package. The
screenshots land in ``var/screenshots/``.

The live server needs a transactional database (``ledger_transactional_db`` empties the
append-only ledger afterwards); campaign tasks run in-process in tests, so a run started in the
browser has finished when its page loads.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
PASSWORD = "safecase-demo"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium"
    ),
]


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module.

    Playwright's sync API keeps an asyncio loop in this thread while it runs, and Django then
    refuses ORM calls here (the test's own and the database flush after each test) although
    they are synchronous: ``DJANGO_ALLOW_ASYNC_UNSAFE`` lifts that check until the browser is
    closed, after the last test's clean-up.
    """
    playwright_api = pytest.importorskip("playwright.sync_api")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with playwright_api.sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def site(browser, demo_db, ledger_transactional_db, live_server, settings, tmp_path):
    """The seeded demo behind the live server.

    The package's committed demo (``demo_db``) may still be in the database when these tests
    run, with its store; or the previous test flushed it, and the demo is seeded again into a
    store of its own: beside the old store, which still holds the flushed log's checkpoints,
    a new log would rightly be refused as a rolled-back database.
    """
    from demo.seed import seed_demo
    from projects.models import Project

    if Project.objects.filter(key="AEB").exists():
        settings.SAFECASE_STORAGE_URL = demo_db
    else:
        settings.SAFECASE_STORAGE_URL = (tmp_path / "store").as_uri()
    seed_demo()
    SHOTS.mkdir(parents=True, exist_ok=True)
    return live_server.url


@pytest.fixture
def page(browser, site):
    context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


def log_in(page, site, username="erin"):
    page.goto(f"{site}/")
    assert "/login/" in page.url  # anonymous: sent to the login page first
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{site}/")


def shot(page, name):
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_the_main_path(page, site, tmp_path):
    from compliance.models import HazardousEvent
    from validation.models import Campaign, RunStatus

    log_in(page, site)
    page.click("text=AEB")
    page.wait_for_selector("h2:has-text('Requirements coverage by ASIL')")
    shot(page, "01-dashboard")

    # HARA: the ASIL appears as soon as S, E and C are chosen, before anything is saved.
    page.click("nav >> text=HARA")
    page.fill("#id_code", "HE-07")
    page.select_option("#id_hazard", label="H-02")
    page.select_option("#id_situation", label="OS-01")
    page.select_option("#id_severity", "S3")
    page.select_option("#id_exposure", "E3")
    assert "Choose S, E and C" in page.inner_text("#asil-output")
    page.select_option("#id_controllability", "C3")
    page.wait_for_selector("#asil-output .asil-C")
    assert page.inner_text("#asil-output").strip() == "ASIL C"
    page.select_option("#id_exposure", "E4")
    page.wait_for_selector("#asil-output .asil-D")
    page.fill("#id_severity_rationale", "a stopped car hit at motorway speed")
    page.fill("#id_exposure_rationale", "stopped traffic ahead on most motorway drives")
    shot(page, "02-hara-asil")
    page.click("button:has-text('Add the event')")
    # A rationale is missing: the message is beside its field and the ASIL is still shown.
    error = page.locator("#id_controllability_rationale_errors")
    assert error.inner_text() == "Every rating needs a rationale."
    assert page.inner_text("#asil-output").strip() == "ASIL D"
    shot(page, "03-hara-error")
    page.fill("#id_controllability_rationale", "the driver is assumed distracted")
    page.click("button:has-text('Add the event')")
    page.wait_for_selector("text=HE-07 added: ASIL D.")
    assert HazardousEvent.objects.get(code="HE-07").asil == "D"

    # Plan a campaign over the stopped-target grid and judge it by AC-04.
    page.click("nav >> text=Campaigns")
    page.click("text=Plan a campaign")
    page.fill("#id_name", "CCRs-smoke")
    page.check("label:has-text('CCRs / CCRs-grid') >> input")
    page.check("label:has-text('AC-04') >> input")
    page.fill("#id_cap", "40")
    page.fill("#id_shard_size", "10")
    shot(page, "04-planner")
    # The button is below the fold: scrolled to first, as a reader does. Left to Playwright's
    # own scrolling, this Chromium takes the click at the position before the scroll.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.click("button:has-text('Plan the campaign')")
    page.wait_for_selector("h1:has-text('CCRs-smoke')")
    page.click("button:has-text('Start a run')")
    page.wait_for_selector("#run-progress .badge.succeeded")
    assert "of 40 cases (100%)" in page.inner_text("#run-progress")
    assert page.locator("svg.chart.scatter circle").count() == 40
    shot(page, "05-run")
    run = Campaign.objects.get(name="CCRs-smoke").runs.get()
    assert run.status == RunStatus.SUCCEEDED

    # The evidence browser checks each entry's inclusion proof against the checkpoint.
    page.click("nav >> text=Evidence")
    newest = page.locator("table.entries tbody tr").first  # the run's validation result
    newest.locator(".badge.pass.proof").wait_for()
    assert "run:CCRs-smoke" in newest.inner_text() and "✓ included" in newest.inner_text()
    assert page.locator(".badge.fail.proof").count() == 0
    shot(page, "06-evidence")

    # The GSN safety case.
    page.click("nav >> text=Safety case")
    page.wait_for_selector(".gsn svg g.gsn-node")
    shot(page, "07-gsn")

    # The certification package of the demo baseline.
    page.click("nav >> text=Baselines")
    with page.expect_download() as download:
        page.click("button:has-text('Certification package')")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as package:
        assert json.loads(package.read("manifest.json"))["project"]["key"] == "AEB"
    with page.expect_download() as download:
        page.click("a:has-text('PDF')")
    assert download.value.suggested_filename.endswith(".pdf")
    shot(page, "08-baselines")


def test_the_dashboard_follows_a_running_campaign(page, site):
    """A queued run shows on the dashboard and the fragment polls every 2 s; when the run ends
    the page reloads by itself and shows that nothing runs any more."""
    from django.contrib.auth import get_user_model

    from validation.models import Campaign, Run
    from validation.services import run_cancel

    erin = get_user_model().objects.get(username="erin")
    campaign = Campaign.objects.get(name="AEB-demo")
    run = Run.objects.create(campaign=campaign, executor="local", cases_total=333, started_by=erin)
    log_in(page, site)
    page.goto(f"{site}/p/AEB/")
    line = page.locator("#active-runs .run-line")
    assert f"run {run.pk}" in line.inner_text()
    shot(page, "09-dashboard-running")
    with page.expect_response(lambda r: "/live/runs/" in r.url):  # the poll happens
        pass
    run_cancel(user=erin, run=run)
    page.wait_for_selector("#active-runs:has-text('No campaign is running.')", timeout=10_000)
    assert page.locator("#active-runs[hx-trigger]").count() == 0  # polling stopped


def test_reading_works_without_javascript(browser, site):
    """With JavaScript off every page still renders, the proof check is a page of its own and
    the HARA form shows the ASIL of the chosen classes after submit."""
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, site)
        for path in ("", "hara/", "requirements/FSR-002/", "traceability/?asil=D", "evidence/"):
            response = page.goto(f"{site}/p/AEB/{path}")
            assert response.status == 200, path
        page.goto(f"{site}/p/AEB/evidence/0/proof/")
        assert "✓ included" in page.inner_text("main")
        page.goto(f"{site}/p/AEB/hara/")
        page.select_option("#id_severity", "S2")
        page.select_option("#id_exposure", "E4")
        page.select_option("#id_controllability", "C3")
        assert "Choose S, E and C" in page.inner_text("#asil-output")  # nothing live
        page.click("button:has-text('Add the event')")
        assert page.inner_text("#asil-output").strip() == "ASIL C"
        assert page.inner_text("#id_code_errors") == "This field is required."
        shot(page, "10-hara-without-javascript")
    finally:
        context.close()


def test_the_verdicts_say_what_they_were_judged_on(page, site):
    from django.core.management import call_command

    from validation.models import Run

    call_command(
        "run_campaign", "--project", "AEB", "--campaign", "AEB-demo", "--user", "erin",
        stdout=io.StringIO(),
    )  # fmt: skip
    run = Run.objects.filter(campaign__name="AEB-demo").latest("created_at")
    log_in(page, site)
    page.goto(f"{site}/p/AEB/runs/{run.pk}/?x=ego_speed&y=min_ttc&criterion=AC-02")
    judged = page.locator("#judged-on")
    judged.wait_for()
    text = judged.inner_text()
    assert "CCRs; ego_speed 20 to 50" in text and "CPNA; ego_speed up to 40" in text
    shot(page, "09-run-verdicts")
    page.goto(f"{site}/p/AEB/requirements/FSR-010/")
    section = page.locator("#validation")
    assert "CCRs; ego_speed 20 to 50" in section.inner_text()
    shot(page, "10-requirement-judged-on")
