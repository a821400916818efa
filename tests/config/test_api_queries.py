"""Query counts of every API list endpoint, pinned, and the same for a few objects and for more.

Each list endpoint is read on the seeded project (``tests/config/conftest.py``), then again after
``GROWN`` more objects of what it lists were added through the services: the page must hold
them all and cost the same number of queries, so a serializer that reads a relation per row
shows as a count that grows. A count that changes is a regression to look at, not a number to
update blindly.

The list endpoints are found by asking every API route that answers GET: one that answers a
page (``results``) and is not in ``LISTS`` fails :func:`test_every_list_endpoint_is_pinned`.

What a count is made of: 1 for the project and 1 for the caller's memberships (the role), 1 for
the page's count and 1 for the page, then one per relation prefetched.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from compliance import review_sessions
from compliance import services as compliance
from compliance.models import AcceptanceCriterion, Requirement
from evidence import ledger
from evidence.ledger import Record, Subject
from evidence.membership import membership_add, membership_seed, project_create
from evidence.services import decision_record, model_register
from projects.models import Project, Role
from tests.config.conftest import KEY, OPERATOR, one_brake_drive
from tests.routes import all_routes
from validation import services as validation
from validation.models import CaseResult, ParameterSpace, Run, Scenario, Verdict

pytestmark = pytest.mark.django_db

GROWN = 3  # objects added to each list


class Grow:
    """``n`` more of each kind, through the services, as the seeded people."""

    def __init__(self, tmp_path):
        self.project = Project.objects.get(key=KEY)
        self.people = get_user_model().objects.in_bulk(
            [OPERATOR, *(role.value for role in Role)], field_name="username"
        )
        self.tmp_path = tmp_path

    def __getattr__(self, role):
        return self.people[role]

    def _requirements(self, n, prefix="SW", asil="QM"):
        return [
            compliance.requirement_create(
                user=self.engineer,
                project=self.project,
                code=f"{prefix}-{100 + i}",
                kind=prefix if prefix != "DEC" else "TSR",
                asil=asil,
            )
            for i in range(n)
        ]

    def projects(self, n):
        for i in range(n):
            project = project_create(user=self.operator, key=f"GROW{i}", name=f"Grown {i}")
            membership_seed(project=project, member=self.viewer, role=Role.VIEWER)

    def memberships(self, n):
        User = get_user_model()
        for i in range(n):
            member = User.objects.create_user(f"member-{i}", password="pw")
            membership_add(user=self.admin, project=self.project, member=member, role="viewer")

    def entries(self, n):
        ledger.append(
            self.project, [Record("change", [Subject(f"grown:{i}", f"{i:064x}")]) for i in range(n)]
        )

    def artifacts(self, n):
        for i in range(n):
            weights = self.tmp_path / f"model-{i}.bin"
            weights.write_bytes(bytes([i]) * 64)
            model_register(
                user=self.engineer,
                project=self.project,
                name=f"model-{i}",
                uri=weights.as_uri(),
                dataset="drives",
            )

    def decisions(self, n):
        for i in range(n):
            decision_record(
                user=self.safety_manager,
                project=self.project,
                title=f"Decision {i}",
                context="c",
                options=["a", "b"],
                decision="a",
            )

    def events(self, n, prefix="HE"):
        """Hazardous events, each with a hazard and a situation of its own."""
        events = []
        for i in range(n):
            hazard = compliance.hazard_create(
                user=self.engineer, project=self.project, code=f"H-{prefix}{i}", title="t"
            )
            situation = compliance.situation_create(
                user=self.engineer, project=self.project, code=f"OS-{prefix}{i}", description="d"
            )
            events.append(
                compliance.hazardous_event_save(
                    user=self.engineer,
                    project=self.project,
                    code=f"{prefix}-{100 + i}",
                    hazard=hazard,
                    situation=situation,
                    severity="S2",
                    exposure="E3",
                    controllability="C2",
                    severity_rationale="r",
                    exposure_rationale="r",
                    controllability_rationale="r",
                )
            )
        return events

    def goals(self, n):
        events = self.events(2 * n, prefix="GE")
        for i in range(n):
            compliance.safety_goal_save(
                user=self.engineer,
                project=self.project,
                code=f"SG-{100 + i}",
                text="t",
                events=events[2 * i : 2 * i + 2],
            )

    def requirements(self, n):
        self._requirements(n)

    def links(self, n):
        """Requirements derived from FSR-1: a link up from each, n links down to FSR-1."""
        parent = Requirement.objects.get(project=self.project, code="FSR-1")
        made = self._requirements(n, prefix="TSR", asil="D")
        for requirement in made:
            compliance.link_create(
                user=self.engineer,
                project=self.project,
                source=requirement,
                kind="derives-from",
                target_requirement=parent,
            )
        return made

    def decompositions(self, n):
        for i in range(n):
            parent, first, second = (
                compliance.requirement_create(
                    user=self.engineer, project=self.project, code=code, kind="TSR", asil=asil
                )
                for code, asil in ((f"P-{i}", "D"), (f"A-{i}", "B(D)"), (f"B-{i}", "B(D)"))
            )
            compliance.decomposition_record(
                user=self.engineer,
                project=self.project,
                parent=parent,
                first=first,
                second=second,
                elements="e",
                dependent_failure_analysis="d",
            )

    def verifications(self, n, requirements=None):
        for requirement in requirements or self._requirements(n):
            compliance.verification_record(
                user=self.engineer,
                project=self.project,
                requirement=requirement,
                method="test",
                result="pass",
            )

    def baselines(self, n):
        for i in range(n):
            compliance.baseline_freeze(user=self.safety_manager, project=self.project, name=f"G{i}")

    def approvals(self, n):
        for i in range(n):
            compliance.approval_record(
                user=self.assessor,
                project=self.project,
                measure="safety_plan",
                work_product=f"Plan {i}",
                author=self.safety_manager,
                asil="B",
                outcome="confirmed",
            )

    def review_sessions(self, n):
        for i in range(n):
            review_sessions.session_open(
                user=self.safety_manager,
                project=self.project,
                title=f"Review {i}",
                measure="technical_safety_concept",
                reviewers=[self.assessor, self.engineer],
                keys=["requirement:TSR-1", "requirement:TSR-2"],
            )

    def comments(self, n):
        for i in range(n):
            review_sessions.comment_add(
                user=self.engineer,
                project=self.project,
                key="requirement:TSR-1",
                text=f"@assessor @viewer look {i}",
            )

    def triggering_conditions(self, n):
        for i in range(n):
            compliance.triggering_condition_create(
                user=self.engineer, project=self.project, code=f"TC-{100 + i}", description="d"
            )

    def criteria(self, n):
        for requirement in self._requirements(n, prefix="FSR", asil="B"):
            compliance.acceptance_criterion_save(
                user=self.engineer,
                project=self.project,
                code=f"AC-{requirement.code}",
                requirement=requirement,
                unit="cases",
                allowed_failure_probability=0.01,
                confidence=0.9,
                description="d",
            )

    def matrix(self, n):
        """Requirements linked up and down, with verifications: every column of the matrix."""
        self.verifications(n, self.links(n))

    def scenarios(self, n):
        requirements = Requirement.objects.filter(project=self.project)
        for i in range(n):
            scenario = validation.scenario_define(
                user=self.engineer,
                project=self.project,
                name=f"S-{i}",
                parameters=[{"name": "ego_speed", "range": [10, 20, 10]}],
                requirements=requirements,
            )
            validation.space_create(
                user=self.engineer,
                project=self.project,
                scenario=scenario,
                name="grid",
                ranges={"ego_speed": [10, 20, 10]},
                method="grid",
                n=2,
                fixed={"scenario": "ccrs"},
            )

    def campaigns(self, n):
        spaces = list(ParameterSpace.objects.filter(scenario__project=self.project))
        criteria = list(AcceptanceCriterion.objects.filter(project=self.project))
        for i in range(n):
            validation.campaign_create(
                user=self.engineer,
                project=self.project,
                name=f"C-{i}",
                spaces=spaces,
                criteria=criteria,
            )

    def runs(self, n):
        """Finished runs with their verdicts, written as the executor leaves them (running the
        simulation again would only take longer)."""
        first = Run.objects.filter(campaign__project=self.project).order_by("pk").first()
        for _ in range(n):
            run = Run.objects.create(
                campaign=first.campaign,
                executor="local",
                status="succeeded",
                cases_total=3,
                started_by=self.engineer,
            )
            Verdict.objects.bulk_create(
                Verdict(
                    run=run,
                    criterion=v.criterion,
                    verdict=v.verdict,
                    failures=v.failures,
                    trials=v.trials,
                    upper_bound=v.upper_bound,
                    target=v.target,
                    progress=v.progress,
                )
                for v in first.verdicts.all()
            )

    def results(self, n):
        run = Run.objects.filter(campaign__project=self.project).order_by("pk").first()
        CaseResult.objects.bulk_create(
            CaseResult(run=run, shard=9, case_id=f"grown-{i}", scenario="CCRs", kpis={"v": i})
            for i in range(n)
        )

    def searches(self, n):
        criterion = AcceptanceCriterion.objects.get(project=self.project, code="AC-1")
        scenario = Scenario.objects.get(project=self.project, name="CCRs")
        for seed in range(n):
            validation.failure_search(
                user=self.engineer,
                project=self.project,
                criterion=criterion,
                scenario=scenario,
                budget=2,
                seed=seed,
            )

    def recorded_events(self, n):
        """``n`` drives of one hard braking each, mined through the service."""
        for i in range(n):
            validation.mine_drive(
                user=self.engineer,
                project=self.project,
                data=one_brake_drive(f"grown-{i}"),
                name=f"grown-{i}.parquet",
            )

    def comparisons(self, n):
        """Comparisons of the seeded run against finished runs, through the service."""
        first = Run.objects.filter(campaign__project=self.project).order_by("pk").first()
        for _ in range(n):
            head = Run.objects.create(
                campaign=first.campaign,
                executor="local",
                status="succeeded",
                cases_total=0,
                started_by=self.engineer,
            )
            validation.run_compare(user=self.engineer, project=self.project, base=first, head=head)

    def catalogs(self, n):
        for i in range(n):
            path = self.tmp_path / f"catalog-{i}.xosc"
            path.write_text(
                '<?xml version="1.0"?><OpenSCENARIO><FileHeader revMajor="1" revMinor="2" '
                f'date="2026-01-01T00:00:00" description="c{i}" author="t"/>'
                f'<Catalog name="Vehicles{i}"><Vehicle name="car" vehicleCategory="car">'
                "<Properties/></Vehicle></Catalog></OpenSCENARIO>"
            )
            validation.scenarios_import(user=self.engineer, project=self.project, paths=[path])


# list route -> (how to add to what it lists, queries for one page whatever its length)
LISTS = {
    "v1:project-list": (Grow.projects, 3),
    "v1:membership-list": (Grow.memberships, 4),
    "v1:ledger-entries": (Grow.entries, 4),
    "v1:artifacts": (Grow.artifacts, 4),
    "v1:decisions": (Grow.decisions, 4),
    "v1:hazards": (Grow.events, 4),
    "v1:situations": (Grow.events, 4),
    "v1:hazardous-events": (Grow.events, 4),
    "v1:safety-goals": (Grow.goals, 5),
    "v1:requirements": (Grow.requirements, 4),
    "v1:links": (Grow.links, 4),
    "v1:decompositions": (Grow.decompositions, 4),
    "v1:verifications": (Grow.verifications, 4),
    "v1:baselines": (Grow.baselines, 4),
    "v1:approvals": (Grow.approvals, 4),
    "v1:review-sessions": (Grow.review_sessions, 5),
    "v1:comments": (Grow.comments, 5),
    "v1:triggering-conditions": (Grow.triggering_conditions, 4),
    "v1:acceptance-criteria": (Grow.criteria, 4),
    "v1:traceability": (Grow.matrix, 7),  # one for the verification states of the page's rows
    "v1:scenarios": (Grow.scenarios, 6),
    "v1:campaigns": (Grow.campaigns, 7),
    "v1:runs": (Grow.runs, 6),
    "v1:run-results": (Grow.results, 5),
    "v1:comparisons": (Grow.comparisons, 4),
    "v1:scenario-catalogs": (Grow.catalogs, 4),
    "v1:searches": (Grow.searches, 4),
    "v1:recorded-events": (Grow.recorded_events, 4),
}


def _url(name: str, seeded) -> str:
    (route,) = [r for r in all_routes() if r.key == name]
    return route.url(seeded.parameters())


def _page(url: str, django_assert_num_queries, queries: int) -> list:
    """The page of ``url`` as the viewer (fresh from the database: nothing cached on it)."""
    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(username=Role.VIEWER.value))
    with django_assert_num_queries(queries):
        response = client.get(url)
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.mark.parametrize("name", sorted(LISTS))
def test_a_list_costs_the_same_for_more_objects(name, seeded, tmp_path, django_assert_num_queries):
    grow, queries = LISTS[name]
    url = _url(name, seeded)
    before = _page(url, django_assert_num_queries, queries)
    grow(Grow(tmp_path), GROWN)
    after = _page(url, django_assert_num_queries, queries)
    assert len(after) == len(before) + GROWN


def test_every_list_endpoint_is_pinned(seeded):
    """Every API GET that answers a page is in ``LISTS`` (the access sweep fills every route)."""
    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(username=Role.VIEWER.value))
    lists = set()
    for route in all_routes():
        if route.is_api and "get" in route.methods():
            response = client.get(route.url(seeded.parameters()))
            if response.get("Content-Type") == "application/json":
                body = response.json()
                if isinstance(body, dict) and "results" in body:
                    lists.add(route.key)
    assert lists == set(LISTS), "pin the query count of each list endpoint in LISTS"
