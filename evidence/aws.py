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

import os
import threading
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


#: What boto3 reads from the environment when it builds a client: a cached client is reused only
#: while these are unchanged.
_CLIENT_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_SAGEMAKER",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_MAX_ATTEMPTS",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()


def client(service: str, *, session=None, region: str | None = None):
    """A boto3 client for ``service`` from ``session``.

    Without a session, one client per service, region and AWS environment is kept per process
    and shared by its threads (boto3 clients are thread-safe): building one costs a session and
    the service model, most of a second on a busy machine, which every ledger append that
    publishes a checkpoint to S3 would otherwise pay again.
    """
    if session is not None:
        return session.client(service, region_name=region or None, config=client_config(session))
    key = (service, region, os.getpid(), tuple(os.environ.get(name) for name in _CLIENT_ENV))
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            session = new_session()
            found = session.client(
                service, region_name=region or None, config=client_config(session)
            )
            _clients[key] = found
        return found
