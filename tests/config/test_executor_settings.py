"""Settings that the executors, the commands and the demo read: from the environment, in config/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management.base import CommandError

from projects.cli import resolve_actor
from validation.execution import spark as vspark

ROOT = Path(__file__).resolve().parents[2]

NAMES = [
    "SAFECASE_USER",
    "SAFECASE_DEMO_PASSWORD",
    "SPARK_MASTER",
    "SAFECASE_SPARK_SHUFFLE_PARTITIONS",
    "SAFECASE_SPARK_BUCKETS",
    "SAFECASE_SPARK_S3A",
    "SAFECASE_SAGEMAKER_BUCKET",
    "SAFECASE_SAGEMAKER_ROLE",
    "SAFECASE_SAGEMAKER_IMAGE",
    "SAFECASE_SAGEMAKER_INSTANCE",
    "SAFECASE_SAGEMAKER_MAX_RUNTIME",
    "SAFECASE_SAGEMAKER_REGION",
]
ENDPOINTS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


def _settings(**env: str) -> subprocess.CompletedProcess:
    """Import the settings module in a fresh process with only ``env`` of the variables set."""
    environ = {k: v for k, v in os.environ.items() if k not in (*NAMES, *ENDPOINTS)}
    environ.update(DEBUG="1", **env)
    code = (
        "import json, sys; from config import settings as s; "
        "print(json.dumps({n: getattr(s, n) for n in sys.argv[1:]}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *NAMES, "SAFECASE_SPARK_S3A_ENDPOINT"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
    )


def test_defaults():
    done = _settings()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "SAFECASE_USER": None,
        "SAFECASE_DEMO_PASSWORD": "safecase-demo",
        "SPARK_MASTER": "local[*]",
        "SAFECASE_SPARK_SHUFFLE_PARTITIONS": 4,
        "SAFECASE_SPARK_BUCKETS": 16,
        "SAFECASE_SPARK_S3A": False,
        "SAFECASE_SPARK_S3A_ENDPOINT": "",
        "SAFECASE_SAGEMAKER_BUCKET": "",
        "SAFECASE_SAGEMAKER_ROLE": "",
        "SAFECASE_SAGEMAKER_IMAGE": (
            "000000000000.dkr.ecr.eu-central-1.amazonaws.com/safecase-kpi:latest"
        ),
        "SAFECASE_SAGEMAKER_INSTANCE": "ml.g5.xlarge",
        "SAFECASE_SAGEMAKER_MAX_RUNTIME": 3600,
        "SAFECASE_SAGEMAKER_REGION": None,
    }


def test_values_from_the_environment():
    done = _settings(
        SAFECASE_USER="erin",
        SPARK_MASTER="spark://10.0.0.5:7077",
        SAFECASE_SPARK_BUCKETS="0",
        SAFECASE_SPARK_S3A="yes",
        AWS_ENDPOINT_URL="http://127.0.0.1:9000",
        AWS_ENDPOINT_URL_S3="http://127.0.0.1:9001",
        SAFECASE_SAGEMAKER_MAX_RUNTIME="900",
        SAFECASE_SAGEMAKER_REGION="eu-central-1",
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["SAFECASE_USER"] == "erin"
    assert got["SPARK_MASTER"] == "spark://10.0.0.5:7077"
    assert got["SAFECASE_SPARK_BUCKETS"] == 0
    assert got["SAFECASE_SPARK_S3A"] is True
    assert got["SAFECASE_SPARK_S3A_ENDPOINT"] == "http://127.0.0.1:9001"  # the S3 one first
    assert got["SAFECASE_SAGEMAKER_MAX_RUNTIME"] == 900
    assert got["SAFECASE_SAGEMAKER_REGION"] == "eu-central-1"


@pytest.mark.parametrize(
    ("name", "value"), [("SAFECASE_SPARK_BUCKETS", "many"), ("SAFECASE_SPARK_S3A", "maybe")]
)
def test_a_malformed_value_is_named_at_start_up(name, value):
    done = _settings(**{name: value})
    assert done.returncode != 0
    assert name in done.stderr


def test_spark_reads_the_settings(settings):
    settings.SAFECASE_SPARK_SHUFFLE_PARTITIONS = 7
    settings.SAFECASE_SPARK_S3A = False
    conf = vspark.spark_conf()
    assert conf["spark.sql.shuffle.partitions"] == "7"
    # the workers import validation.* from this checkout
    assert conf["spark.executorEnv.PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)
    assert not any(key.startswith("spark.hadoop.fs.s3a") for key in conf)
    settings.SAFECASE_SPARK_S3A = True
    settings.SAFECASE_SPARK_S3A_ENDPOINT = "http://127.0.0.1:9000"
    conf = vspark.spark_conf()
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9000"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    settings.SAFECASE_SPARK_BUCKETS = 5
    assert vspark.SparkExecutor()._buckets == 5
    settings.SAFECASE_SPARK_BUCKETS = 0
    assert vspark.SparkExecutor()._buckets is None


@pytest.mark.django_db
def test_commands_act_as_the_configured_user(settings, django_user_model):
    django_user_model.objects.create_user("erin")
    settings.SAFECASE_USER = "erin"
    assert resolve_actor(None).username == "erin"
    settings.SAFECASE_USER = "nobody"
    with pytest.raises(CommandError, match="nobody"):
        resolve_actor(None)
