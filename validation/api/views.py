"""Scenarios, campaigns and runs over REST: start, watch progress, cancel, read results."""

from django.db.models import Count
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.api.pagination import paginated
from projects.permissions import Action, get_project_for_user
from validation import services
from validation.api import serializers as s
from validation.models import Campaign, CaseResult, Run, Scenario


def _runs(project):
    return (
        Run.objects.filter(campaign__project=project)
        .select_related("campaign", "entry")
        .prefetch_related("verdicts__criterion")
        .annotate(cases_done=Count("results"))
    )


class ScenarioListApi(APIView):
    @extend_schema(responses=s.ScenarioOut(many=True))
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        scenarios = Scenario.objects.filter(project=project).prefetch_related(
            "requirements", "spaces"
        )
        return paginated(self, scenarios, s.ScenarioOut)


class CampaignListApi(APIView):
    @extend_schema(responses=s.CampaignOut(many=True))
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        campaigns = Campaign.objects.filter(project=project).prefetch_related(
            "criteria", "spaces__scenario"
        )
        return paginated(self, campaigns, s.CampaignOut)


class RunStartApi(APIView):
    @extend_schema(request=s.RunStartIn, responses={201: s.RunOut})
    def post(self, request, key, name):
        project = get_project_for_user(request.user, key, Action.RUN)
        campaign = get_object_or_404(Campaign, project=project, name=name)
        data = s.RunStartIn(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.run_start(
            user=request.user, campaign=campaign, executor=data.validated_data.get("executor")
        )
        return Response(s.RunOut(_runs(project).get(pk=run.pk)).data, status=201)


class RunListApi(APIView):
    @extend_schema(responses=s.RunOut(many=True))
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        return paginated(self, _runs(project).order_by("-created_at"), s.RunOut)


class RunDetailApi(APIView):
    @extend_schema(responses=s.RunOut)
    def get(self, request, key, pk):
        project = get_project_for_user(request.user, key)
        return Response(s.RunOut(get_object_or_404(_runs(project), pk=pk)).data)


class RunCancelApi(APIView):
    @extend_schema(request=None, responses=s.RunOut)
    def post(self, request, key, pk):
        project = get_project_for_user(request.user, key, Action.RUN)
        run = get_object_or_404(Run, campaign__project=project, pk=pk)
        services.run_cancel(user=request.user, run=run)
        return Response(s.RunOut(_runs(project).get(pk=pk)).data)


class RunResultsApi(APIView):
    @extend_schema(responses=s.CaseResultOut(many=True))
    def get(self, request, key, pk):
        project = get_project_for_user(request.user, key)
        run = get_object_or_404(Run, campaign__project=project, pk=pk)
        return paginated(
            self, CaseResult.objects.filter(run=run).order_by("case_id"), s.CaseResultOut
        )
