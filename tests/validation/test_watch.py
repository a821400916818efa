"""New data: a campaign watching a lake prefix runs on every drive that lands there."""

import pytest

from validation import lake, services
from validation.models import LandedDrive, Run, Verdict
from validation.tasks import watch_lake_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def watching(project, members, tmp_path, no_collision):
    ac = no_collision
    return services.campaign_create(
        user=members["engineer"], project=project, name="fleet", spaces=[], criteria=[ac]
    )


def land(folder, name, seed):
    table = lake.generate_drive(
        name, {"scenario": "ccrs", "ego_speed": 30, "initial_gap": 40}, seed=seed
    )
    lake.write_tracks(table, folder / f"{name}.parquet")


def test_a_landed_drive_is_judged_and_recorded(
    watching, tmp_path, django_capture_on_commit_callbacks
):
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    watching.watch_uri = incoming.as_uri()
    watching.save()
    assert services.watch_poll(watching) is None  # nothing there yet
    land(incoming, "drive-001", 1)
    land(incoming, "drive-002", 2)
    with django_capture_on_commit_callbacks(execute=True):
        (run_id,) = watch_lake_task()
    run = Run.objects.get(pk=run_id)
    assert run.status == "succeeded", run.error
    assert run.cases_total == 2
    assert Verdict.objects.get(run=run).trials == 2
    assert run.entry.kind == "validation-result"
    assert set(LandedDrive.objects.values_list("key", flat=True)) == {
        "drive-001.parquet",
        "drive-002.parquet",
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert services.watch_poll(watching) is None  # seen already
        land(incoming, "drive-003", 3)
        assert services.watch_poll(watching).cases_total == 1


@pytest.mark.s3
def test_drives_landing_in_s3_are_fetched_and_judged(
    watching, s3, tmp_path, django_capture_on_commit_callbacks
):
    s3.create_bucket(Bucket="lake")
    land(tmp_path, "drive-101", 5)
    s3.put_object(
        Bucket="lake",
        Key="incoming/drive-101.parquet",
        Body=(tmp_path / "drive-101.parquet").read_bytes(),
    )
    watching.watch_uri = "s3://lake/incoming"
    watching.save()
    with django_capture_on_commit_callbacks(execute=True):
        run = services.watch_poll(watching)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.cases_total == 1
