"""A safety case built from an empty project in the browser alone (Debian's Chromium through
Playwright against the live server).

The installation's bootstrap makes the project and its three members, as ``make demo`` does for
its own; everything else is typed into the pages: the safety manager defines the item with its
ODD tags, a hazard, a situation, a hazardous event rated S3/E4/C3 (ASIL D), a safety goal, an
FSR below it, a TSR linked to the FSR, the TSR's decomposition into two B(D) children (linked
to it by the decomposition), an acceptance criterion with its scope, and opens a review of the
FSR for the assessor; the assessor signs it with her password again. The pages then show the
chain. Screenshots land in ``var/screenshots/``.
"""

from __future__ import annotations

import time

import pytest

from tests.ui.test_browser import (  # noqa: F401 (fixtures)
    CHROMIUM_ARGS,
    PASSWORD,
    SHOTS,
    browser,
    pytestmark,
    shot,
)

KEY = "ACC"


@pytest.fixture
def empty_site(browser, ledger_transactional_db, live_server, settings, tmp_path):  # noqa: F811
    """An empty project ACC with a safety manager (sam), an engineer (erin) and an assessor
    (ada) in another organisational unit, made by the installation's bootstrap."""
    from evidence.membership import project_bootstrap
    from projects.models import Role
    from projects.services import SYSTEM, user_bootstrap

    settings.SAFECASE_STORAGE_URL = (tmp_path / "store").as_uri()

    def person(name, staff=False):
        return user_bootstrap(
            actor=SYSTEM,
            username=name,
            email=f"{name}@safecase.example",
            password=PASSWORD,
            staff=staff,
        )[0]

    project_bootstrap(
        actor=SYSTEM,
        key=KEY,
        name="Adaptive cruise control",
        description="",
        admin=person("root", staff=True),
        members=[
            (person("sam"), Role.SAFETY_MANAGER, "ACC safety", "ADAS Engineering"),
            (person("erin"), Role.ENGINEER, "ACC control", "ADAS Engineering"),
            (person("ada"), Role.ASSESSOR, "Assessment", "Independent Safety Assessment"),
        ],
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    return live_server.url


def _tab(browser, site, username):  # noqa: F811
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.goto(f"{site}/login/")
    tab.fill("#id_username", username)
    tab.fill("#id_password", PASSWORD)
    tab.click("button:has-text('Log in')")
    tab.wait_for_url(f"{site}/")
    return tab


def _fill(tab, fields: dict[str, str], within: str = "main"):
    """Type into the fields with these ids (``#id_<name>``) inside ``within``, choosing in a
    select."""
    for name, value in fields.items():
        field = tab.locator(f"{within} #id_{name}")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


def _said(tab, text):
    tab.wait_for_selector(f".messages li:has-text({text!r})")


def test_a_safety_case_is_built_from_an_empty_project_in_the_browser(browser, empty_site):  # noqa: F811
    from compliance.models import (
        AcceptanceCriterion,
        Decomposition,
        HazardousEvent,
        ItemDefinition,
        Requirement,
        SafetyGoal,
        Signature,
        TraceLink,
    )
    from evidence.models import LogEntry

    started = time.monotonic()
    site, p = empty_site, f"{empty_site}/p/{KEY}"
    sam = _tab(browser, site, "sam")

    # The item and its ODD, with tags of the taxonomy.
    sam.goto(f"{p}/hara/")
    sam.click("text=Item definition and ODD")
    sam.fill("#id_function", "Keeps the set speed and the distance to the vehicle ahead.")
    sam.fill("#id_odd", "Motorways, dry or wet, day and night.")
    for tag in ("road:motorway", "surface:dry", "surface:wet", "illumination:night"):
        sam.check(f"input[name=odd_tags][value='{tag}']")
    sam.click("button:has-text('Save the item')")
    _said(sam, "The item definition is saved.")
    assert "surface: dry, wet" in sam.inner_text("#odd-tags")

    # A hazard and an operational situation.
    sam.goto(f"{p}/hazards/")
    sam.fill("#id_hazard-code", "H-01")
    sam.fill("#id_hazard-title", "Unintended acceleration towards the vehicle ahead")
    sam.click("button:has-text('Add the hazard')")
    _said(sam, "Hazard H-01 added.")
    sam.fill("#id_os-code", "OS-01")
    sam.fill("#id_os-description", "Motorway at 120 km/h, dense traffic")
    sam.click("button:has-text('Add the situation')")
    _said(sam, "Situation OS-01 added.")

    # The hazardous event: its ASIL appears as S, E and C are chosen.
    sam.goto(f"{p}/hara/")
    sam.fill("#id_code", "HE-01")
    sam.select_option("#id_hazard", label="H-01")
    sam.select_option("#id_situation", label="OS-01")
    for name, value, why in (
        ("severity", "S3", "Rear-end collision at motorway speed"),
        ("exposure", "E4", "Dense motorway traffic is frequent"),
        ("controllability", "C3", "No time to react"),
    ):
        sam.select_option(f"#id_{name}", value)
        sam.fill(f"#id_{name}_rationale", why)
    sam.wait_for_selector("#asil-output:has-text('D')")
    sam.click("button:has-text('Add the event')")
    _said(sam, "HE-01 added: ASIL D.")

    # The safety goal takes the ASIL of its event.
    sam.click("text=Safety goals")
    sam.fill("#id_code", "SG-01")
    sam.fill("#id_text", "Avoid unintended acceleration towards the vehicle ahead")
    sam.fill("#id_ftti_ms", "300")
    sam.check("input[name=events][value='HE-01']")
    sam.click("button:has-text('Add the goal')")
    _said(sam, "Safety goal SG-01 added: ASIL D.")

    # The FSR below the goal (the new-requirement form links it), then a TSR and its two
    # redundant children, without parents yet.
    for code, kind, asil, parent in (
        ("FSR-001", "FSR", "D", "SG-01"),
        ("TSR-001", "TSR", "D", ""),
        ("TSR-002", "TSR", "B(D)", ""),
        ("TSR-003", "TSR", "B(D)", ""),
    ):
        sam.goto(f"{p}/requirements/")
        _fill(
            sam,
            {
                "code": code,
                "kind": kind,
                "text": f"{code}: limit the commanded acceleration",
                "asil": asil,
                "parent": parent,
            },
            within="form[action$='/requirements/new/']",
        )
        sam.click("button:has-text('Create')")
        _said(sam, f"{code} created.")

    # The TSR is linked to the FSR on its page, with the link rules beside the field.
    sam.goto(f"{p}/requirements/TSR-001/")
    assert "never form a cycle" in sam.inner_text("#link-rules")
    sam.select_option("#id_link-kind", "derives-from")
    sam.fill("#id_link-target", "FSR-001")
    sam.click("button:has-text('Add the link')")
    _said(sam, "TSR-001 derives-from FSR-001.")

    # The decomposition links both children to the TSR.
    _fill(
        sam,
        {
            "first": "TSR-002",
            "second": "TSR-003",
            "elements": "Radar channel and camera channel on separate controllers",
            "dependent_failure_analysis": "DFA-01: common power supply and clock",
        },
    )
    sam.click("#decompose button:has-text('Record')")
    _said(sam, "Decomposition of TSR-001 recorded; TSR-002 and TSR-003 derive from it.")
    down = sam.inner_text("section:has(h2:has-text('Links down'))")
    assert "TSR-002" in down and "TSR-003" in down
    shot(sam, "30-built-decomposition")

    # An acceptance criterion for the goal, with its scope.
    sam.goto(f"{p}/sotif/")
    _fill(
        sam,
        {
            "code": "AC-01",
            "description": "No collision in the cut-in scenarios",
            "goal": "SG-01",
            "unit": "cases",
            "allowed_failure_probability": "0.001",
            "scope": '{"odd": {"surface": ["dry", "wet"]}}',
        },
    )
    sam.click("form[action$='/sotif/criteria/new/'] button[type=submit]")
    _said(sam, "AC-01: validation target")

    # A review of the FSR for the assessor.
    sam.goto(f"{p}/reviews/")
    _fill(
        sam,
        {
            "title": "FSC review",
            "measure": "functional_safety_concept",
            "reviewers": "ada",
            "keys": "requirement:FSR-001\ngoal:SG-01",
        },
    )
    sam.click("button:has-text('Open')")
    _said(sam, "Review FSC review opened")
    review_url = sam.url
    sam.context.close()

    # The assessor signs both items with her password again.
    ada = _tab(browser, site, "ada")
    ada.goto(review_url)
    for code in ("FSR-001", "SG-01"):
        form = ada.locator(f"form.sign:has(button:has-text('Sign {code}'))")
        form.locator("input[value='approve']").check()
        form.locator("select").select_option("approved")
        form.locator("input[type='password']").fill(PASSWORD)
        form.locator(f"button:has-text('Sign {code}')").click()
        _said(ada, f"{code}: you signed approve (approved)")
    shot(ada, "31-built-review-signed")

    # What the pages show: the chain from the goal down, and the review on the FSR.
    ada.goto(f"{p}/goals/SG-01/")
    assert "FSR-001" in ada.inner_text("#derived")
    assert "AC-01" in ada.inner_text("main")
    ada.goto(f"{p}/hara/HE-01/")  # an assessor reads the event (no form)
    assert "SG-01" in ada.inner_text("#rating")
    assert ada.locator("text=Change the rating").count() == 0
    ada.goto(f"{p}/requirements/FSR-001/")
    ada.wait_for_selector("#reviews-of-item")
    assert "Approve" in ada.inner_text("#reviews-of-item")
    elapsed = time.monotonic() - started
    ada.context.close()

    # And the database holds what was typed, each write with its ledger entry.
    assert ItemDefinition.objects.get(project__key=KEY).odd_tags == [
        "illumination:night",
        "road:motorway",
        "surface:dry",
        "surface:wet",
    ]
    assert HazardousEvent.objects.get(project__key=KEY, code="HE-01").asil == "D"
    assert SafetyGoal.objects.get(project__key=KEY, code="SG-01").asil == "D"
    assert Requirement.objects.filter(project__key=KEY).count() == 4
    assert Decomposition.objects.filter(project__key=KEY).count() == 1
    links = set(
        TraceLink.objects.filter(project__key=KEY).values_list(
            "source__code", "kind", "target_requirement__code", "target_goal__code"
        )
    )
    assert links == {
        ("FSR-001", "derives-from", None, "SG-01"),
        ("TSR-001", "derives-from", "FSR-001", None),
        ("TSR-002", "derives-from", "TSR-001", None),
        ("TSR-003", "derives-from", "TSR-001", None),
    }
    assert AcceptanceCriterion.objects.get(project__key=KEY).scope == {
        "odd": {"surface": ["dry", "wet"]}
    }
    assert Signature.objects.filter(session__project__key=KEY).count() == 2
    assert LogEntry.objects.filter(project__key=KEY).count() >= 17
    print(f"\nbuilt the safety case in the browser in {elapsed:.1f} s")
