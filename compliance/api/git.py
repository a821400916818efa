"""Git hosting webhooks: push deliveries from GitHub and GitLab link commits to requirements.

These two views are the only endpoints that do not authenticate a user. The hosting service
proves itself with the project's shared secret (an HMAC-SHA256 signature of the raw body for
GitHub, a token for GitLab), so DRF's authentication and permission classes are switched off
here and :mod:`compliance.commits.webhooks` checks the secret before anything is recorded, by
the hosting service as the sender the commit-link services accept. The body is read from the
stream with a hard limit (never through ``request.body`` or ``request.data``, which would turn
an oversized body into a 400 and parse it before the signature is checked).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.commits import webhooks
from compliance.commits.records import WebhookOutcome
from projects import selectors
from projects.api.schema import ErrorOut
from projects.models import Project

_RESPONSES = {
    200: OpenApiResponse(OpenApiTypes.OBJECT, description="processed, or a duplicate delivery"),
    202: OpenApiResponse(OpenApiTypes.OBJECT, description="not a push event: ignored"),
    400: OpenApiResponse(ErrorOut, description="malformed payload or missing delivery id"),
    401: OpenApiResponse(
        ErrorOut,
        description="missing or wrong signature or token; also an unknown project or one "
        "without a webhook secret, with the same body",
    ),
    413: OpenApiResponse(ErrorOut, description="body larger than 5 MB"),
}


def _read_body(request) -> bytes:
    """The raw body, refusing more than ``MAX_WEBHOOK_BYTES`` by header or by actual size."""
    limit = webhooks.MAX_WEBHOOK_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError as exc:
        raise webhooks.WebhookError("Content-Length is not a number.") from exc
    if declared > limit:
        raise webhooks.WebhookTooLarge(f"The body is larger than {limit} bytes.")
    stream = request.stream
    body = stream.read(limit + 1) if stream is not None else b""
    if len(body) > limit:
        raise webhooks.WebhookTooLarge(f"The body is larger than {limit} bytes.")
    return body


class _WebhookApi(APIView):
    authentication_classes: list = []  # the shared secret authenticates, not a user
    permission_classes = [AllowAny]
    throttle_scope = "webhook"  # its own rate per sending address (SAFECASE_API_THROTTLE_WEBHOOK)

    def receive(self, request, project: Project | None, body: bytes) -> WebhookOutcome:
        raise NotImplementedError

    def post(self, request, key):
        # An unknown key is not answered 404: the service refuses it exactly like a wrong
        # signature, so the endpoint does not reveal which projects exist.
        project = selectors.project_by_key(key=key)
        try:
            outcome = self.receive(request, project, _read_body(request))
        except webhooks.WebhookError as exc:
            return Response({"detail": str(exc)}, status=exc.status)
        status = 202 if outcome.status == "ignored" else 200
        return Response(outcome.as_dict(), status=status)


class GitHubWebhookApi(_WebhookApi):
    @extend_schema(
        request=None,
        responses=_RESPONSES,
        auth=[],
        description="GitHub push events, signed with X-Hub-Signature-256.",
    )
    def post(self, request, key):
        return super().post(request, key)

    def receive(self, request, project, body):
        meta = request.META
        return webhooks.receive_github_push(
            project=project,
            body=body,
            signature=meta.get("HTTP_X_HUB_SIGNATURE_256"),
            event=meta.get("HTTP_X_GITHUB_EVENT"),
            delivery=meta.get("HTTP_X_GITHUB_DELIVERY"),
            content_type=meta.get("CONTENT_TYPE", ""),
        )


class GitLabWebhookApi(_WebhookApi):
    @extend_schema(
        request=None,
        responses=_RESPONSES,
        auth=[],
        description="GitLab push hooks, authenticated by X-Gitlab-Token.",
    )
    def post(self, request, key):
        return super().post(request, key)

    def receive(self, request, project, body):
        meta = request.META
        return webhooks.receive_gitlab_push(
            project=project,
            body=body,
            token=meta.get("HTTP_X_GITLAB_TOKEN"),
            event=meta.get("HTTP_X_GITLAB_EVENT"),
            delivery=meta.get("HTTP_IDEMPOTENCY_KEY") or meta.get("HTTP_X_GITLAB_EVENT_UUID"),
        )
