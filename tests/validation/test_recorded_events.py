"""Mined drives are stored with their events and one ledger entry, once per drive; the command
and the API list them; bad input changes nothing."""

from __future__ import annotations

import base64
import hashlib
import io
import json

import pyarrow.parquet as pq
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.http import Http404

from evidence.models import LogEntry
from evidence.storage import default_store
from tests.shared_data import shared_path
from validation import lake, mining, services
from validation.models import RecordedDrive, RecordedEvent

US101 = "commonroad-io__USA_US101-3_3_T-1.xml"
EVERY_VEHICLE = mining.Thresholds(all_vehicles=True)


def _predicate(entry):
    return json.loads(base64.b64decode(json.loads(bytes(entry.envelope))["payload"]))


@pytest.fixture
def us101():
    return shared_path("data", "real", "commonroad", US101).read_bytes()


def _parquet_drive() -> bytes:
    params = {"scenario": "ccrs", "ego_speed": 50.0, "initial_gap": 40.0}
    buffer = io.BytesIO()
    pq.write_table(lake.generate_drive("case-1", params, seed=1, drive_id="drive-1"), buffer)
    return buffer.getvalue()


@pytest.mark.django_db
def test_a_drive_is_stored_with_its_events_and_one_ledger_entry(project, members, us101):
    drive, created = services.mine_drive(
        user=members["engineer"], project=project, data=us101, name=US101, thresholds=EVERY_VEHICLE
    )
    assert created
    digest = hashlib.sha256(us101).hexdigest()
    assert (drive.source_name, drive.sha256) == (US101, digest)
    expected = mining.mine(mining.read_drive(us101, US101), digest, EVERY_VEHICLE)
    stored = list(drive.events.order_by("case", "t_start", "pk"))
    assert len(stored) == len(expected) == 31
    assert drive.events_sha256 == mining.events_digest(expected)
    assert drive.duration_s == pytest.approx(37.2) and drive.distance_km == pytest.approx(
        0.351, abs=1e-3
    )

    (entry,) = LogEntry.objects.filter(project=project)
    assert drive.entry == entry and entry.kind == "dataset" and entry.digest == digest
    statement = _predicate(entry)
    assert [s["digest"]["sha256"] for s in statement["subject"]] == [digest, drive.events_sha256]
    assert statement["predicate"]["eventsByKind"] == {"cut_in": 1, "hard_braking": 29, "low_ttc": 1}
    assert statement["predicate"]["source"] == US101
    # the drive's tracks are kept for replay, content-addressed
    tracks = pq.read_table(io.BytesIO(default_store().get_bytes(drive.tracks_key)))
    assert tracks.num_rows == 384


@pytest.mark.django_db
def test_mining_the_same_drive_again_adds_nothing(project, members, us101):
    first, _ = services.mine_drive(
        user=members["engineer"], project=project, data=us101, name=US101
    )
    again, created = services.mine_drive(
        user=members["engineer"], project=project, data=us101, name="renamed.xml"
    )
    assert not created and again.pk == first.pk and again.source_name == US101
    assert RecordedDrive.objects.count() == 1
    assert RecordedEvent.objects.count() == 2
    assert LogEntry.objects.filter(project=project).count() == 1
    with pytest.raises(ValidationError, match="mined as .* with other thresholds"):
        services.mine_drive(
            user=members["engineer"],
            project=project,
            data=us101,
            name=US101,
            thresholds=EVERY_VEHICLE,
        )
    assert LogEntry.objects.filter(project=project).count() == 1


@pytest.mark.django_db
def test_a_parquet_drive_is_mined(project, members):
    drive, _ = services.mine_drive(
        user=members["engineer"], project=project, data=_parquet_drive(), name="drive-1.parquet"
    )
    assert drive.events.filter(kind="hard_braking").count() >= 1
    table = mining.read_drive(_parquet_drive(), "drive-1.parquet").to_pydict()
    ego_t = [t for t, ego in zip(table["t"], table["is_ego"], strict=True) if ego]
    assert drive.duration_s == pytest.approx(max(ego_t) - min(ego_t))
    assert drive.distance_km > 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "broken.xml: the file is empty"),
        (b"<notcommonroad/>", "broken.xml: root element is 'notcommonroad', not 'commonRoad'"),
        (b"PAR1garbage", "broken.xml: not a readable Parquet file"),
    ],
)
def test_a_file_that_cannot_be_mined_changes_nothing(project, members, data, message):
    with pytest.raises(ValidationError) as caught:
        services.mine_drive(user=members["engineer"], project=project, data=data, name="broken.xml")
    assert caught.value.messages[0].startswith(message)
    assert not RecordedDrive.objects.exists() and not LogEntry.objects.exists()


@pytest.mark.django_db
def test_a_viewer_or_an_outsider_may_not_mine(project, members, outsider, us101):
    for user, refusal in ((members["viewer"], PermissionDenied), (outsider, Http404)):
        with pytest.raises(refusal):
            services.mine_drive(user=user, project=project, data=us101, name=US101)
    assert not RecordedDrive.objects.exists() and not LogEntry.objects.exists()


@pytest.mark.django_db
def test_the_command_mines_every_file_once(project, members, tmp_path, us101):
    (tmp_path / US101).write_bytes(us101)
    (tmp_path / "drive-1.parquet").write_bytes(_parquet_drive())
    files = [str(tmp_path / US101), str(tmp_path / "drive-1.parquet")]
    out = io.StringIO()
    call_command(
        "mine_drives", "--project", "AEB", "--user", "engineer-aeb", *files, "--json", stdout=out
    )
    rows = json.loads(out.getvalue())["drives"]
    assert [r["mined"] for r in rows] == [True, True]
    assert rows[0]["events"] == 2 and rows[0]["file"] == files[0]
    out = io.StringIO()
    call_command("mine_drives", "--project", "AEB", "--user", "engineer-aeb", *files, stdout=out)
    assert out.getvalue().count("already mined, unchanged") == 2
    assert LogEntry.objects.filter(project=project).count() == 2


@pytest.mark.django_db
def test_one_bad_file_in_the_command_changes_nothing(project, members, tmp_path, us101):
    (tmp_path / "good.xml").write_bytes(us101)
    (tmp_path / "bad.xml").write_bytes(b"<commonRoad/>")
    with pytest.raises(CommandError, match=r"bad\.xml: missing or bad timeStepSize"):
        call_command(
            "mine_drives",
            "--project",
            "AEB",
            "--user",
            "engineer-aeb",
            str(tmp_path / "good.xml"),
            str(tmp_path / "bad.xml"),
        )
    assert not RecordedDrive.objects.exists() and not LogEntry.objects.exists()
    with pytest.raises(CommandError, match=r"missing\.xml: cannot read"):
        call_command("mine_drives", "--project", "AEB", "--user", "engineer-aeb", "missing.xml")
    with pytest.raises(CommandError, match="threshold ttc must be a positive number"):
        call_command(
            "mine_drives", "--project", "AEB", "--user", "engineer-aeb", "--ttc", "0", "x.xml"
        )


@pytest.mark.django_db
def test_the_api_lists_the_events_to_members_only(project, members, outsider, api, us101):
    services.mine_drive(
        user=members["engineer"], project=project, data=us101, name=US101, thresholds=EVERY_VEHICLE
    )
    url = "/api/v1/projects/AEB/recorded-events/"
    answer = api(members["viewer"]).get(url)
    assert answer.status_code == 200
    assert answer.json()["count"] == 31
    cut_ins = api(members["viewer"]).get(url, {"kind": "cut_in", "drive": US101}).json()
    (event,) = cut_ins["results"]
    assert event["drive"] == US101 and event["unit"] == "m" and len(event["actors"]) == 2
    assert api(members["viewer"]).get(url, {"kind": "nonsense"}).status_code == 400
    assert api(outsider).get(url).status_code == 404


@pytest.mark.django_db
def test_the_command_makes_the_events_a_space_of_a_scenario(project, members, tmp_path, us101):
    services.scenario_define(
        user=members["engineer"], project=project, name="NGSIM", parameters=[{"name": "event"}]
    )
    (tmp_path / US101).write_bytes(us101)
    options = ["--project", "AEB", "--user", "engineer-aeb", str(tmp_path / US101)]
    with pytest.raises(CommandError, match="--space and --scenario go together"):
        call_command("mine_drives", *options, "--space", "mined")
    with pytest.raises(CommandError, match="no scenario 'Nope' in AEB"):
        call_command("mine_drives", *options, "--space", "mined", "--scenario", "Nope")
    assert not RecordedDrive.objects.exists()
    out = io.StringIO()
    call_command(
        "mine_drives", *options, "--space", "mined", "--scenario", "NGSIM", "--json", stdout=out
    )
    space = json.loads(out.getvalue())["space"]
    assert (space["name"], space["cases"]) == ("mined", 2)
