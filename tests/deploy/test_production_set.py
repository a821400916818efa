"""The production process set of the README, started as described and driven over HTTP.

gunicorn with 4 workers, two Celery workers and beat, with production settings (``DEBUG`` off,
a secret key, allowed hosts), on a PostgreSQL database of their own (migrated by the owner, used
as the application role), the Redis broker, and an S3 server on loopback (moto) as the evidence
store. The client behaves as a browser behind the TLS proxy would (``X-Forwarded-Proto: https``,
secure cookies returned by hand since the loopback hop is plain HTTP) and as a CI client with an
API token: it logs in, imports a ReqIF file, starts a campaign through the API, watches it finish
on the workers, downloads the certification package and verifies it with the package's own
``verify.py`` against the key the store publishes.

Runs where CI runs it: with ``DATABASE_OWNER_URL`` (PostgreSQL) and ``CELERY_BROKER_URL`` set.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

from tests.compliance.reqif_samples import generate_reqif

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "production-set-password-1"


def _needed() -> tuple[str, str, str]:
    owner = os.environ.get("DATABASE_OWNER_URL", "")
    app = os.environ.get("DATABASE_URL", "")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not (owner.startswith("postgres") and app.startswith("postgres") and broker):
        pytest.skip(
            "the production process set runs with PostgreSQL (DATABASE_OWNER_URL, DATABASE_URL) "
            "and a broker (CELERY_BROKER_URL), as in CI"
        )
    return owner, app, broker


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _with_db(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


def _wait_http(url: str, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{what} did not start")
        time.sleep(0.3)


class Browser:
    """HTTP as a browser behind the TLS proxy: secure cookies kept and sent back by hand."""

    def __init__(self, base: str):
        import requests

        self.base = base
        self.http = requests.Session()
        self.cookies: dict[str, str] = {}

    def _headers(self, extra=None) -> dict:
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers | (extra or {})

    def request(self, method: str, path: str, **kwargs):
        response = self.http.request(
            method,
            self.base + path,
            headers=self._headers(kwargs.pop("headers", None)),
            allow_redirects=False,
            timeout=120,
            **kwargs,
        )
        self.cookies.update({c.name: c.value for c in response.cookies})
        self.http.cookies.clear()
        return response

    def csrf(self) -> str:
        return self.cookies["csrftoken"]


@pytest.fixture
def production_set(tmp_path, s3_endpoint):
    owner_url, app_url, broker = _needed()
    import psycopg

    name = f"{urlparse(owner_url).path.lstrip('/')}_prodset_{os.getpid()}"
    admin = _with_db(owner_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    # a clean moto and an evidence bucket with Object Lock, as the template declares
    urllib.request.urlopen(
        urllib.request.Request(f"{s3_endpoint}/moto-api/reset", method="POST"), timeout=5
    )
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket="evidence", ObjectLockEnabledForBucket=True)
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST", "DJANGO_SETTINGS", "SAFECASE_", "CELERY_", "AWS_"))
    } | {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": "production-set-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{port}",
        "SAFECASE_PROXY_COUNT": "1",
        "DATABASE_URL": _with_db(app_url, name),
        "DATABASE_OWNER_URL": _with_db(owner_url, name),
        "CELERY_BROKER_URL": broker.rsplit("/", 1)[0] + "/9"
        if broker.startswith("redis")
        else broker,
        "SAFECASE_STORAGE_URL": "s3://evidence/safecase",
        "SAFECASE_VAR_DIR": str(tmp_path / "var"),
        "SAFECASE_SIGNING_KEY_FILE": str(tmp_path / "keys" / "ledger.key"),
        "SAFECASE_DEMO_PASSWORD": PASSWORD,
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    (tmp_path / "metrics").mkdir()

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stderr[-3000:]}"
        return done.stdout

    # the operator's steps of the README: migrate as the owner, key, deploy check, seed
    manage("migrate", "--noinput")
    manage("create_signing_key")
    manage("check", "--deploy", "--fail-level", "WARNING")
    manage("seed_demo")
    token = manage("drf_create_token", "erin").split()[2]
    # the application role is what runs from here on
    env.pop("DATABASE_OWNER_URL")

    logs = tmp_path / "logs"
    logs.mkdir()
    with ExitStack() as stack:
        processes = []

        def start(label: str, *command: str) -> subprocess.Popen:
            log = stack.enter_context(open(logs / f"{label}.log", "wb"))
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            processes.append(process)
            return process

        bin_dir = Path(sys.executable).parent
        web = start(
            "gunicorn",
            str(bin_dir / "gunicorn"),
            "config.wsgi",
            "--workers",
            "4",
            "--timeout",
            "120",
            "--bind",
            f"127.0.0.1:{port}",
        )
        for n in (1, 2):
            start(
                f"worker{n}",
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--concurrency=1",
                f"--hostname=worker{n}@%h",
                "--loglevel=INFO",
            )
        start(
            "beat",
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "--loglevel=INFO",
            "--schedule",
            str(tmp_path / "beat-schedule"),
        )
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/healthz", web, "gunicorn")
        try:
            yield {"base": base, "token": token, "s3": s3, "logs": logs, "env": env}
        finally:
            for process in processes:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.broker
@pytest.mark.s3
def test_the_production_set_runs_the_whole_flow(production_set, tmp_path):
    base, token, s3 = production_set["base"], production_set["token"], production_set["s3"]
    browser = Browser(base)

    # without the proxy's https header the site sends the client to https
    plain = browser.http.get(f"{base}/login/", allow_redirects=False, timeout=30)
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")

    # log in as a browser does: the form, its CSRF cookie, the password
    form = browser.request("GET", "/login/")
    assert form.status_code == 200
    assert "secure" in form.headers["Set-Cookie"].lower()
    done = browser.request(
        "POST",
        "/login/",
        data={"username": "sam", "password": PASSWORD, "csrfmiddlewaretoken": browser.csrf()},
        headers={"Referer": f"https://127.0.0.1:{urlparse(base).port}/login/"},
    )
    assert done.status_code == 302, done.text[:2000]
    assert "sessionid" in browser.cookies
    assert browser.request("GET", "/p/AEB/").status_code == 200

    # a CI client with a token imports a ReqIF file
    api = Browser(base)
    auth = {"Authorization": f"Token {token}"}
    reqif = generate_reqif(40, 50, seed=3)
    imported = api.request(
        "POST",
        "/api/v1/projects/AEB/reqif/import/",
        files={"file": ("supplier.reqif", io.BytesIO(reqif), "application/xml")},
        data={"on_violation": "note"},  # the generated links break ASIL rules on purpose
        headers=auth,
    )
    assert imported.status_code == 200, imported.text[:2000]
    report = imported.json()
    assert report["created"] or report.get("requirements"), report

    # ... and starts the demo campaign, which the two workers run
    started = api.request(
        "POST",
        "/api/v1/projects/AEB/campaigns/AEB-demo/runs/",
        json={"executor": "local"},
        headers=auth,
    )
    assert started.status_code == 201, started.text[:2000]
    run_id = started.json()["id"]
    deadline = time.monotonic() + 600
    while True:
        run = api.request("GET", f"/api/v1/projects/AEB/runs/{run_id}/", headers=auth).json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            break
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
        time.sleep(2)
    assert run["status"] == "succeeded", run
    assert run["cases_total"] > 0
    received = {
        n: sum(
            "validation.run_shard[" in line and line.rstrip().endswith("received")
            for line in (production_set["logs"] / f"worker{n}.log").read_text().splitlines()
        )
        for n in (1, 2)
    }
    assert all(received.values()), f"shards received per worker: {received}"

    # the safety manager downloads the certification package of the demo baseline
    baselines = browser.request("GET", "/p/AEB/baselines/")
    assert baselines.status_code == 200
    pk = re.search(r"/p/AEB/baselines/(\d+)/package/", baselines.text).group(1)
    package = browser.request(
        "POST",
        f"/p/AEB/baselines/{pk}/package/",
        data={"csrfmiddlewaretoken": browser.csrf()},
        headers={"Referer": f"https://127.0.0.1:{urlparse(base).port}/p/AEB/baselines/"},
    )
    assert package.status_code == 200, package.text[:2000]
    assert package.headers["Content-Type"] == "application/zip"

    # the regulator verifies it with the package's verify.py and the key the store publishes
    folder = tmp_path / "regulator"
    folder.mkdir()
    (folder / "package.zip").write_bytes(package.content)
    with zipfile.ZipFile(folder / "package.zip") as archive:
        (folder / "verify.py").write_bytes(archive.read("verify.py"))
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket="evidence", Prefix="safecase/keys/")["Contents"]
        if o["Key"].endswith(".vkey")
    ]
    assert keys
    (folder / "trusted.vkey").write_text(
        "".join(
            s3.get_object(Bucket="evidence", Key=k)["Body"].read().decode().strip() + "\n"
            for k in keys
        )
    )
    verified = subprocess.run(
        [
            sys.executable,
            "-I",
            "verify.py",
            "package.zip",
            "--trusted-key",
            "trusted.vkey",
            "--json",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = json.loads(verified.stdout.strip().splitlines()[-1])
    assert verified.returncode == 0 and result["ok"] and result["origin_verified"], verified.stdout
