"""The SageMaker executor: the job it creates (moto on loopback), its entry point run as a plain
process in place of the container, and failure states scripted with botocore's Stubber.

moto keeps a processing job's image, role, inputs, outputs and stopping condition but drops its
ProcessingResources and Environment, so those are checked on the request the client sent.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from tests.validation.conftest import BUCKET, IMAGE, ROLE
from validation.execution import registry
from validation.execution import sagemaker as vsm
from validation.execution.base import ExecutorBusy, ExecutorError, TransientExecutorError
from validation.execution.local import compute
from validation.execution.sagemaker import SageMakerExecutor

ROOT = Path(__file__).resolve().parents[2]


def run_container(s3, handle: str, workdir: Path) -> subprocess.CompletedProcess:
    """Do what the job's container does: fetch the input, run the entry point, upload."""
    input_path = workdir / "input" / "cases.json"
    output_path = workdir / "output" / "kpis.json"
    input_path.parent.mkdir(parents=True)
    s3.download_file(BUCKET, f"jobs/{handle}/input/cases.json", str(input_path))
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-m", "validation.jobs.kpi_job"]
        + ["--input", str(input_path), "--output", str(output_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode == 0:
        s3.upload_file(str(output_path), BUCKET, f"jobs/{handle}/output/kpis.json")
    return done


def describe(handle: str, status: str, reason: str | None = None) -> dict:
    """A DescribeProcessingJob response (the Stubber checks it against the API's shape)."""
    response = {
        "ProcessingJobName": handle,
        "ProcessingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{handle}",
        "ProcessingJobStatus": status,
        "CreationTime": dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.g5.xlarge",
                "VolumeSizeInGB": 30,
            }
        },
        "AppSpecification": {"ImageUri": IMAGE},
        "RoleArn": ROLE,
    }
    if reason:
        response["FailureReason"] = reason
    return response


LISTED = {"NameContains": "safecase-", "StatusEquals": "InProgress", "MaxResults": 100}


def jobs_listing(running: int, token: str | None = None) -> dict:
    """A ListProcessingJobs response naming ``running`` jobs in progress."""
    jobs = [
        {
            "ProcessingJobName": f"safecase-1-{i}-0000000{i % 10}",
            "ProcessingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/j{i}",
            "CreationTime": dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
            "ProcessingJobStatus": "InProgress",
        }
        for i in range(running)
    ]
    return {"ProcessingJobSummaries": jobs, **({"NextToken": token} if token else {})}


# --- against moto ---------------------------------------------------------------------------


@pytest.mark.s3
def test_submit_run_poll_collect(sagemaker_env, case_factory, tmp_path):
    s3 = sagemaker_env
    cases = case_factory(6)
    executor = SageMakerExecutor()
    sent = []
    executor.sagemaker_client.meta.events.register(
        "before-parameter-build.sagemaker.CreateProcessingJob",
        lambda params, **_: sent.append(params),
    )
    handle = executor.submit(7, 2, cases)
    assert re.fullmatch(r"safecase-7-2-[0-9a-f]{8}", handle)

    job = boto3.client("sagemaker").describe_processing_job(ProcessingJobName=handle)
    assert job["AppSpecification"] == {
        "ImageUri": IMAGE,
        "ContainerEntrypoint": ["python", "-m", "validation.jobs.kpi_job"],
        "ContainerArguments": [
            "--input",
            "/opt/ml/processing/input/cases.json",
            "--output",
            "/opt/ml/processing/output/kpis.json",
        ],
    }
    assert job["RoleArn"] == ROLE
    assert job["ProcessingInputs"] == [
        {
            "InputName": "cases",
            "S3Input": {
                "S3Uri": f"s3://{BUCKET}/jobs/{handle}/input/cases.json",
                "LocalPath": "/opt/ml/processing/input",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
            },
        }
    ]
    assert job["ProcessingOutputConfig"]["Outputs"] == [
        {
            "OutputName": "kpis",
            "S3Output": {
                "S3Uri": f"s3://{BUCKET}/jobs/{handle}/output/",
                "LocalPath": "/opt/ml/processing/output",
                "S3UploadMode": "EndOfJob",
            },
        }
    ]
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    # what moto does not keep, from the request itself
    (request,) = sent
    assert request["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.g5.xlarge"
    assert request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1
    assert request["Environment"]["SAFECASE_RUN_ID"] == "7"
    assert request["Environment"]["SAFECASE_SHARD"] == "2"

    uploaded = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"jobs/{handle}/input/cases.json")["Body"].read()
    )
    assert uploaded == {"run_id": 7, "shard": 2, "cases": cases}

    done = run_container(s3, handle, tmp_path)
    assert done.returncode == 0, done.stderr
    assert executor.poll(handle) == "succeeded"
    got = executor.collect(handle)
    assert got == compute(cases)  # JSON round-trips floats exactly
    assert list(got) == [c["case_id"] for c in cases]


@pytest.mark.s3
def test_settings_come_from_the_settings(sagemaker_env, settings, case_factory):
    settings.SAFECASE_SAGEMAKER_INSTANCE = "ml.m5.xlarge"
    settings.SAFECASE_SAGEMAKER_MAX_RUNTIME = 900
    executor = SageMakerExecutor()
    sent = []
    executor.sagemaker_client.meta.events.register(
        "before-parameter-build.sagemaker.CreateProcessingJob",
        lambda params, **_: sent.append(params),
    )
    handle = executor.submit(1, 0, case_factory(1))
    assert sent[0]["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.m5.xlarge"
    job = boto3.client("sagemaker").describe_processing_job(ProcessingJobName=handle)
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 900}


def test_missing_settings_are_named(monkeypatch, settings):
    settings.SAFECASE_SAGEMAKER_BUCKET = ""
    settings.SAFECASE_SAGEMAKER_ROLE = ""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    executor = registry.get_executor("sagemaker")
    assert isinstance(executor, SageMakerExecutor)
    with pytest.raises(
        ExecutorError, match="SAFECASE_SAGEMAKER_BUCKET and SAFECASE_SAGEMAKER_ROLE"
    ):
        executor.submit(1, 0, [])


@pytest.mark.s3
def test_cancel_stops_the_job(sagemaker_env, case_factory):
    executor = SageMakerExecutor()
    handle = executor.submit(3, 0, case_factory(2))
    executor.cancel(handle)
    assert executor.poll(handle) == "cancelled"


@pytest.mark.s3
def test_missing_output_is_an_error(sagemaker_env, case_factory):
    executor = SageMakerExecutor()
    handle = executor.submit(3, 1, case_factory(2))
    assert executor.poll(handle) == "succeeded"  # moto completes jobs at once
    with pytest.raises(ExecutorError, match="does not exist"):
        executor.collect(handle)


BAD_OUTPUTS = [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[1, 2]", "is a JSON list, not an object"),
    (b'{"case-000": {"min_ttc": 1.0}}', "lacks 1 of 2 cases, e.g. 'case-001'"),
    (b'{"case-000": {}, "case-001": 3}', "KPIs of case 'case-001' are not a JSON object"),
]


@pytest.mark.s3
@pytest.mark.parametrize(("body", "message"), BAD_OUTPUTS)
def test_corrupt_output_is_an_error(sagemaker_env, case_factory, body, message):
    executor = SageMakerExecutor()
    handle = executor.submit(3, 2, case_factory(2))
    sagemaker_env.put_object(Bucket=BUCKET, Key=f"jobs/{handle}/output/kpis.json", Body=body)
    with pytest.raises(ExecutorError, match=re.escape(message)):
        executor.collect(handle)


def test_entry_point_refuses_bad_input(tmp_path):
    bad = tmp_path / "cases.json"
    bad.write_text('{"cases": [{"scenario": "no id"}]}')
    out = tmp_path / "out" / "kpis.json"
    done = subprocess.run(
        [sys.executable, "-m", "validation.jobs.kpi_job", "--input", str(bad)]
        + ["--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "case 0 is not an object with a string case_id" in done.stderr
    assert not out.exists()


def test_entry_point_reports_cases_it_cannot_compute(tmp_path):
    from validation.jobs import kpi_job

    cases = tmp_path / "cases.json"
    case = {"case_id": "x", "source": {"kind": "drive", "uri": str(tmp_path / "none.parquet")}}
    cases.write_text(json.dumps({"cases": [case]}))
    assert kpi_job.main(["--input", str(cases), "--output", str(tmp_path / "k.json")]) == 1
    assert not (tmp_path / "k.json").exists()


# --- scripted with the Stubber --------------------------------------------------------------


def test_poll_running_then_failed_with_the_reason(offline_aws):
    executor = SageMakerExecutor()
    handle = "safecase-9-0-0123abcd"
    with Stubber(executor.sagemaker_client) as stub:
        stub.add_response(
            "describe_processing_job", describe(handle, "InProgress"), {"ProcessingJobName": handle}
        )
        stub.add_response(
            "describe_processing_job",
            describe(handle, "Failed", "AlgorithmError: kpi_job exited with code 1"),
            {"ProcessingJobName": handle},
        )
        assert executor.poll(handle) == "running"
        assert executor.failure_reason(handle) is None
        assert executor.poll(handle) == "failed"
        assert executor.failure_reason(handle) == "AlgorithmError: kpi_job exited with code 1"
        stub.assert_no_pending_responses()


def test_throttling_is_transient(offline_aws):
    executor = SageMakerExecutor()
    with Stubber(executor.sagemaker_client) as stub:
        stub.add_client_error(
            "describe_processing_job",
            service_error_code="ThrottlingException",
            service_message="Rate exceeded",
            http_status_code=400,
        )
        with pytest.raises(TransientExecutorError, match="ThrottlingException"):
            executor.poll("safecase-9-0-0123abcd")
    assert issubclass(TransientExecutorError, ExecutorError)


@pytest.mark.s3
def test_resource_limit_on_create_is_a_clear_error(sagemaker_env, case_factory):
    executor = SageMakerExecutor()
    with Stubber(executor.sagemaker_client) as stub:
        stub.add_response("list_processing_jobs", jobs_listing(0), LISTED)
        stub.add_client_error(
            "create_processing_job",
            service_error_code="ResourceLimitExceeded",
            service_message="The account-level service limit 'ml.g5.xlarge for processing job "
            "usage' is 2 Instances",
            http_status_code=400,
        )
        with pytest.raises(ExecutorError) as err:
            executor.submit(4, 0, case_factory(1))
    assert not isinstance(err.value, TransientExecutorError)
    text = str(err.value)
    assert "account limit" in text and "ml.g5.xlarge for processing job usage" in text
    listing = sagemaker_env.list_objects_v2(Bucket=BUCKET, Prefix="jobs/")
    assert listing["KeyCount"] == 0  # the input of a job never created is removed


def test_stop_then_cancelled(offline_aws):
    executor = SageMakerExecutor()
    handle = "safecase-9-1-0123abcd"
    with Stubber(executor.sagemaker_client) as stub:
        stub.add_response("stop_processing_job", {}, {"ProcessingJobName": handle})
        stub.add_response(
            "describe_processing_job", describe(handle, "Stopping"), {"ProcessingJobName": handle}
        )
        stub.add_response(
            "describe_processing_job", describe(handle, "Stopped"), {"ProcessingJobName": handle}
        )
        executor.cancel(handle)
        assert executor.poll(handle) == "running"
        assert executor.poll(handle) == "cancelled"
        stub.assert_no_pending_responses()


def test_unknown_job_is_an_error(offline_aws):
    executor = SageMakerExecutor()
    with Stubber(executor.sagemaker_client) as stub:
        stub.add_client_error(
            "describe_processing_job",
            service_error_code="ValidationException",
            service_message="Could not find requested job with name safecase-x",
        )
        with pytest.raises(ExecutorError, match="Could not find") as err:
            executor.poll("safecase-x")
    assert not isinstance(err.value, TransientExecutorError)


# --- SDK telemetry --------------------------------------------------------------------------


def test_sdk_telemetry_is_off():
    from sagemaker.core.common_utils import resolve_value_from_config
    from sagemaker.core.config.config_manager import SageMakerConfig
    from sagemaker.core.config.config_schema import TELEMETRY_OPT_OUT_PATH

    path = Path(os.environ["SAGEMAKER_USER_CONFIG_OVERRIDE"])
    assert path.is_file() and path == Path(vsm.sdk_defaults_file())
    config = SageMakerConfig().load_sagemaker_config()  # validated against the SDK's schema
    opted_out = resolve_value_from_config(
        config_path=TELEMETRY_OPT_OUT_PATH, default_value=False, sagemaker_config=config
    )
    assert opted_out is True


@pytest.mark.s3
def test_no_job_is_created_beyond_the_cap(sagemaker_env, case_factory, settings):
    settings.SAFECASE_SAGEMAKER_MAX_JOBS = 3
    executor = SageMakerExecutor()
    with Stubber(executor.sagemaker_client) as stub:
        # the running jobs come in two pages: 2 + 1 = 3, the cap
        stub.add_response("list_processing_jobs", jobs_listing(2, token="more"), LISTED)
        stub.add_response("list_processing_jobs", jobs_listing(1), {**LISTED, "NextToken": "more"})
        with pytest.raises(ExecutorBusy, match="3 processing jobs are running, the limit is 3"):
            executor.submit(5, 0, case_factory(1))
        stub.assert_no_pending_responses()  # and no create_processing_job was sent
    assert issubclass(ExecutorBusy, TransientExecutorError)
    assert sagemaker_env.list_objects_v2(Bucket=BUCKET, Prefix="jobs/")["KeyCount"] == 0


def test_throttled_while_counting_is_transient(offline_aws, case_factory):
    executor = SageMakerExecutor()
    with Stubber(executor.sagemaker_client) as stub:
        stub.add_client_error(
            "list_processing_jobs", service_error_code="ThrottlingException", http_status_code=400
        )
        with pytest.raises(TransientExecutorError, match="counting running processing jobs"):
            executor.submit(5, 0, case_factory(1))


class _Retry(Exception):
    """What the task raises in place of Celery's retry in these tests."""


def _retries_asked(monkeypatch) -> list[dict]:
    """The keyword arguments of every retry the shard task asks for (none is scheduled)."""
    from validation import tasks

    asked: list[dict] = []

    def retry(**kwargs):
        asked.append(kwargs)
        return _Retry()

    monkeypatch.setattr(tasks.run_shard_task, "retry", retry)
    return asked


def _run_until_retry(task, retries: int, *args) -> None:
    """Run ``task`` as a worker's ``retries``-th attempt would; it must ask for a retry."""
    task.push_request(retries=retries, is_eager=False)
    try:
        with pytest.raises(_Retry):
            task.run(*args)
    finally:
        task.pop_request()


def test_a_busy_executor_makes_the_shard_wait_without_a_retry_limit(monkeypatch):
    """The task retries a busy shard with a pause and no limit (a large campaign waits its turn),
    while other transient failures keep their limited, growing retries."""
    from validation import services, tasks

    calls = []

    def busy(run_id, shard, handle):
        calls.append((run_id, shard, handle))
        raise ExecutorBusy("8 processing jobs are running, the limit is 8")

    monkeypatch.setattr(services, "run_shard", busy)
    asked = _retries_asked(monkeypatch)
    _run_until_retry(tasks.run_shard_task, 2, 11, 3)
    (retried,) = asked
    assert calls == [(11, 3, None)]
    assert retried["max_retries"] is None
    assert retried["args"] == (11, 3, None)
    assert 0 < retried["countdown"] <= 60


def test_a_throttled_shard_backs_off_with_growing_bounded_pauses(offline_aws, monkeypatch):
    """SageMaker answers ThrottlingException (scripted with the Stubber) while the task polls a
    job: the task is retried later, each pause drawn below a bound that doubles per retry up
    to a minute, and only a limited number of times."""
    import random

    from validation import services, tasks

    executor = SageMakerExecutor()
    monkeypatch.setattr(services, "run_shard", lambda run_id, shard, handle: executor.poll(handle))
    retried = _retries_asked(monkeypatch)
    random.seed(18)
    task = tasks.run_shard_task
    with Stubber(executor.sagemaker_client) as stub:
        for retries in range(task.max_retries):
            stub.add_client_error(
                "describe_processing_job",
                service_error_code="ThrottlingException",
                service_message="Rate exceeded",
                http_status_code=400,
            )
            _run_until_retry(task, retries, 11, 3, "safecase-11-3-0123abcd")
        stub.assert_no_pending_responses()
    assert task.max_retries == 5 and task.retry_backoff_max == 60
    for retries, kwargs in enumerate(retried):
        assert isinstance(kwargs["exc"], TransientExecutorError)
        assert "ThrottlingException" in str(kwargs["exc"])
        assert 0 <= kwargs["countdown"] <= min(60, 2 * 2**retries)
    assert len(retried) == task.max_retries
    assert max(k["countdown"] for k in retried) > 2  # the bound grows beyond the first pause
