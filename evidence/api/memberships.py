"""Project creation and memberships over REST, through the ledgered services of
:mod:`evidence.membership` (so they live here, to the right of ``projects``).

Every write checks the caller's role before it reads the body: a viewer learns nothing about
which usernames exist from the answer, and an outsider gets 404 for the project.
"""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from evidence import membership as services
from projects import selectors
from projects.api.pagination import Page, paginated
from projects.api.schema import STAFF, FieldErrorsOut, requires
from projects.api.serializers import (
    MembershipIn,
    MembershipOut,
    MembershipUpdateIn,
    ProjectCreateIn,
    ProjectOut,
)
from projects.permissions import Action, get_project_for_user

DUPLICATE = OpenApiResponse(FieldErrorsOut, description="the key is taken, or already a member")


class ProjectListApi(APIView):
    pagination_class = Page

    @extend_schema(responses=ProjectOut(many=True))
    def get(self, request):
        return paginated(self, selectors.project_list(user=request.user), ProjectOut)

    @extend_schema(
        request=ProjectCreateIn, responses={201: ProjectOut, 409: DUPLICATE}, **requires(STAFF)
    )
    def post(self, request):
        if not (request.user.is_staff or request.user.is_superuser):
            raise PermissionDenied("Only staff users may create projects.")
        data = ProjectCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_create(user=request.user, **data.validated_data)
        return Response(ProjectOut(project, context={"request": request}).data, status=201)


class MembershipListApi(APIView):
    pagination_class = Page

    @extend_schema(responses=MembershipOut(many=True))
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        return paginated(self, selectors.membership_list(project=project), MembershipOut)

    @extend_schema(
        request=MembershipIn,
        responses={201: MembershipOut, 409: DUPLICATE},
        **requires(Action.MANAGE),
    )
    def post(self, request, key):
        project = get_project_for_user(request.user, key, Action.MANAGE)
        data = MembershipIn(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_add(
            user=request.user, project=project, **data.validated_data
        )
        return Response(MembershipOut(membership).data, status=status.HTTP_201_CREATED)


class MembershipDetailApi(APIView):
    def _get(self, request, key, pk, action=Action.VIEW):
        project = get_project_for_user(request.user, key, action)
        return project, get_object_or_404(selectors.membership_list(project=project), pk=pk)

    @extend_schema(responses=MembershipOut)
    def get(self, request, key, pk):
        _, membership = self._get(request, key, pk)
        return Response(MembershipOut(membership).data)

    @extend_schema(request=MembershipUpdateIn, responses=MembershipOut, **requires(Action.MANAGE))
    def patch(self, request, key, pk):
        """Change only the fields sent: ``{"role": ...}`` keeps the team and unit as they are."""
        project, membership = self._get(request, key, pk, Action.MANAGE)
        data = MembershipUpdateIn(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        membership = services.membership_update(
            user=request.user, project=project, membership=membership, **data.validated_data
        )
        return Response(MembershipOut(membership).data)

    @extend_schema(responses={204: None}, **requires(Action.MANAGE))
    def delete(self, request, key, pk):
        project, membership = self._get(request, key, pk, Action.MANAGE)
        services.membership_remove(user=request.user, project=project, membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)
