"""A real Celery worker on a real broker is killed mid-run; the run still completes with every
case counted exactly once (acknowledgement after the work, unique results per case)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from validation import services
from validation.models import CaseResult, Run, Scenario, Verdict

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.broker


def start_worker(env):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--prefetch-multiplier=1",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def _campaign(project, members, criterion, name: str, n: int, seed: int, shard_size: int):
    """A campaign of ``n`` Latin-hypercube CCRs cases judged by ``criterion``."""
    scenario = Scenario.objects.create(project=project, name="CCRs", file_name="", sha256="0" * 64)
    scenario.requirements.add(criterion.requirement)
    space = services.space_create(
        user=members["engineer"],
        project=project,
        scenario=scenario,
        name=name,
        ranges={"ego_speed": [10, 50], "initial_gap": [20, 60]},
        method="lhs",
        n=n,
        seed=seed,
        fixed={"scenario": "ccrs"},
    )
    return services.campaign_create(
        user=members["engineer"],
        project=project,
        name=name,
        spaces=[space],
        criteria=[criterion],
        shard_size=shard_size,
    )


def _worker_env(**extra) -> dict:
    """The environment a worker needs to share this test's database, key and store."""
    db = connection.settings_dict
    return dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.test_settings",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        SAFECASE_SIGNING_KEY_FILE=settings.SAFECASE_SIGNING_KEY_FILE,
        SAFECASE_STORAGE_URL=settings.SAFECASE_STORAGE_URL,
        **extra,
    )


def test_a_killed_worker_loses_no_case(ledger_transactional_db, project, members, no_collision):
    if not settings.CELERY_BROKER_URL:
        pytest.skip("no CELERY_BROKER_URL: the real-worker path runs in CI against Redis")
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database only on PostgreSQL")
    from config.celery import app

    app.conf.task_always_eager = False
    app.control.purge()
    campaign = _campaign(project, members, no_collision, "kill", 1200, seed=3, shard_size=150)
    env = _worker_env(CELERY_VISIBILITY_TIMEOUT="5")
    first = start_worker(env)
    try:
        run = services.run_start(user=members["engineer"], campaign=campaign)
        wait_for(lambda: CaseResult.objects.filter(run=run).exists(), 120, "the first shard")
        first.send_signal(signal.SIGKILL)  # mid-run: it holds an unacknowledged shard
        first.wait(timeout=10)
        done_when_killed = CaseResult.objects.filter(run=run).count()
        assert done_when_killed < run.cases_total
        # Redis hands an unacknowledged message out again once it is older than the visibility
        # timeout; a worker restores such messages when it starts.
        time.sleep(6)
        second = start_worker(env)
        try:
            wait_for(
                lambda: Run.objects.get(pk=run.pk).status in ("succeeded", "failed"),
                240,
                "the run to finish on the second worker",
            )
        finally:
            second.terminate()
            second.wait(timeout=20)
    finally:
        if first.poll() is None:
            first.kill()
        app.conf.task_always_eager = True
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert CaseResult.objects.filter(run=run).count() == run.cases_total == 1200
    assert CaseResult.objects.filter(run=run).values("case_id").distinct().count() == 1200
    assert Verdict.objects.get(run=run).trials == 1200


def test_a_thousand_shards_over_two_workers_count_every_case_once(
    ledger_transactional_db, project, members, no_collision
):
    """Many jobs: 1,000 one-case shards shared by two real workers; each case lands once."""
    if not settings.CELERY_BROKER_URL:
        pytest.skip("no CELERY_BROKER_URL: the real-worker path runs in CI against Redis")
    if connection.vendor != "postgresql":
        pytest.skip("the workers share the test database only on PostgreSQL")
    from config.celery import app

    app.conf.task_always_eager = False
    app.control.purge()
    campaign = _campaign(project, members, no_collision, "many", 1000, seed=5, shard_size=1)
    env = _worker_env()
    workers = [start_worker(env), start_worker(env)]
    try:
        run = services.run_start(user=members["engineer"], campaign=campaign)
        assert run.shards_total == 1000
        wait_for(
            lambda: Run.objects.get(pk=run.pk).status in ("succeeded", "failed"),
            900,
            "the run of 1,000 shards",
        )
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
        app.conf.task_always_eager = True
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    ids = list(CaseResult.objects.filter(run=run).values_list("case_id", flat=True))
    assert len(ids) == len(set(ids)) == 1000
    assert set(CaseResult.objects.filter(run=run).values_list("shard", flat=True)) == set(
        range(1000)
    )
    assert Verdict.objects.get(run=run).trials == 1000
