"""Evidence ledger speed (issue 18, "Ten million entries").

Figures: per-entry Ed25519 signing (what caps a batch append on one core); batch append of
100,000 entries; 8 concurrent clients adding one entry per transaction, each appending under
the log's lock (a checkpoint per append) and submitting to the queue that one integrator
moves into the log (group commit, integration interval BENCH_LEDGER_INTERVAL_MS), both checked
gapless; inclusion proofs in a 1,000,000-entry log; verify_ledger over that log;
register_dataset over 2 GiB beside two parallel hashlib SHA-256 streams.
Scale with BENCH_LEDGER_ENTRIES (10,000,000 for the issue's figures) and BENCH_DATASET_MIB.
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
CLIENTS, CLIENT_SECONDS = 8, float(os.environ.get("BENCH_LEDGER_CLIENT_SECONDS", 10))
INTERVAL_MS = int(os.environ.get("BENCH_LEDGER_INTERVAL_MS", 100))

CLIENT = """
import sys, time
import django
django.setup()
from evidence import ledger
from projects.models import Project
project = Project.objects.get(key=sys.argv[1])
print("ready", flush=True)
start = float(sys.stdin.readline())  # the common start, once every client is ready
deadline = start + float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
submit = ledger.enqueue if sys.argv[3] == "enqueue" else ledger.append
n = 0
while time.time() < deadline:
    subject = ledger.Subject(f"client-{n}", f"{n:064x}")
    submit(project, [ledger.Record("validation-result", [subject], {"n": n})])
    n += 1
print(n)
"""


def records(start: int, count: int):
    from evidence.ledger import Record, Subject

    return [
        Record("validation-result", [Subject(f"case-{i}", f"{i:064x}")], {"case": i, "kpi": 1.5})
        for i in range(start, start + count)
    ]


def bench_signing() -> None:
    from evidence import verify
    from evidence.keys import load_signing_key

    key = load_signing_key()
    messages = [
        verify.pae("application/vnd.in-toto+json", b"x" * 600 + b"%d" % i) for i in range(20_000)
    ]
    started = time.perf_counter()
    for message in messages:
        key.sign(message)
    report(
        "Ed25519 signatures (one per entry's envelope), one core",
        len(messages) / (time.perf_counter() - started),
        "signatures/s",
        "",
        "the ceiling of a batch append in one process",
    )


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
        ">= 20,000/s",
        "Tessera ~10,000/s on 7 cores with NVMe",
    )


def bench_concurrent(project_key: str, mode: str, interval_ms: int) -> None:
    from evidence import ledger
    from evidence.models import Checkpoint, LogEntry
    from evidence.verification import verify_project
    from projects.models import Project

    project = Project.objects.get(key=project_key)
    env = dict(os.environ, SAFECASE_LEDGER_INTEGRATION_MS=str(interval_ms))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, project_key, str(CLIENT_SECONDS), mode],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(CLIENTS)
    ]
    for proc in procs:  # Django starts slowly on a busy machine: wait for every client
        assert proc.stdout.readline().strip() == "ready"
    start = f"{time.time() + 1}\n"
    for proc in procs:
        proc.stdin.write(start)
        proc.stdin.close()
    counts = [int(p.stdout.read().strip() or 0) for p in procs]
    for proc in procs:
        proc.wait()
    total = sum(counts)
    ledger.integrate(project)  # what the periodic task does for the last interval's entries
    indexes = list(
        LogEntry.objects.filter(project=project).order_by("index").values_list("index", flat=True)
    )
    gapless = indexes == list(range(total))
    intact = verify_project(project).ok
    checkpoints = Checkpoint.objects.filter(project=project).count()
    how = (
        f"queue + one integrator, interval {interval_ms} ms"
        if mode == "enqueue"
        else f"append under the lock, interval {interval_ms} ms"
    )
    report(
        f"{CLIENTS} concurrent clients, one entry per transaction ({how})",
        total / CLIENT_SECONDS,
        "entries/s",
        ">= 2,000/s, gapless",
        f"gapless: {gapless}, verified: {intact}, {total} entries, {checkpoints} checkpoints",
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
        "< 2 ms",
        "one database round trip",
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
        ">= 300,000/s",
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
    Membership.objects.create(project=project, user=user, role="admin")
    bench_signing()
    bench_batch(project)
    for n, (mode, interval) in enumerate((("append", 0), ("enqueue", INTERVAL_MS))):
        concurrent = Project.objects.create(key=f"CONC{n}", name=f"Concurrent {mode}")
        bench_concurrent(concurrent.key, mode, interval)
    grow(project, TOTAL)
    bench_proofs(project, TOTAL)
    bench_verify(project, TOTAL)
    bench_dataset(project, user)
