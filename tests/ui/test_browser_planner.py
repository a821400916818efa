"""The campaign planner in a real browser (Debian's Chromium through Playwright): an engineer
chooses a scenario and gets a row of range fields per declared parameter, samples a space,
plans a campaign offered only the configured executors, starts a run and watches its progress
move on the run page while the embedded mode's background worker executes it.

The local executor is wrapped to pause before each shard, so the run is still going when its
page loads; everything else (the sampling, the services, the worker, the polling) is real.
"""

from __future__ import annotations

import time

from tests.ui.test_browser import (  # noqa: F401 (fixtures)
    browser,
    log_in,
    page,
    pytestmark,
    shot,
    site,
)

PAUSE = 0.4  # seconds before each shard's cases are computed


class SlowLocal:
    """The local executor, pausing before it computes a shard."""

    def __init__(self):
        from validation.execution.local import LocalExecutor

        self.inner = LocalExecutor()

    def submit(self, run_id, shard, cases):
        time.sleep(PAUSE)
        return self.inner.submit(run_id, shard, cases)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _submit(tab, selector):
    """Press the form's button from the keyboard: a mouse click can land beside a button that
    moves as the focus leaves the field above it."""
    button = tab.locator(selector)
    button.focus()
    button.press("Enter")


def test_an_engineer_plans_with_range_fields_and_watches_the_run(
    page,  # noqa: F811
    site,  # noqa: F811
    settings,
    monkeypatch,
):
    from validation import services
    from validation.models import Campaign, ParameterSpace, RunStatus

    settings.SAFECASE_BACKGROUND_RUNS = True
    settings.SAFECASE_SAGEMAKER_BUCKET = ""
    monkeypatch.setattr(services, "get_executor", lambda name: SlowLocal())
    log_in(page, site, "erin")
    page.goto(f"{site}/p/AEB/campaigns/new/")
    assert page.locator("#id_executor option[value='sagemaker']").count() == 0

    # Choosing the scenario brings its parameters' fields (htmx), filled from the declaration.
    page.select_option("#id_scenario", label="CCRs")
    page.wait_for_selector("#parameter-ranges")
    rows = page.locator("#parameter-ranges tbody tr")
    assert [rows.nth(i).locator("th").inner_text() for i in range(rows.count())] == [
        "ego_speed",
        "initial_gap",
        "surface",
        "lighting",
    ]
    space = page.locator("#space")
    space.locator("#id_name").fill("speed-sweep")
    for label, value in (
        ("ego_speed min", "20"),
        ("ego_speed max", "50"),
        ("ego_speed step", "10"),
        ("initial_gap min", "30"),
        ("initial_gap max", "30"),
        ("initial_gap step", ""),
        ("lighting values", ""),
    ):
        page.get_by_label(label, exact=True).fill(value)
    space.locator("#id_fixed").fill('{"scenario": "ccrs", "target_speed": 0}')
    shot(page, "40-planner-ranges")
    _submit(page, "#space button[type=submit]")
    page.wait_for_selector(".messages li:has-text('Parameter space speed-sweep')")
    sampled = ParameterSpace.objects.get(name="speed-sweep")
    assert sampled.ranges["ego_speed"] == [20.0, 50.0, 10.0]
    assert len(sampled.cases) == 8  # 4 speeds x 1 gap x 2 surfaces

    campaign = page.locator("#campaign")
    campaign.locator("#id_name").fill("speed-sweep-run")
    page.check("label:has-text('CCRs / speed-sweep') >> input")
    page.check("label:has-text('AC-04') >> input")
    campaign.locator("#id_shard_size").fill("2")
    _submit(page, "#campaign button[type=submit]")
    page.wait_for_selector("h1:has-text('speed-sweep-run')")

    # The start returns at once; the run page polls while the worker computes the 4 shards.
    polls = []
    page.on("request", lambda r: "/progress/" in r.url and polls.append(r.url))
    started = time.monotonic()
    _submit(page, "button:has-text('Start a run')")
    page.wait_for_selector("#run-progress")
    answered = time.monotonic() - started
    assert answered < 4 * PAUSE  # less than the run takes
    assert page.locator("#run-progress[hx-trigger='every 2s']").count() == 1
    page.wait_for_selector("#run-progress .badge.succeeded", timeout=30_000)
    assert polls, "the run page never asked for the progress"
    assert "of 8 cases (100%)" in page.inner_text("#run-progress")
    shot(page, "41-planner-run-watched")
    run = Campaign.objects.get(name="speed-sweep-run").runs.get()
    assert run.status == RunStatus.SUCCEEDED and run.shards_total == 4
