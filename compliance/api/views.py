"""The safety case over REST. Each view resolves the project for the user, parses with an
input serializer, calls a selector or a service, and serializes the result."""

from __future__ import annotations

import csv

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance import iso26262, selectors, services
from compliance.api import serializers as s
from compliance.models import (
    AcceptanceCriterion,
    Approval,
    Baseline,
    Decomposition,
    Hazard,
    HazardousEvent,
    ItemDefinition,
    OperationalSituation,
    Requirement,
    SafetyGoal,
    TraceLink,
    TriggeringCondition,
    Verification,
)
from projects.api.pagination import paginated
from projects.permissions import Action, get_project_for_user


def _parse(serializer_class, request, project, partial=False):
    data = serializer_class(data=request.data, context={"project": project}, partial=partial)
    data.is_valid(raise_exception=True)
    return data.validated_data


def list_create(name, *, queryset, out, inp=None, create=None, action=Action.EDIT, filters=()):
    """Build a list (GET, paged) and create (POST, through ``create``) view for a project.

    The POST checks that the caller's role may ``action`` (the action ``create`` requires)
    before it reads the body, so a refused caller learns nothing from validation messages.
    """

    class View(APIView):
        @extend_schema(
            parameters=[OpenApiParameter(f, str) for f in filters], responses=out(many=True)
        )
        def get(self, request, key):
            project = get_project_for_user(request.user, key)
            return paginated(self, queryset(project, request), out)

        if create is not None:

            @extend_schema(request=inp, responses={201: out})
            def post(self, request, key):
                project = get_project_for_user(request.user, key, action)
                obj = create(user=request.user, project=project, **_parse(inp, request, project))
                return Response(out(obj).data, status=201)

    View.__name__ = View.__qualname__ = f"{name}Api"
    return View


def _by_project(model, *related):
    return lambda project, request: model.objects.filter(project=project).select_related(*related)


HazardListApi = list_create(
    "HazardList",
    queryset=_by_project(Hazard),
    out=s.HazardSerializer,
    inp=s.HazardSerializer,
    create=services.hazard_create,
)
SituationListApi = list_create(
    "SituationList",
    queryset=_by_project(OperationalSituation),
    out=s.SituationSerializer,
    inp=s.SituationSerializer,
    create=services.situation_create,
)
HazardousEventListApi = list_create(
    "HazardousEventList",
    queryset=_by_project(HazardousEvent, "hazard", "situation"),
    out=s.HazardousEventOut,
    inp=s.HazardousEventIn,
    create=services.hazardous_event_save,
)
SafetyGoalListApi = list_create(
    "SafetyGoalList",
    queryset=lambda p, r: SafetyGoal.objects.filter(project=p).prefetch_related("events"),
    out=s.SafetyGoalOut,
    inp=s.SafetyGoalIn,
    create=services.safety_goal_save,
)
RequirementListApi = list_create(
    "RequirementList",
    queryset=lambda p, r: selectors.requirement_list(project=p, filters=r.query_params),
    out=s.RequirementOut,
    inp=s.RequirementIn,
    create=services.requirement_create,
    filters=("kind", "status", "asil", "coverage"),
)


def _links(project, request):
    links = TraceLink.objects.filter(project=project).select_related(
        "source", "target_requirement", "target_goal"
    )
    if request.query_params.get("suspect") in ("1", "true"):
        links = links.filter(suspect=True)
    return links.order_by("id")


LinkListApi = list_create(
    "LinkList",
    queryset=_links,
    out=s.LinkOut,
    inp=s.LinkIn,
    create=services.link_create,
    filters=("suspect",),
)
DecompositionListApi = list_create(
    "DecompositionList",
    queryset=_by_project(Decomposition, "parent", "first", "second", "entry"),
    out=s.DecompositionOut,
    inp=s.DecompositionIn,
    create=services.decomposition_record,
)
VerificationListApi = list_create(
    "VerificationList",
    queryset=_by_project(Verification, "requirement", "entry"),
    out=s.VerificationOut,
    inp=s.VerificationIn,
    create=services.verification_record,
)
BaselineListApi = list_create(
    "BaselineList",
    queryset=_by_project(Baseline, "created_by", "entry"),
    out=s.BaselineOut,
    inp=s.BaselineIn,
    create=services.baseline_freeze,
    action=Action.REVIEW,
)
ApprovalListApi = list_create(
    "ApprovalList",
    queryset=_by_project(Approval, "author", "reviewer", "entry"),
    out=s.ApprovalOut,
    inp=s.ApprovalIn,
    create=services.approval_record,
    action=Action.CONFIRM,
)
TriggeringConditionListApi = list_create(
    "TriggeringConditionList",
    queryset=_by_project(TriggeringCondition),
    out=s.TriggeringConditionSerializer,
    inp=s.TriggeringConditionSerializer,
    create=services.triggering_condition_create,
)
AcceptanceCriterionListApi = list_create(
    "AcceptanceCriterionList",
    queryset=_by_project(AcceptanceCriterion, "goal", "requirement"),
    out=s.AcceptanceCriterionOut,
    inp=s.AcceptanceCriterionIn,
    create=services.acceptance_criterion_save,
)


class ItemApi(APIView):
    @extend_schema(responses=s.ItemSerializer)
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        item = get_object_or_404(ItemDefinition, project=project)
        return Response(s.ItemSerializer(item).data)

    @extend_schema(request=s.ItemSerializer, responses=s.ItemSerializer)
    def put(self, request, key):
        project = get_project_for_user(request.user, key, Action.EDIT)
        item = services.item_set(
            user=request.user, project=project, **_parse(s.ItemSerializer, request, project)
        )
        return Response(s.ItemSerializer(item).data)


class HazardousEventDetailApi(APIView):
    @extend_schema(request=s.HazardousEventIn, responses=s.HazardousEventOut)
    def patch(self, request, key, code):
        project = get_project_for_user(request.user, key, Action.EDIT)
        event = get_object_or_404(HazardousEvent, project=project, code=code)
        data = _parse(s.HazardousEventIn, request, project, partial=True)
        event = services.hazardous_event_save(
            user=request.user, project=project, event=event, **data
        )
        return Response(s.HazardousEventOut(event).data)


class RequirementDetailApi(APIView):
    @extend_schema(responses=s.RequirementOut)
    def get(self, request, key, code):
        project = get_project_for_user(request.user, key)
        return Response(
            s.RequirementOut(get_object_or_404(Requirement, project=project, code=code)).data
        )

    @extend_schema(request=s.RequirementUpdateIn, responses=s.RequirementOut)
    def patch(self, request, key, code):
        project = get_project_for_user(request.user, key, Action.EDIT)
        requirement = get_object_or_404(Requirement, project=project, code=code)
        data = _parse(s.RequirementUpdateIn, request, project, partial=True)
        requirement = services.requirement_update(
            user=request.user, requirement=requirement, **data
        )
        return Response(s.RequirementOut(requirement).data)


class LinkClearApi(APIView):
    @extend_schema(request=s.ClearIn, responses=s.LinkOut)
    def post(self, request, key, pk):
        project = get_project_for_user(request.user, key, Action.REVIEW)
        link = get_object_or_404(TraceLink, project=project, pk=pk)
        data = _parse(s.ClearIn, request, project)
        link = services.link_clear_suspect(user=request.user, link=link, comment=data["comment"])
        return Response(s.LinkOut(link).data)


class BaselineDiffApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("from", str), OpenApiParameter("to", str)], responses=dict
    )
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        names = request.query_params.get("from"), request.query_params.get("to")
        if not all(names):
            raise ValidationError({"from": "Name two baselines: ?from=NAME&to=NAME."})
        old, new = (get_object_or_404(Baseline, project=project, name=n) for n in names)
        return Response(services.baseline_diff(old, new))


class GapAnalysisApi(APIView):
    @extend_schema(responses=dict)
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        return Response(selectors.gap_analysis(project=project))


class ConfirmationMatrixApi(APIView):
    @extend_schema(responses=dict)
    def get(self, request, key):
        get_project_for_user(request.user, key)
        return Response(
            {
                "edition": iso26262.TABLE1_EDITION,
                "measures": {
                    m.value: dict(iso26262.CONFIRMATION_MATRIX[m])
                    for m in iso26262.ConfirmationMeasure
                },
            }
        )


class TraceabilityApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(f, str) for f in ("kind", "status", "asil", "coverage", "export")
        ],
        responses=s.MatrixRowOut(many=True),
    )
    def get(self, request, key):
        project = get_project_for_user(request.user, key, Action.VIEW)
        rows = selectors.traceability_matrix(project=project, filters=request.query_params)
        if request.query_params.get("export") == "csv":
            return _matrix_csv(project, rows)
        return paginated(self, rows, s.MatrixRowOut)


def _matrix_csv(project, rows):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{project.key}-traceability.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "code",
            "kind",
            "asil",
            "status",
            "version",
            "title",
            "parents",
            "children",
            "verification",
            "suspect",
        ]
    )
    for row in s.MatrixRowOut(rows, many=True).data:
        writer.writerow(
            [_cell(row[c]) for c in ("code", "kind", "asil", "status", "version", "title")]
            + [
                " ".join(row["parents"]),
                " ".join(row["children"]),
                row["verification"],
                "yes" if row["suspect"] else "no",
            ]
        )
    return response


def _cell(value):
    """Keep spreadsheet programs from running a cell as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
