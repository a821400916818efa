"""``/healthz``: whether the database, the broker and the store answer.

Each check returns ``"ok"`` or a short reason; any failure makes the response HTTP 503 so a load
balancer or an orchestrator takes the instance out of service.
"""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse

from evidence.storage import StorageError, default_store


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means the database is not usable
        return f"error: {exc.__class__.__name__}: {exc}".strip()
    return "ok"


def _broker() -> str:
    if not settings.CELERY_BROKER_URL:
        return "ok (in-process)"
    from kombu import Connection

    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # kombu raises many transport-specific errors
        return f"error: {exc.__class__.__name__}: {exc}".strip()
    return "ok"


def _storage() -> str:
    try:
        default_store().check()
    except StorageError as exc:
        return f"error: {exc}"
    return "ok"


def healthz(request):
    checks = {"database": _database(), "broker": _broker(), "storage": _storage()}
    healthy = all(value.startswith("ok") for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503
    )
