"""OpenSCENARIO catalogs, catalog references, imports of folders and archives.

Each failure class of the interchange issue has a file built here to show it: a scenario whose
``CatalogReference`` assigns a catalog entry's parameter (``parameterRef="$MaxSpeed"``), a
catalog-only file, a distribution whose ``ScenarioFile`` lies in a sibling folder (the original
ALKS layout) and a zip archive that is a decompression bomb.
"""

from __future__ import annotations

import base64
import json
import os
import zipfile
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from evidence.models import LogEntry
from tests.compliance import bombs
from tests.shared_data import shared_path
from validation import services
from validation.models import ParameterSpace, Scenario, ScenarioCatalog
from validation.openscenario import (
    CATALOG,
    DISTRIBUTION,
    SCENARIO,
    ScenarioError,
    document_kind,
    expand,
    file_kind,
    folder,
    parse_catalog,
    parse_scenario,
    resolve_references,
)
from validation.openscenario.parsing import _parse_xml

HEADER = (
    '<FileHeader revMajor="1" revMinor="2" date="2024-01-01T00:00:00" description="{d}" '
    'author="t"/>'
)

VEHICLES = f"""<?xml version="1.0" encoding="UTF-8"?>
<OpenSCENARIO>
  {HEADER.format(d="vehicles")}
  <Catalog name="VehicleCatalog">
    <Vehicle name="car_white" vehicleCategory="car">
      <ParameterDeclarations>
        <ParameterDeclaration name="MaxSpeed" parameterType="double" value="69">
          <ConstraintGroup><ValueConstraint rule="lessOrEqual" value="120"/></ConstraintGroup>
        </ParameterDeclaration>
        <ParameterDeclaration name="Colour" parameterType="string" value="white"/>
        <ParameterDeclaration name="Doors" parameterType="integer" value="5"/>
      </ParameterDeclarations>
      <Performance maxSpeed="$MaxSpeed" maxAcceleration="10" maxDeceleration="10"/>
      <Properties><Property name="colour" value="$Colour"/></Properties>
    </Vehicle>
    <Vehicle name="van_red" vehicleCategory="van">
      <Performance maxSpeed="40" maxAcceleration="5" maxDeceleration="8"/>
    </Vehicle>
  </Catalog>
</OpenSCENARIO>
""".encode()

MANEUVERS = f"""<?xml version="1.0" encoding="UTF-8"?>
<OpenSCENARIO>
  {HEADER.format(d="maneuvers")}
  <Catalog name="ManeuverCatalog">
    <Maneuver name="cut_in">
      <ParameterDeclarations>
        <ParameterDeclaration name="Duration" parameterType="double" value="${{3 * 1.5}}"/>
      </ParameterDeclarations>
      <Event name="go" priority="override">
        <Action name="lc"><PrivateAction><LateralAction><LaneChangeAction>
          <LaneChangeActionDynamics dynamicsShape="sinusoidal" value="$Duration"
              dynamicsDimension="time"/>
        </LaneChangeAction></LateralAction></PrivateAction></Action>
      </Event>
    </Maneuver>
  </Catalog>
</OpenSCENARIO>
""".encode()

CONTROLLERS = f"""<?xml version="1.0" encoding="UTF-8"?>
<OpenSCENARIO>
  {HEADER.format(d="controllers")}
  <Catalog name="ControllerCatalog">
    <Controller name="driver"><Properties/></Controller>
  </Catalog>
</OpenSCENARIO>
""".encode()


def scenario_xml(
    assign: str = '<ParameterAssignment parameterRef="$MaxSpeed" value="${$EgoSpeed + 10}"/>',
    locations: str = "../Catalogs",
    host: str = "car_white",
) -> bytes:
    """An esmini-style scenario: ParameterAssignment ``parameterRef`` names entry parameters."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<OpenSCENARIO>
  {HEADER.format(d="cut-in with catalogs")}
  <ParameterDeclarations>
    <ParameterDeclaration name="EgoSpeed" parameterType="double" value="70">
      <ConstraintGroup><ValueConstraint rule="greaterThan" value="0"/></ConstraintGroup>
    </ParameterDeclaration>
    <ParameterDeclaration name="HostVehicle" parameterType="string" value="{host}"/>
  </ParameterDeclarations>
  <CatalogLocations>
    <VehicleCatalog><Directory path="{locations}"/></VehicleCatalog>
    <ManeuverCatalog><Directory path="{locations}"/></ManeuverCatalog>
  </CatalogLocations>
  <Entities>
    <ScenarioObject name="Ego">
      <CatalogReference catalogName="VehicleCatalog" entryName="$HostVehicle">
        <ParameterAssignments>
          {assign}
          <ParameterAssignment parameterRef="Colour" value="blue"/>
        </ParameterAssignments>
      </CatalogReference>
    </ScenarioObject>
    <ScenarioObject name="Target">
      <CatalogReference catalogName="VehicleCatalog" entryName="van_red"/>
    </ScenarioObject>
  </Entities>
  <Storyboard>
    <Init><Actions/></Init>
    <Story name="s"><Act name="a"><ManeuverGroup name="g" maximumExecutionCount="1">
      <Actors selectTriggeringEntities="false"><EntityRef entityRef="Target"/></Actors>
      <CatalogReference catalogName="ManeuverCatalog" entryName="cut_in">
        <ParameterAssignments>
          <ParameterAssignment parameterRef="Duration" value="${{$EgoSpeed / 20}}"/>
        </ParameterAssignments>
      </CatalogReference>
    </ManeuverGroup></Act></Story>
  </Storyboard>
</OpenSCENARIO>
""".encode()


def distribution_xml(scenario_file: str, values=("70", "90")) -> bytes:
    elements = "".join(f'<Element value="{v}"/>' for v in values)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<OpenSCENARIO>
  {HEADER.format(d="speeds")}
  <ParameterValueDistribution>
    <ScenarioFile filepath="{scenario_file}"/>
    <Deterministic>
      <DeterministicSingleParameterDistribution parameterName="EgoSpeed">
        <DistributionSet>{elements}</DistributionSet>
      </DeterministicSingleParameterDistribution>
    </Deterministic>
  </ParameterValueDistribution>
</OpenSCENARIO>
""".encode()


def alks_layout(base: Path, scenario: bytes | None = None) -> Path:
    """The original ALKS layout: Distributions/, Scenarios/ and Catalogs/ side by side."""
    for name in ("Distributions", "Scenarios", "Catalogs"):
        (base / name).mkdir(parents=True, exist_ok=True)
    (base / "Catalogs" / "vehicles.xosc").write_bytes(VEHICLES)
    (base / "Catalogs" / "maneuvers.xosc").write_bytes(MANEUVERS)
    (base / "Scenarios" / "cut_in.xosc").write_bytes(scenario or scenario_xml())
    dist = base / "Distributions" / "cut_in_speeds.xosc"
    dist.write_bytes(distribution_xml("../Scenarios/cut_in.xosc"))
    return dist


# --------------------------------------------------------------------------------------------
# 6. ParameterAssignment parameterRef inside a CatalogReference
# --------------------------------------------------------------------------------------------


def test_entry_parameters_assigned_in_a_catalog_reference_are_not_scenario_parameters():
    scenario = parse_scenario(scenario_xml(), name="cut_in.xosc")
    assert set(scenario.parameters) == {"EgoSpeed", "HostVehicle"}
    assert "MaxSpeed" not in scenario.references
    assert {"EgoSpeed", "HostVehicle"} <= scenario.references
    refs = {(r.catalog, r.entry): dict(r.assignments) for r in scenario.catalog_references}
    assert refs[("VehicleCatalog", "$HostVehicle")] == {
        "MaxSpeed": "${$EgoSpeed + 10}",
        "Colour": "blue",
    }
    assert refs[("VehicleCatalog", "van_red")] == {}


def test_a_real_scenario_reference_in_an_assignment_value_must_still_be_declared():
    bad = scenario_xml('<ParameterAssignment parameterRef="$MaxSpeed" value="$Undeclared"/>')
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(bad, name="Scenarios/cut_in.xosc")
    assert str(caught.value) == (
        "Scenarios/cut_in.xosc: undeclared parameter(s) referenced: $Undeclared"
    )


def test_messages_name_the_file_never_the_bytes(tmp_path):
    bad = scenario_xml('<ParameterAssignment parameterRef="$MaxSpeed" value="$Nope"/>')
    with pytest.raises(ScenarioError, match=r"^the scenario file: ") as caught:
        parse_scenario(bad)
    assert "bytes" not in str(caught.value)
    with pytest.raises(ScenarioError, match=r"^mine\.xosc: "):
        expand(bad, name="mine.xosc")


# --------------------------------------------------------------------------------------------
# 7. Catalog files and their resolution
# --------------------------------------------------------------------------------------------


def test_documents_are_told_apart():
    assert document_kind(_parse_xml(VEHICLES, "v")) == CATALOG
    assert document_kind(_parse_xml(scenario_xml(), "s")) == SCENARIO
    assert document_kind(_parse_xml(distribution_xml("s.xosc"), "d")) == DISTRIBUTION
    assert file_kind(MANEUVERS) == CATALOG


def test_a_catalog_is_parsed_as_a_catalog_never_as_a_scenario():
    catalog = parse_catalog(VEHICLES, name="Catalogs/vehicles.xosc")
    assert catalog.name == "VehicleCatalog"
    assert catalog.kinds == ["vehicle"]
    assert list(catalog.entries) == ["car_white", "van_red"]
    assert [p for p in catalog.entries["car_white"].parameters] == ["MaxSpeed", "Colour", "Doors"]
    assert parse_catalog(CONTROLLERS).kinds == ["controller"]
    with pytest.raises(ScenarioError, match=r"^vehicles\.xosc: is a catalog, not a scenario"):
        parse_scenario(VEHICLES, name="vehicles.xosc")
    with pytest.raises(ScenarioError, match="is a catalog, not a scenario"):
        expand(VEHICLES)
    with pytest.raises(ScenarioError, match="not a catalog"):
        parse_catalog(scenario_xml())


def test_a_catalog_entry_may_only_use_its_own_parameters():
    bad = VEHICLES.replace(b'maxAcceleration="10"', b'maxAcceleration="$Global"')
    with pytest.raises(ScenarioError) as caught:
        parse_catalog(bad, name="vehicles.xosc")
    assert str(caught.value) == (
        "vehicles.xosc: entry 'car_white': undeclared parameter(s) referenced: $Global"
    )
    twice = VEHICLES.replace(b'name="van_red"', b'name="car_white"')
    with pytest.raises(ScenarioError, match="entry 'car_white' appears twice"):
        parse_catalog(twice)


def test_references_resolve_to_the_entry_defaults_overridden_by_the_assignments():
    scenario = parse_scenario(scenario_xml(), name="cut_in.xosc")
    catalogs = [parse_catalog(VEHICLES), parse_catalog(MANEUVERS)]
    resolved, missing = resolve_references(scenario, catalogs)
    assert missing == []
    ego, target, maneuver = resolved
    assert (ego.catalog, ego.entry, ego.kind) == ("VehicleCatalog", "car_white", "Vehicle")
    # MaxSpeed from the assignment (70 + 10), Colour assigned, Doors at the entry's default
    assert ego.parameters == {"MaxSpeed": 80.0, "Colour": "blue", "Doors": 5}
    assert ego.element.find("Performance").get("maxSpeed") == "80.0"
    assert ego.element.find("Properties/Property").get("value") == "blue"
    assert ego.element.find("ParameterDeclarations") is None
    assert (target.entry, target.parameters) == ("van_red", {})
    assert maneuver.kind == "Maneuver"
    assert maneuver.parameters == {"Duration": 3.5}  # 70 / 20, not the default 4.5
    dynamics = maneuver.element.find(".//LaneChangeActionDynamics")
    assert dynamics.get("value") == "3.5"


def test_references_that_do_not_resolve_are_refused_with_their_names():
    catalogs = [parse_catalog(VEHICLES), parse_catalog(MANEUVERS)]
    unknown_param = scenario_xml('<ParameterAssignment parameterRef="$Wings" value="2"/>')
    with pytest.raises(ScenarioError) as caught:
        resolve_references(parse_scenario(unknown_param), catalogs, what="cut_in.xosc")
    message = str(caught.value)
    assert message.startswith("cut_in.xosc: CatalogReference VehicleCatalog/$HostVehicle")
    assert "Wings" in message and "declares: MaxSpeed, Colour, Doors" in message

    too_fast = scenario_xml('<ParameterAssignment parameterRef="MaxSpeed" value="500"/>')
    with pytest.raises(ScenarioError, match=r"violate the constraints of entry 'car_white'"):
        resolve_references(parse_scenario(too_fast), catalogs)

    wrong_type = scenario_xml('<ParameterAssignment parameterRef="Doors" value="many"/>')
    with pytest.raises(ScenarioError, match="not a valid integer"):
        resolve_references(parse_scenario(wrong_type), catalogs)

    with pytest.raises(ScenarioError, match="has no entry 'bus'"):
        resolve_references(parse_scenario(scenario_xml(host="bus")), catalogs)


def test_an_entry_a_distribution_varies_is_checked_in_every_case(tmp_path):
    scenario = parse_scenario(scenario_xml())
    catalogs = [parse_catalog(VEHICLES), parse_catalog(MANEUVERS)]
    cases = [scenario.concrete({"HostVehicle": v}) for v in ("car_white", "van_red", "bus")]
    with pytest.raises(ScenarioError) as caught:
        resolve_references(scenario, catalogs, cases[:2], what="s.xosc")
    # van_red declares no MaxSpeed: the assignment is refused for that case
    assert "HostVehicle='van_red'" in str(caught.value)
    plain = parse_scenario(scenario_xml(assign=""))
    cases = [plain.concrete({"HostVehicle": v}) for v in ("car_white", "bus")]
    with pytest.raises(ScenarioError, match="has no entry 'bus'.*HostVehicle='bus'"):
        resolve_references(plain, [parse_catalog(VEHICLES), parse_catalog(MANEUVERS)], cases)


def test_missing_catalogs_are_reported_not_refused():
    scenario = parse_scenario(scenario_xml())
    resolved, missing = resolve_references(scenario, [parse_catalog(MANEUVERS)])
    assert missing == ["VehicleCatalog"]
    assert [r.entry for r in resolved] == ["cut_in"]


# --------------------------------------------------------------------------------------------
# Imports through the service and the command
# --------------------------------------------------------------------------------------------


def _import(members, *args, **kwargs):
    out = StringIO()
    err = StringIO()
    call_command(
        "import_scenarios",
        *[str(a) for a in args],
        "--project",
        "AEB",
        "--json",
        "--user",
        members["engineer"].username,
        stdout=out,
        stderr=err,
        **kwargs,
    )
    return json.loads(out.getvalue())


def _nothing_written():
    return not (
        Scenario.objects.exists()
        or ScenarioCatalog.objects.exists()
        or ParameterSpace.objects.exists()
        or LogEntry.objects.exists()
    )


@pytest.mark.django_db
def test_a_catalog_file_is_stored_as_a_catalog_with_a_ledger_entry(project, members, tmp_path):
    path = tmp_path / "vehicles.xosc"
    path.write_bytes(VEHICLES)
    result = _import(members, path)
    assert result == {
        "scenarios": 0,
        "cases": 0,
        "discarded": 0,
        "catalogs": 1,
        "warnings": [],
    }
    assert not Scenario.objects.exists()  # never a scenario with one case
    catalog = ScenarioCatalog.objects.get(project=project)
    assert (catalog.name, catalog.file_name, catalog.kinds) == (
        "VehicleCatalog",
        "vehicles.xosc",
        ["vehicle"],
    )
    assert bytes(catalog.content) == VEHICLES
    assert catalog.entries[0]["parameters"][0] == {
        "name": "MaxSpeed",
        "type": "double",
        "default": "69",
    }
    entry = LogEntry.objects.get(project=project)
    statement = json.loads(base64.b64decode(json.loads(bytes(entry.envelope))["payload"]))
    assert statement["subject"][0]["name"] == "catalog:VehicleCatalog"
    assert statement["subject"][0]["digest"]["sha256"] == catalog.sha256


@pytest.mark.django_db
def test_a_valid_esmini_style_scenario_imports_with_its_catalogs(project, members, tmp_path):
    dist = alks_layout(tmp_path / "alks")
    result = _import(members, dist.parent.parent)  # the folder
    assert (result["scenarios"], result["cases"], result["catalogs"]) == (2, 3, 2)
    assert result["warnings"] == []
    scenario = Scenario.objects.get(project=project, name="cut_in")
    assert scenario.file_name == "Scenarios/cut_in.xosc"
    ego = scenario.catalog_references[0]
    assert ego["entry"] == "car_white"
    assert ego["parameters"] == {"MaxSpeed": 80.0, "Colour": "blue", "Doors": 5}
    assert {s.name for s in scenario.spaces.all()} == {"cut_in", "cut_in_speeds"}
    assert set(ScenarioCatalog.objects.values_list("name", flat=True)) == {
        "VehicleCatalog",
        "ManeuverCatalog",
    }
    assert LogEntry.objects.filter(project=project).count() == 4


@pytest.mark.django_db
def test_stored_catalogs_resolve_later_imports(project, members, tmp_path):
    (tmp_path / "vehicles.xosc").write_bytes(VEHICLES)
    (tmp_path / "maneuvers.xosc").write_bytes(MANEUVERS)
    _import(members, tmp_path / "vehicles.xosc", tmp_path / "maneuvers.xosc")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "s.xosc").write_bytes(scenario_xml(locations="nowhere"))
    result = _import(members, other / "s.xosc")
    assert result["warnings"] == []
    assert Scenario.objects.get(name="s").catalog_references[0]["parameters"]["MaxSpeed"] == 80.0


@pytest.mark.django_db
def test_a_bad_reference_refuses_the_whole_import_naming_the_file(project, members, tmp_path):
    alks_layout(
        tmp_path,
        scenario_xml('<ParameterAssignment parameterRef="$Wings" value="2"/>'),
    )
    with pytest.raises(CommandError) as caught:
        _import(members, tmp_path)
    message = str(caught.value)
    assert message.startswith("Scenarios/cut_in.xosc: CatalogReference VehicleCatalog/")
    assert str(tmp_path) not in message and "bytes" not in message
    assert _nothing_written()


# --------------------------------------------------------------------------------------------
# 8. Distributions whose ScenarioFile is in a sibling folder
# --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_sibling_scenario_folder_imports_inside_the_root(project, members, tmp_path):
    dist = alks_layout(tmp_path / "alks")
    result = _import(members, dist, "--root", tmp_path / "alks")
    assert (result["scenarios"], result["cases"]) == (1, 2)
    space = ParameterSpace.objects.get(name="cut_in_speeds")
    assert [c["EgoSpeed"] for c in space.cases] == [70.0, 90.0]
    assert space.scenario.file_name == "Scenarios/cut_in.xosc"


@pytest.mark.django_db
def test_the_default_root_is_the_folder_of_the_files_given(project, members, tmp_path):
    dist = alks_layout(tmp_path / "alks")
    # only the distribution: its folder is the root, and ../Scenarios lies outside it
    with pytest.raises(CommandError) as caught:
        _import(members, dist)
    message = str(caught.value)
    assert message == (
        "cut_in_speeds.xosc: ScenarioFile '../Scenarios/cut_in.xosc' lies outside the imported "
        "folder; it must be a file inside it"
    )
    assert _nothing_written()
    # the distribution and the scenario together: their common folder is the root
    scenario = tmp_path / "alks" / "Scenarios" / "cut_in.xosc"
    result = _import(members, dist, scenario)
    assert result["scenarios"] == 2


@pytest.mark.django_db
def test_scenario_files_outside_the_root_are_refused(project, members, tmp_path):
    alks = tmp_path / "alks"
    dist = alks_layout(alks)
    (tmp_path / "secret.xosc").write_bytes(scenario_xml())
    dist.write_bytes(distribution_xml("../../secret.xosc"))
    with pytest.raises(CommandError) as caught:
        _import(members, dist, "--root", alks)
    assert "lies outside the imported folder" in str(caught.value)
    assert str(tmp_path) not in str(caught.value)
    assert _nothing_written()


@pytest.mark.django_db
def test_symbolic_links_out_of_the_root_are_refused(project, members, tmp_path):
    alks = tmp_path / "alks"
    dist = alks_layout(alks)
    (tmp_path / "secret.xosc").write_bytes(scenario_xml())
    link = alks / "Scenarios" / "link.xosc"
    os.symlink(tmp_path / "secret.xosc", link)
    dist.write_bytes(distribution_xml("../Scenarios/link.xosc"))
    with pytest.raises(CommandError, match="lies outside the imported folder"):
        _import(members, dist, "--root", alks)
    # the link given directly, or found in a folder, is refused too
    with pytest.raises(CommandError, match="link.xosc: lies outside the imported folder"):
        _import(members, link, "--root", alks)
    with pytest.raises(CommandError, match="lies outside the imported folder"):
        _import(members, alks)
    assert _nothing_written()


@pytest.mark.django_db
def test_a_missing_scenario_file_is_named_relative_to_the_root(project, members, tmp_path):
    dist = alks_layout(tmp_path)
    dist.write_bytes(distribution_xml("../Scenarios/gone.xosc"))
    with pytest.raises(CommandError) as caught:
        _import(members, dist, "--root", tmp_path)
    assert str(caught.value) == (
        "Distributions/cut_in_speeds.xosc: ScenarioFile '../Scenarios/gone.xosc' not found "
        "(looked for Scenarios/gone.xosc)"
    )


# --------------------------------------------------------------------------------------------
# Archives
# --------------------------------------------------------------------------------------------


def _zip_folder(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return target


@pytest.mark.django_db
def test_a_zip_of_the_alks_layout_imports(project, members, tmp_path):
    alks_layout(tmp_path / "alks")
    archive = _zip_folder(tmp_path / "alks", tmp_path / "alks.zip")
    result = _import(members, archive)
    assert (result["scenarios"], result["cases"], result["catalogs"]) == (2, 3, 2)
    assert ScenarioCatalog.objects.get(name="VehicleCatalog").file_name == (
        "alks.zip/Catalogs/vehicles.xosc"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("declared", [None, 1000], ids=["honest", "lying-headers"])
def test_a_decompression_bomb_is_refused(project, members, tmp_path, declared):
    bomb = bombs.Member.zeros("Scenarios/bomb.xosc", 400 * bombs.MB, declared=declared)
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(bombs.build_zip([bomb]))
    with pytest.raises(ValidationError) as caught:
        services.scenarios_import(user=members["engineer"], project=project, paths=[archive])
    message = "; ".join(caught.value.messages)
    assert message.startswith(f"{archive}: archive refused: ")
    assert _nothing_written()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["../evil.xosc", "/abs/evil.xosc", "C:/evil.xosc", "a\\..\\evil.xosc"]
)
def test_unsafe_member_names_refuse_the_archive(project, members, tmp_path, name):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Scenarios/ok.xosc", scenario_xml())
        zf.writestr(zipfile.ZipInfo(name), scenario_xml())
    with pytest.raises(ValidationError, match="archive refused: member"):
        services.scenarios_import(user=members["engineer"], project=project, paths=[archive])
    assert not (tmp_path / "evil.xosc").exists()
    assert _nothing_written()


def test_the_bomb_limits_are_the_projects_archive_limits():
    assert settings.SAFECASE_MAX_EXPANDED_BYTES <= 200 * bombs.MB


@pytest.mark.django_db
def test_catalogs_and_resolved_references_are_listed_over_the_api(api, project, members, tmp_path):
    alks_layout(tmp_path)
    services.scenarios_import(user=members["engineer"], project=project, paths=[tmp_path])
    client = api(members["viewer"])
    catalogs = client.get("/api/v1/projects/AEB/scenario-catalogs/").json()["results"]
    assert [(c["name"], c["kinds"]) for c in catalogs] == [
        ("ManeuverCatalog", ["maneuver"]),
        ("VehicleCatalog", ["vehicle"]),
    ]
    assert "content" not in catalogs[0]
    scenarios = client.get("/api/v1/projects/AEB/scenarios/").json()["results"]
    maneuver = scenarios[0]["catalog_references"][2]
    assert (maneuver["entry"], maneuver["parameters"]) == ("cut_in", {"Duration": 3.5})


@pytest.mark.django_db
def test_replacing_a_stored_catalog_is_said(project, members, tmp_path):
    path = tmp_path / "vehicles.xosc"
    path.write_bytes(VEHICLES)
    assert _import(members, path)["warnings"] == []
    assert _import(members, path)["warnings"] == []  # the same file again: nothing to say
    path.write_bytes(VEHICLES.replace(b'value="69"', b'value="70"'))
    assert _import(members, path)["warnings"] == [
        "vehicles.xosc: replaces catalog 'VehicleCatalog' imported earlier from vehicles.xosc "
        "(the ledger keeps both digests)"
    ]
    assert b'value="70"' in bytes(ScenarioCatalog.objects.get().content)


def _catalog(name: str, kind: str, entries: list[str]) -> bytes:
    body = "".join(f'<{kind} name="{e}"><Properties/></{kind}>' for e in entries)
    return (
        f'<?xml version="1.0"?><OpenSCENARIO>{HEADER.format(d=name)}'
        f'<Catalog name="{name}">{body}</Catalog></OpenSCENARIO>'
    ).encode()


def test_the_real_alks_variation_resolves_its_vehicle_in_every_case(tmp_path):
    """The ALKS cut-in as published, with the catalogs its template names (built here: the
    shared copy holds only the two scenario files): the cut-in vehicle's entry is a parameter
    the distribution varies, so every model it takes must be in the vehicle catalog."""
    real = shared_path("data", "real", "openscenario", "asam-alks")
    variation = "alks_scenario_4_4_1_cut_in_no_collision_variation.xosc"
    template = "concrete_scenarios/alks_scenario_4_4_1_cut_in_no_collision_template.xosc"
    for name in (variation, template):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((real / name).read_bytes())
    catalogs = tmp_path / "concrete_scenarios" / "catalogs"
    (catalogs / "vehicles").mkdir(parents=True)
    (catalogs / "controllers").mkdir()
    models = ["car_ego", "car", "truck", "van", "bus"]
    (catalogs / "vehicles" / "vehicle_catalog.xosc").write_bytes(
        _catalog("vehicle_catalog", "Vehicle", models)
    )
    (catalogs / "controllers" / "controller_catalog.xosc").write_bytes(
        _catalog("controller_catalog", "Controller", ["ALKSController"])
    )
    sources = folder.collect_sources([tmp_path / variation], None, tmp_path, 1 << 20, None)
    # the motorbike the distribution also asks for is missing from this catalog: refused
    with pytest.raises(ScenarioError) as caught:
        folder.plan_import(sources)
    assert str(caught.value) == (
        f"{template}: CatalogReference vehicle_catalog/$CutInVehicle_Model "
        "(= vehicle_catalog/motorbike): catalog 'vehicle_catalog' "
        "(concrete_scenarios/catalogs/vehicles/vehicle_catalog.xosc) has no entry 'motorbike' "
        "(in the cases where CutInVehicle_Model='motorbike')"
    )
    (catalogs / "vehicles" / "vehicle_catalog.xosc").write_bytes(
        _catalog("vehicle_catalog", "Vehicle", [*models, "motorbike"])
    )
    plan = folder.plan_import(sources)
    assert plan.warnings == []
    assert [c.catalog.name for c in plan.catalogs] == ["vehicle_catalog", "controller_catalog"]
    (scenario,) = plan.scenarios
    assert len(scenario.expansion.cases) == 29_750
    assert [(r.catalog, r.entry, r.kind) for r in scenario.references] == [
        ("vehicle_catalog", "car_ego", "Vehicle"),
        ("controller_catalog", "ALKSController", "Controller"),
        ("vehicle_catalog", "car", "Vehicle"),
    ]


def test_files_sharing_no_folder_need_an_explicit_root(tmp_path):
    (tmp_path / "s.xosc").write_bytes(scenario_xml())
    elsewhere = Path("/dev/null")
    with pytest.raises(ScenarioError, match="share no folder"):
        folder.collect_sources([tmp_path / "s.xosc", elsewhere], None, tmp_path, 1 << 20, None)
