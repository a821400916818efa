"""Run the benchmarks: ``make bench`` or ``python -m benchmarks [NAME ...]``.

Each module ``benchmarks/bench_<name>.py`` has a ``main()`` that prints its figures and, where
an issue names a reference, the ratio to it. Benchmarks never assert timings; they report.

Each benchmark runs in a Python process of its own, started by this small runner after it has
prepared and migrated the benchmark database once: memory one benchmark held (a Spark session,
a million-row table) neither slows the next nor shows up in the peak memory the next reports.
After each, its process prints its own peak memory (``VmHWM``).
"""

import importlib
import os
import pkgutil
import subprocess
import sys
import time

PREPARED = "SAFECASE_BENCH_PREPARED"


def run_one(name: str) -> None:
    """Run one benchmark in this process, then print this process's own peak memory
    (``VmHWM``: not the runner's, not an earlier benchmark's; a child process it starts, such
    as a Spark JVM or a subprocess it times, is not in it and reports its own)."""
    from benchmarks._peak import vmhwm_kib
    from benchmarks._setup import forget_cache

    try:
        importlib.import_module(f"benchmarks.bench_{name}").main()
    finally:
        forget_cache()  # nothing of this run stays in a shared cache
    print(
        f"   (peak memory of this benchmark's process: {vmhwm_kib() / 1024:,.0f} MiB)", flush=True
    )


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # DEBUG off: Django would otherwise keep every query of a million-row run in memory.
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-never-served-0123456789abcdef")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,testserver")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    if argv[:1] == ["--one"] and os.environ.get(PREPARED):
        import django

        django.setup()
        run_one(argv[1])
        return 0
    package = os.path.dirname(__file__)
    names = sorted(
        m.name[6:] for m in pkgutil.iter_modules([package]) if m.name.startswith("bench_")
    )
    wanted = argv or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(names)}")
        return 2
    from benchmarks import _setup

    print(f"benchmark database: {_setup.prepare().split('@')[-1]}")
    # migrate in a child too, so this runner stays small
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from benchmarks import _setup; _setup.migrate()",
        ],
        check=True,
        env=dict(os.environ),
    )
    os.environ[PREPARED] = "1"
    failed = []
    for name in wanted:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "benchmarks", "--one", name], check=False)
        if done.returncode:
            failed.append(name)
            print(f"   {name} failed (exit {done.returncode})")
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
