"""A single sign-on user stands for one person at the provider: bound at the first login to the
provider's issuer and subject, the identifier OpenID Connect keeps stable. A user name the
provider later gives to someone else does not sign in as the person who had it (nor sign
evidence as them); a person whose user name changes at the provider keeps their account.

Driven through mozilla-django-oidc's own ``get_or_create_user`` with the claims a provider's
UserInfo endpoint would answer (the browser tests in ``test_sso.py`` run the whole flow
against a real provider)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation

from projects.models import ProviderIdentity

pytestmark = pytest.mark.django_db

ISSUER = "https://idp.example.test"


@pytest.fixture
def backend(settings, monkeypatch):
    settings.SAFECASE_OIDC_ISSUER = ISSUER
    settings.OIDC_RP_CLIENT_ID = "safecase"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{ISSUER}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{ISSUER}/me"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{ISSUER}/jwks"
    settings.SAFECASE_OIDC_ROLES = []
    from ui.sso import SafecaseOIDCBackend

    def login(sub: str, username: str, email: str = ""):
        claims = {"sub": sub, "preferred_username": username, "email": email}
        chosen = SafecaseOIDCBackend()
        monkeypatch.setattr(chosen, "get_userinfo", lambda *args: claims)
        return chosen.get_or_create_user("access", "id", {"sub": sub})

    return login


def test_the_first_login_binds_the_user_to_the_subject(backend):
    dana = backend("0a1b-dana", "dana", "dana@idp.test")
    assert dana.username == "dana" and not dana.has_usable_password()
    identity = ProviderIdentity.objects.get(user=dana)
    assert (identity.issuer, identity.subject) == (ISSUER, "0a1b-dana")
    assert backend("0a1b-dana", "dana") == dana  # the next login: the same user


def test_a_user_name_given_to_someone_else_does_not_sign_in_as_its_first_holder(backend):
    dana = backend("0a1b-dana", "dana", "dana@idp.test")
    with pytest.raises(SuspiciousOperation, match="stands for another person"):
        backend("9f8e-other", "dana", "other@idp.test")
    dana.refresh_from_db()
    assert dana.email == "dana@idp.test"  # nothing of the first holder's account changed
    assert ProviderIdentity.objects.count() == 1
    assert get_user_model().objects.filter(username="dana").count() == 1


def test_a_person_renamed_at_the_provider_keeps_their_account(backend):
    dana = backend("0a1b-dana", "dana")
    assert backend("0a1b-dana", "dana.smith") == dana
    assert not get_user_model().objects.filter(username="dana.smith").exists()


def test_a_user_made_before_the_binding_is_bound_at_its_next_login(backend):
    """A provider user from before subjects were bound (or made by an administrator for the
    person) is bound at its next login, and from then on to that subject only."""
    user = get_user_model().objects.create_user("dana")
    user.set_unusable_password()
    user.save()
    assert backend("0a1b-dana", "dana") == user
    assert ProviderIdentity.objects.get(user=user).subject == "0a1b-dana"
    with pytest.raises(SuspiciousOperation):
        backend("9f8e-other", "dana")


def test_the_same_subject_at_another_issuer_is_another_person(backend, settings):
    dana = backend("0a1b-dana", "dana")
    settings.SAFECASE_OIDC_ISSUER = "https://another-idp.example.test"
    with pytest.raises(SuspiciousOperation, match="stands for another person"):
        backend("0a1b-dana", "dana")
    assert ProviderIdentity.objects.get(user=dana).issuer == ISSUER


def test_claims_without_a_subject_make_no_user(backend):
    with pytest.raises(SuspiciousOperation, match="no subject"):
        backend("", "nobody")
    assert not get_user_model().objects.filter(username="nobody").exists()


def test_a_local_account_is_still_never_taken_over(backend):
    get_user_model().objects.create_user("erin", password="a-local-password-1")
    with pytest.raises(SuspiciousOperation, match="local account"):
        backend("0a1b-erin", "erin")
    assert not ProviderIdentity.objects.exists()
