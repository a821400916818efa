"""Scenarios, campaigns and runs over REST: start, watch progress, cancel, read results."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.api.pagination import Page, paginated
from projects.api.schema import requires
from projects.permissions import Action, get_project_for_user
from validation import mining, selectors, services
from validation.api import serializers as s


class ScenarioListApi(APIView):
    pagination_class = Page

    @extend_schema(responses=s.ScenarioOut(many=True))
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        return paginated(self, selectors.scenario_list(project=project), s.ScenarioOut)


class ScenarioCatalogListApi(APIView):
    pagination_class = Page

    @extend_schema(responses=s.ScenarioCatalogOut(many=True))
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        return paginated(
            self, selectors.scenario_catalog_list(project=project), s.ScenarioCatalogOut
        )


class CampaignListApi(APIView):
    pagination_class = Page

    @extend_schema(responses=s.CampaignOut(many=True))
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        return paginated(self, selectors.campaign_list(project=project), s.CampaignOut)


class RunStartApi(APIView):
    @extend_schema(request=s.RunStartIn, responses={201: s.RunOut}, **requires(Action.RUN))
    def post(self, request, key, name):
        project = get_project_for_user(request.user, key, Action.RUN)
        campaign = get_object_or_404(selectors.campaign_details(project=project), name=name)
        data = s.RunStartIn(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.run_start(
            user=request.user,
            campaign=campaign,
            executor=data.validated_data.get("executor"),
            model=data.validated_data.get("model"),
            commit=data.validated_data.get("commit"),
            in_background=True,
        )
        return Response(
            s.RunOut(selectors.run_list(project=project).get(pk=run.pk)).data, status=201
        )


class RunListApi(APIView):
    pagination_class = Page

    @extend_schema(responses=s.RunOut(many=True))
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        return paginated(self, selectors.run_list(project=project), s.RunOut)


class RunDetailApi(APIView):
    @extend_schema(responses=s.RunOut)
    def get(self, request, key, pk):
        project = get_project_for_user(request.user, key)
        return Response(
            s.RunOut(get_object_or_404(selectors.run_list(project=project), pk=pk)).data
        )


class RunCancelApi(APIView):
    @extend_schema(request=None, responses=s.RunOut, **requires(Action.RUN))
    def post(self, request, key, pk):
        project = get_project_for_user(request.user, key, Action.RUN)
        run = get_object_or_404(selectors.runs_of_project(project=project), pk=pk)
        services.run_cancel(user=request.user, run=run)
        return Response(s.RunOut(selectors.run_list(project=project).get(pk=pk)).data)


class RunResultsApi(APIView):
    pagination_class = Page

    @extend_schema(responses=s.CaseResultOut(many=True))
    def get(self, request, key, pk):
        project = get_project_for_user(request.user, key)
        run = get_object_or_404(selectors.runs_of_project(project=project), pk=pk)
        return paginated(self, selectors.run_results(run=run), s.CaseResultOut)


class RunCompareApi(APIView):
    """Compare this run (the head) against a base run and record the comparison in the ledger.

    201 with the report either way: ``regressed`` says whether a criterion regressed
    significantly or a case flipped from pass to fail (a CI gate fails the build on it)."""

    @extend_schema(request=s.ComparisonIn, responses={201: s.ComparisonOut}, **requires(Action.RUN))
    def post(self, request, key, pk):
        project = get_project_for_user(request.user, key, Action.RUN)
        runs = selectors.runs_of_project(project=project).select_related("campaign", "entry")
        head = get_object_or_404(runs, pk=pk)
        data = s.ComparisonIn(data=request.data)
        data.is_valid(raise_exception=True)
        base = runs.filter(pk=data.validated_data["base"]).first()
        if base is None:
            raise ValidationError({"base": [f"No run {data.validated_data['base']} in {key}."]})
        comparison = services.run_compare(
            user=request.user,
            project=project,
            base=base,
            head=head,
            limit=data.validated_data["limit"],
        )
        return Response(s.ComparisonOut(comparison).data, status=201)


class ComparisonListApi(APIView):
    pagination_class = Page

    @extend_schema(responses=s.ComparisonOut(many=True))
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        return paginated(self, selectors.comparisons_of_project(project=project), s.ComparisonOut)


class RunCoverageApi(APIView):
    """The coverage of a run's cases over its parameters (those a criterion judges, when
    named): hits per bin, holes, the bins below a goal, and the x-y grid when both are named.
    A criterion not of the run's campaign, or a grid parameter none of the cases has, is 404."""

    @extend_schema(parameters=[s.CoverageQuery], responses=s.CoverageOut)
    def get(self, request, key, pk):
        from validation.coverage import CoverageError, UnknownParameter

        project = get_project_for_user(request.user, key)
        run = get_object_or_404(selectors.runs_of_project(project=project), pk=pk)
        query = s.CoverageQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        asked = query.validated_data
        criterion = None
        if asked.get("criterion"):
            criterion = (
                selectors.campaign_criteria(campaign_id=run.campaign_id)
                .filter(code=asked["criterion"])
                .first()
            )
            if criterion is None:
                raise NotFound(f"{asked['criterion']} is not a criterion of this campaign.")
        try:
            data = selectors.run_coverage(
                project=project,
                run=run,
                criterion=criterion,
                bins=asked["bins"],
                goal=asked["goal"],
                x=asked.get("x"),
                y=asked.get("y"),
            )
        except UnknownParameter as exc:
            raise NotFound(str(exc)) from exc
        except CoverageError as exc:
            raise ValidationError({"detail": [str(exc)]}) from exc
        return Response(s.CoverageOut(data).data)


class FailureSearchApi(APIView):
    """Failure searches of the project: list them, or search a scenario for the cases closest
    to failing a criterion (seeded) and record the search and its failures in the ledger.
    A search is never a run: no verdict is computed from its cases."""

    pagination_class = Page

    @extend_schema(responses=s.FailureSearchOut(many=True))
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        return paginated(self, selectors.searches_of_project(project=project), s.FailureSearchOut)

    @extend_schema(
        request=s.FailureSearchIn, responses={201: s.FailureSearchOut}, **requires(Action.RUN)
    )
    def post(self, request, key):
        project = get_project_for_user(request.user, key, Action.RUN)
        data = s.FailureSearchIn(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        criterion = selectors.criterion_by_code(project=project, code=given["criterion"])
        if criterion is None:
            raise ValidationError({"criterion": [f"No criterion {given['criterion']} in {key}."]})
        scenario = selectors.scenario_list(project=project).filter(name=given["scenario"]).first()
        if scenario is None:
            raise ValidationError({"scenario": [f"No scenario {given['scenario']} in {key}."]})
        campaign = None
        if given.get("campaign"):
            campaign = selectors.campaign_list(project=project).filter(name=given["campaign"])
            campaign = campaign.first()
            if campaign is None:
                raise ValidationError({"campaign": [f"No campaign {given['campaign']} in {key}."]})
        found = services.failure_search(
            user=request.user,
            project=project,
            criterion=criterion,
            scenario=scenario,
            campaign=campaign,
            ranges=given.get("ranges"),
            budget=given["budget"],
            seed=given["seed"],
            sampler=given["sampler"],
        )
        return Response(s.FailureSearchOut(found).data, status=201)


class RecordedEventListApi(APIView):
    """Events mined from the project's recorded drives (hard braking, low TTC, cut-ins), by
    drive and time; ``?kind=`` and ``?drive=`` (name or content digest) narrow the list."""

    pagination_class = Page

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=list(mining.KINDS)),
            OpenApiParameter("drive", str, description="the drive's name as mined, or its digest"),
        ],
        responses=s.RecordedEventOut(many=True),
    )
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        kind = request.query_params.get("kind") or None
        if kind is not None and kind not in mining.KINDS:
            raise ValidationError({"kind": [f"Use {', '.join(mining.KINDS)}."]})
        events = selectors.recorded_events(
            project=project, kind=kind, drive=request.query_params.get("drive") or None
        )
        return paginated(self, events, s.RecordedEventOut)
