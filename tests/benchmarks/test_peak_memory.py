"""Benchmarks report a child's own peak memory, not the peak of the process that started it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")


def test_a_small_child_of_a_large_parent_reports_its_own_peak(tmp_path):
    ballast = b"\x01" * (400 * 2**20)  # the parent holds 400 MiB, touched
    script = tmp_path / "small.py"
    script.write_text("import sys; print(sum(range(1000)))\n")
    report = tmp_path / "peak"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "_peak.py"), str(report), str(script)],
        stdout=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    own_mib = int(report.read_text()) / 1024
    inherited_mib = usage.ru_maxrss / 1024
    assert len(ballast) == 400 * 2**20
    assert own_mib < 100, own_mib  # a bare interpreter
    # what wait4 says is the parent's peak carried over the exec: the figure not to report
    assert inherited_mib > 350, inherited_mib


def test_the_wrapped_script_gets_its_arguments_and_exit_code(tmp_path):
    script = tmp_path / "args.py"
    script.write_text("import sys; print(sys.argv[1:]); sys.exit(3)\n")
    report = tmp_path / "peak"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "_peak.py"),
            str(report),
            str(script),
            "a",
            "-b",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 3
    assert done.stdout.strip() == "['a', '-b']"
    assert int(report.read_text()) > 0


def test_the_runner_prints_each_benchmarks_own_peak(tmp_path):
    """A benchmark run by ``python -m benchmarks`` (``--one``) prints the peak of its own
    process, though the process that started it holds far more."""
    ballast = b"\x01" * (400 * 2**20)
    code = (
        "import sys, types\n"
        "sys.modules['benchmarks.bench_tiny'] = types.SimpleNamespace(main=lambda: print('ran'))\n"
        "from benchmarks.__main__ import run_one\n"
        "run_one('tiny')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert len(ballast) == 400 * 2**20
    first, second = done.stdout.splitlines()
    assert first == "ran"
    assert second.startswith("   (peak memory of this benchmark's process: ")
    mib = int(second.split(": ")[1].split()[0].replace(",", ""))
    assert 0 < mib < 100, second
