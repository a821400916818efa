"""The SageMaker executor: one SageMaker Processing job per shard, submitted with sagemaker-core.

``submit`` uploads the shard's cases to S3 as one JSON object and creates a Processing job whose
container runs ``python -m validation.jobs.kpi_job`` on them; ``poll`` describes the job;
``collect`` reads the KPIs the job wrote back to S3; ``cancel`` stops the job. The executor
keeps no state between calls: the handle is the job name and every S3 key derives from it, so
a Celery task retried in another worker can poll and collect a job submitted elsewhere.

S3 layout under ``s3://$SAFECASE_SAGEMAKER_BUCKET/jobs/<job name>/``:

- ``input/cases.json``: ``{"run_id", "shard", "cases": [case, ...]}``, mounted in the
  container as ``/opt/ml/processing/input/cases.json``
- ``output/kpis.json``: ``{case_id: kpis}``, written by the container to
  ``/opt/ml/processing/output/kpis.json`` and uploaded when the job ends

Settings (``config/settings.py``, from the environment):

- ``SAFECASE_SAGEMAKER_BUCKET`` (required): the bucket for inputs and outputs.
- ``SAFECASE_SAGEMAKER_ROLE`` (required): the execution role ARN the job runs as; it must be
  able to read and write the bucket and pull the image.
- ``SAFECASE_SAGEMAKER_IMAGE``: the ECR image with this project installed (entry point
  above). The default is a placeholder naming no real account: set it.
- ``SAFECASE_SAGEMAKER_INSTANCE``: instance type, default ``ml.g5.xlarge``.
- ``SAFECASE_SAGEMAKER_MAX_RUNTIME``: ``MaxRuntimeInSeconds``, default 3600.
- ``SAFECASE_SAGEMAKER_REGION``: the region, default the boto3 session's
  (``AWS_DEFAULT_REGION``). ``AWS_ENDPOINT_URL`` points boto3 at another endpoint (tests); the
  session and the S3 client come from :mod:`evidence.aws`.

Telemetry: the SageMaker SDK reports usage over HTTPS unless its defaults file opts out.
:func:`sdk_defaults_file` writes a defaults file with
``SageMaker.PythonSDK.Modules.TelemetryOptOut: true`` and names it in
``SAGEMAKER_USER_CONFIG_OVERRIDE`` before the SDK is first imported (the SDK is only imported
inside this module's functions, after that). An operator who sets
``SAGEMAKER_USER_CONFIG_OVERRIDE`` to a file of their own keeps it, and must put the opt-out in
it. Besides that, this module talks only to the configured SageMaker and S3 endpoints.

Recorded drive cases (``source.kind == "drive"``) are read by the container from their URI, so
they must be reachable from inside the job.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings

from evidence import aws
from validation.execution.base import ExecutorBusy, ExecutorError, TransientExecutorError

__all__ = [
    "SageMakerExecutor",
    "sdk_defaults_file",
]

INPUT_DIR = "/opt/ml/processing/input"
OUTPUT_DIR = "/opt/ml/processing/output"
ENTRY_POINT = ["python", "-m", "validation.jobs.kpi_job"]

#: Job states as the executor protocol names them.
STATES = {
    "InProgress": "running",
    "Stopping": "running",
    "Completed": "succeeded",
    "Failed": "failed",
    "Stopped": "cancelled",
}

#: Error codes that mean "try again later" (throttling, a busy or failing service).
TRANSIENT_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "ProvisionedThroughputExceededException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalServerError",
    "InternalError",
}


# --------------------------------------------------------------------------------------------
# SDK defaults (telemetry opt-out)
# --------------------------------------------------------------------------------------------

SDK_DEFAULTS = """\
# Written by validation.execution.sagemaker: SageMaker SDK defaults for Safecase.
SchemaVersion: '1.0'
SageMaker:
  PythonSDK:
    Modules:
      TelemetryOptOut: true
"""

_defaults_lock = threading.Lock()


def sdk_defaults_file() -> str:
    """Make sure ``SAGEMAKER_USER_CONFIG_OVERRIDE`` names an SDK defaults file; return it.

    When unset, writes :data:`SDK_DEFAULTS` (telemetry off) to a private temporary folder and
    sets the variable. Call before importing ``sagemaker``; this module's functions do.
    """
    with _defaults_lock:
        current = os.environ.get("SAGEMAKER_USER_CONFIG_OVERRIDE")
        if current:
            return current
        folder = Path(tempfile.mkdtemp(prefix="safecase-sagemaker-"))
        path = folder / "config.yaml"
        path.write_text(SDK_DEFAULTS, encoding="utf-8")
        os.environ["SAGEMAKER_USER_CONFIG_OVERRIDE"] = str(path)
        return str(path)


sdk_defaults_file()


def _sdk():
    """sagemaker-core's resources and shapes, imported after the defaults file is in place."""
    sdk_defaults_file()
    from sagemaker.core import resources, shapes

    return resources, shapes


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def _error(exc: Exception, doing: str) -> ExecutorError:
    """An :class:`ExecutorError` (transient where a retry can help) for a boto3 failure."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, message = err.get("Code", "?"), err.get("Message", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in TRANSIENT_CODES or status in (429, 502, 503, 504):
            return TransientExecutorError(f"{doing}: SageMaker/S3 asked to retry later ({code})")
        if code == "ResourceLimitExceeded":
            return ExecutorError(
                f"{doing}: SageMaker refused the job, an account limit is reached ({message}); "
                "wait for running jobs to end, run fewer shards at once or ask AWS for a higher "
                "quota for this instance type"
            )
        return ExecutorError(f"{doing}: {code}: {message}")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return TransientExecutorError(f"{doing}: endpoint not reachable ({exc})")
    if isinstance(exc, ConnectionClosedError):
        return TransientExecutorError(f"{doing}: connection closed ({exc})")
    if isinstance(exc, NoCredentialsError):
        return ExecutorError(f"{doing}: no AWS credentials configured")
    return ExecutorError(f"{doing}: {exc}")


def _assigned(value: Any) -> Any:
    """``None`` for sagemaker-core's ``Unassigned`` placeholder, the value otherwise."""
    return None if type(value).__name__ == "Unassigned" else value


# --------------------------------------------------------------------------------------------
# Executor
# --------------------------------------------------------------------------------------------


class SageMakerExecutor:
    """One SageMaker Processing job per shard; see the module docstring for the settings."""

    name = "sagemaker"

    def __init__(
        self,
        *,
        bucket: str | None = None,
        role: str | None = None,
        image: str | None = None,
        instance_type: str | None = None,
        max_runtime: int | None = None,
        max_jobs: int | None = None,
        region: str | None = None,
        session=None,
    ) -> None:
        self.bucket = bucket or settings.SAFECASE_SAGEMAKER_BUCKET
        self.role = role or settings.SAFECASE_SAGEMAKER_ROLE
        self.image = image or settings.SAFECASE_SAGEMAKER_IMAGE
        self.instance_type = instance_type or settings.SAFECASE_SAGEMAKER_INSTANCE
        self.max_runtime = int(max_runtime or settings.SAFECASE_SAGEMAKER_MAX_RUNTIME)
        self.max_jobs = int(max_jobs or settings.SAFECASE_SAGEMAKER_MAX_JOBS)
        self.session = session or aws.new_session()
        self.region = region or settings.SAFECASE_SAGEMAKER_REGION or self.session.region_name
        #: failure reasons of jobs polled ``failed``, by handle
        self.failures: dict[str, str] = {}

    # -- clients --------------------------------------------------------------------------

    def _check(self) -> None:
        missing = [
            name
            for name, value in (
                ("SAFECASE_SAGEMAKER_BUCKET", self.bucket),
                ("SAFECASE_SAGEMAKER_ROLE", self.role),
            )
            if not value
        ]
        if missing:
            raise ExecutorError(f"the SageMaker executor needs {' and '.join(missing)} set")
        if not self.region:
            raise ExecutorError(
                "the SageMaker executor needs a region: set SAFECASE_SAGEMAKER_REGION or "
                "AWS_DEFAULT_REGION"
            )

    @property
    def sagemaker_client(self):
        """The boto3 SageMaker client sagemaker-core uses for this executor's calls."""
        resources, _ = _sdk()
        return resources.Base.get_sagemaker_client(session=self.session, region_name=self.region)

    @property
    def s3_client(self):
        if not hasattr(self, "_s3"):
            self._s3 = aws.client("s3", session=self.session, region=self.region)
        return self._s3

    def prefix(self, handle: str) -> str:
        """The S3 key prefix of a job's files."""
        return f"jobs/{handle}"

    def _get(self, handle: str):
        resources, _ = _sdk()
        return resources.ProcessingJob.get(
            processing_job_name=handle, session=self.session, region=self.region
        )

    def running_jobs(self) -> int:
        """Safecase's processing jobs in progress in this account and region."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.sagemaker_client
        count, token = 0, None
        try:
            while True:
                page = client.list_processing_jobs(
                    NameContains="safecase-",
                    StatusEquals="InProgress",
                    MaxResults=100,
                    **({"NextToken": token} if token else {}),
                )
                count += len(page.get("ProcessingJobSummaries", []))
                token = page.get("NextToken")
                if not token or count >= self.max_jobs:
                    return count
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "counting running processing jobs") from exc

    # -- the four verbs -------------------------------------------------------------------

    def submit(self, run_id: int, shard: int, cases: list[dict]) -> str:
        from botocore.exceptions import BotoCoreError, ClientError
        from pydantic import ValidationError

        self._check()
        resources, shapes = _sdk()
        # At most max_jobs at once: SageMaker's account quota would refuse more, and a campaign
        # of a thousand shards must not take every GPU. Workers that check at the same moment
        # may pass the cap by one job each; the quota still bounds them.
        running = self.running_jobs()
        if running >= self.max_jobs:
            raise ExecutorBusy(
                f"{running} processing jobs are running, the limit is {self.max_jobs} "
                "(SAFECASE_SAGEMAKER_MAX_JOBS): the shard waits"
            )
        handle = f"safecase-{int(run_id)}-{int(shard)}-{uuid.uuid4().hex[:8]}"
        prefix = self.prefix(handle)
        body = {"run_id": run_id, "shard": shard, "cases": cases}
        try:
            data = json.dumps(body, sort_keys=True, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise ExecutorError(f"the shard's cases are not JSON: {exc}") from exc
        input_key = f"{prefix}/input/cases.json"
        try:
            self.s3_client.put_object(
                Bucket=self.bucket, Key=input_key, Body=data, ContentType="application/json"
            )
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, f"uploading s3://{self.bucket}/{input_key}") from exc
        try:
            resources.ProcessingJob.create(
                processing_job_name=handle,
                role_arn=self.role,
                processing_resources=shapes.ProcessingResources(
                    cluster_config=shapes.ProcessingClusterConfig(
                        instance_count=1, instance_type=self.instance_type, volume_size_in_gb=30
                    )
                ),
                app_specification=shapes.AppSpecification(
                    image_uri=self.image,
                    container_entrypoint=ENTRY_POINT,
                    container_arguments=[
                        "--input",
                        f"{INPUT_DIR}/cases.json",
                        "--output",
                        f"{OUTPUT_DIR}/kpis.json",
                    ],
                ),
                processing_inputs=[
                    shapes.ProcessingInput(
                        input_name="cases",
                        s3_input=shapes.ProcessingS3Input(
                            s3_uri=f"s3://{self.bucket}/{input_key}",
                            local_path=INPUT_DIR,
                            s3_data_type="S3Prefix",
                            s3_input_mode="File",
                        ),
                    )
                ],
                processing_output_config=shapes.ProcessingOutputConfig(
                    outputs=[
                        shapes.ProcessingOutput(
                            output_name="kpis",
                            s3_output=shapes.ProcessingS3Output(
                                s3_uri=f"s3://{self.bucket}/{prefix}/output/",
                                local_path=OUTPUT_DIR,
                                s3_upload_mode="EndOfJob",
                            ),
                        )
                    ]
                ),
                stopping_condition=shapes.ProcessingStoppingCondition(
                    max_runtime_in_seconds=self.max_runtime
                ),
                environment={
                    "SAFECASE_RUN_ID": str(run_id),
                    "SAFECASE_SHARD": str(shard),
                    "PYTHONUNBUFFERED": "1",
                },
                tags=[shapes.Tag(key="safecase:run", value=str(run_id))],
                session=self.session,
                region=self.region,
            )
        except (ClientError, BotoCoreError, ValidationError) as exc:
            self._discard(input_key)
            if isinstance(exc, ValidationError):
                raise ExecutorError(f"creating processing job {handle}: {exc}") from exc
            raise _error(exc, f"creating processing job {handle}") from exc
        return handle

    def poll(self, handle: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            job = self._get(handle)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, f"describing processing job {handle}") from exc
        status = _assigned(job.processing_job_status) or "?"
        state = STATES.get(status)
        if state is None:
            self.failures[handle] = f"unexpected job status {status!r}"
            return "failed"
        if state == "failed":
            self.failures[handle] = _assigned(job.failure_reason) or "no reason given"
        return state

    def failure_reason(self, handle: str) -> str | None:
        """SageMaker's ``FailureReason`` for a job that :meth:`poll` found failed."""
        return self.failures.get(handle)

    def collect(self, handle: str) -> dict[str, dict]:
        """The KPIs the job wrote, checked: a JSON object with an entry for every case."""
        expected = self._read_json(f"{self.prefix(handle)}/input/cases.json", "input")
        cases = expected.get("cases") if isinstance(expected, dict) else None
        if not isinstance(cases, list):
            raise ExecutorError(f"job {handle}: its input cases.json holds no case list")
        results = self._read_json(f"{self.prefix(handle)}/output/kpis.json", "output")
        if not isinstance(results, dict):
            raise ExecutorError(
                f"job {handle}: output kpis.json is a JSON {type(results).__name__}, "
                "not an object of case ids"
            )
        ids = [str(c.get("case_id")) for c in cases]
        missing = [cid for cid in ids if cid not in results]
        if missing:
            raise ExecutorError(
                f"job {handle}: output kpis.json lacks {len(missing)} of {len(ids)} cases, "
                f"e.g. {missing[0]!r}"
            )
        bad = [cid for cid in ids if not isinstance(results[cid], dict)]
        if bad:
            raise ExecutorError(f"job {handle}: KPIs of case {bad[0]!r} are not a JSON object")
        return {cid: results[cid] for cid in ids}

    def cancel(self, handle: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.sagemaker_client.stop_processing_job(ProcessingJobName=handle)
        except ClientError as exc:
            message = exc.response.get("Error", {}).get("Message", "")
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ValidationException" and "status" in message.lower():
                return  # the job has already ended: nothing to stop
            raise _error(exc, f"stopping processing job {handle}") from exc
        except BotoCoreError as exc:
            raise _error(exc, f"stopping processing job {handle}") from exc

    # -- S3 -------------------------------------------------------------------------------

    def _read_json(self, key: str, what: str) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"s3://{self.bucket}/{key}"
        try:
            body = self.s3_client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise ExecutorError(
                    f"the job's {what} {where} does not exist (the job wrote no KPIs?)"
                ) from exc
            raise _error(exc, f"reading {where}") from exc
        except BotoCoreError as exc:
            raise _error(exc, f"reading {where}") from exc
        try:
            return json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ExecutorError(f"the job's {what} {where} is not valid JSON ({exc})") from exc

    def _discard(self, key: str) -> None:
        """Best-effort removal of an input nobody will read (the job was not created)."""
        try:
            self.s3_client.delete_object(Bucket=self.bucket, Key=key)
        except Exception:  # noqa: S110 - cleanup only; the create error is what matters
            pass
