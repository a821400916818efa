"""Every page of the web UI, as a safety engineer, an assessor and a viewer see it, checked in
Debian's Chromium (Playwright) at a phone's width of 390 px: axe-core (the npm package, from
``tests/oidc/node_modules``) finds no serious or critical accessibility violation, and nothing
makes the page scroll sideways.

The pages are the web UI's routes (``tests/routes.py`` walks the resolver), filled with the
demo project's objects; a route that answers GET with a whole HTML page is checked, whatever
it answers (a 403 page is a page too). A route with a parameter this file has no value for is
reported as a warning, not skipped in silence. One browser and one tab per person: the whole
sweep takes about a minute.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from django.conf import settings

from tests.ui.conftest import _run_demo_campaign
from tests.ui.review_support import open_review
from tests.ui.test_browser import (  # noqa: F401 (fixtures)
    PASSWORD,
    browser,
    pytestmark,
    site,
)

AXE = Path(settings.BASE_DIR) / "tests" / "oidc" / "node_modules" / "axe-core" / "axe.min.js"
WIDTH = 390
PEOPLE = {"erin": "safety engineer", "ada": "assessor", "vic": "viewer"}
# What axe reports that this check fails on.
FAILING_IMPACTS = ("serious", "critical")

# The script that runs axe on the page and measures the sideways overflow.
CHECK = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  const doc = document.documentElement;
  const scrolls = (el) => {
    for (let up = el.parentElement; up; up = up.parentElement) {
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(up).overflowX)) return true;
    }
    return false;
  };
  const wide = doc.scrollWidth <= doc.clientWidth ? [] : [...document.querySelectorAll('body *')]
    .filter((el) => el.getBoundingClientRect().right > doc.clientWidth + 1 && !scrolls(el))
    .slice(0, 4)
    .map((el) => el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''));
  return {
    violations: result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    })),
    overflow: doc.scrollWidth - doc.clientWidth,
    wide,
  };
}"""


@pytest.fixture(scope="module")
def axe_source():
    if not AXE.exists():
        pytest.skip("axe-core is not installed: run npm ci --prefix tests/oidc (make test does)")
    return AXE.read_text()


@pytest.fixture
def objects(site):  # noqa: F811
    """The parameters of the routes, from the demo project, and a review to show."""
    from django.contrib.auth import get_user_model

    from compliance.models import Baseline, HazardousEvent, Signature, TraceLink
    from evidence.models import LogEntry
    from projects.models import Project
    from validation.models import Campaign, Run

    project = Project.objects.get(key="AEB")
    ada = get_user_model().objects.get(username="ada")
    review = open_review(ada, ["requirement:FSR-001", "requirement:FSR-002"])
    if not Run.objects.filter(campaign__project=project).exists():  # an earlier test flushed it
        _run_demo_campaign()
    signature = Signature.objects.filter(session__project=project).first()
    return {
        ("searches", "pk"): _failure_search(project).pk,
        ("", "key"): project.key,
        ("hara", "code"): HazardousEvent.objects.filter(project=project).first().code,
        ("requirements", "code"): "FSR-001",
        ("links", "pk"): TraceLink.objects.filter(project=project).first().pk,
        ("campaigns", "pk"): Campaign.objects.filter(project=project).first().pk,
        ("runs", "pk"): Run.objects.filter(campaign__project=project).first().pk,
        ("evidence", "index"): LogEntry.objects.filter(project=project).first().index,
        ("baselines", "pk"): Baseline.objects.filter(project=project).first().pk,
        ("reviews", "pk"): review.pk,
        ("signatures", "pk"): signature.pk if signature else 1,
        ("items", "item"): "requirement:FSR-001",
        ("hazards", "code"): "H-01",
        ("situations", "code"): "OS-01",
        ("goals", "code"): "SG-01",
    }


def _failure_search(project):
    """A failure search of the demo campaign's space, for the search pages (a few cases)."""
    from django.contrib.auth import get_user_model

    from compliance.models import AcceptanceCriterion
    from validation.models import Campaign, FailureSearch
    from validation.services import failure_search

    search = FailureSearch.objects.filter(project=project).first()
    if search is not None:
        return search
    campaign = Campaign.objects.get(project=project, name="AEB-demo")
    return failure_search(
        user=get_user_model().objects.get(username="erin"),
        project=project,
        criterion=AcceptanceCriterion.objects.get(project=project, code="AC-02"),  # per case
        scenario=campaign.spaces.first().scenario,
        campaign=campaign,
        budget=4,
    )


def page_urls(values) -> list[str]:
    """The URL of every web UI route, filled with ``values``; the rest are warned about."""
    from tests.routes import all_routes

    urls = []
    for route in all_routes():
        if route.namespace != "ui" or route.key in ("ui:login", "ui:logout"):
            continue
        try:
            urls.append(route.url(values))
        except KeyError as exc:
            warnings.warn(
                f"{route.key}: no value for {exc.args[0]}; its page is not checked", stacklevel=2
            )
    return urls


def check(tab, url, axe_source) -> dict | None:
    """axe's serious and critical findings and the overflow of ``url``'s page, or None when
    the route answers no whole HTML page to GET."""
    answer = tab.request.get(url, max_redirects=0)  # the tab's cookies: as the person
    if "text/html" not in answer.headers.get("content-type", ""):
        return None  # a download, a drawing, or a method other than GET (405, no body)
    if "<html" not in answer.text()[:400].lower():
        return None  # a fragment that htmx puts into a page
    response = tab.goto(url)
    tab.add_script_tag(content=axe_source)
    found = tab.evaluate(CHECK)
    found["violations"] = [v for v in found["violations"] if v["impact"] in FAILING_IMPACTS]
    found["status"] = response.status
    return found


def test_every_page_passes_axe_and_fits_a_phone_for_each_role(
    browser,  # noqa: F811
    site,  # noqa: F811
    objects,
    axe_source,
):
    problems, checked = [], 0
    context = browser.new_context(viewport={"width": WIDTH, "height": 844})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    try:
        found = check(tab, f"{site}/login/", axe_source)  # as everyone sees it first
        problems += _problems("anonymous", "/login/", found)
        checked += 1
        for username, role in PEOPLE.items():
            tab.context.clear_cookies()
            tab.goto(f"{site}/login/")
            tab.fill("#id_username", username)
            tab.fill("#id_password", PASSWORD)
            tab.click("button:has-text('Log in')")
            tab.wait_for_url(f"{site}/")
            for url in page_urls(objects):
                found = check(tab, f"{site}{url}", axe_source)
                if found is not None:
                    checked += 1
                    problems += _problems(role, url, found)
    finally:
        context.close()
    print(f"{checked} pages checked with axe-core at {WIDTH} px")
    assert checked > 3 * 20, f"only {checked} pages were checked"
    assert not problems, "\n".join(problems)


def _problems(who: str, url: str, found: dict | None) -> list[str]:
    if found is None:
        return []
    problems = [
        f"{who} {url}: {v['impact']} {v['id']} ({v['help']}) at {json.dumps(v['targets'])}"
        for v in found["violations"]
    ]
    if found["overflow"] > 0:
        wide = ", ".join(found["wide"])
        problems.append(f"{who} {url}: {found['overflow']} px wider than {WIDTH} px ({wide})")
    return problems
