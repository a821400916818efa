"""Evidence ledger speed (issue: evidence ledger).

Figures: batch append of 100,000 entries; 8 concurrent clients appending one entry per
transaction; inclusion proofs in a 1,000,000-entry log; verify_ledger over that log;
register_dataset over 2 GiB beside two parallel hashlib SHA-256 streams.
Scale down with BENCH_LEDGER_ENTRIES and BENCH_DATASET_MIB for a quick look.
"""

from __future__ import annotations

import hashlib
import os
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.db import connection

from benchmarks._setup import ROOT, report, scratch

BATCH = 100_000
TOTAL = int(os.environ.get("BENCH_LEDGER_ENTRIES", 1_000_000))
DATASET_MIB = int(os.environ.get("BENCH_DATASET_MIB", 2048))
CLIENTS, CLIENT_SECONDS = 8, 10.0

CLIENT = """
import sys, time
import django
django.setup()
from evidence import ledger
from projects.models import Project
project = Project.objects.get(key=sys.argv[1])
deadline = float(sys.argv[3])
while time.time() < deadline - 60:
    time.sleep(0.01)  # wait for the common start signal
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
n = 0
while time.time() < deadline:
    subject = ledger.Subject(f"client-{n}", f"{n:064x}")
    ledger.append(project, [ledger.Record("validation-result", [subject], {"n": n})])
    n += 1
print(n)
"""


def records(start: int, count: int):
    from evidence.ledger import Record, Subject

    return [
        Record("validation-result", [Subject(f"case-{i}", f"{i:064x}")], {"case": i, "kpi": 1.5})
        for i in range(start, start + count)
    ]


def bench_batch(project) -> None:
    from evidence import ledger

    batch = records(0, BATCH)
    started = time.perf_counter()
    ledger.append(project, batch, fetch=False)
    elapsed = time.perf_counter() - started
    report(
        f"batch append of {BATCH:,} entries ({connection.vendor})",
        BATCH / elapsed,
        "entries/s",
        ">= 5,000/s on PostgreSQL",
        "Tessera ~1,500/s small VM, ~10,000/s NVMe 7 cores",
    )


def bench_concurrent(project_key: str) -> None:
    from evidence.models import LogEntry
    from projects.models import Project

    project = Project.objects.get(key=project_key)
    env = dict(os.environ)
    start = time.time() + 3
    deadline = start + CLIENT_SECONDS
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, project_key, str(start), str(deadline)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(CLIENTS)
    ]
    counts = [int(p.communicate()[0].strip() or 0) for p in procs]
    total = sum(counts)
    indexes = list(
        LogEntry.objects.filter(project=project).order_by("index").values_list("index", flat=True)
    )
    gapless = indexes == list(range(len(indexes)))
    report(
        f"{CLIENTS} concurrent clients, one entry per transaction",
        total / CLIENT_SECONDS,
        "entries/s",
        ">= 150/s, no gaps",
        f"gapless: {gapless}, {total} entries",
    )


def grow(project, size: int) -> None:
    from evidence import ledger

    current = ledger.head_of(project)[0]
    started = time.perf_counter()
    while current < size:
        step = min(50_000, size - current)
        ledger.append(project, records(current, step), fetch=False)
        current += step
    print(f"  (grew the log to {size:,} entries in {time.perf_counter() - started:.0f} s)")


def bench_proofs(project, size: int) -> None:
    from evidence import ledger, verify

    rng = random.Random(7)
    root = ledger.root_at(project, size)
    timings = []
    for _ in range(500):
        index = rng.randrange(size)
        started = time.perf_counter()
        proof = ledger.inclusion_proof(project, index, size)
        timings.append(time.perf_counter() - started)
    from evidence.models import LogEntry

    leaf = bytes(LogEntry.objects.get(project=project, index=index).leaf_hash)
    assert verify.verify_inclusion(leaf, index, size, proof, root)
    report(
        f"inclusion proof in a {size:,}-entry log (median of 500)",
        statistics.median(timings) * 1000,
        "ms",
        "< 5 ms",
    )


def bench_verify(project, size: int) -> None:
    from evidence.verification import verify_project

    started = time.perf_counter()
    result = verify_project(project)
    elapsed = time.perf_counter() - started
    assert result.ok, result.problems
    report(
        f"verify_ledger over {result.entries:,} entries",
        result.entries / elapsed,
        "entries/s",
        ">= 200,000/s",
    )


def _make_files(folder: Path, total_mib: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files, chunk = [], os.urandom(1 << 20)
    per_file = 64
    for n in range(max(1, total_mib // per_file)):
        path = folder / f"drive-{n:03d}.parquet"
        with open(path, "wb") as handle:
            for i in range(min(per_file, total_mib)):
                handle.write(chunk[i:] + chunk[:i])
        files.append(path)
    return files


def _two_streams(files: list[Path]) -> float:
    def hash_all(paths):
        for path in paths:
            digest = hashlib.sha256()
            with open(path, "rb", buffering=0) as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)

    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(hash_all, [files[0::2], files[1::2]]))
    return time.perf_counter() - started


def bench_dataset(project, user) -> None:
    from evidence.services import dataset_register

    folder = scratch() / "lake"
    files = _make_files(folder, DATASET_MIB)
    size = sum(p.stat().st_size for p in files)
    baseline, ours = [], []
    for round_ in range(2):
        baseline.append(_two_streams(files))
        started = time.perf_counter()
        dataset_register(user=user, project=project, name=f"lake-{round_}", uri=folder.as_uri())
        ours.append(time.perf_counter() - started)
    rate_base, rate_ours = size / min(baseline) / 2**20, size / min(ours) / 2**20
    report(f"two parallel hashlib SHA-256 streams over {size / 2**30:.2f} GiB", rate_base, "MiB/s")
    report(
        "register_dataset over the same files",
        rate_ours,
        "MiB/s",
        ">= 80% of the above",
        f"ratio {rate_ours / rate_base:.2f}",
    )
    for path in files:
        path.unlink()


def main() -> None:
    from django.contrib.auth import get_user_model

    from projects.models import Membership, Project

    user = get_user_model().objects.create_user("bench", is_superuser=True)
    project = Project.objects.create(key="BENCH", name="Ledger benchmark")
    concurrent = Project.objects.create(key="CONC", name="Concurrent appends")
    Membership.objects.create(project=project, user=user, role="admin")
    bench_batch(project)
    bench_concurrent(concurrent.key)
    grow(project, TOTAL)
    bench_proofs(project, TOTAL)
    bench_verify(project, TOTAL)
    bench_dataset(project, user)
