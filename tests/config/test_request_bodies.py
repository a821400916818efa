"""Nested or oversized JSON is a 400 or 413 with a message on every API endpoint, never a 500.

The API's default parser bounds a body's size (``DATA_UPLOAD_MAX_MEMORY_SIZE``) and its
nesting (``SAFECASE_MAX_JSON_DEPTH``); the webhooks, which parse their signed bodies
themselves, are covered in ``tests/compliance/test_webhooks.py``.
"""

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLResolver, get_resolver

from compliance import services
from compliance.models import Requirement

pytestmark = pytest.mark.django_db

BASE = "/api/v1/projects/AEB"
DEEP = "[" * 100_000 + "]" * 100_000
VALUES = {"key": "AEB", "code": "FSR-001", "name": "campaign", "pk": "1", "index": "0"}


def api_routes() -> list[str]:
    """Every route under /api/v1/, its parameters filled in."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern)

    routes = [r for r in walk(get_resolver().url_patterns) if r.startswith("api/v1/")]
    return ["/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: VALUES[m.group(1)], r) for r in routes]


@pytest.fixture
def admin(project, members, django_user_model):
    """The project's administrator, also staff, so every endpoint gets as far as the body."""
    user = members["admin"]
    user.is_staff = user.is_superuser = True
    user.save()
    services.requirement_create(user=user, project=project, code="FSR-001", kind="FSR", asil="B")
    return user


def test_the_sweep_covers_the_api():
    routes = api_routes()
    assert len(routes) > 40
    assert f"{BASE}/requirements/FSR-001/" in routes


@pytest.mark.parametrize("route", api_routes())
@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_a_100000_deep_body_is_never_a_500(api, admin, route, method):
    response = getattr(api(admin), method)(route, DEEP, content_type="application/json")
    assert response.status_code < 500, response.content[:300]
    if response.status_code == 400 and "webhooks" not in route:
        assert "nested more than 64 levels deep" in json.dumps(response.json())


def test_a_deep_body_to_a_write_endpoint_is_a_400_with_a_message(api, admin, project):
    before = Requirement.objects.filter(project=project).count()
    body = '{"code": "FSR-002", "kind": "FSR", "title": ' + DEEP + "}"
    response = api(admin).post(f"{BASE}/requirements/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "JSON parse error: The JSON is nested more than 64 levels deep."
    }
    assert Requirement.objects.filter(project=project).count() == before


def test_the_depth_limit_is_exact(api, admin, settings):
    settings.SAFECASE_MAX_JSON_DEPTH = 3
    url = f"{BASE}/requirements/FSR-001/"
    allowed = {"attributes": {"a": {"b": 1}}}
    response = api(admin).patch(url, allowed, format="json")
    assert response.status_code == 200, response.content
    response = api(admin).patch(url, {"attributes": {"a": {"b": []}}}, format="json")
    assert response.status_code == 400
    assert "nested more than 3 levels" in response.json()["detail"]


def test_an_oversized_body_is_a_413_with_a_message(api, admin, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"code": "FSR-002", "kind": "FSR", "title": "x" * 20_000})
    response = api(admin).post(f"{BASE}/requirements/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {"detail": "The body is larger than 10,000 bytes."}


def test_not_a_number_is_refused(api, admin):
    body = '{"code": "FSR-002", "kind": "FSR", "title": "t", "attributes": {"x": NaN}}'
    response = api(admin).post(f"{BASE}/requirements/", body, content_type="application/json")
    assert response.status_code == 400
    assert "NaN is not valid JSON" in response.json()["detail"]


def test_form_bodies_are_not_parsed_by_json_endpoints(api, admin):
    """A form field's text would reach DRF's own JSON parsing (JSONField): refused as a type."""
    response = api(admin).post(
        f"{BASE}/requirements/", {"code": "FSR-002", "attributes": DEEP}, format="multipart"
    )
    assert response.status_code == 415


def test_a_deep_mapping_in_a_table_upload_is_a_400(api, admin):
    upload = SimpleUploadedFile("table.csv", b"code,title\nFSR-009,Brake\n")
    response = api(admin).post(
        f"{BASE}/requirements/import/", {"file": upload, "mapping": DEEP}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json() == {"mapping": ["The JSON is nested more than 64 levels deep."]}
