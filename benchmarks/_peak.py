"""Run a Python script and record the peak memory of this process image alone.

``python -m benchmarks._peak REPORT SCRIPT [ARG ...]`` runs ``SCRIPT`` as ``__main__`` (as
``python SCRIPT ARG ...`` would) and, when it ends, writes its ``VmHWM`` (kibibytes) to
``REPORT``. ``VmHWM`` belongs to the memory image made at ``exec``; ``ru_maxrss`` as a parent
reads it with ``wait4`` does not: Linux carries the high-water mark of the image the child
replaced, which for a child started by a large process is that process's peak, not its own.
"""

from __future__ import annotations

import atexit
import runpy
import sys
from pathlib import Path


def vmhwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    report, script, *args = sys.argv[1:]
    atexit.register(lambda: Path(report).write_text(str(vmhwm_kib())))
    sys.argv = [script, *args]
    sys.path.insert(0, str(Path(script).resolve().parent))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
