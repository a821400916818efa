"""Witnessing speed (issue: witnessed checkpoints).

Figures:

- what witnessing adds to an append's latency: appends of one record each, without witnesses
  and then with three witness processes on 127.0.0.1, in the embedded mode, where the
  checkpoint is submitted to the witnesses (in parallel, over kept-alive connections) right
  after the append commits and before the request returns. With a broker the request only
  queues a task, so this is the upper bound. Target: under 20 ms added to the median.
- how many checkpoints one witness process cosigns per second: a log growing by one entry per
  checkpoint, each request carrying its consistency proof, sent over one kept-alive
  connection (one log's checkpoints are necessarily sequential), and sixteen logs at once, whose
  flushes are shared (group commit); also per second of the witness process's own CPU time,
  which does not depend on what else the machine runs. The
  witness's state is on disk and every cosignature waits for its record's fsync. Target: at
  least 500 checkpoints/s.

Scale with BENCH_WITNESS_APPENDS and BENCH_WITNESS_CHECKPOINTS.
"""

from __future__ import annotations

import http.client
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks._setup import ROOT, report

APPENDS = int(os.environ.get("BENCH_WITNESS_APPENDS", 300))
CHECKPOINTS = int(os.environ.get("BENCH_WITNESS_CHECKPOINTS", 2000))
LOGS = 16


def start_witness(name: str, folder, log_vkeys: list[str]) -> tuple[subprocess.Popen, str, str]:
    """A witness process with its state under ``folder``; (process, URL, its verifier key)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / "witness.key"
    made = subprocess.run(
        [sys.executable, "-m", "witness", "keygen", "--name", name, "--key", str(key)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    keys = folder / "logs.vkey"
    keys.write_text("".join(v + "\n" for v in log_vkeys))
    command = [sys.executable, "-m", "witness", "serve", "--name", name, "--key", str(key)]
    command += ["--state", str(folder / "state"), "--log-key", str(keys)]
    command += ["--listen", "127.0.0.1:0"]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    line = process.stdout.readline()
    return process, line.split(" listening on ", 1)[1].strip(), made.stdout.strip()


def cpu_seconds(process: subprocess.Popen) -> float:
    """User and system CPU time the process has used so far (Linux /proc)."""
    fields = open(f"/proc/{process.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=10)


def append_latencies(project, count: int) -> list[float]:
    from evidence import ledger

    times = []
    for n in range(count):
        record = ledger.Record("decision", [ledger.Subject(f"d{n}", f"{n:064x}")], {"n": n})
        started = time.perf_counter()
        ledger.append(project, [record])  # commits; the on-commit work runs inside the call
        times.append(time.perf_counter() - started)
    return times


def bench_append_latency(folder) -> None:
    from django.conf import settings

    from evidence import verify
    from evidence.keys import load_signing_key, log_name
    from evidence.models import WitnessCosignature
    from projects.models import Project

    log_vkey = verify.format_vkey(log_name(), load_signing_key().public)
    bare = Project.objects.create(key="WB0", name="Without witnesses")
    witnessed = Project.objects.create(key="WB3", name="With three witnesses")
    processes = [
        start_witness(f"w{n}.bench/witness", folder / f"w{n}", [log_vkey]) for n in (1, 2, 3)
    ]
    try:
        append_latencies(bare, 20)  # warm up: key, caches, store folders
        without = append_latencies(bare, APPENDS)
        settings.SAFECASE_WITNESSES = [f"{url} {vkey}" for _, url, vkey in processes]
        append_latencies(witnessed, 20)
        with_witnesses = append_latencies(witnessed, APPENDS)
        cosigned = WitnessCosignature.objects.filter(checkpoint__project=witnessed).count()
    finally:
        settings.SAFECASE_WITNESSES = []
        for process, _, _ in processes:
            stop(process)
    base, witnessing = statistics.median(without), statistics.median(with_witnesses)
    report("append median without witnesses", base * 1000, "ms")
    report("append median with 3 witnesses (embedded, synchronous)", witnessing * 1000, "ms")
    report(
        "witnessing adds to the median append",
        (witnessing - base) * 1000,
        "ms",
        target="< 20 ms",
        reference=f"ratio {witnessing / base:.2f}x the append without witnesses",
    )
    p95 = statistics.quantiles(with_witnesses, n=20)[-1]
    report("append p95 with 3 witnesses", p95 * 1000, "ms")
    print(f"  cosignatures stored: {cosigned} for {APPENDS + 20} checkpoints x 3 witnesses")


LOG_KEY = Ed25519PrivateKey.generate()


def prepared_requests(origin_suffix: str, count: int) -> tuple[str, list[bytes]]:
    """The log key's verifier key and the add-checkpoint bodies of ``count`` checkpoints of
    the log ``bench.example/log/<origin_suffix>``, growing by one entry each."""
    from evidence import verify
    from witness.protocol import format_request

    key = LOG_KEY
    name = "bench.example/log"
    public = key.public_key().public_bytes_raw()
    key_id = verify.note_key_id(name, public)
    origin = f"{name}/{origin_suffix}"
    # The tree grows one leaf at a time: keep the perfect subtrees and compute each proof
    # from them instead of rehashing the whole log per checkpoint.
    leaves: list[bytes] = []
    bodies = []
    subtree = {}

    def subtree_hash(lo: int, hi: int) -> bytes:
        if (lo, hi) not in subtree:
            if hi - lo == 1:
                subtree[(lo, hi)] = leaves[lo]
            else:
                split = 1 << ((hi - lo - 1).bit_length() - 1)
                subtree[(lo, hi)] = verify.node_hash(
                    subtree_hash(lo, lo + split), subtree_hash(lo + split, hi)
                )
        return subtree[(lo, hi)]

    for size in range(1, count + 1):
        leaves.append(verify.leaf_hash(f"{origin} entry {size}".encode()))
        root = subtree_hash(0, size)
        body = verify.format_checkpoint_body(origin, size, root)
        note = verify.format_signed_note(body, [(name, key_id, key.sign(body.encode()))])
        old = size - 1
        proof = verify.consistency_proof(old, size, subtree_hash) if old else []
        bodies.append(format_request(old, proof, note))
    return verify.format_vkey(name, public), bodies


def send_all(url: str, bodies: list[bytes], failures: list) -> None:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    for body in bodies:
        connection.request("POST", "/add-checkpoint", body=body)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            failures.append(response.status)
    connection.close()


def bench_cosigning_rate(folder) -> None:
    vkey, sequential = prepared_requests("P", CHECKPOINTS)
    process, url, _ = start_witness("w.bench/throughput", folder / "rate", [vkey])
    try:
        failures: list = []
        warm = prepared_requests("warm", 50)
        send_all(url, warm[1], failures)
        started = time.perf_counter()
        send_all(url, sequential, failures)
        one = CHECKPOINTS / (time.perf_counter() - started)
        fresh = [prepared_requests(f"Q{n}", CHECKPOINTS) for n in range(LOGS)]
        threads = [
            threading.Thread(target=send_all, args=(url, bodies, failures)) for _, bodies in fresh
        ]
        cpu = cpu_seconds(process)
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        many = LOGS * CHECKPOINTS / (time.perf_counter() - started)
        per_cpu = LOGS * CHECKPOINTS / max(cpu_seconds(process) - cpu, 1e-9)
        load = os.getloadavg()[0]
    finally:
        stop(process)
    assert not failures, f"the witness refused {len(failures)} checkpoints: {failures[:5]}"
    report(
        "one witness cosigns, one log (sequential)",
        one,
        "checkpoints/s",
        target=">= 500 checkpoints/s",
    )
    report(
        f"one witness cosigns, {LOGS} logs at once",
        many,
        "checkpoints/s",
        target=">= 500 checkpoints/s",
        reference=f"ratio {many / one:.2f}x one log; load {load:.1f} on {os.cpu_count()} cores",
    )
    report(
        "one witness cosigns per second of its own CPU time",
        per_cpu,
        "checkpoints/CPU-s",
        target=">= 500 checkpoints/s",
    )


def main() -> None:
    # The witnesses' state on the same disk as the database, not in memory: fsync is real.
    disk = ROOT / "var" / "bench-witness"
    shutil.rmtree(disk, ignore_errors=True)
    try:
        bench_append_latency(disk)
        bench_cosigning_rate(disk)
    finally:
        shutil.rmtree(disk, ignore_errors=True)
