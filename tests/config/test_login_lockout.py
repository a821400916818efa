"""Login throttling (django-axes): a username is locked out from an address after repeated
wrong passwords, with a page that says when to try again, on the UI and the admin login."""

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

LOGIN = reverse("ui:login")
ADMIN_LOGIN = "/admin/login/"
PASSWORD = "the-right-password-0123"


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(username="alice", password=PASSWORD, is_staff=True)


def attempt(client, password, url=LOGIN, username="alice", **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def assert_locked_out(response):
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    text = response.content.decode()
    assert "Too many failed logins for this account from your address" in text
    match = re.search(r"try again after (\d\d:\d\d) UTC", text)
    assert match, text
    expected = (timezone.now() + timedelta(minutes=15)).strftime("%H:%M")
    assert match.group(1) in {expected, (timezone.now() + timedelta(minutes=14)).strftime("%H:%M")}


def test_thirty_wrong_passwords_then_the_right_one_is_refused(client, alice):
    statuses = [attempt(client, f"guess-{n}").status_code for n in range(30)]
    assert statuses[:4] == [200] * 4  # the form again, with "enter a correct username..."
    assert set(statuses[4:]) == {429}  # the fifth failure locks
    response = attempt(client, PASSWORD)
    assert_locked_out(response)
    assert not logged_in(client)


def test_after_the_cool_off_the_right_password_works(client, alice):
    for n in range(30):
        attempt(client, f"guess-{n}")
    assert_locked_out(attempt(client, PASSWORD))
    # Sixteen minutes pass: every recorded attempt is older than the cool-off.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    response = attempt(client, PASSWORD)
    assert response.status_code == 302
    assert logged_in(client)
    assert not AccessAttempt.objects.exists()  # a success clears the failures


def test_an_operator_can_lift_a_lockout(client, alice):
    for n in range(6):
        attempt(client, f"guess-{n}")
    assert_locked_out(attempt(client, PASSWORD))
    call_command("axes_reset_username", "alice", verbosity=0)
    assert attempt(client, PASSWORD).status_code == 302


def test_the_admin_login_is_locked_out_too(alice):
    client = Client()
    for n in range(4):
        assert attempt(client, f"guess-{n}", url=ADMIN_LOGIN).status_code == 200
    assert_locked_out(attempt(client, "guess-5", url=ADMIN_LOGIN))
    assert_locked_out(attempt(client, PASSWORD, url=ADMIN_LOGIN))
    # The lock is on the pair, whichever form the next attempt comes through.
    assert_locked_out(attempt(Client(), PASSWORD))


def test_the_lock_is_on_the_username_and_address_pair(client, alice, django_user_model):
    django_user_model.objects.create_user(username="bob", password=PASSWORD)
    for n in range(6):
        attempt(client, f"guess-{n}")
    assert_locked_out(attempt(client, PASSWORD))
    # Alice from her own desk, and Bob from the attacker's address, still get in.
    elsewhere = Client(REMOTE_ADDR="10.0.0.7")
    assert attempt(elsewhere, PASSWORD).status_code == 302
    assert attempt(Client(), PASSWORD, username="bob").status_code == 302


def test_a_forwarded_for_header_does_not_reset_the_count(client, alice):
    """Without a configured proxy the client's own X-Forwarded-For is ignored."""
    for n in range(6):
        attempt(client, f"guess-{n}", headers={"X-Forwarded-For": f"192.0.2.{n}"})
    assert_locked_out(attempt(client, PASSWORD, headers={"X-Forwarded-For": "192.0.2.99"}))


def test_behind_a_proxy_the_address_it_saw_counts(client, alice, settings):
    settings.SAFECASE_PROXY_COUNT = 1
    for n in range(6):
        attempt(client, f"guess-{n}", headers={"X-Forwarded-For": f"192.0.2.{n}, 198.51.100.4"})
    assert_locked_out(attempt(client, PASSWORD, headers={"X-Forwarded-For": "198.51.100.4"}))
    assert attempt(client, PASSWORD, headers={"X-Forwarded-For": "198.51.100.5"}).status_code == 302


def test_force_login_and_the_lockout_page_for_api_clients(client, alice):
    for n in range(6):
        attempt(client, f"guess-{n}")
    response = attempt(client, PASSWORD, headers={"Accept": "application/json"})
    assert response.status_code == 429
    assert response.json()["detail"].startswith("Too many failed logins")
    other = Client()
    other.force_login(alice)  # tests and the UI's own session handling are not affected
    assert other.get(reverse("ui:projects")).status_code == 200
