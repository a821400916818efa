"""GitHub and GitLab push webhooks, through the whole HTTP stack and a real server."""

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest
from django.test import Client

from compliance import services
from compliance.commits.webhooks import WebhookUnauthorized, receive_github_push
from compliance.models import CommitLink, WebhookDelivery
from evidence.models import LogEntry

pytestmark = pytest.mark.django_db

SECRET = "hook-secret-0123456789"
SHA_1 = "a" * 40
SHA_2 = "b" * 40
TREE = "c" * 40


@pytest.fixture
def http():
    """A client that enforces CSRF like a browser-facing deployment would."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def hooked(project, members):
    project.webhook_secret = SECRET
    project.save()
    for code in ("FSR-001", "TSR-002"):
        services.requirement_create(
            user=members["engineer"], project=project, code=code, kind="FSR", asil="B"
        )
    return project


def github_commit(sha=SHA_1, message="Clamp\n\nImplements: FSR-001", **extra):
    return {
        "id": sha,
        "tree_id": TREE,
        "message": message,
        "timestamp": "2024-03-01T10:00:00+01:00",
        "author": {"name": "Ann", "email": "ann@example.com", "username": "ann"},
        "added": ["src/new.c"],
        "removed": [],
        "modified": ["src/brake.c"],
        **extra,
    }


def github_body(*commit_list) -> bytes:
    payload = {
        "ref": "refs/heads/main",
        "repository": {"full_name": "acme/aeb", "html_url": "https://github.com/acme/aeb"},
        "commits": list(commit_list) or [github_commit()],
    }
    return json.dumps(payload).encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_github(http, body, *, signature="sign", event="push", delivery="d-1", key="AEB", **kw):
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery}
    if signature == "sign":
        signature = sign(body)
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return http.post(
        f"/api/v1/projects/{key}/webhooks/github/",
        data=body,
        content_type=kw.pop("content_type", "application/json"),
        headers=headers,
        **kw,
    )


def stored(project) -> tuple[int, int, int]:
    return (
        CommitLink.objects.filter(project=project).count(),
        LogEntry.objects.filter(project=project, kind="commit-link").count(),
        WebhookDelivery.objects.filter(project=project).count(),
    )


class TestGitHub:
    def test_a_signed_push_links_its_commits(self, http, hooked):
        body = github_body(
            github_commit(),
            github_commit(SHA_2, "Test\n\nVerifies: FSR-001, TSR-002\nRefs: FSR-404"),
        )
        response = post_github(http, body)
        assert response.status_code == 200, response.content
        data = response.json()
        assert data["status"] == "processed"
        assert (data["commits"], data["links"]) == (2, 3)
        assert data["unknown_ids"] == ["FSR-404"]
        row = CommitLink.objects.get(commit=SHA_1)
        assert row.requirement.code == "FSR-001"
        assert row.kind == "implements"
        assert row.tree == TREE
        assert row.author == "Ann <ann@example.com>"
        assert row.files == ["src/brake.c", "src/new.c"]
        assert row.repository == "https://github.com/acme/aeb"
        assert row.authored_at.isoformat() == "2024-03-01T09:00:00+00:00"
        entry = row.entry
        assert entry.subject == f"commit:{SHA_1}"
        assert entry.recorded_by is None
        payload = json.loads(base64.b64decode(json.loads(bytes(entry.envelope))["payload"]))
        assert payload["predicate"]["recordedBy"] is None
        assert payload["predicate"]["source"] == "github"
        delivery = WebhookDelivery.objects.get(project=hooked)
        assert (delivery.provider, delivery.delivery_id, delivery.links) == ("github", "d-1", 3)

    @pytest.mark.parametrize(
        "signature",
        [
            sign(github_body(), "another-secret"),
            sign(b"a different body"),
            sign(github_body()).removeprefix("sha256="),
            "sha256=",
            "sha256=zz\u00e9",
        ],
    )
    def test_a_wrong_signature_is_401_and_stores_nothing(self, http, hooked, signature):
        response = post_github(http, github_body(), signature=signature)
        assert response.status_code == 401
        assert "X-Hub-Signature-256" in response.json()["detail"]
        assert stored(hooked) == (0, 0, 0)

    def test_a_missing_signature_is_401(self, http, hooked):
        response = post_github(http, github_body(), signature=None)
        assert response.status_code == 401
        assert stored(hooked) == (0, 0, 0)

    def test_a_logged_in_user_is_no_substitute_for_the_signature(self, http, hooked, members):
        http.force_login(members["admin"])
        assert post_github(http, github_body(), signature=None).status_code == 401
        assert stored(hooked) == (0, 0, 0)

    def test_a_redelivery_is_not_processed_twice(self, http, hooked):
        body = github_body()
        assert post_github(http, body, delivery="d-7").json()["status"] == "processed"
        entries = LogEntry.objects.filter(project=hooked).count()
        again = post_github(http, body, delivery="d-7")
        assert again.status_code == 200
        assert again.json()["status"] == "duplicate"
        assert LogEntry.objects.filter(project=hooked).count() == entries
        assert stored(hooked) == (1, 1, 1)

    def test_a_new_delivery_of_known_commits_adds_no_links(self, http, hooked):
        body = github_body()
        post_github(http, body, delivery="d-1")
        response = post_github(http, body, delivery="d-2")
        assert response.json()["status"] == "processed"
        assert response.json()["links"] == 0
        assert stored(hooked) == (1, 1, 2)

    def test_ping_and_other_events_are_ignored(self, http, hooked):
        body = json.dumps({"zen": "Design for failure.", "hook_id": 1}).encode()
        response = post_github(http, body, event="ping")
        assert response.status_code == 202
        assert response.json()["status"] == "ignored"
        assert stored(hooked) == (0, 0, 0)

    def test_an_unsigned_ping_is_still_refused(self, http, hooked):
        body = json.dumps({"zen": "x"}).encode()
        assert post_github(http, body, event="ping", signature="sha256=00").status_code == 401

    @pytest.mark.parametrize(
        "body",
        [
            b"{not json",
            b"[1, 2]",
            b"\xff\xfe",
            json.dumps({"commits": [github_commit(sha="not-a-sha")]}).encode(),
            json.dumps({"commits": [github_commit(added="src/x.c")]}).encode(),
            json.dumps({"commits": [github_commit(timestamp="yesterday")]}).encode(),
        ],
    )
    def test_a_malformed_signed_payload_is_400(self, http, hooked, body):
        response = post_github(http, body)
        assert response.status_code == 400
        assert stored(hooked) == (0, 0, 0)

    def test_a_push_needs_a_delivery_id(self, http, hooked):
        assert post_github(http, github_body(), delivery="").status_code == 400
        assert stored(hooked) == (0, 0, 0)

    def test_a_form_encoded_delivery_is_accepted(self, http, hooked):
        body = urlencode({"payload": github_body().decode()}).encode()
        response = post_github(http, body, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 200, response.content
        assert response.json()["links"] == 1


class TestSize:
    LIMIT = 5 * 1024 * 1024

    def padded(self, size: int) -> bytes:
        body = github_body()
        filler = size - len(body) - len(b', "padding": ""')
        return body[:-1] + b', "padding": "' + b"x" * filler + b'"}'

    def test_a_body_over_5_mb_is_413(self, http, hooked):
        body = self.padded(self.LIMIT + 1)
        assert len(body) == self.LIMIT + 1
        response = post_github(http, body)
        assert response.status_code == 413
        assert stored(hooked) == (0, 0, 0)

    def test_a_declared_length_over_5_mb_is_413(self, http, hooked):
        body = github_body()
        response = post_github(http, body, CONTENT_LENGTH=str(self.LIMIT + 10))
        assert response.status_code == 413

    def test_a_body_of_exactly_5_mb_is_processed(self, http, hooked):
        body = self.padded(self.LIMIT)
        assert len(body) == self.LIMIT
        response = post_github(http, body)
        assert response.status_code == 200, response.content[:200]
        assert response.json()["links"] == 1

    def test_gitlab_bodies_are_limited_too(self, http, hooked):
        response = post_gitlab(http, b"x" * (self.LIMIT + 1))
        assert response.status_code == 413


def gitlab_body() -> bytes:
    payload = {
        "object_kind": "push",
        "project": {"web_url": "https://gitlab.example.com/acme/aeb"},
        "commits": [
            {
                "id": SHA_1,
                "message": "Clamp\n\nImplements: FSR-001\nVerifies: TSR-002",
                "timestamp": "2024-03-01T10:00:00+01:00",
                "author": {"name": "Ann", "email": "ann@example.com"},
                "added": [],
                "modified": ["src/brake.c"],
                "removed": ["src/old.c"],
            }
        ],
    }
    return json.dumps(payload).encode()


def post_gitlab(http, body, *, token=SECRET, event="Push Hook", key="AEB", **ids):
    headers = {"X-Gitlab-Event": event}
    if not ids:
        ids = {"Idempotency-Key": "g-1"}
    headers.update(ids)
    if token is not None:
        headers["X-Gitlab-Token"] = token
    return http.post(
        f"/api/v1/projects/{key}/webhooks/gitlab/",
        data=body,
        content_type="application/json",
        headers=headers,
    )


class TestGitLab:
    def test_a_push_with_the_right_token_links_its_commits(self, http, hooked):
        response = post_gitlab(http, gitlab_body())
        assert response.status_code == 200, response.content
        assert response.json()["links"] == 2
        row = CommitLink.objects.get(kind="implements")
        assert row.files == ["src/brake.c", "src/old.c"]
        assert row.repository == "https://gitlab.example.com/acme/aeb"
        assert WebhookDelivery.objects.get().provider == "gitlab"

    @pytest.mark.parametrize("token", [None, "", "wrong", SECRET + "x"])
    def test_a_missing_or_wrong_token_is_401(self, http, hooked, token):
        assert post_gitlab(http, gitlab_body(), token=token).status_code == 401
        assert stored(hooked) == (0, 0, 0)

    def test_the_event_uuid_identifies_a_delivery_too(self, http, hooked):
        uuid = {"X-Gitlab-Event-UUID": "3c2b1a"}
        assert post_gitlab(http, gitlab_body(), **uuid).json()["status"] == "processed"
        assert post_gitlab(http, gitlab_body(), **uuid).json()["status"] == "duplicate"
        assert stored(hooked) == (2, 2, 1)

    def test_other_events_are_ignored(self, http, hooked):
        response = post_gitlab(http, gitlab_body(), event="Tag Push Hook")
        assert response.status_code == 202
        assert stored(hooked) == (0, 0, 0)


class TestUniformRefusal:
    """An unknown project, a project without a secret and a wrong signature or token get the
    same answer, so the webhook URLs tell nobody which projects exist or have a secret."""

    @pytest.fixture
    def cases(self, hooked, other_project):
        assert not other_project.webhook_secret
        return {"unknown project": "NOPE", "no secret": other_project.key, "wrong": "AEB"}

    def test_github_answers_all_three_alike(self, http, cases):
        body = github_body()
        answers = {
            case: post_github(http, body, key=key, signature=sign(body, "guessed-secret"))
            for case, key in cases.items()
        }
        # Even the empty secret, which a project without one would have, signs nothing.
        answers["empty secret"] = post_github(http, body, key="LKA", signature=sign(body, ""))
        seen = {(r.status_code, r.content) for r in answers.values()}
        assert seen == {(401, b'{"detail":"Missing or wrong X-Hub-Signature-256."}')}
        assert CommitLink.objects.count() == 0

    def test_gitlab_answers_all_three_alike(self, http, cases):
        answers = {
            case: post_gitlab(http, gitlab_body(), key=key, token="guessed-token")
            for case, key in cases.items()
        }
        answers["empty token"] = post_gitlab(http, gitlab_body(), key="LKA", token="")
        seen = {(r.status_code, r.content) for r in answers.values()}
        assert seen == {(401, b'{"detail":"Missing or wrong X-Gitlab-Token."}')}
        assert CommitLink.objects.count() == 0


class TestNestedJson:
    """A signed body nested 100,000 levels deep is a 400 with a message, not a 500."""

    DEEP = b"[" * 100_000 + b"]" * 100_000

    @pytest.mark.parametrize("body", [DEEP, b'{"commits": ' + DEEP + b"}"])
    def test_github(self, http, hooked, body):
        response = post_github(http, body)
        assert response.status_code == 400
        assert "nested more than 64 levels" in response.json()["detail"]
        assert stored(hooked) == (0, 0, 0)

    def test_github_form_encoded(self, http, hooked):
        body = urlencode({"payload": self.DEEP.decode()}).encode()
        response = post_github(http, body, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 400
        assert "nested" in response.json()["detail"]

    def test_gitlab(self, http, hooked):
        response = post_gitlab(http, self.DEEP)
        assert response.status_code == 400
        assert "nested more than 64 levels" in response.json()["detail"]
        assert stored(hooked) == (0, 0, 0)

    def test_just_within_the_depth_is_read(self, http, hooked):
        # 63 levels of lists inside the payload object: deep but allowed, then refused only
        # for what it is (not a list of commits objects).
        body = b'{"commits": [' + b"[" * 62 + b"]" * 62 + b"]}"
        response = post_github(http, body)
        assert response.status_code == 400
        assert response.json()["detail"] == "commits[0] must be an object."


def test_the_service_checks_the_signature_before_anything_else(hooked):
    with pytest.raises(WebhookUnauthorized):
        receive_github_push(
            project=hooked, body=b"{not json", signature=None, event="push", delivery="x"
        )


def test_a_signed_push_over_a_real_server(live_server, ledger_transactional_db, make_member):
    from projects.models import Project, Role

    project = Project.objects.create(key="LIVE", name="Live", webhook_secret=SECRET)
    engineer = make_member(project, Role.ENGINEER)
    services.requirement_create(
        user=engineer, project=project, code="FSR-001", kind="FSR", asil="B"
    )
    url = f"{live_server.url}/api/v1/projects/LIVE/webhooks/github/"
    body = github_body()

    def post(signature):
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": "live-1",
                "X-Hub-Signature-256": signature,
            },
        )
        return urllib.request.urlopen(request, timeout=30)

    with pytest.raises(urllib.error.HTTPError) as refused:
        post(sign(body, "not-the-secret"))
    assert refused.value.code == 401
    assert not CommitLink.objects.filter(project=project).exists()
    with post(sign(body)) as response:
        assert response.status == 200
        data = json.loads(response.read())
    assert data["status"] == "processed"
    assert data["links"] == 1
    link = CommitLink.objects.get(project=project)
    assert (link.commit, link.requirement.code) == (SHA_1, "FSR-001")
    assert WebhookDelivery.objects.filter(project=project, delivery_id="live-1").exists()
