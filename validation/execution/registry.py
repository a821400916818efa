"""The executors a campaign can run on: the one list that the models' choices, the run
service, the API and the ``run_campaign`` command read.

An executor's module is imported only when :func:`get_executor` builds one: the Spark and
SageMaker modules bring their SDKs with them, which the web process rarely needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ExecutorSpec:
    """One executor: its stored name (a campaign's and a run's ``executor``), the label forms
    and the API show, and the function that builds it."""

    name: str
    label: str
    build: Callable[[], Executor]


#: Every executor by name, in the order forms list them; the first is the default.
EXECUTORS: dict[str, ExecutorSpec] = {
    spec.name: spec
    for spec in (
        ExecutorSpec("local", "Local (numpy / pyarrow)", _local),
        ExecutorSpec("spark", "Spark", _spark),
        ExecutorSpec("sagemaker", "SageMaker job", _sagemaker),
    )
}

DEFAULT = next(iter(EXECUTORS))


def names() -> list[str]:
    return list(EXECUTORS)


def choices() -> list[tuple[str, str]]:
    """``(name, label)`` pairs, as Django and DRF choices take them."""
    return [(spec.name, spec.label) for spec in EXECUTORS.values()]


def listed() -> str:
    """The names as a sentence lists them: ``local, spark or sagemaker``."""
    *rest, last = names()
    return f"{', '.join(rest)} or {last}" if rest else last


def get_executor(name: str) -> Executor:
    """A new executor of that name; :class:`ExecutorError` for a name not in the list."""
    spec = EXECUTORS.get(name)
    if spec is None:
        raise ExecutorError(f"unknown executor {name!r}: use {listed()}")
    return spec.build()
