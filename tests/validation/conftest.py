"""Fixtures of the validation tests (none is autouse: other tests skip them).

``criterion`` and ``campaign``: an acceptance criterion on a per-case KPI, and a campaign of
twelve grid cases judged by it, planned through the services.

``spark``: the one SparkSession of the whole test run (starting one takes 7 to 11 s), the same
object :func:`validation.execution.spark.get_spark` hands the executor; skipped without Java.
``sagemaker_env``: a clean moto server (S3 and SageMaker) with a bucket and the executor's
settings. ``offline_aws``: settings for tests that stub every SageMaker call, with boto3 pointed
at a closed loopback port so that nothing unstubbed can reach the network.
"""

from __future__ import annotations

import numpy as np
import pytest

from compliance import services as compliance
from validation import services
from validation.models import Scenario

BUCKET = "safecase-jobs"
ROLE = "arn:aws:iam::123456789012:role/safecase-processing"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/safecase-kpi:test"


@pytest.fixture(scope="session")
def spark():
    from validation.execution import spark as vspark
    from validation.execution.base import ExecutorError

    try:
        vspark._require_java()
    except ExecutorError as exc:
        pytest.skip(f"Spark tests need Java 17 ({exc})")
    session = vspark.get_spark()
    yield session
    vspark.stop_spark()


def make_cases(n: int, seed: int = 11) -> list[dict]:
    """``n`` simulated cases cycling through ccrs, ccrm, ccrb and cut_in with drawn parameters.

    Every fifth case has its AEB off, so that some cases collide (impact speed, collision time);
    in one of eight the ccrm target is faster than the ego, so nothing ever closes.
    """
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        scenario = ("ccrs", "ccrm", "ccrb", "cut_in")[i % 4]
        ego = float(np.round(rng.uniform(20, 80)))
        params: dict = {
            "scenario": scenario,
            "ego_speed": ego,
            "surface": "wet" if rng.random() < 0.3 else "dry",
            "lighting": ("day", "night", "low_sun")[i % 3],
            "aeb": i % 5 != 4,
        }
        if scenario in ("ccrs", "ccrm"):
            params["lateral_offset"] = float(np.round(rng.uniform(-0.9, 0.9), 2))
        if scenario == "ccrm":
            params["target_speed"] = float(np.round(rng.uniform(10, min(20, ego - 5))))
            if i % 8 == 5:  # a target pulling away: nothing ever closes, TTC "inf"
                params["target_speed"] = ego + 10.0
        if scenario == "ccrb":
            params.update(
                ego_speed=max(ego, 50.0),
                target_speed=max(ego, 50.0),
                target_decel=float(np.round(rng.uniform(2.0, 6.0), 1)),
                initial_gap=float(np.round(rng.uniform(12, 40))),
            )
        if scenario == "cut_in":
            params.update(
                ego_speed=ego + 30.0,
                target_speed=ego,
                initial_gap=float(np.round(rng.uniform(5, 25))),
                cut_in_time=1.0,
            )
        cases.append(
            {
                "case_id": f"case-{i:03d}",
                "scenario": scenario,
                "params": params,
                "source": {"kind": "simulate", "seed": 1000 + i},
            }
        )
    return cases


@pytest.fixture
def case_factory():
    """``case_factory(n, seed=11)`` -> simulated cases (see :func:`make_cases`)."""
    return make_cases


@pytest.fixture
def sim_cases():
    """Twenty simulated cases over the four scenarios."""
    return make_cases(20)


def _aws_settings(monkeypatch, settings) -> None:
    settings.SAFECASE_SAGEMAKER_BUCKET = BUCKET
    settings.SAFECASE_SAGEMAKER_ROLE = ROLE
    settings.SAFECASE_SAGEMAKER_IMAGE = IMAGE
    settings.SAFECASE_SAGEMAKER_INSTANCE = "ml.g5.xlarge"
    settings.SAFECASE_SAGEMAKER_REGION = None
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def sagemaker_env(s3, monkeypatch, settings):
    """A reset moto server with the job bucket; yields the boto3 S3 client."""
    _aws_settings(monkeypatch, settings)
    s3.create_bucket(Bucket=BUCKET)
    return s3


@pytest.fixture
def offline_aws(monkeypatch, settings):
    """Executor settings with no reachable endpoint: every SageMaker call must be stubbed."""
    _aws_settings(monkeypatch, settings)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


@pytest.fixture
def no_collision(project, members):
    """FSR-010 and its criterion AC-04 (no collision, p <= 0.05 at 90 %), as in the demo."""
    from compliance import services as compliance

    fsr = compliance.requirement_create(
        user=members["engineer"], project=project, code="FSR-010", kind="FSR", asil="C"
    )
    return compliance.acceptance_criterion_save(
        user=members["engineer"],
        project=project,
        code="AC-04",
        requirement=fsr,
        unit="cases",
        allowed_failure_probability=0.05,
        confidence=0.9,
        kpi="min_distance",
        comparator=">",
        threshold=0.0,
        description="no collision",
    )


@pytest.fixture
def criterion(project, members):
    fsr = compliance.requirement_create(
        user=members["engineer"], project=project, code="FSR-010", kind="FSR", asil="C"
    )
    return compliance.acceptance_criterion_save(
        user=members["engineer"],
        project=project,
        code="AC-02",
        requirement=fsr,
        unit="cases",
        allowed_failure_probability=1e-3,
        confidence=0.95,
        kpi="min_ttc",
        comparator=">",
        threshold=1.0,
        description="stopped vehicle",
    )


@pytest.fixture
def campaign(project, members, criterion):
    scenario = Scenario.objects.create(
        project=project, name="ccrs", file_name="ccrs.xosc", sha256="0" * 64
    )
    scenario.requirements.add(criterion.requirement)
    space = services.space_create(
        user=members["engineer"],
        project=project,
        scenario=scenario,
        name="grid",
        ranges={"ego_speed": [20, 50, 10], "initial_gap": [30, 60, 15]},
        method="grid",
        n=100,
        fixed={"scenario": "ccrs"},
    )
    return services.campaign_create(
        user=members["engineer"],
        project=project,
        name="CCRs",
        spaces=[space],
        criteria=[criterion],
        shard_size=5,
    )
