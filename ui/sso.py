"""Single sign-on: OpenID Connect login through mozilla-django-oidc, off unless configured.

``SAFECASE_OIDC_ISSUER`` (with the client and the provider's endpoints, see the README) turns it
on: the login page then offers "Sign in with <provider>" beside the local accounts, which stay
for the embedded mode. The flow is the authorization code flow with PKCE, a state and a nonce
(mozilla-django-oidc checks both), and the ID token's signature, issuer, audience, expiry and
issue time are checked here (the library leaves issuer and audience unchecked).

A person signed in this way is a user named by the provider's ``preferred_username`` (or the
claim ``SAFECASE_OIDC_USERNAME_CLAIM`` names) with no usable password: a local account of the
same name is never taken over. The user is bound at its first login to the provider's issuer
and subject (:class:`projects.models.ProviderIdentity`), the identifier OpenID Connect keeps
stable: a later login as that user needs the same subject, so a user name the provider gives
to someone else later does not sign in as (or sign evidence as) the person who had it.
Their project roles come from the provider's groups (``SAFECASE_OIDC_ROLES``) at every login,
each change recorded in the project's ledger through
:func:`evidence.membership.membership_from_provider`. Projects the mapping does not name are
left to their administrators.

The ID token's ``auth_time`` is kept in the session (:data:`SSO_AUTHENTICATED_AT`): a signature
by such a user needs a recent one, and the signing page offers the round trip that makes the
provider ask for the credentials again (``prompt=login``, ``max_age=0``).
"""

from __future__ import annotations

import logging
import time

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.db import transaction
from django.shortcuts import redirect
from django.urls import path, reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from compliance.review_sessions import REAUTH_MAX_AGE, SSO_AUTHENTICATED_AT
from evidence.membership import membership_from_provider
from projects.models import Membership, Project, ProviderIdentity
from projects.services import SYSTEM

log = logging.getLogger(__name__)
security_log = logging.getLogger("django.security.sso")

#: Set on the request by the backend, copied into the session once the user is logged in
#: (a login as another user flushes the session, so it cannot be written before).
_AUTH_TIME = "_safecase_sso_auth_time"


def enabled() -> bool:
    return bool(getattr(settings, "SAFECASE_OIDC_ISSUER", ""))


def roles_from_groups(groups, mapping) -> dict[str, str | None]:
    """The role the provider's ``groups`` give in each project the mapping names (None: no
    role there). The first pair of the mapping that matches a project wins."""
    wanted: dict[str, str | None] = {key: None for _, key, _ in mapping}
    held = set(groups or ())
    for group, key, role in mapping:
        if group in held and wanted[key] is None:
            wanted[key] = role
    return wanted


class SafecaseOIDCBackend(OIDCAuthenticationBackend):
    """Users from the provider's claims; roles from its groups; issuer and audience checked."""

    def _verify_jws(self, payload, key):
        header = jwt.get_unverified_header(payload)
        if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(
                f"The ID token is signed with {header.get('alg')!r}, not "
                f"{self.OIDC_RP_SIGN_ALGO!r}."
            )
        try:
            return jwt.decode(
                payload,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.SAFECASE_OIDC_ISSUER,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
                leeway=settings.SAFECASE_OIDC_LEEWAY,
            )
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation(f"ID token refused: {exc}") from exc

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        # The time the person last gave their credentials to the provider, for signing.
        auth_time = payload.get("auth_time")
        if isinstance(auth_time, int | float) and self.request is not None:
            setattr(self.request, _AUTH_TIME, int(auth_time))
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        claims = super().get_userinfo(access_token, id_token, payload)
        # OpenID Connect Core 5.3.2: the UserInfo response is about the ID token's subject.
        if claims.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("The UserInfo response names another subject.")
        return claims

    @staticmethod
    def _username(claims) -> str:
        return str(claims.get(settings.SAFECASE_OIDC_USERNAME_CLAIM) or "").strip()

    def verify_claims(self, claims):
        return bool(self._username(claims)) and len(self._username(claims)) <= 150

    @staticmethod
    def _identity(claims) -> tuple[str, str]:
        return settings.SAFECASE_OIDC_ISSUER, str(claims.get("sub") or "")

    def filter_users_by_claims(self, claims):
        """The user bound to the provider's subject; else the user of the claimed name, unless
        that one is bound to another subject (a name the provider gave to someone else)."""
        users = get_user_model().objects
        issuer, subject = self._identity(claims)
        bound = users.filter(provider_identity__issuer=issuer, provider_identity__subject=subject)
        if bound.exists():
            return bound
        named = users.filter(username=self._username(claims)).select_related("provider_identity")
        for user in named:
            if ProviderIdentity.objects.filter(user=user).exists():
                raise SuspiciousOperation(
                    f"{user.username} stands for another person at the provider (subject "
                    f"{user.provider_identity.subject!r}, not {subject!r}): a user name given "
                    "to someone else never takes over the account."
                )
        return named

    def describe_user_by_claims(self, claims):
        return f"username {self._username(claims)}, subject {self._identity(claims)[1]}"

    @transaction.atomic
    def create_user(self, claims):
        user = get_user_model()(username=self._username(claims), email=claims.get("email") or "")
        user.set_unusable_password()
        try:
            user.full_clean(exclude=["password"])
        except ValidationError as exc:
            raise SuspiciousOperation(f"The provider's claims make no user: {exc}") from exc
        user.save()
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        if user.has_usable_password():
            # A local account: the provider may not sign in as it, change its roles, or sign
            # as it later.
            raise SuspiciousOperation(
                f"{user.username} is a local account; it logs in with its password."
            )
        issuer, subject = self._identity(claims)
        if not subject:
            raise SuspiciousOperation("The provider's claims name no subject.")
        # bound at the first login through the provider: later logins need the same subject
        identity, _made = ProviderIdentity.objects.get_or_create(
            user=user, defaults={"issuer": issuer, "subject": subject}
        )
        if (identity.issuer, identity.subject) != (issuer, subject):
            raise SuspiciousOperation(f"{user.username} stands for another person at the provider.")
        email = claims.get("email") or ""
        if email and email != user.email:
            user.email = email
            user.save(update_fields=["email"])
        sync_roles(user, claims.get(settings.SAFECASE_OIDC_GROUPS_CLAIM) or [])
        return user


def sync_roles(user, groups) -> list[str]:
    """Make ``user``'s roles in the mapped projects those ``groups`` give; returns what
    changed. A change the membership rules refuse (the last administrator) is logged and
    skipped: the login goes on with the role as it was."""
    changed = []
    wanted = roles_from_groups(groups, settings.SAFECASE_OIDC_ROLES)
    projects = Project.objects.in_bulk(list(wanted), field_name="key")
    held = {
        m.project_id: m.role for m in Membership.objects.filter(user=user, project__key__in=wanted)
    }
    for key, role in wanted.items():
        project = projects.get(key)
        if project is None or held.get(project.pk) == role:
            continue
        try:
            membership_from_provider(actor=SYSTEM, project=project, member=user, role=role)
        except ValidationError as exc:
            log.warning("single sign-on left %s's role in %s as it was: %s", user, key, exc)
            continue
        changed.append(f"{key}: {role or 'none'}")
    return changed


class LoginView(OIDCAuthenticationRequestView):
    """Off to the provider; ``?reauth=1`` makes it ask for the credentials again."""

    def dispatch(self, request, *args, **kwargs):
        if not enabled():  # not configured: the login page, which then offers no provider
            return redirect("ui:login")
        return super().dispatch(request, *args, **kwargs)

    def get_extra_params(self, request):
        params = dict(super().get_extra_params(request))
        if request.GET.get("reauth"):
            params.update(prompt="login", max_age="0")
        return params


class CallbackView(OIDCAuthenticationCallbackView):
    """Back from the provider: log in, keep the authentication time, or say why not."""

    def dispatch(self, request, *args, **kwargs):
        if not enabled():  # not configured: the login page, which then offers no provider
            return redirect("ui:login")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        try:
            return super().get(request)
        except SuspiciousOperation as exc:
            # A token that does not check out, or a state this session never issued: refused,
            # logged where Django logs suspicious requests, and the person told on the login page.
            security_log.warning("single sign-on refused: %s", exc)
            return self.login_failure()

    @property
    def failure_url(self):
        return f"{reverse('ui:login')}?sso=failed"

    def login_success(self):
        response = super().login_success()
        auth_time = getattr(self.request, _AUTH_TIME, None)
        if auth_time is not None and auth_time <= time.time() + settings.SAFECASE_OIDC_LEEWAY:
            self.request.session[SSO_AUTHENTICATED_AT] = auth_time
        else:  # no (believable) time of authentication: no signature on an earlier one
            self.request.session.pop(SSO_AUTHENTICATED_AT, None)
        return response


def context(request) -> dict:
    """The login page's button and the signing page's "sign in again" link."""
    if not enabled():
        return {"sso": None}
    at = request.session.get(SSO_AUTHENTICATED_AT) if hasattr(request, "session") else None
    fresh = isinstance(at, int | float) and 0 <= time.time() - at <= REAUTH_MAX_AGE
    return {
        "sso": {
            "provider": settings.SAFECASE_OIDC_PROVIDER_NAME,
            "fresh": fresh,
            "minutes": REAUTH_MAX_AGE // 60,
        }
    }


urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("callback/", CallbackView.as_view(), name="callback"),
]
