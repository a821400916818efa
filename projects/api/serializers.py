from rest_framework import serializers

from projects import selectors
from projects.api.strict import JSONInput
from projects.models import Membership, Project, Role, project_key_validator


class ProjectOut(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["key", "name", "description", "created_at", "role"]

    def get_role(self, project) -> str | None:
        from projects.permissions import role_of

        return role_of(self.context["request"].user, project)


class ProjectCreateIn(JSONInput, serializers.Serializer):
    key = serializers.CharField(max_length=16, validators=[project_key_validator])
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class ProjectUpdateIn(JSONInput, serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class MembershipOut(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "team", "org_unit", "created_at"]


class MembershipIn(JSONInput, serializers.Serializer):
    username = serializers.SlugRelatedField(
        slug_field="username", queryset=selectors.user_list(), source="member"
    )
    role = serializers.ChoiceField(choices=Role.choices)
    team = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    org_unit = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class MembershipUpdateIn(JSONInput, serializers.Serializer):
    """Parsed with ``partial=True``: a field not sent is not in the result and is not changed."""

    role = serializers.ChoiceField(choices=Role.choices, required=False)
    team = serializers.CharField(max_length=100, required=False, allow_blank=True)
    org_unit = serializers.CharField(max_length=100, required=False, allow_blank=True)
