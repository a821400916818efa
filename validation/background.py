"""The embedded mode's background worker: without a broker, a campaign run's shards are handed
to a small thread pool instead of running inside the request that started the run.

Celery runs the tasks eagerly when no broker is configured (``CELERY_TASK_ALWAYS_EAGER``);
:func:`submit` then runs the eager call in a pool thread, so the request returns at once and the
run page polls the run's progress while it moves. ``SAFECASE_BACKGROUND_RUNS`` off (the tests'
default) keeps the call inside the request. Each job closes its thread's database connections
when it ends: a pool thread outlives the request and must not hold one open.

SQLite, the embedded mode's database, lets one writer in at a time and refuses the others
("database is locked") instead of waiting when they collide on a table; a job refused that way
runs again after a pause (a run's shard task is safe to repeat), up to :data:`ATTEMPTS` times.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import OperationalError, connections

logger = logging.getLogger(__name__)

ATTEMPTS = 20
PAUSE = 0.25  # seconds, doubled after each refusal up to 2 s

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def enabled() -> bool:
    return bool(getattr(settings, "SAFECASE_BACKGROUND_RUNS", False))


def _pool_of_workers() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(1, settings.SAFECASE_BACKGROUND_WORKERS),
                thread_name_prefix="safecase-run",
            )
        return _pool


def _locked(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it: an eager task wraps it in a retry) is SQLite's
    refusal of a second writer."""
    while exc is not None:
        if isinstance(exc, OperationalError) and "locked" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _job(call: Callable[[], object], what: str) -> None:
    pause = PAUSE
    try:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                call()
                return
            except Exception as exc:
                if not _locked(exc) or attempt == ATTEMPTS:
                    raise
                connections.close_all()
                time.sleep(pause)
                pause = min(pause * 2, 2.0)
    except Exception:  # the run's own failure handling has recorded what it could
        logger.exception("background job %s failed", what)
    finally:
        connections.close_all()


def submit(call: Callable[[], object], what: str) -> Future:
    """Run ``call`` in a pool thread; ``what`` names it in the log when it fails."""
    return _pool_of_workers().submit(_job, call, what)
