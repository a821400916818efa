"""Web UI speed: the dashboard and the traceability matrix of a project with 10,000
requirements and 30,000 links (bulk inserts, as in ``bench_compliance``), rendered server-side
through the Django test client. Target: under 500 ms each, median of 5, with a query count
that does not depend on the project's size.

Skipped, with a message, when the ``ui`` app is not installed or its URLs are not routed.
"""

from __future__ import annotations

import statistics
import time

from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from benchmarks._setup import report

KEY = "UIBENCH"
RUNS = 5


def _time(client, url: str) -> tuple[float, int]:
    timings, queries = [], 0
    for _ in range(RUNS):
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        timings.append(time.perf_counter() - started)
        queries = len(ctx.captured_queries)
        assert response.status_code == 200, (url, response.status_code, response.content[:200])
    return statistics.median(timings) * 1000, queries


def main() -> None:
    if not apps.is_installed("ui"):
        print("  skipped: the ui app is not in INSTALLED_APPS")
        return
    try:
        dashboard = reverse("ui:dashboard", args=[KEY])
        matrix = reverse("ui:matrix", args=[KEY])
    except NoReverseMatch:
        print("  skipped: ui.urls is not included in the URL configuration")
        return

    from django.contrib.auth import get_user_model
    from django.test import Client

    from benchmarks.bench_compliance import N_LINKS, N_REQ, build
    from projects.models import Membership, Project

    user = get_user_model().objects.create_user("ui-bench")
    project = Project.objects.create(key=KEY, name="Ten thousand requirements, in the UI")
    Membership.objects.create(project=project, user=user, role="viewer")
    started = time.perf_counter()
    build(project, user)
    print(
        f"  (built {N_REQ:,} requirements and {N_LINKS:,} links in "
        f"{time.perf_counter() - started:.0f} s)"
    )
    client = Client()
    client.force_login(user)
    for name, url in (
        ("dashboard", dashboard),
        ("traceability matrix, first page of 50", matrix),
        ("traceability matrix, ASIL D page 40", f"{matrix}?asil=D&page=40"),
    ):
        ms, queries = _time(client, url)
        report(f"{name} (median of {RUNS})", ms, "ms", "< 500 ms", f"{queries} queries")
