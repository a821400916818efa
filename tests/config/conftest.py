"""The small project the route sweep and the API query counts read: one object of each kind.

``SWP`` holds one member per role, an item, a hazard, a situation, a hazardous event, a safety
goal, three requirements (a decomposed parent and its two halves, one link suspect), a
verification, a baseline, an approval, a triggering condition, an acceptance criterion, a
decision, a dataset, a scenario with its parameter space, a campaign and one finished run of it.
``LKA`` is another project; its administrator ``outsider`` has no role in ``SWP``.

Written through the services, committed once per test module that asks for it (as the UI tests
do with the demo) and removed when the module is done; each test runs in a transaction that is
rolled back, with its own copy of the store the seeding published to.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

KEY = "SWP"
OTHER_KEY = "LKA"
OPERATOR = "operator"  # the staff user who created the projects (their first administrator)
OUTSIDER = "outsider"


@dataclass(frozen=True)
class Seeded:
    """What the routes' parameters name in the seeded project."""

    key: str
    membership: int  # the viewer's
    event: str
    requirement: str  # the decomposed parent
    link: int  # a suspect link
    campaign: int
    campaign_name: str
    run: int
    baseline: int
    baseline_name: str
    review_session: int
    signature: int
    search: int = 0
    hazard: str = "H-1"
    situation: str = "OS-1"
    goal: str = "SG-1"

    def parameters(self, *, missing: bool = False) -> dict[tuple[str, str], object]:
        """``(segment before the parameter, parameter) -> value`` for a route's URL (see
        :meth:`tests.routes.Route.url`); with ``missing`` the objects named do not exist (the
        project does)."""
        found = {
            ("memberships", "pk"): self.membership,
            ("entries", "index"): 0,
            ("evidence", "index"): 0,
            ("hazardous-events", "code"): self.event,
            ("hara", "code"): self.event,
            ("requirements", "code"): self.requirement,
            ("links", "pk"): self.link,
            ("campaigns", "name"): self.campaign_name,
            ("campaigns", "pk"): self.campaign,
            ("runs", "pk"): self.run,
            ("baselines", "pk"): self.baseline,
            ("review-sessions", "pk"): self.review_session,
            ("reviews", "pk"): self.review_session,
            ("signatures", "pk"): self.signature,
            ("items", "item"): "requirement:TSR-1",
            ("searches", "pk"): self.search,
            ("hazards", "code"): self.hazard,
            ("situations", "code"): self.situation,
            ("goals", "code"): self.goal,
        }
        if missing:
            found = {k: 999999 if isinstance(v, int) else "NOPE-1" for k, v in found.items()}
        return {("", "key"): self.key, **found}


def _seed(lake: Path) -> Seeded:
    from django.contrib.auth import get_user_model

    from compliance import review_sessions
    from compliance import services as compliance
    from evidence.membership import membership_seed, project_bootstrap
    from evidence.services import dataset_register, decision_record
    from projects.models import Membership, Role
    from projects.services import SYSTEM
    from validation import services as validation
    from validation.models import Run

    User = get_user_model()
    operator = User.objects.create_user(OPERATOR, password="pw", is_staff=True)
    people = {role: User.objects.create_user(role.value, password="pw") for role in Role}
    units = {Role.ASSESSOR: "Independent assessment"}
    project, _ = project_bootstrap(
        actor=SYSTEM,
        key=KEY,
        name="Route sweep",
        description="One object of each kind.",
        admin=operator,
        members=[(u, r, r.value, units.get(r, "Engineering")) for r, u in people.items()],
    )
    other, _ = project_bootstrap(
        actor=SYSTEM, key=OTHER_KEY, name="Lane keeping", description="", admin=operator, members=[]
    )
    membership_seed(
        project=other, member=User.objects.create_user(OUTSIDER, password="pw"), role=Role.ADMIN
    )

    sam, erin = people[Role.SAFETY_MANAGER], people[Role.ENGINEER]
    compliance.item_set(user=sam, project=project, function="Brakes", boundaries="", odd="")
    hazard = compliance.hazard_create(user=sam, project=project, code="H-1", title="Late braking")
    situation = compliance.situation_create(
        user=sam, project=project, code="OS-1", description="Urban"
    )
    event = compliance.hazardous_event_save(
        user=sam,
        project=project,
        code="HE-1",
        hazard=hazard,
        situation=situation,
        severity="S3",
        exposure="E4",
        controllability="C3",
        severity_rationale="fatal",
        exposure_rationale="every drive",
        controllability_rationale="no time",
    )
    goal = compliance.safety_goal_save(
        user=sam, project=project, code="SG-1", text="Brake in time", events=[event]
    )
    parent, first, second = (
        compliance.requirement_create(
            user=erin, project=project, code=code, kind=code[:3], title=code, asil=asil
        )
        for code, asil in (("FSR-1", "D"), ("TSR-1", "B(D)"), ("TSR-2", "B(D)"))
    )
    compliance.decomposition_record(
        user=erin,
        project=project,
        parent=parent,
        first=first,
        second=second,
        elements="camera and radar",
        dependent_failure_analysis="DFA-1",
    )
    compliance.link_create(
        user=erin, project=project, source=parent, kind="derives-from", target_goal=goal
    )
    link = compliance.link_create(
        user=erin, project=project, source=first, kind="derives-from", target_requirement=parent
    )
    compliance.link_create(
        user=erin, project=project, source=second, kind="derives-from", target_requirement=parent
    )
    compliance.verification_record(
        user=erin, project=project, requirement=first, method="test", result="pass"
    )
    compliance.requirement_update(user=erin, requirement=parent, text="Brake harder")
    compliance.triggering_condition_create(
        user=sam, project=project, code="TC-1", description="Glare"
    )
    criterion = compliance.acceptance_criterion_save(
        user=sam,
        project=project,
        code="AC-1",
        requirement=parent,
        unit="cases",
        allowed_failure_probability=0.05,
        confidence=0.9,
        kpi="min_distance",
        comparator=">",
        threshold=0.0,
        description="no collision",
    )
    baseline = compliance.baseline_freeze(user=sam, project=project, name="B1")
    compliance.approval_record(
        user=people[Role.ASSESSOR],
        project=project,
        measure="hara",
        work_product="HARA",
        author=sam,
        asil="D",
        outcome="confirmed",
    )
    review = review_sessions.session_open(
        user=sam,
        project=project,
        title="TSC review",
        measure="technical_safety_concept",
        reviewers=[people[Role.ASSESSOR]],
        keys=["requirement:TSR-1"],
    )
    signature = review_sessions.signature_sign(
        user=people[Role.ASSESSOR],
        request=_signing_request(),
        item=review.items.get(),
        decision="approve",
        meaning="approved",
        password="pw",
    )
    review_sessions.comment_add(
        user=erin, project=project, key="requirement:TSR-1", text="@assessor thanks"
    )
    decision_record(
        user=sam,
        project=project,
        title="Radar",
        context="Camera alone misses stopped targets.",
        options=["camera", "camera and radar"],
        decision="camera and radar",
    )
    (lake / "drive-1.csv").write_text("t,v\n0,1\n")
    dataset_register(user=erin, project=project, name="drives", uri=lake.as_uri())
    scenario = validation.scenario_define(
        user=erin,
        project=project,
        name="CCRs",
        parameters=[{"name": "ego_speed", "range": [10, 30, 10]}],
        requirements=[parent],
    )
    space = validation.space_create(
        user=erin,
        project=project,
        scenario=scenario,
        name="grid",
        ranges={"ego_speed": [10, 30, 10]},
        method="grid",
        n=3,
        fixed={"scenario": "ccrs"},
    )
    campaign = validation.campaign_create(
        user=erin, project=project, name="CCRs", spaces=[space], criteria=[criterion]
    )
    run = validation.run_start(user=erin, campaign=campaign)  # runs in-process on commit
    search = validation.failure_search(
        user=erin, project=project, criterion=criterion, scenario=scenario, budget=2
    )
    # one of each list's kind, so that every list endpoint reads a full page
    (lake / "vehicles.xosc").write_text(
        '<?xml version="1.0"?><OpenSCENARIO><FileHeader revMajor="1" revMinor="2" '
        'date="2026-01-01T00:00:00" description="v" author="t"/><Catalog name="Vehicles">'
        '<Vehicle name="car" vehicleCategory="car"><Properties/></Vehicle></Catalog>'
        "</OpenSCENARIO>"
    )
    validation.scenarios_import(user=erin, project=project, paths=[lake / "vehicles.xosc"])
    head = Run.objects.create(
        campaign=campaign, executor="local", status="succeeded", cases_total=0, started_by=erin
    )
    validation.run_compare(user=erin, project=project, base=Run.objects.get(pk=run.pk), head=head)
    validation.mine_drive(
        user=erin, project=project, data=one_brake_drive("seeded"), name="seeded.parquet"
    )
    return Seeded(
        key=KEY,
        membership=Membership.objects.get(project=project, user=people[Role.VIEWER]).pk,
        event=event.code,
        requirement=parent.code,
        link=link.pk,
        campaign=campaign.pk,
        campaign_name=campaign.name,
        run=run.pk,
        baseline=baseline.pk,
        baseline_name=baseline.name,
        review_session=review.pk,
        signature=signature.pk,
        search=search.pk,
    )


def one_brake_drive(name: str) -> bytes:
    """A Parquet drive of half a second in which the ego brakes once at 5 m/s²."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from validation.lake import TRACK_SCHEMA

    rows = 5
    values = {f.name: [0.0] * rows for f in TRACK_SCHEMA}
    values.update(
        drive_id=[name] * rows,
        case_id=[name] * rows,
        t=[0.1 * k for k in range(rows)],
        object_id=[0] * rows,
        is_ego=[True] * rows,
        x=[2.0 * k for k in range(rows)],
        vx=[20.0] * rows,
        ax=[0.0, 0.0, -5.0, 0.0, 0.0],
        length=[4.5] * rows,
        width=[1.8] * rows,
        lane_id=[1] * rows,
    )
    buffer = io.BytesIO()
    pq.write_table(pa.table(values, schema=TRACK_SCHEMA), buffer)
    return buffer.getvalue()


def _signing_request():
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import RequestFactory

    request = RequestFactory().post("/", REMOTE_ADDR="127.0.0.1")
    request.session = SessionStore()
    return request


@pytest.fixture(scope="module")
def seeded_db(django_db_setup, django_db_blocker, tmp_path_factory):
    """``(Seeded, the store's URL)``: the seeded projects, committed for the module."""
    from django.test import override_settings

    from config.celery import app
    from tests.owner import flush_database

    store = tmp_path_factory.mktemp("sweep-store").as_uri()
    lake = tmp_path_factory.mktemp("sweep-lake")
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        with django_db_blocker.unblock(), override_settings(SAFECASE_STORAGE_URL=store):
            seeded = _seed(lake)
    finally:
        app.conf.task_always_eager = previous
    yield seeded, store
    with django_db_blocker.unblock():
        flush_database()


@pytest.fixture
def seeded(seeded_db, db, settings, tmp_path) -> Seeded:
    """The seeded projects inside the test's rolled-back transaction, with a copy of the store
    (a checkpoint the test publishes and rolls back stays in the copy only)."""
    seeded, store = seeded_db
    copy = tmp_path / "sweep-store"
    shutil.copytree(Path(unquote(urlparse(store).path)), copy)
    settings.SAFECASE_STORAGE_URL = copy.as_uri()
    return seeded
