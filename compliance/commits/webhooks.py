"""Git hosting webhooks: push deliveries from GitHub and GitLab.

The delivery authenticates itself with the project's shared secret, an HMAC-SHA256 signature of
the raw body for GitHub, a token for GitLab, checked in constant time before the body is read.
An unknown project, a project without a secret and a wrong signature or token are refused alike.
The commits of an authenticated push are linked by
:func:`compliance.commits.services.push_record`, once per delivery id.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from urllib.parse import parse_qs

from compliance.commits.records import Commit, WebhookOutcome, parse_date, public_url
from compliance.commits.services import WebhookSender, push_record
from projects import jsonbody
from projects.models import Project

__all__ = [
    "MAX_WEBHOOK_BYTES",
    "WebhookError",
    "WebhookTooLarge",
    "WebhookUnauthorized",
    "receive_github_push",
    "receive_gitlab_push",
]

MAX_WEBHOOK_BYTES = 5 * 1024 * 1024


class WebhookError(Exception):
    """A refused delivery; ``status`` is the HTTP status the endpoint answers with."""

    status = 400


class WebhookUnauthorized(WebhookError):
    status = 401


class WebhookTooLarge(WebhookError):
    status = 413


# One answer for every authentication failure of an endpoint: an unknown project, a project
# with no secret and a wrong signature or token look the same from outside, so the endpoint
# tells nobody which project keys exist or which have webhooks set up.
UNAUTHORIZED = "Missing or wrong {header}."
# Compared against when there is no secret, so that every refusal does the same work.
_NO_SECRET = os.urandom(32)


def _secret(project: Project | None) -> bytes | None:
    if project is None or not project.webhook_secret:
        return None
    return project.webhook_secret.encode("utf-8")


def _authenticate(
    project: Project | None,
    provider: str,
    secret: bytes | None,
    expected: bytes,
    given: bytes,
    header: str,
) -> WebhookSender:
    """Compare in constant time (digests of equal length), then refuse with one message; the
    sender the services accept when the delivery proved itself."""
    same = hmac.compare_digest(hashlib.sha256(expected).digest(), hashlib.sha256(given).digest())
    if not (same and secret is not None and given):
        raise WebhookUnauthorized(UNAUTHORIZED.format(header=header))
    return WebhookSender(project=project, provider=provider)


def _header_bytes(value: str | None) -> bytes:
    return (value or "").encode("utf-8", "replace")


def _check_size(body: bytes) -> None:
    if len(body) > MAX_WEBHOOK_BYTES:
        raise WebhookTooLarge(f"The body is larger than {MAX_WEBHOOK_BYTES} bytes.")


def _json(body: bytes, form: bool = False) -> dict:
    try:
        text = body.decode("utf-8")
        if form:
            text = parse_qs(text).get("payload", [""])[0]
        payload = jsonbody.loads(text, max_bytes=MAX_WEBHOOK_BYTES)
    except UnicodeDecodeError as exc:
        raise WebhookError(f"The body is not valid JSON: {exc}") from exc
    except jsonbody.JSONRefused as exc:
        raise WebhookError(str(exc)) from None
    if not isinstance(payload, dict):
        raise WebhookError("The body must be a JSON object.")
    return payload


_SHA = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")


def _strings(value, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise WebhookError(f"{what} must be a list of paths.")
    return value


def _payload_commits(payload: dict) -> list[Commit]:
    """The commits of a GitHub or GitLab push payload (the two share these fields)."""
    raw = payload.get("commits") or []
    if not isinstance(raw, list):
        raise WebhookError("commits must be a list.")
    commits = []
    for position, item in enumerate(raw):
        where = f"commits[{position}]"
        if not isinstance(item, dict):
            raise WebhookError(f"{where} must be an object.")
        sha, tree = item.get("id"), item.get("tree_id") or ""
        if not isinstance(sha, str) or not _SHA.fullmatch(sha):
            raise WebhookError(f"{where}.id must be a commit id (40 or 64 hex digits).")
        if not isinstance(tree, str) or (tree and not _SHA.fullmatch(tree)):
            raise WebhookError(f"{where}.tree_id must be a tree id.")
        author = item.get("author") or {}
        if not isinstance(author, dict):
            raise WebhookError(f"{where}.author must be an object.")
        message = item.get("message") or ""
        if not isinstance(message, str):
            raise WebhookError(f"{where}.message must be a string.")
        try:
            authored_at = parse_date(item.get("timestamp"))
        except (TypeError, ValueError) as exc:
            raise WebhookError(f"{where}.timestamp must be an ISO 8601 date.") from exc
        files = [
            *_strings(item.get("added"), f"{where}.added"),
            *_strings(item.get("removed"), f"{where}.removed"),
            *_strings(item.get("modified"), f"{where}.modified"),
        ]
        commits.append(
            Commit.build(
                sha=sha,
                tree=tree,
                author=f"{author.get('name') or ''} <{author.get('email') or ''}>",
                authored_at=authored_at,
                message=message,
                files=files,
            )
        )
    return commits


def _repository_url(payload: dict, *paths: tuple[str, str]) -> str:
    for outer, inner in paths:
        section = payload.get(outer)
        if isinstance(section, dict) and isinstance(section.get(inner), str):
            return public_url(section[inner])
    return ""


def _link_push(
    sender: WebhookSender, delivery_id: str, payload: dict, repository: str
) -> WebhookOutcome:
    commits = _payload_commits(payload)
    return push_record(
        sender=sender,
        project=sender.project,
        delivery_id=delivery_id,
        commits=commits,
        repository=repository,
    )


def _delivery_id(value: str | None, header: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > 200:
        raise WebhookError(f"The {header} header is missing or longer than 200 characters.")
    return value


def receive_github_push(
    *,
    project: Project | None,
    body: bytes,
    signature: str | None,
    event: str | None,
    delivery: str | None,
    content_type: str = "application/json",
) -> WebhookOutcome:
    """A GitHub delivery: ``X-Hub-Signature-256`` must be the HMAC-SHA256 of the raw body.

    ``project`` is None for an unknown key; that is refused like a wrong signature.
    """
    _check_size(body)
    secret = _secret(project)
    mac = hmac.new(secret or _NO_SECRET, body, hashlib.sha256).hexdigest()
    expected = b"sha256=" + mac.encode("ascii")
    sender = _authenticate(
        project, "github", secret, expected, _header_bytes(signature).strip(), "X-Hub-Signature-256"
    )
    if (event or "").strip() != "push":
        return WebhookOutcome("ignored", f"GitHub event {event!r} is not a push.")
    delivery_id = _delivery_id(delivery, "X-GitHub-Delivery")
    form = (content_type or "").startswith("application/x-www-form-urlencoded")
    payload = _json(body, form=form)
    repository = _repository_url(payload, ("repository", "html_url"), ("repository", "url"))
    return _link_push(sender, delivery_id, payload, repository)


def receive_gitlab_push(
    *,
    project: Project | None,
    body: bytes,
    token: str | None,
    event: str | None,
    delivery: str | None,
) -> WebhookOutcome:
    """A GitLab delivery: ``X-Gitlab-Token`` must equal the project's secret (refused like a
    wrong token when ``project`` is None or has no secret)."""
    _check_size(body)
    secret = _secret(project)
    sender = _authenticate(
        project, "gitlab", secret, secret or _NO_SECRET, _header_bytes(token), "X-Gitlab-Token"
    )
    if (event or "").strip() != "Push Hook":
        return WebhookOutcome("ignored", f"GitLab event {event!r} is not a push.")
    delivery_id = _delivery_id(delivery, "Idempotency-Key or X-Gitlab-Event-UUID")
    payload = _json(body)
    repository = _repository_url(payload, ("project", "web_url"), ("repository", "homepage"))
    return _link_push(sender, delivery_id, payload, repository)
