"""A database of its own for the benchmarks, so they never touch the demo or a real install.

With ``DATABASE_URL`` pointing at PostgreSQL the benchmarks use a sibling database named
``<name>_bench`` (created fresh on every run); otherwise an SQLite file ``var/bench.sqlite3``.
With ``DATABASE_OWNER_URL`` set as well, the owner creates, migrates and uses that database:
the benchmarks measure speed, not privileges. Call :func:`prepare` before ``django.setup()``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent


def prepare() -> str:
    # what was configured, for benchmarks that set up databases of their own (bench_load)
    os.environ["SAFECASE_BENCH_OWNER_URL"] = os.environ.get("DATABASE_OWNER_URL", "")
    os.environ["SAFECASE_BENCH_APP_URL"] = os.environ.get("DATABASE_URL", "")
    url = os.environ.pop("DATABASE_OWNER_URL", "") or os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        parsed = urlparse(url)
        name = parsed.path.lstrip("/") + "_bench"
        admin = urlunparse(parsed._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        bench_url = urlunparse(parsed._replace(path=f"/{name}"))
    else:
        path = ROOT / "var" / "bench.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        bench_url = f"sqlite:///{path}"
    os.environ["DATABASE_URL"] = bench_url
    scratch = Path(tempfile.mkdtemp(prefix="safecase-bench-"))
    os.environ["SAFECASE_STORAGE_URL"] = (scratch / "store").as_uri()
    os.environ["SAFECASE_SIGNING_KEY_FILE"] = str(scratch / "ledger.key")
    os.environ["SAFECASE_BENCH_SCRATCH"] = str(scratch)
    # the cache keys of this run alone: a Redis cache may share its database with the broker
    os.environ["SAFECASE_CACHE_PREFIX"] = f"safecase-bench-{os.getpid()}-{scratch.name}"
    return bench_url


def migrate() -> None:
    from django.core.management import call_command

    from evidence.keys import generate_key_file

    call_command("migrate", verbosity=0)
    generate_key_file(Path(os.environ["SAFECASE_SIGNING_KEY_FILE"]))


def forget_cache() -> None:
    """Empty what this run keeps in the default cache. A Redis cache loses only this run's keys
    (``clear()`` would empty the whole Redis database, the broker's queues with it)."""
    from django.conf import settings
    from django.core.cache import cache

    config = settings.CACHES["default"]
    if not config["BACKEND"].endswith("RedisCache"):
        cache.clear()
        return
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=f"{config['KEY_PREFIX']}:*", count=1000))
    if keys:
        client.delete(*keys)


def scratch() -> Path:
    return Path(os.environ["SAFECASE_BENCH_SCRATCH"])


def report(name: str, value: float, unit: str, target: str = "", reference: str = "") -> None:
    """Print one figure in a fixed format: name, value, unit, the issue's target, a reference."""
    parts = [f"  {name}: {value:,.1f} {unit}"]
    if target:
        parts.append(f"target {target}")
    if reference:
        parts.append(reference)
    print(" | ".join(parts), flush=True)


def run_child(script: str, *args: str) -> dict:
    """Run ``script`` in a fresh Python on the benchmark's environment and database; return
    the JSON object it printed last. A child's peak memory is its own, not the runner's."""
    completed = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the child process failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])
