"""What every executor shares: its errors and the protocol the run service drives it through."""

from __future__ import annotations

from typing import Protocol


class ExecutorError(Exception):
    """A shard could not be run; the message is recorded on the run."""


class TransientExecutorError(ExecutorError):
    """A failure worth retrying (throttling, a lost connection): the task retries with backoff."""


class ExecutorBusy(TransientExecutorError):  # noqa: N818 (a state, not an error)
    """The executor runs as many jobs as it may; submit the shard again later. Unlike other
    transient failures this one is expected on a large campaign, so it is retried without limit."""


class ShardPending(Exception):  # noqa: N818 (a state, not an error)
    """The executor's job for a shard is still running; poll again later with ``handle``."""

    def __init__(self, handle: str):
        super().__init__(handle)
        self.handle = handle


class Executor(Protocol):
    """Where the KPIs of a shard of test cases are computed.

    ``submit`` hands over a shard's cases (see :mod:`validation.execution.cases`) and returns a
    handle; ``poll`` gives the handle's state: ``running``, ``succeeded``, ``failed`` or
    ``cancelled``; ``collect`` returns ``{case_id: kpis}`` (each as
    :func:`validation.kpis.case_record` makes it) once the job succeeded; ``cancel`` stops it;
    ``failure_reason`` says why a job that polled ``failed`` failed, or ``None`` when the
    executor does not know. Any verb may raise :class:`ExecutorError` (the run fails with its
    message) or :class:`TransientExecutorError` (the task tries again later).
    """

    name: str

    def submit(self, run_id: int, shard: int, cases: list[dict]) -> str: ...

    def poll(self, handle: str) -> str: ...

    def collect(self, handle: str) -> dict[str, dict]: ...

    def cancel(self, handle: str) -> None: ...

    def failure_reason(self, handle: str) -> str | None: ...
