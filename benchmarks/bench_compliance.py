"""Compliance read speed: gap analysis and the traceability matrix of a large project.

A project with 10,000 requirements and 30,000 links (set up with bulk inserts: the figures are
about reading). Targets: gap analysis under 1 s; a traceability page under 300 ms with a query
count that does not depend on the page size.
"""

from __future__ import annotations

import os
import random
import statistics
import time

from django.db import connection
from django.test.utils import CaptureQueriesContext

from benchmarks._setup import report

N_REQ = int(os.environ.get("BENCH_REQUIREMENTS", 10_000))
N_LINKS = int(os.environ.get("BENCH_LINKS", 30_000))


def build(project, user):
    from compliance.models import Requirement, SafetyGoal, TraceLink

    rng = random.Random(3)
    goals = SafetyGoal.objects.bulk_create(
        [SafetyGoal(project=project, code=f"SG-{i:02d}", text="goal", asil="D") for i in range(10)]
    )
    kinds = [("FSR", "D"), ("TSR", "C"), ("SW", "B"), ("HW", "A")]
    reqs = Requirement.objects.bulk_create(
        [
            Requirement(
                project=project,
                code=f"{kinds[i % 4][0]}-{i:05d}",
                kind=kinds[i % 4][0],
                title=f"Requirement {i}",
                text="The system shall " + "x" * 80,
                asil=kinds[i % 4][1],
                status="approved",
            )
            for i in range(N_REQ)
        ],
        batch_size=2000,
    )
    links, seen = [], set()
    for req in reqs[: N_REQ // 4]:
        links.append(
            TraceLink(
                project=project, kind="derives-from", source=req, target_goal=rng.choice(goals)
            )
        )
    while len(links) < N_LINKS:
        child, parent = rng.sample(range(N_REQ), 2)
        if child < parent:
            child, parent = parent, child
        if (child, parent) in seen:
            continue
        seen.add((child, parent))
        links.append(
            TraceLink(
                project=project,
                kind="derives-from",
                source=reqs[child],
                target_requirement=reqs[parent],
                suspect=rng.random() < 0.01,
            )
        )
    TraceLink.objects.bulk_create(links, batch_size=5000)


def main() -> None:
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from compliance import selectors
    from projects.models import Membership, Project

    user = get_user_model().objects.create_user("matrix")
    project = Project.objects.create(key="BIG", name="Ten thousand requirements")
    Membership.objects.create(project=project, user=user, role="viewer")
    started = time.perf_counter()
    build(project, user)
    print(
        f"  (built {N_REQ:,} requirements and {N_LINKS:,} links in "
        f"{time.perf_counter() - started:.0f} s)"
    )

    timings = []
    for _ in range(5):
        started = time.perf_counter()
        gaps = selectors.gap_analysis(project=project)
        timings.append(time.perf_counter() - started)
    report(
        f"gap analysis over {gaps['requirements']:,} requirements",
        statistics.median(timings) * 1000,
        "ms",
        "< 1,000 ms",
    )

    client = APIClient()
    client.force_authenticate(user)
    for limit in (50, 100, 500):
        timings, queries = [], 0
        for page in range(5):
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(
                    f"/api/v1/projects/BIG/traceability/?limit={limit}&offset={page * 1000}",
                    HTTP_HOST="127.0.0.1",
                )
            timings.append(time.perf_counter() - started)
            queries = len(ctx.captured_queries)
            assert response.status_code == 200, response.content[:200]
        report(
            f"traceability page of {limit} rows (median of 5)",
            statistics.median(timings) * 1000,
            "ms",
            "< 300 ms",
            f"{queries} queries",
        )
