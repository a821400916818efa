"""Single sign-on without a browser: the role mapping's setting, the roles the groups give, and
the membership service that applies them (a ledger entry per change, the last administrator
kept). The browser path through a real provider is ``test_sso.py``."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError

from config.settings import SAFECASE_ROLE_NAMES, _oidc_roles
from projects.models import Role

MAPPING = [("eng", "AEB", "engineer"), ("lead", "AEB", "admin"), ("ops", "OPS", "viewer")]


def test_the_settings_role_names_are_the_projects_roles():
    assert list(SAFECASE_ROLE_NAMES) == list(Role.values)


def test_the_mapping_reads_group_project_role_pairs():
    assert _oidc_roles(" eng=AEB:engineer, ops=OPS:viewer ,") == [
        ("eng", "AEB", "engineer"),
        ("ops", "OPS", "viewer"),
    ]
    assert _oidc_roles("") == []


@pytest.mark.parametrize("bad", ["eng=AEB:boss", "eng=AEB", "=AEB:viewer", "eng:viewer"])
def test_a_mistyped_pair_stops_start_up_naming_it(bad):
    with pytest.raises(ImproperlyConfigured, match=bad):
        _oidc_roles(bad)


def test_the_first_matching_pair_gives_the_role_in_each_named_project():
    from ui.sso import roles_from_groups

    assert roles_from_groups(["lead", "eng"], MAPPING) == {"AEB": "engineer", "OPS": None}
    assert roles_from_groups(["ops"], MAPPING) == {"AEB": None, "OPS": "viewer"}
    assert roles_from_groups(None, MAPPING) == {"AEB": None, "OPS": None}


@pytest.fixture
def newcomer(demo):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create(username="newcomer")
    user.set_unusable_password()
    user.save()
    return user


def _entries(project):
    from evidence.membership import _predicate
    from evidence.models import EntryKind, LogEntry

    rows = LogEntry.objects.filter(project=project, kind=EntryKind.MEMBERSHIP).order_by("index")
    return [_predicate(bytes(e)) for e in rows.values_list("envelope", flat=True)]


def test_the_provider_adds_changes_and_removes_a_membership_with_a_ledger_entry_each(
    demo, newcomer, settings
):
    from projects.models import Membership, Project
    from ui.sso import sync_roles

    settings.SAFECASE_OIDC_ROLES = MAPPING
    project = Project.objects.get(key="AEB")
    before = len(_entries(project))
    assert sync_roles(newcomer, ["eng"]) == ["AEB: engineer"]  # OPS does not exist: skipped
    assert sync_roles(newcomer, ["eng"]) == []  # nothing changes, nothing is written
    assert sync_roles(newcomer, ["ops"]) == ["AEB: none"]
    assert not Membership.objects.filter(project=project, user=newcomer).exists()
    added, removed = _entries(project)[before:]
    assert (added["action"], added["member"], added["role"]) == ("sso", "newcomer", "engineer")
    assert added["changedBy"] is None
    assert (removed["action"], removed["role"]) == ("sso", None)


def test_the_provider_cannot_remove_the_last_administrator(demo, settings):
    from django.contrib.auth import get_user_model

    from evidence.membership import membership_from_provider
    from projects.models import Membership, Project
    from projects.services import SYSTEM
    from ui.sso import sync_roles

    settings.SAFECASE_OIDC_ROLES = MAPPING
    admin = get_user_model().objects.get(username="admin")
    project = Project.objects.get(key="AEB")
    with pytest.raises(ValidationError, match="at least one administrator"):
        membership_from_provider(actor=SYSTEM, project=project, member=admin, role=None)
    assert sync_roles(admin, []) == []  # logged and skipped: the login goes on
    assert Membership.objects.get(project=project, user=admin).role == Role.ADMIN


def test_only_the_installation_applies_the_providers_roles(demo, newcomer):
    from django.contrib.auth import get_user_model

    from evidence.membership import membership_from_provider
    from projects.models import Project

    admin = get_user_model().objects.get(username="admin")
    with pytest.raises(PermissionDenied):
        membership_from_provider(
            actor=admin, project=Project.objects.get(key="AEB"), member=newcomer, role="admin"
        )
