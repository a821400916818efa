"""The demo project's validation campaign: AEB test scenarios over simulated drives.

Logical scenarios follow Euro NCAP's car-to-car AEB tests (stopped, slower and braking target),
a cut-in and a pedestrian crossing from the nearside (CPNA-like); their concrete cases are
sampled (a grid for the stopped target, seeded Latin hypercubes elsewhere) and simulated by the
seeded drive model. The stopped target and the pedestrian are sampled on dry and wet roads, by
day and at night: the ODD of the acceptance criteria that judge them. When the esmini cut-in
from the shared real data is beside the checkout it is imported too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model

from compliance.models import AcceptanceCriterion, Requirement, TriggeringCondition
from projects.models import Project
from validation import services
from validation.models import Campaign

DEMO_CAMPAIGN = "AEB-demo"
REPLAY_CAMPAIGN = "NGSIM-replay"
COMMONROAD = ("data", "real", "commonroad")
ESMINI_CUT_IN = ("data", "real", "openscenario", "esmini", "cut-in_parameter_set.xosc")

# name, fixed simulator parameters, sampled ranges [low, high(, step)], method, cases,
# requirement codes, triggering conditions, ODD tags
SCENARIOS = [
    (
        "CCRs",
        {"scenario": "ccrs", "target_speed": 0},
        {
            "ego_speed": [10, 50, 5],
            "initial_gap": [20, 60, 10],
            "surface": {"values": ["dry", "wet"]},
            "lighting": {"values": ["day", "night"]},
        },
        "grid",
        180,
        ["FSR-010", "TSR-010"],
        [],
        ["urban", "rural", "day", "night", "dry", "wet", "car"],
    ),
    (
        "CCRm",
        {"scenario": "ccrm"},
        {"ego_speed": [30, 80], "target_speed": [10, 20], "initial_gap": [20, 70]},
        "lhs",
        80,
        [],
        [],
        ["rural", "motorway", "day", "dry", "car"],
    ),
    (
        "CCRb",
        {"scenario": "ccrb", "target_decel": 4.0},
        {"ego_speed": [40, 70], "initial_gap": [12, 40]},
        "lhs",
        80,
        ["FSR-010"],
        [],
        ["rural", "motorway", "day", "wet", "car"],
    ),
    (
        "CutIn",
        {"scenario": "cut_in"},
        {"ego_speed": [40, 80], "target_speed": [20, 60], "initial_gap": [5, 30]},
        "lhs",
        80,
        ["SOTIF-001"],
        ["TC-03"],
        ["motorway", "day", "dry", "car"],
    ),
    (
        "CPNA",
        {"scenario": "cpna"},
        {
            "ego_speed": [10, 60],
            "impact_point": [0.25, 0.75],
            "surface": {"values": ["dry", "wet"]},
            "lighting": {"values": ["day", "night"]},
        },
        "lhs",
        160,
        ["FSR-020"],
        [],
        ["urban", "day", "night", "dry", "wet", "pedestrian"],
    ),
]


def seed_campaign(project: Project) -> list[str]:
    """Define the demo scenarios and campaign once; returns what it did."""
    if Campaign.objects.filter(project=project, name=DEMO_CAMPAIGN).exists():
        return []
    users = get_user_model().objects.in_bulk(["erin", "sam"], field_name="username")
    erin = users["erin"]
    spaces = []
    for name, fixed, ranges, method, n, req_codes, tc_codes, tags in SCENARIOS:
        scenario = services.scenario_define(
            user=erin,
            project=project,
            name=name,
            parameters=[{"name": k, "range": v} for k, v in ranges.items()],
            odd_tags=tags,
            sotif_area=2 if tc_codes else None,
            requirements=Requirement.objects.filter(project=project, code__in=req_codes),
            triggering_conditions=TriggeringCondition.objects.filter(
                project=project, code__in=tc_codes
            ),
        )
        spaces.append(
            services.space_create(
                user=erin,
                project=project,
                scenario=scenario,
                name=f"{name}-{method}",
                ranges=ranges,
                method=method,
                n=n,
                seed=7,
                fixed=fixed,
            )
        )
    notes = []
    shared = Path(settings.BASE_DIR).parent / "shared"
    esmini = shared.joinpath(*ESMINI_CUT_IN)
    if esmini.exists():
        counts = services.scenario_import(user=erin, project=project, path=esmini)
        scenario = services.scenario_requirements_set(
            user=erin,
            project=project,
            scenario=project.scenarios.get(name="cut-in"),
            requirements=Requirement.objects.filter(project=project, code="SOTIF-001"),
        )
        spaces.append(scenario.spaces.get())
        notes.append(f"imported the esmini cut-in: {counts['cases']} concrete cases")
    else:
        notes.append("the esmini cut-in is not beside the checkout (../shared): skipped")
    dataset, model = _register_drives_and_model(project, erin)
    criteria = AcceptanceCriterion.objects.filter(
        project=project, code__in=["AC-01", "AC-02", "AC-03", "AC-04"]
    )
    services.campaign_create(
        user=erin,
        project=project,
        name=DEMO_CAMPAIGN,
        spaces=spaces,
        criteria=list(criteria),
        executor="local",
        seed=7,
        shard_size=100,
        dataset=dataset,
        model=model,
        sut_commit=_head_commit(),
        description="AEB car-to-car, cut-in and crossing-pedestrian scenarios, simulated drives",
    )
    notes.append(f"campaign {DEMO_CAMPAIGN}: {sum(len(s.cases) for s in spaces)} cases")
    notes.extend(_seed_replay(project, erin, shared))
    return notes


def _demo_dir() -> Path:
    return Path(settings.VAR_DIR) / "demo"


def _register_drives_and_model(project: Project, user):
    """A generated lake of drives and a model trained on it, both recorded in the ledger."""
    from evidence.services import dataset_register, model_register
    from validation import lake

    folder = _demo_dir() / "lake" / "generated"
    if not folder.exists():
        lake.generate_lake(folder, n_cases=200, seed=7)
    dataset = dataset_register(
        user=user, project=project, name="generated-drives", uri=folder.as_uri()
    )
    weights = _demo_dir() / "models" / "aeb-detector-v1.bin"
    if not weights.exists():
        weights.parent.mkdir(parents=True, exist_ok=True)
        block, chunks = b"aeb-detector-v1", []
        for _ in range(2048):  # 64 KiB of deterministic stand-in weights
            block = hashlib.sha256(block).digest()
            chunks.append(block)
        weights.write_bytes(b"".join(chunks))
    model = model_register(
        user=user,
        project=project,
        name="aeb-detector",
        uri=weights.as_uri(),
        dataset="generated-drives",
    )
    return dataset, model


def _head_commit() -> str:
    """The commit of the checkout, when it is a Git work tree (the system under test)."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "-C", str(settings.BASE_DIR), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def _seed_replay(project: Project, user, shared: Path) -> list[str]:
    """Replay the recorded NGSIM traffic (CommonRoad) when the shared real data is present."""
    from evidence.services import dataset_register
    from validation import lake

    source = shared.joinpath(*COMMONROAD)
    files = sorted(source.glob("*.xml")) if source.is_dir() else []
    if not files:
        return ["the CommonRoad recordings are not beside the checkout (../shared): no replay"]
    folder = _demo_dir() / "lake" / "ngsim"
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for path in files:
        drive = path.stem.replace("commonroad-io__", "")
        target = folder / f"{drive}.parquet"
        if not target.exists():
            lake.write_tracks(lake.commonroad_to_table(path, drive), target)
        cases.append({"uri": target.as_uri(), "drive": drive})
    dataset = dataset_register(
        user=user, project=project, name="ngsim-recordings", uri=folder.as_uri()
    )
    scenario = services.scenario_define(
        user=user,
        project=project,
        name="NGSIM-replay",
        parameters=[{"name": "drive", "values": [c["drive"] for c in cases]}],
        odd_tags=["motorway", "urban", "day", "dry", "car", "truck"],
        sotif_area=3,
        requirements=Requirement.objects.filter(project=project, code="SOTIF-001"),
    )
    space = services.space_from_drives(
        user=user, project=project, scenario=scenario, name="recordings", drives=cases
    )
    services.campaign_create(
        user=user,
        project=project,
        name=REPLAY_CAMPAIGN,
        spaces=[space],
        criteria=list(AcceptanceCriterion.objects.filter(project=project, code="AC-01")),
        executor="local",
        dataset=dataset,
        shard_size=10,
        description="Recorded NGSIM traffic (US-101, Peachtree) replayed for SOTIF area 3",
    )
    return [f"campaign {REPLAY_CAMPAIGN}: {len(cases)} recorded drives"]
