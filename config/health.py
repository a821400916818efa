"""``/healthz``: whether the database, the broker and the store answer, whether every recorded
statement is covered by a signed checkpoint in time, and whether checkpoints reach the store in
time.

Each component is ``"ok"`` or ``"failing"``; any failure makes the response HTTP 503 so a load
balancer or an orchestrator takes the instance out of service. Anonymous callers learn nothing
else: exception text can name hosts, paths and versions. A staff user also gets a short reason
per failing component (an error class or a count, never the exception's text).
"""

import datetime

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone

from evidence.models import PendingPublication
from evidence.selectors import entries_awaiting_checkpoint
from evidence.storage import StorageError, default_store


def _database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means the database is not usable
        return f"unreachable ({exc.__class__.__name__})"
    return None


def _broker() -> str | None:
    if not settings.CELERY_BROKER_URL:
        return None  # tasks run in-process
    from kombu import Connection

    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # kombu raises many transport-specific errors
        return f"unreachable ({exc.__class__.__name__})"
    return None


def _storage() -> str | None:
    try:
        default_store().check()
    except StorageError:
        return "the store cannot be reached or written"
    return None


def _overdue(count, what: str) -> str | None:
    """``count(cutoff)`` of things older than the grace period, as a failure when there are
    any: checkpoints not yet in the store, or statements not yet under a checkpoint."""
    grace = settings.SAFECASE_PUBLISH_GRACE
    cutoff = timezone.now() - datetime.timedelta(seconds=grace)
    try:
        late = count(cutoff)
    except Exception as exc:  # the database check reports the cause
        return f"unknown ({exc.__class__.__name__})"
    if late:
        return f"{late} {what} for more than {grace} s"
    return None


def _publication() -> str | None:
    """Checkpoints queued for publication for longer than the grace period."""
    return _overdue(
        lambda cutoff: PendingPublication.objects.filter(created_at__lt=cutoff).count(),
        "checkpoints unpublished",
    )


def _integration() -> str | None:
    """Statements no signed checkpoint has covered for longer than the grace period (with an
    integration interval the periodic task covers them; its absence shows here)."""
    return _overdue(
        lambda cutoff: entries_awaiting_checkpoint(recorded_before=cutoff),
        "entries without a checkpoint",
    )


def healthz(request):
    reasons = {
        "database": _database(),
        "broker": _broker(),
        "storage": _storage(),
        "publication": _publication(),
        "integration": _integration(),
    }
    checks = {name: "failing" if reason else "ok" for name, reason in reasons.items()}
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "failing", "checks": checks}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        body["reasons"] = {name: reason for name, reason in reasons.items() if reason}
    return JsonResponse(body, status=200 if healthy else 503)
