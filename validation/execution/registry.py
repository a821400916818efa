"""The executors a campaign can run on: the one list that the models' choices, the run
service, the API and the ``run_campaign`` command read.

An executor's module is imported only when :func:`get_executor` builds one: the Spark and
SageMaker modules bring their SDKs with them, which the web process rarely needs.

Every executor is known (a stored run names it), but only a configured one may run: Spark needs
pyspark and a Java runtime, SageMaker its bucket and execution role. :func:`configured_choices`
is what the planner offers, and :func:`not_configured` says why one may not run, in the words
the run service refuses with.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from validation.execution.base import Executor, ExecutorError


def _local() -> Executor:
    from validation.execution.local import LocalExecutor

    return LocalExecutor()


def _spark() -> Executor:
    from validation.execution.spark import SparkExecutor

    return SparkExecutor()


def _sagemaker() -> Executor:
    from validation.execution.sagemaker import SageMakerExecutor

    return SageMakerExecutor()


def _always() -> str | None:
    return None


def _spark_missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "no Java runtime (java on the PATH or JAVA_HOME)"
    return None


def _sagemaker_missing() -> str | None:
    missing = [
        name
        for name in ("SAFECASE_SAGEMAKER_BUCKET", "SAFECASE_SAGEMAKER_ROLE")
        if not getattr(settings, name, "")
    ]
    if not missing:
        return None
    return f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set"


@dataclass(frozen=True)
class ExecutorSpec:
    """One executor: its stored name (a campaign's and a run's ``executor``), the label forms
    and the API show, the function that builds it, and the one that says what it lacks to run
    here (None when it is configured)."""

    name: str
    label: str
    build: Callable[[], Executor]
    missing: Callable[[], str | None] = _always


#: Every executor by name, in the order forms list them; the first is the default.
EXECUTORS: dict[str, ExecutorSpec] = {
    spec.name: spec
    for spec in (
        ExecutorSpec("local", "Local (numpy / pyarrow)", _local),
        ExecutorSpec("spark", "Spark", _spark, _spark_missing),
        ExecutorSpec("sagemaker", "SageMaker job", _sagemaker, _sagemaker_missing),
    )
}

DEFAULT = next(iter(EXECUTORS))


def names() -> list[str]:
    return list(EXECUTORS)


def choices() -> list[tuple[str, str]]:
    """``(name, label)`` pairs, as Django and DRF choices take them."""
    return [(spec.name, spec.label) for spec in EXECUTORS.values()]


def listed(among: list[str] | None = None) -> str:
    """The names as a sentence lists them: ``local, spark or sagemaker``."""
    *rest, last = among if among is not None else names()
    return f"{', '.join(rest)} or {last}" if rest else last


def not_configured(name: str) -> str | None:
    """Why the executor ``name`` may not run here (None when it may): its refusal."""
    spec = EXECUTORS[name]
    missing = spec.missing()
    if missing is None:
        return None
    return (
        f"The {spec.label} executor is not configured here: {missing}. "
        f"Use {listed(configured_names())}."
    )


def configured_names() -> list[str]:
    return [spec.name for spec in EXECUTORS.values() if spec.missing() is None]


def configured_choices() -> list[tuple[str, str]]:
    """``(name, label)`` of the executors that may run here, as the planner offers them."""
    return [(spec.name, spec.label) for spec in EXECUTORS.values() if spec.missing() is None]


def get_executor(name: str) -> Executor:
    """A new executor of that name; :class:`ExecutorError` for a name not in the list."""
    spec = EXECUTORS.get(name)
    if spec is None:
        raise ExecutorError(f"unknown executor {name!r}: use {listed()}")
    return spec.build()
