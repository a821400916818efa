"""Projects and memberships over REST. Views parse, call a selector or service, serialize."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from projects import selectors, services
from projects.api.pagination import paginated
from projects.api.serializers import (
    MembershipIn,
    MembershipOut,
    MembershipUpdateIn,
    ProjectCreateIn,
    ProjectOut,
    ProjectUpdateIn,
)
from projects.permissions import get_project_for_user


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectOut(many=True))
    def get(self, request):
        return paginated(self, selectors.project_list(user=request.user), ProjectOut)

    @extend_schema(request=ProjectCreateIn, responses={201: ProjectOut})
    def post(self, request):
        data = ProjectCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_create(user=request.user, **data.validated_data)
        return Response(ProjectOut(project, context={"request": request}).data, status=201)


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectOut)
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        return Response(ProjectOut(project, context={"request": request}).data)

    @extend_schema(request=ProjectUpdateIn, responses=ProjectOut)
    def patch(self, request, key):
        project = get_project_for_user(request.user, key)
        data = ProjectUpdateIn(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = services.project_update(user=request.user, project=project, **data.validated_data)
        return Response(ProjectOut(project, context={"request": request}).data)


class MembershipListApi(APIView):
    @extend_schema(responses=MembershipOut(many=True))
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        return paginated(self, selectors.membership_list(project=project), MembershipOut)

    @extend_schema(request=MembershipIn, responses={201: MembershipOut})
    def post(self, request, key):
        project = get_project_for_user(request.user, key)
        data = MembershipIn(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_set(
            user=request.user, project=project, **data.validated_data
        )
        return Response(MembershipOut(membership).data, status=status.HTTP_201_CREATED)


class MembershipDetailApi(APIView):
    def _get(self, request, key, pk):
        project = get_project_for_user(request.user, key)
        return project, get_object_or_404(selectors.membership_list(project=project), pk=pk)

    @extend_schema(responses=MembershipOut)
    def get(self, request, key, pk):
        _, membership = self._get(request, key, pk)
        return Response(MembershipOut(membership).data)

    @extend_schema(request=MembershipUpdateIn, responses=MembershipOut)
    def patch(self, request, key, pk):
        project, membership = self._get(request, key, pk)
        data = MembershipUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_set(
            user=request.user, project=project, member=membership.user, **data.validated_data
        )
        return Response(MembershipOut(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, key, pk):
        project, membership = self._get(request, key, pk)
        services.membership_remove(user=request.user, project=project, membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)
