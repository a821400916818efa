"""boto3 sessions and clients: the one place they are built.

The object store (:mod:`evidence.storage`), dataset snapshots (:mod:`evidence.datasets`) and the
SageMaker executor (:mod:`validation.execution.sagemaker`) take their clients from here.
Endpoints, credentials and the region come the way boto3 reads them (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID``, ``AWS_DEFAULT_REGION``, the shared config
file), so an S3-compatible server or a test server on loopback needs no code. Every client gets
the same timeouts and, unless the attempts are configured outside the code (``AWS_MAX_ATTEMPTS``
or ``max_attempts`` in the shared config file), the same retry budget.
"""

from __future__ import annotations

from typing import Any

#: Seconds to open a connection and to wait for a response.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 60
#: botocore's ``max_attempts`` (retries after the first try) when nothing outside the code sets it.
MAX_ATTEMPTS = 3


def new_session(*, region: str | None = None):
    """A new boto3 session (region ``region`` or boto3's default)."""
    import boto3

    return boto3.Session(region_name=region or None)


def _retries_configured(session) -> bool:
    """Whether ``AWS_MAX_ATTEMPTS`` or the shared config file sets the attempts."""
    # the botocore session resolves the environment and the shared config file
    return session._session.get_config_variable("max_attempts") is not None


def client_config(session=None):
    """The botocore ``Config`` every client gets (see the module's docstring)."""
    from botocore.config import Config

    options: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT}
    if session is None or not _retries_configured(session):
        options["retries"] = {"max_attempts": MAX_ATTEMPTS}
    return Config(**options)


def client(service: str, *, session=None, region: str | None = None):
    """A boto3 client for ``service`` from ``session`` (a new one when not given)."""
    session = session or new_session()
    return session.client(service, region_name=region or None, config=client_config(session))
