import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from projects.models import Role
from projects.permissions import ROLE_ACTIONS, Action, can, require

pytestmark = pytest.mark.django_db

EXPECTED = {
    "viewer": {"view"},
    "engineer": {"view", "edit", "run"},
    "safety_manager": {"view", "edit", "run", "review", "confirm"},
    "assessor": {"view", "confirm"},
    "admin": {"view", "edit", "run", "review", "confirm", "manage"},
}


def test_role_matrix_is_as_documented():
    assert {role: {a.value for a in actions} for role, actions in ROLE_ACTIONS.items()} == EXPECTED


@pytest.mark.parametrize("role", [r.value for r in Role])
@pytest.mark.parametrize("action", [a.value for a in Action])
def test_require_follows_the_matrix(project, members, role, action):
    user = members[role]
    if action in EXPECTED[role]:
        require(user, project, action)
        assert can(user, project, action)
    else:
        with pytest.raises(PermissionDenied, match=role):
            require(user, project, action)
        assert not can(user, project, action)


def test_non_member_gets_404_not_403(project, outsider):
    with pytest.raises(Http404):
        require(outsider, project, Action.VIEW)


def test_anonymous_gets_404(project):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(Http404):
        require(AnonymousUser(), project, Action.VIEW)
