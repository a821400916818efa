"""The production process set of the README, started on this machine.

gunicorn with 4 workers, two Celery workers and beat, with production settings (``DEBUG`` off,
a secret key, allowed hosts), on a PostgreSQL database of their own (migrated by the owner, then
used as the application role), the Redis broker, and an S3 server on loopback (moto) as the
evidence store with Object Lock. The operator's steps run first: migrate, create the signing
key, ``check --deploy``, seed the demo, issue an API token.

Used by ``tests/deploy/test_production_set.py`` and ``benchmarks/bench_load.py``.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "production-set-password-1"


class Unavailable(Exception):
    """PostgreSQL or a broker is not configured; the reason says what to set."""


def services_from_environment() -> tuple[str, str, str]:
    """(owner URL, application URL, broker URL) from the environment, as CI sets them."""
    owner = os.environ.get("DATABASE_OWNER_URL", "")
    app = os.environ.get("DATABASE_URL", "")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not (owner.startswith("postgres") and app.startswith("postgres") and broker):
        raise Unavailable(
            "the production process set needs PostgreSQL (DATABASE_OWNER_URL, DATABASE_URL) and "
            "a broker (CELERY_BROKER_URL), as in CI"
        )
    return owner, app, broker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_db(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


def wait_http(url: str, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.3)


@contextmanager
def moto_server():
    """``moto_server`` on a free loopback port; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/moto-api/", process, "the moto server", 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class ProductionSet:
    base: str
    token: str
    s3: object
    logs: Path
    env: dict
    database: str

    def manage(self, *args: str, timeout: float = 600) -> str:
        return _manage(self.env, *args, timeout=timeout)


def _manage(env: dict, *args: str, timeout: float = 600) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)}:\n{done.stderr[-3000:]}")
    return done.stdout


@contextmanager
def production_set(
    workdir: Path, s3_endpoint: str, *, web_workers: int = 4, extra_env: dict | None = None
):
    """Start the whole set for the demo project; yield a :class:`ProductionSet`."""
    import boto3
    import psycopg

    owner_url, app_url, broker = services_from_environment()
    name = f"{urlparse(owner_url).path.lstrip('/')}_prodset_{os.getpid()}"
    admin = with_db(owner_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    # a clean moto and an evidence bucket with Object Lock, as the template declares
    urllib.request.urlopen(
        urllib.request.Request(f"{s3_endpoint}/moto-api/reset", method="POST"), timeout=5
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket="evidence", ObjectLockEnabledForBucket=True)
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("PYTEST", "DJANGO_SETTINGS", "SAFECASE_", "CELERY_", "AWS_", "SECURE_", "LOAD_")
        )
    } | {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": "production-set-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{port}",
        "SAFECASE_PROXY_COUNT": "1",
        "DATABASE_URL": with_db(app_url, name),
        "DATABASE_OWNER_URL": with_db(owner_url, name),
        "CELERY_BROKER_URL": broker.rsplit("/", 1)[0] + "/9"
        if broker.startswith("redis")
        else broker,
        # its own queue: workers another set left behind on this broker never take its tasks
        "CELERY_QUEUE": f"safecase-{name}",
        # the cache (Redis, shared by its processes) of this set alone: a set started earlier
        # under the same database name left its own counts and drawings there
        "SAFECASE_CACHE_PREFIX": f"{name}:{secrets.token_hex(4)}",
        "SAFECASE_STORAGE_URL": "s3://evidence/safecase",
        "SAFECASE_VAR_DIR": str(workdir / "var"),
        "SAFECASE_SIGNING_KEY_FILE": str(workdir / "keys" / "ledger.key"),
        "SAFECASE_DEMO_PASSWORD": PASSWORD,
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
    }
    env |= extra_env or {}
    (workdir / "metrics").mkdir(parents=True, exist_ok=True)

    # the operator's steps of the README: migrate as the owner, key, deploy check, seed
    _manage(env, "migrate", "--noinput")
    _manage(env, "create_signing_key")
    _manage(env, "check", "--deploy", "--fail-level", "WARNING")
    _manage(env, "seed_demo")
    token = _manage(env, "drf_create_token", "erin").split()[2]
    # the application role is what runs from here on
    env.pop("DATABASE_OWNER_URL")

    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
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

        celery = [sys.executable, "-m", "celery", "-A", "config"]
        web = start(
            "gunicorn",
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi",
            "--workers",
            str(web_workers),
            "--timeout",
            "60",
            "--graceful-timeout",
            "30",
            "--bind",
            f"127.0.0.1:{port}",
        )
        for n in (1, 2):
            start(
                f"worker{n}",
                *celery,
                "worker",
                "--concurrency=1",
                f"--hostname=worker{n}@%h",
                "--loglevel=INFO",
            )
        start(
            "beat", *celery, "beat", "--loglevel=INFO", "--schedule", str(workdir / "beat-schedule")
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{base}/healthz", web, "gunicorn")
            yield ProductionSet(base=base, token=token, s3=s3, logs=logs, env=env, database=name)
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
