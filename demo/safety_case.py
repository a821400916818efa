"""The demo project's safety case: item, HARA, goals, decomposed requirements, SOTIF, approvals.

Written through the same services a user's browser or script uses, so every row is permission-
checked and recorded in the ledger. Ratings are illustrative, following the demo safety case.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from compliance import services
from compliance.models import ItemDefinition, Requirement
from projects.models import Project

HAZARDS = [
    ("H-01", "Unintended full braking"),
    ("H-02", "Missed braking for a stopped vehicle"),
    ("H-03", "Missed braking for a crossing pedestrian"),
    ("H-04", "Braking too late or too weakly"),
    ("H-05", "Warning without reason"),
]
SITUATIONS = [
    ("OS-01", "Motorway at 100 km/h, following traffic close behind"),
    ("OS-02", "Urban at 50 km/h, following traffic"),
    ("OS-03", "Rural road at 70 km/h, driver distracted"),
    ("OS-04", "Urban at 40 km/h, night"),
    ("OS-05", "Urban at 30 km/h behind a braking car"),
    ("OS-06", "Any speed"),
]
# code, hazard, situation, S, E, C, rationale for S, E, C
EVENTS = [
    (
        "HE-01",
        "H-01",
        "OS-01",
        "S3",
        "E4",
        "C3",
        "rear-end impact at motorway speed can be fatal",
        "dense motorway traffic on almost every drive",
        "fewer than 90% of following drivers avoid a rear-end collision at a 1 s gap",
    ),
    (
        "HE-02",
        "H-01",
        "OS-02",
        "S2",
        "E4",
        "C2",
        "urban rear-end impact: severe injuries",
        "urban following traffic on almost every drive",
        "90% or more of followers can react",
    ),
    (
        "HE-03",
        "H-02",
        "OS-03",
        "S3",
        "E3",
        "C3",
        "impact at 70 km/h into a stopped vehicle",
        "stopped vehicles on rural roads monthly",
        "a distracted driver cannot react in time",
    ),
    (
        "HE-04",
        "H-03",
        "OS-04",
        "S3",
        "E2",
        "C3",
        "pedestrian impact at 40 km/h",
        "crossing pedestrians at night a few times a year",
        "pedestrian seen too late to react",
    ),
    (
        "HE-05",
        "H-04",
        "OS-05",
        "S1",
        "E4",
        "C2",
        "low-speed impact, light injuries",
        "braking lead vehicles in town on almost every drive",
        "most drivers brake themselves",
    ),
    (
        "HE-06",
        "H-05",
        "OS-06",
        "S0",
        "E4",
        "C1",
        "a warning alone injures nobody",
        "possible on every drive",
        "the driver ignores a false warning",
    ),
]
GOALS = [
    (
        "SG-01",
        "Avoid unintended emergency braking above 3 m/s²",
        ["HE-01", "HE-02"],
        "AEB passive, driver warned",
        150,
    ),
    (
        "SG-02",
        "Brake for stopped vehicles in the path within the ODD",
        ["HE-03", "HE-05"],
        "warning and partial braking",
        300,
    ),
    ("SG-03", "Brake for pedestrians crossing the path within the ODD", ["HE-04"], "warning", 300),
]
# code, kind, ASIL, text, parent (goal or requirement)
REQUIREMENTS = [
    (
        "FSR-001",
        "FSR",
        "D",
        "A full-braking request requires a confirmed object in the path.",
        "SG-01",
    ),
    (
        "FSR-002",
        "FSR",
        "D",
        "The braking request is limited to 3 m/s² unless confirmation holds for at least 100 ms.",
        "SG-01",
    ),
    (
        "TSR-001",
        "TSR",
        "B(D)",
        "The camera path confirms the object (classification and distance).",
        "FSR-001",
    ),
    (
        "TSR-002",
        "TSR",
        "B(D)",
        "The radar path confirms the object independently (range and range rate).",
        "FSR-001",
    ),
    (
        "TSR-003",
        "TSR",
        "D",
        "The brake-request limiter runs on the safety core with an "
        "end-to-end protected message to the brake interface.",
        "FSR-002",
    ),
    (
        "SW-001",
        "SW",
        "B(D)",
        "The camera confirmation software reports class and distance with a plausibility check.",
        "TSR-001",
    ),
    (
        "SW-002",
        "SW",
        "B(D)",
        "The radar confirmation software tracks range and range rate.",
        "TSR-002",
    ),
    (
        "SW-003",
        "SW",
        "D",
        "The limiter software clamps requests above 3 m/s² without 100 ms of confirmation.",
        "TSR-003",
    ),
    (
        "FSR-010",
        "FSR",
        "C",
        "A stopped vehicle in the path is braked for from 5 to 80 km/h.",
        "SG-02",
    ),
    (
        "TSR-010",
        "TSR",
        "C",
        "Stationary radar targets are fused with camera detections in the ego lane.",
        "FSR-010",
    ),
    (
        "SW-010",
        "SW",
        "C",
        "The fusion software keeps stationary targets confirmed by the camera.",
        "TSR-010",
    ),
    (
        "FSR-020",
        "FSR",
        "B",
        "A pedestrian crossing the path is braked for from 5 to 60 km/h.",
        "SG-03",
    ),
    (
        "TSR-020",
        "TSR",
        "B",
        "The camera classifies pedestrians, partly occluded ones included.",
        "FSR-020",
    ),
    ("SW-020", "SW", "B", "The pedestrian classifier runs on every camera frame.", "TSR-020"),
    (
        "SOTIF-001",
        "SOTIF",
        "QM",
        "False-positive braking from known triggering conditions stays "
        "below the acceptance criterion AC-01.",
        "SG-01",
    ),
]
TRIGGERING_CONDITIONS = [
    ("TC-01", "Low sun glare on the camera"),
    ("TC-02", "A steel plate or manhole cover (radar ghost)"),
    ("TC-03", "A vehicle cutting in at close range"),
    ("TC-04", "A pedestrian partly hidden by a parked car"),
]


def seed_safety_case(project: Project) -> list[str]:
    """Write the demo safety case once; returns what it did (and the refusal it demonstrates)."""
    if ItemDefinition.objects.filter(project=project).exists():
        return []
    users = {
        u.username: u
        for u in get_user_model().objects.filter(
            username__in=["sam", "erin", "eli", "ada", "admin"]
        )
    }
    sam, erin, ada = users["sam"], users["erin"], users["ada"]
    notes = []
    services.item_set(
        user=sam,
        project=project,
        function="Detects an imminent frontal collision with a vehicle or pedestrian ahead and "
        "brakes automatically (warning, partial braking, full braking up to about 10 m/s²) when "
        "the driver does not react. Active from 5 to 80 km/h (pedestrians: 5 to 60 km/h).",
        boundaries="Front camera and front radar, the fusion and decision software on the ADAS "
        "controller, the brake actuator interface. The brake system itself is outside the item.",
        odd="Public roads, daylight and night with headlights, dry and wet asphalt, no snow.",
        assumptions="The driver is attentive and can override by accelerating or steering.",
    )
    hazards = {
        c: services.hazard_create(user=sam, project=project, code=c, title=t) for c, t in HAZARDS
    }
    situations = {
        c: services.situation_create(user=sam, project=project, code=c, description=d)
        for c, d in SITUATIONS
    }
    events = {}
    for code, hz, sit, s, e, c, rs, re_, rc in EVENTS:
        events[code] = services.hazardous_event_save(
            user=sam,
            project=project,
            code=code,
            hazard=hazards[hz],
            situation=situations[sit],
            severity=s,
            exposure=e,
            controllability=c,
            severity_rationale=rs,
            exposure_rationale=re_,
            controllability_rationale=rc,
        )
    goals = {}
    for code, text, evs, safe_state, ftti in GOALS:
        goals[code] = services.safety_goal_save(
            user=sam,
            project=project,
            code=code,
            text=text,
            safe_state=safe_state,
            ftti_ms=ftti,
            events=[events[e] for e in evs],
        )
    reqs = {}
    for code, kind, asil, text, _ in REQUIREMENTS:
        reqs[code] = services.requirement_create(
            user=erin,
            project=project,
            code=code,
            kind=kind,
            title=text.split(",")[0][:80],
            text=text,
            asil=asil,
        )
        # Erin writes the requirement; Sam's review approves it (engineers do not approve).
        reqs[code] = services.requirement_review(
            user=sam, requirement=reqs[code], status="approved"
        )
    services.decomposition_record(
        user=sam,
        project=project,
        parent=reqs["FSR-001"],
        first=reqs["TSR-001"],
        second=reqs["TSR-002"],
        elements="camera path and radar path: separate sensors and separate software partitions",
        dependent_failure_analysis="DFA-01 covers the common power supply and the shared fusion "
        "clock",
    )
    for code, _, _, _, parent in REQUIREMENTS:
        target = (
            {"target_goal": goals[parent]}
            if parent in goals
            else {"target_requirement": reqs[parent]}
        )
        kind = "satisfies" if code.startswith("SOTIF") else "derives-from"
        services.link_create(user=erin, project=project, source=reqs[code], kind=kind, **target)
    tcs = [
        services.triggering_condition_create(user=sam, project=project, code=c, description=d)
        for c, d in TRIGGERING_CONDITIONS
    ]
    fi = services.insufficiency_create(
        user=sam,
        project=project,
        code="FI-01",
        kind="performance",
        description="Object confirmation accepts ghost or glare detections",
        triggering_conditions=tcs,
    )
    services.hazardous_behaviour_create(
        user=sam,
        project=project,
        code="HB-01",
        description="False-positive emergency braking",
        insufficiencies=[fi],
        goal=goals["SG-01"],
    )
    services.acceptance_criterion_save(
        user=sam,
        project=project,
        code="AC-01",
        goal=goals["SG-01"],
        requirement=reqs["SOTIF-001"],
        unit="km",
        hazardous_behaviour_rate=1e-6,
        confidence=0.95,
        description="Unintended emergency braking below 1 per 10^6 km in the ODD",
        scope={"odd": {"surface": ["dry", "wet"], "lighting": ["day", "night", "low_sun"]}},
    )
    services.acceptance_criterion_save(
        user=sam,
        project=project,
        code="AC-02",
        goal=goals["SG-02"],
        requirement=reqs["FSR-010"],
        unit="cases",
        allowed_failure_probability=1e-3,
        confidence=0.95,
        kpi="min_ttc",
        comparator=">",
        threshold=1.0,
        description="Stopped vehicle from 20 to 50 km/h: no collision, minimum TTC above 1.0 s",
        scope={"scenarios": ["CCRs"], "parameters": {"ego_speed": [20, 50]}},
    )
    services.acceptance_criterion_save(
        user=sam,
        project=project,
        code="AC-03",
        goal=goals["SG-03"],
        requirement=reqs["FSR-020"],
        unit="cases",
        allowed_failure_probability=1e-2,
        confidence=0.90,
        kpi="impact_speed_kmh",
        comparator="<",
        threshold=10.0,
        description="Crossing pedestrian up to 40 km/h: impact speed below 10 km/h",
        scope={"scenarios": ["CPNA"], "parameters": {"ego_speed": [None, 40]}},
    )
    services.acceptance_criterion_save(
        user=sam,
        project=project,
        code="AC-04",
        goal=goals["SG-02"],
        requirement=reqs["TSR-010"],
        unit="cases",
        allowed_failure_probability=5e-2,
        confidence=0.90,
        kpi="min_distance",
        comparator=">",
        threshold=0.0,
        description="Stopped vehicle from 10 to 50 km/h: no collision",
        scope={"scenarios": ["CCRs"], "parameters": {"ego_speed": [10, 50]}},
    )
    # A verification, then a change of the requirement: the link and the evidence turn stale.
    services.verification_record(
        user=erin,
        project=project,
        requirement=reqs["FSR-002"],
        method="review",
        result="pass",
        summary="Limiter threshold reviewed against HE-01",
    )
    services.requirement_update(
        user=erin,
        requirement=Requirement.objects.get(project=project, code="FSR-002"),
        text="The braking request is limited to 3 m/s² unless confirmation holds for at least "
        "120 ms.",
    )
    notes.append("FSR-002 changed after its review: its links are suspect and the review is stale")
    # Confirmation measures: the assessor from another organisational unit meets Table 1 at D.
    for measure, product in (
        ("hara", "HARA and safety goals"),
        ("functional_safety_concept", "Functional safety concept"),
        ("safety_plan", "Safety plan"),
    ):
        services.approval_record(
            user=ada,
            project=project,
            measure=measure,
            work_product=product,
            author=sam,
            asil="D",
            outcome="confirmed",
        )
    try:
        services.approval_record(
            user=sam,
            project=project,
            measure="technical_safety_concept",
            work_product="Technical safety concept",
            author=sam,
            asil="D",
            outcome="confirmed",
        )
    except ValidationError as exc:
        notes.append("refused as it should be: " + "; ".join(exc.messages))
    return notes
