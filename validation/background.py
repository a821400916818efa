"""The embedded mode's background worker: without a broker, a campaign run's shards are handed
to a small thread pool instead of running inside the request that started the run.

Celery runs the tasks eagerly when no broker is configured (``CELERY_TASK_ALWAYS_EAGER``);
:func:`submit` then runs the eager call in a pool thread, so the request returns at once and the
run page polls the run's progress while it moves. ``SAFECASE_BACKGROUND_RUNS`` off (the tests'
default) keeps the call inside the request. Each job closes its thread's database connections
when it ends: a pool thread outlives the request and must not hold one open.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

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


def _job(call: Callable[[], object], what: str) -> None:
    try:
        call()
    except Exception:  # the run's own failure handling has recorded what it could
        logger.exception("background job %s failed", what)
    finally:
        connections.close_all()


def submit(call: Callable[[], object], what: str) -> Future:
    """Run ``call`` in a pool thread; ``what`` names it in the log when it fails."""
    return _pool_of_workers().submit(_job, call, what)
