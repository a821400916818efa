"""The demo project ``AEB`` (autonomous emergency braking), seeded by ``manage.py seed_demo``.

Seeding is idempotent: running it again finds what exists and adds only what is missing. The
safety content follows the demo safety case that the team keeps beside the design documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from compliance.models import Baseline
from compliance.services import baseline_freeze
from demo.safety_case import seed_safety_case
from demo.validation import seed_campaign
from evidence.membership import project_bootstrap
from projects.models import Role
from projects.services import SYSTEM, user_bootstrap

DEMO_KEY = "AEB"
DEMO_BASELINE = "v1.0-demo"

# (username, role, team, organisational unit): enough people for the independence rules.
DEMO_PEOPLE = [
    ("admin", Role.ADMIN, "Safety office", "Vehicle Safety"),
    ("sam", Role.SAFETY_MANAGER, "AEB safety", "ADAS Engineering"),
    ("erin", Role.ENGINEER, "AEB perception", "ADAS Engineering"),
    ("eli", Role.ENGINEER, "AEB decision", "ADAS Engineering"),
    ("ada", Role.ASSESSOR, "Functional safety assessment", "Independent Safety Assessment"),
    ("vic", Role.VIEWER, "Programme office", "Vehicle Programme"),
]


@dataclass
class SeedReport:
    project: str
    created: list[str] = field(default_factory=list)
    password: str = ""
    notes: list[str] = field(default_factory=list)


@transaction.atomic
def seed_demo() -> SeedReport:
    """Seed as the operator's bootstrap (the system actor) for people, the project and its
    memberships, then as those people for everything else, through the services."""
    _ensure_signing_key()
    password = settings.SAFECASE_DEMO_PASSWORD
    report = SeedReport(project=DEMO_KEY, password=password)
    people = {}
    for username, *_ in DEMO_PEOPLE:
        people[username], made = user_bootstrap(
            actor=SYSTEM,
            username=username,
            email=f"{username}@safecase.example",
            password=password,
            staff=username == "admin",
        )
        if made:
            report.created.append(f"user {username}")
    # Memberships through the operator's bootstrap, each recorded in the ledger: nobody sets
    # their own, so not even the demo administrator could give himself a team.
    project, created = project_bootstrap(
        actor=SYSTEM,
        key=DEMO_KEY,
        name="Autonomous emergency braking",
        description=(
            "Detects an imminent frontal collision with a vehicle or pedestrian ahead and "
            "brakes automatically when the driver does not react (5 to 80 km/h)."
        ),
        admin=people["admin"],
        members=[(people[name], role, team, unit) for name, role, team, unit in DEMO_PEOPLE],
    )
    report.created.extend(created)
    notes = seed_safety_case(project)
    if notes:
        report.created.append("safety case (item, HARA, goals, requirements, SOTIF, approvals)")
        report.notes.extend(notes)
    notes = seed_campaign(project)
    if notes:
        report.created.append("validation scenarios and the demo campaign")
        report.notes.extend(notes)
    if not Baseline.objects.filter(project=project, name=DEMO_BASELINE).exists():
        baseline = baseline_freeze(user=people["sam"], project=project, name=DEMO_BASELINE)
        report.created.append(f"baseline {baseline.name} ({baseline.root[:16]}...)")
    return report


def _ensure_signing_key() -> None:
    from evidence.keys import generate_key_file, key_path

    if not key_path().exists():
        generate_key_file(key_path())
