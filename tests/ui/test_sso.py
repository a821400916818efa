"""Single sign-on end to end: Debian's Chromium (Playwright) signs in to Safecase through a real
OpenID provider, the npm package oidc-provider run with this machine's Node.js on 127.0.0.1
(``tests/oidc/provider.js``).

A person signs in at the provider and lands in Safecase with the role the provider's groups
give; an ID token signed by the provider for another audience or with another issuer is
refused, and so is a callback whose state was tampered with; a change of groups at the provider
changes the role at the next login, each change a ledger entry; a signature needs a login at the
provider that is minutes old, and the signing page's "sign in again" gets one.

Skips when Node.js or the installed npm packages (``npm ci --prefix tests/oidc``, which
``make test`` runs) are missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from compliance.review_sessions import SSO_AUTHENTICATED_AT
from tests.ui.review_support import open_review
from tests.ui.test_browser import (  # noqa: F401 (fixtures)
    browser,
    pytestmark,
    shot,
    site,
)

OIDC_DIR = Path(django_settings.BASE_DIR) / "tests" / "oidc"
NODE = shutil.which("node")
PROVIDER_NAME = "Test IdP"
SECRET = "safecase-test-client-secret"
USERS = {
    "dana": {"password": "dana-at-the-idp", "email": "dana@idp.test", "groups": ["aeb-eng"]},
    "axel": {"password": "axel-at-the-idp", "email": "axel@idp.test", "groups": ["aeb-assess"]},
    # A local demo account's name: the provider must not be able to sign in as it.
    "erin": {"password": "erin-at-the-idp", "email": "erin@idp.test", "groups": ["aeb-view"]},
    # Another person (another subject) to whom the provider gave the user name "dana" later.
    "dana-2": {
        "password": "dana-2-at-the-idp",
        "email": "dana.2@idp.test",
        "groups": ["aeb-assess"],
        "username": "dana",
    },
}
ROLES = [
    ("aeb-eng", "AEB", "engineer"),
    ("aeb-assess", "AEB", "assessor"),
    ("aeb-view", "AEB", "viewer"),
]


@pytest.fixture(scope="module")
def provider(live_server):
    if NODE is None:
        pytest.skip("the single sign-on tests need Node.js (node) to run the OpenID provider")
    if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.skip("the OpenID provider is not installed: run npm ci --prefix tests/oidc")
    config = {
        "client": {
            "client_id": "safecase",
            "client_secret": SECRET,
            "redirect_uri": f"{live_server.url}/sso/callback/",
        },
        "users": USERS,
    }
    process = subprocess.Popen(
        [NODE, str(OIDC_DIR / "provider.js"), json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = process.stdout.readline()
        if not line:
            pytest.fail("the OpenID provider did not start")
        yield json.loads(line)["issuer"]
    finally:
        process.stdin.close()
        process.wait(timeout=10)


def steer(issuer: str, control: str, body: dict) -> None:
    """Tell the provider what its administrator (or an attacker with its key) would change."""
    request = urllib.request.Request(
        f"{issuer}/_test/{control}",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture
def sso(provider, site, settings):  # noqa: F811
    """Safecase configured for the provider, as the README's variables would configure it."""
    settings.SAFECASE_OIDC_ISSUER = provider
    settings.SAFECASE_OIDC_PROVIDER_NAME = PROVIDER_NAME
    settings.OIDC_RP_CLIENT_ID = "safecase"
    settings.OIDC_RP_CLIENT_SECRET = SECRET
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{provider}/auth"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{provider}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{provider}/me"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{provider}/jwks"
    settings.SAFECASE_OIDC_ROLES = ROLES
    settings.AUTHENTICATION_BACKENDS = [
        *django_settings.AUTHENTICATION_BACKENDS,
        "ui.sso.SafecaseOIDCBackend",
    ]
    yield provider
    steer(provider, "login-age", {"seconds": 0})
    steer(provider, "id-token", {})
    steer(provider, "userinfo", {})
    for name, user in USERS.items():
        steer(provider, "groups", {"user": name, "groups": user["groups"]})


@pytest.fixture
def new_page(browser):  # noqa: F811
    """A fresh browser (no cookie of Safecase or of the provider) for each login."""
    contexts = []

    def make():
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def at_provider(page, issuer, username):
    page.wait_for_url(f"{issuer}/interaction/**")
    page.fill("#login", username)
    page.fill("#password", USERS[username]["password"])
    page.click("button:has-text('Sign in')")


def sso_log_in(page, site, issuer, username):  # noqa: F811
    page.goto(f"{site}/")
    assert "/login/" in page.url
    page.click(f"text=Sign in with {PROVIDER_NAME}")
    at_provider(page, issuer, username)


def membership(username):
    from projects.models import Membership

    row = Membership.objects.filter(project__key="AEB", user__username=username).first()
    return row.role if row else None


def sso_entries(username):
    """The predicates of the ledger's single sign-on membership entries for ``username``."""
    from evidence.membership import _predicate
    from evidence.models import EntryKind, LogEntry

    envelopes = LogEntry.objects.filter(project__key="AEB", kind=EntryKind.MEMBERSHIP).order_by(
        "index"
    )
    predicates = [_predicate(bytes(e)) for e in envelopes.values_list("envelope", flat=True)]
    return [p for p in predicates if p.get("action") == "sso" and p.get("member") == username]


def test_the_login_page_offers_the_provider_only_when_configured(new_page, site, sso, settings):  # noqa: F811
    from tests.ui.test_accessibility import AXE, check

    page = new_page()
    page.goto(f"{site}/login/")
    assert page.get_by_text(f"Sign in with {PROVIDER_NAME}").is_visible()
    if AXE.exists():  # the button passes the accessibility check as the page does
        assert check(page, f"{site}/login/?sso=failed", AXE.read_text())["violations"] == []
    settings.SAFECASE_OIDC_ISSUER = ""
    page.goto(f"{site}/login/")
    assert page.get_by_text("Sign in with").count() == 0
    page.goto(f"{site}/sso/login/")
    assert page.url == f"{site}/login/"


def test_a_person_signs_in_at_the_provider_and_lands_with_the_mapped_role(new_page, site, sso):  # noqa: F811
    from django.contrib.auth import get_user_model

    page = new_page()
    sso_log_in(page, site, sso, "dana")
    page.wait_for_url(f"{site}/")
    assert "dana" in page.inner_text("header")
    page.click("text=AEB")
    page.wait_for_selector("h2:has-text('Requirements coverage by ASIL')")
    shot(page, "30-sso-landed")

    dana = get_user_model().objects.get(username="dana")
    assert dana.email == "dana@idp.test"
    assert not dana.has_usable_password()  # signs in only through the provider
    assert membership("dana") == "engineer"
    [entry] = sso_entries("dana")
    assert entry["role"] == "engineer" and entry["changedBy"] is None
    # The engineer may create a requirement: the role is in force.
    assert page.goto(f"{site}/p/AEB/campaigns/new/").status == 200


@pytest.mark.parametrize(
    ("claims", "what"),
    [({"aud": "another-client"}, "audience"), ({"iss": "http://127.0.0.1:9/"}, "issuer")],
)
def test_an_id_token_for_another_audience_or_from_another_issuer_is_refused(
    new_page,
    site,  # noqa: F811
    sso,
    claims,
    what,
):
    from django.contrib.auth import get_user_model

    steer(sso, "id-token", claims)  # signed with the provider's own key: only the claim is wrong
    page = new_page()
    sso_log_in(page, site, sso, "dana")
    page.wait_for_url(f"{site}/login/?sso=failed")
    assert page.get_by_text("Single sign-on did not complete").is_visible(), what
    assert not get_user_model().objects.filter(username="dana").exists()
    assert membership("dana") is None
    # The session is still anonymous: the projects page sends the browser to log in.
    page.goto(f"{site}/")
    assert "/login/" in page.url


def test_a_userinfo_answer_about_another_subject_is_refused(new_page, site, sso):  # noqa: F811
    from django.contrib.auth import get_user_model

    steer(sso, "userinfo", {"sub": "axel"})  # the ID token says dana
    page = new_page()
    sso_log_in(page, site, sso, "dana")
    page.wait_for_url(f"{site}/login/?sso=failed")
    assert not get_user_model().objects.filter(username="dana").exists()


def test_a_callback_with_a_tampered_state_is_refused(new_page, site, sso):  # noqa: F811
    from django.contrib.auth import get_user_model

    page = new_page()
    # Hold the provider's redirect back to Safecase (a redirect hop, which only the browser's
    # own request interception sees) and keep its URL.
    callbacks = []
    cdp = page.context.new_cdp_session(page)

    def hold(event):
        callbacks.append(event["request"]["url"])
        cdp.send("Fetch.failRequest", {"requestId": event["requestId"], "errorReason": "Aborted"})

    cdp.on("Fetch.requestPaused", hold)
    cdp.send("Fetch.enable", {"patterns": [{"urlPattern": f"{site}/sso/callback/*"}]})
    sso_log_in(page, site, sso, "dana")
    for _ in range(100):
        if callbacks:
            break
        page.wait_for_timeout(100)
    cdp.send("Fetch.disable")
    [url] = callbacks
    assert "state=" in url and "code=" in url
    tampered = url.replace("state=", "state=x")
    page.goto(tampered)
    page.wait_for_url(f"{site}/login/?sso=failed")
    assert not get_user_model().objects.filter(username="dana").exists()
    page.goto(f"{site}/")
    assert "/login/" in page.url


def test_the_provider_cannot_sign_in_as_a_local_account(new_page, site, sso):  # noqa: F811
    from django.contrib.auth import get_user_model

    page = new_page()
    sso_log_in(page, site, sso, "erin")
    page.wait_for_url(f"{site}/login/?sso=failed")
    erin = get_user_model().objects.get(username="erin")
    assert erin.has_usable_password() and erin.email != "erin@idp.test"
    assert membership("erin") == "engineer"  # the provider's groups would make her a viewer
    assert sso_entries("erin") == []


def test_a_user_name_given_to_someone_else_does_not_sign_in_as_its_holder(new_page, site, sso):  # noqa: F811
    from django.contrib.auth import get_user_model

    page = new_page()
    sso_log_in(page, site, sso, "dana")
    page.wait_for_url(f"{site}/")
    other = new_page()
    sso_log_in(other, site, sso, "dana-2")  # another subject, the same preferred_username
    other.wait_for_url(f"{site}/login/?sso=failed")
    dana = get_user_model().objects.get(username="dana")
    assert dana.provider_identity.subject == "dana" and dana.email == "dana@idp.test"
    assert membership("dana") == "engineer"  # dana-2's groups would make an assessor
    other.goto(f"{site}/")
    assert "/login/" in other.url


def test_a_change_of_groups_at_the_provider_changes_the_role_at_the_next_login(
    new_page,
    site,  # noqa: F811
    sso,
):
    page = new_page()
    sso_log_in(page, site, sso, "dana")
    page.wait_for_url(f"{site}/")
    assert membership("dana") == "engineer"

    steer(sso, "groups", {"user": "dana", "groups": ["aeb-view", "unrelated"]})
    assert membership("dana") == "engineer"  # nothing changes before the next login
    page = new_page()
    sso_log_in(page, site, sso, "dana")
    page.wait_for_url(f"{site}/")
    assert membership("dana") == "viewer"
    assert page.goto(f"{site}/p/AEB/campaigns/new/").status == 403

    steer(sso, "groups", {"user": "dana", "groups": []})
    page = new_page()
    sso_log_in(page, site, sso, "dana")
    page.wait_for_url(f"{site}/")
    assert membership("dana") is None
    assert [e["role"] for e in sso_entries("dana")] == ["engineer", "viewer", None]


def session_of(page):
    """The Safecase session of the browser ``page`` is in."""
    from django.contrib.sessions.backends.db import SessionStore

    [key] = [c["value"] for c in page.context.cookies() if c["name"] == "sessionid"]
    return SessionStore(session_key=key).load()


def approve(page, item, *, expect: str) -> None:
    """Approve ``item`` on its review page, which must say ``expect`` about the sign-in."""
    form = page.locator(f"#item-{item.pk} form.sign")
    assert form.get_by_text(expect).is_visible()
    form.locator("input[value='approve']").check()
    form.locator("select").select_option("approved")
    form.locator(f"button:has-text('Sign {item.code}')").click()


def test_a_signature_needs_a_fresh_login_at_the_provider(new_page, site, sso):  # noqa: F811
    from django.contrib.auth import get_user_model

    from compliance.models import Signature
    from evidence.membership import membership_update
    from projects.models import Membership, Project

    # axel last gave his password to the provider an hour ago (its session remembered him).
    steer(sso, "login-age", {"seconds": 3600})
    page = new_page()
    sso_log_in(page, site, sso, "axel")
    page.wait_for_url(f"{site}/")
    assert membership("axel") == "assessor"
    signed_in_at = session_of(page)[SSO_AUTHENTICATED_AT]
    assert 3600 - 60 <= time.time() - signed_in_at <= 3600 + 60  # the provider's auth_time

    people = get_user_model().objects.in_bulk(["admin", "axel"], field_name="username")
    project = Project.objects.get(key="AEB")
    membership_update(  # the administrator places the assessor, for the independence check
        user=people["admin"],
        project=project,
        membership=Membership.objects.get(project=project, user=people["axel"]),
        team="External assessment",
        org_unit="Independent Safety Assessment",
    )
    review = open_review(people["axel"], ["requirement:FSR-001"], "FSC review by SSO")
    item = review.items.get()

    page.goto(f"{site}/p/AEB/reviews/{review.pk}/")
    approve(page, item, expect=f"sign in again with {PROVIDER_NAME}")
    page.wait_for_selector("text=Sign in again through single sign-on")
    assert not Signature.objects.filter(item=item).exists()  # stale: refused
    shot(page, "31-sso-sign-stale")

    # The round trip: the provider asks for the password again (prompt=login) and Safecase
    # takes the new auth_time.
    steer(sso, "login-age", {"seconds": 0})
    page.locator(f"#item-{item.pk} form.sign").get_by_text("sign in again with").click()
    at_provider(page, sso, "axel")
    page.wait_for_url(f"{site}/p/AEB/reviews/{review.pk}/**")
    assert time.time() - session_of(page)[SSO_AUTHENTICATED_AT] < 60
    approve(page, item, expect=f"You signed in with {PROVIDER_NAME} a moment ago")
    page.wait_for_selector("text=FSR-001: you signed approve (approved)")
    shot(page, "32-sso-signed")
    signature = Signature.objects.get(item=item)
    assert signature.signer == people["axel"]
