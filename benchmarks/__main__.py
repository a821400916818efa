"""Run the benchmarks: ``make bench`` or ``python -m benchmarks [NAME ...]``.

Each module ``benchmarks/bench_<name>.py`` has a ``main()`` that prints its figures and, where
an issue names a reference, the ratio to it. Benchmarks never assert timings; they report.
"""

import importlib
import os
import pkgutil
import sys
import time


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # DEBUG off: Django would otherwise keep every query of a million-row run in memory.
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-never-served-0123456789abcdef")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,testserver")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    from benchmarks import _setup

    print(f"benchmark database: {_setup.prepare().split('@')[-1]}")
    import django

    django.setup()
    _setup.migrate()
    package = os.path.dirname(__file__)
    names = sorted(
        m.name[6:] for m in pkgutil.iter_modules([package]) if m.name.startswith("bench_")
    )
    wanted = argv or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(names)}")
        return 2
    for name in wanted:
        print(f"== {name}")
        started = time.perf_counter()
        importlib.import_module(f"benchmarks.bench_{name}").main()
        print(f"   ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
