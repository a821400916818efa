"""A project's details over REST. Views parse, call a selector or service, serialize.

Creating projects and memberships write the ledger: :mod:`evidence.api.memberships`.
"""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from projects import services
from projects.api.schema import requires
from projects.api.serializers import ProjectOut, ProjectUpdateIn
from projects.permissions import Action, get_project_for_user


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectOut)
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        return Response(ProjectOut(project, context={"request": request}).data)

    @extend_schema(request=ProjectUpdateIn, responses=ProjectOut, **requires(Action.MANAGE))
    def patch(self, request, key):
        project = get_project_for_user(request.user, key, Action.MANAGE)
        data = ProjectUpdateIn(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = services.project_update(user=request.user, project=project, **data.validated_data)
        return Response(ProjectOut(project, context={"request": request}).data)
