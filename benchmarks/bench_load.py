"""Load: 200 safety engineers and CI clients against the production process set for 2 minutes.

Starts what the README's production section describes (``tests/prodset.py``: gunicorn with 4
workers, two Celery workers and beat, PostgreSQL as the application role, Redis, S3 on loopback)
with the demo project, and with ``LOAD_REQUIREMENTS`` (default 10,000) more requirements and
about 1.4 links each imported through the API as a CI client would. Then locust
(``benchmarks/load/locustfile.py``) runs headless on loopback: engineers log in and browse the
dashboard, traceability, the requirement tree and single requirements; CI clients record
verification results through the API, each a ledger append. Figures: requests per second, the
95th percentile of pages and of API writes, errors, and whether the ledger is gapless and
verifies afterwards. The API throttles are off for this run (they would answer 429 by design).
The engineers browse signed in, as on a working day: each account logs in once through the form
before the run (its time is printed); ``LOAD_LOGIN_STORM=1`` has every simulated engineer log in
as it starts instead, 200 password checks within seconds.
The dashboard's gap counts may lag the log by ``LOAD_DASHBOARD_MAX_AGE`` seconds (default 5, the
``SAFECASE_DASHBOARD_MAX_AGE`` an operator with many writers would set; 0 counts them again after
every write, which with 40 CI clients writing is on nearly every view), and the appends within
``LOAD_INTEGRATION_MS`` (default 1000, ``SAFECASE_LEDGER_INTEGRATION_MS``; 0 signs and publishes
a checkpoint per append) share one signed checkpoint, which beat's integrator writes.

Needs PostgreSQL (``DATABASE_OWNER_URL``, ``DATABASE_URL``) and ``CELERY_BROKER_URL``; without
them it says so and measures nothing. ``LOAD_USERS``, ``LOAD_SECONDS`` change the load.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._setup import ROOT, report


def _import_requirements(running, n: int) -> list[str]:
    import requests

    from tests.compliance.reqif_samples import generate_reqif

    auth = {"Authorization": f"Token {running.token}", "X-Forwarded-Proto": "https"}
    if n:
        data = generate_reqif(n, int(n * 1.4), seed=5)
        answer = requests.post(
            f"{running.base}/api/v1/projects/AEB/reqif/import/",
            files={"file": ("load.reqif", io.BytesIO(data), "application/xml")},
            data={"on_violation": "note"},
            headers=auth,
            timeout=600,
        )
        answer.raise_for_status()
    codes, url = [], f"{running.base}/api/v1/projects/AEB/requirements/?limit=1000"
    while url and len(codes) < 5000:
        page = requests.get(url, headers=auth, timeout=120).json()
        codes += [r["code"] for r in page["results"]]
        url = page.get("next")
        if url:
            url = url.replace("https://", "http://")
    return codes


def _sign_in(running, accounts: list[str]) -> tuple[list[str], list[float]]:
    """Each account logged in once through the form, as a browser behind the proxy does: the
    sessions (``sessionid|csrftoken``) the engineers browse with, and each login's time."""
    import re
    import time

    import requests

    from tests import prodset

    proxy = {"X-Forwarded-Proto": "https"}
    sessions, times = [], []
    for name in accounts:
        form = requests.get(f"{running.base}/login/", headers=proxy, timeout=60)
        csrf = form.cookies.get("csrftoken") or re.search(
            r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text
        ).group(1)
        started = time.perf_counter()
        done = requests.post(
            f"{running.base}/login/",
            data={"username": name, "password": prodset.PASSWORD, "csrfmiddlewaretoken": csrf},
            headers=proxy
            | {
                "Cookie": f"csrftoken={csrf}",
                "Referer": f"https://{running.base.split('//')[1]}/login/",
            },
            allow_redirects=False,
            timeout=60,
        )
        times.append((time.perf_counter() - started) * 1000)
        session = done.cookies.get("sessionid")
        if done.status_code != 302 or not session:
            raise RuntimeError(f"logging in as {name} answered {done.status_code}")
        sessions.append(f"{session}|{csrf}")
    return sessions, times


def _analyze(running, owner: str) -> None:
    """Planner statistics for the imported rows, as the database owner: a server with
    autovacuum off (this benchmark's machine runs one) never gathers them, and the plans then
    assume a handful of rows where there are ten thousand."""
    import psycopg

    from tests import prodset

    with psycopg.connect(prodset.with_db(owner, running.database), autocommit=True) as conn:
        conn.execute("ANALYZE")


def main() -> None:
    from tests import prodset

    # the services as configured before the runner pointed DATABASE_URL at its own database
    for name, saved in (("DATABASE_OWNER_URL", "OWNER"), ("DATABASE_URL", "APP")):
        if os.environ.get(f"SAFECASE_BENCH_{saved}_URL"):
            os.environ[name] = os.environ[f"SAFECASE_BENCH_{saved}_URL"]
    try:
        owner, _app, _broker = prodset.services_from_environment()
    except prodset.Unavailable as exc:
        print(f"  skipped: {exc}")
        return
    users = int(os.environ.get("LOAD_USERS", 200))
    seconds = int(os.environ.get("LOAD_SECONDS", 120))
    n_requirements = int(os.environ.get("LOAD_REQUIREMENTS", 10_000))
    work = Path(tempfile.mkdtemp(prefix="safecase-load-"))
    max_age = os.environ.get("LOAD_DASHBOARD_MAX_AGE", "5")
    interval = os.environ.get("LOAD_INTEGRATION_MS", "1000")
    storm = os.environ.get("LOAD_LOGIN_STORM", "") not in ("", "0")
    extra = {
        "SAFECASE_API_THROTTLE_USER": "",
        "SAFECASE_API_THROTTLE_ANON": "",
        "SAFECASE_DASHBOARD_MAX_AGE": max_age,
        "SAFECASE_LEDGER_INTEGRATION_MS": interval,
    }
    print(
        f"  (the dashboard's gap counts may lag the growing log by {max_age} s; appends share "
        + (f"a signed checkpoint per {interval} ms)" if int(interval) else "none: one each)")
    )
    with (
        prodset.moto_server() as s3_endpoint,
        prodset.production_set(work, s3_endpoint, extra_env=extra) as running,
    ):
        codes = _import_requirements(running, n_requirements)
        _analyze(running, owner)
        print(f"  ({len(codes):,} requirements to browse; {users} users for {seconds} s)")
        sessions = []
        if storm:
            print("  (each engineer logs in through the form as it starts: a storm of logins)")
        else:
            sessions, times = _sign_in(running, ["sam", "erin", "eli", "ada"])
            report("login through the form, slowest of 4 before the run", max(times), "ms")
            print("  (the engineers browse signed in, with those sessions)")
        prefix = work / "locust"
        env = dict(
            os.environ,
            LOAD_CODES=",".join(codes),
            LOAD_TOKEN=running.token,
            LOAD_PASSWORD=prodset.PASSWORD,
            LOAD_SESSIONS=",".join(sessions),
        )
        subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(ROOT / "benchmarks" / "load" / "locustfile.py"),
                "--headless",
                "--host",
                running.base,
                "--users",
                str(users),
                "--spawn-rate",
                str(max(1, users // 10)),
                "--run-time",
                f"{seconds}s",
                "--stop-timeout",
                "30",
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            cwd=work,
            env=env,
            check=False,
            capture_output=True,
        )
        rows = list(csv.DictReader((work / "locust_stats.csv").open()))
        pages = [r for r in rows if r["Name"].startswith("page:")]
        writes = [r for r in rows if r["Name"].startswith("api write")]
        total = next(r for r in rows if r["Name"] == "Aggregated")
        report("throughput", float(total["Requests/s"]), "requests/s")
        for row in pages + writes:
            report(
                f"{row['Name']} p95 ({int(row['Request Count']):,} requests, "
                f"{int(row['Failure Count']):,} failed)",
                float(row["95%"]),
                "ms",
                "< 300 ms" if row in writes else "< 500 ms",
            )
        failures = sum(int(r["Failure Count"]) for r in rows if r["Name"] != "Aggregated")
        report("failed requests", failures, "", "0")
        verified = subprocess.run(
            [sys.executable, "manage.py", "verify_ledger", "--project", "AEB"],
            cwd=ROOT,
            env=running.env,
            capture_output=True,
            text=True,
            check=False,
        )
        last = (verified.stdout or verified.stderr).strip().splitlines()[-1:]
        print(f"  ledger after the load: {'OK' if verified.returncode == 0 else 'FAILED'}: {last}")
