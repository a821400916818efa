"""The safety case over REST. Each view resolves the project for the user, parses with an
input serializer, calls a selector or a service, and serializes the result."""

from __future__ import annotations

import csv

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance import iso26262, selectors, services
from compliance.api import serializers as s
from projects.api.pagination import Page, paginated
from projects.api.schema import FieldErrorsOut, requires
from projects.permissions import Action, get_project_for_user

DUPLICATE = OpenApiResponse(FieldErrorsOut, description="the code or name is taken already")
CODE_PATH = OpenApiParameter("code", s.CODE_SCHEMA, OpenApiParameter.PATH)


def _parse(serializer_class, request, project, partial=False):
    data = serializer_class(data=request.data, context={"project": project}, partial=partial)
    data.is_valid(raise_exception=True)
    return data.validated_data


def _query(serializer_class, request) -> dict:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


def list_create(
    name, *, queryset, out, inp=None, create=None, action=Action.EDIT, query=None, unique=True
):
    """Build a list (GET, paged, filtered by the ``query`` serializer) and create (POST,
    through ``create``) view for a project.

    ``queryset(project=..., **filters)`` is a selector. The POST checks that the caller's role
    may ``action`` (the action ``create`` requires) before it reads the body, so a refused
    caller learns nothing from validation messages; ``unique``: a duplicate is refused (409).
    """

    class View(APIView):
        pagination_class = Page

        @extend_schema(parameters=[query] if query else None, responses=out(many=True))
        def get(self, request, key):
            project = get_project_for_user(request.user, key)
            filters = _query(query, request) if query else {}
            return paginated(self, queryset(project=project, **filters), out)

        if create is not None:

            @extend_schema(
                request=inp,
                responses={201: out, **({409: DUPLICATE} if unique else {})},
                **requires(action),
            )
            def post(self, request, key):
                project = get_project_for_user(request.user, key, action)
                obj = create(user=request.user, project=project, **_parse(inp, request, project))
                return Response(out(obj).data, status=201)

    View.__name__ = View.__qualname__ = f"{name}Api"
    return View


def _requirements(*, project, **filters):
    return selectors.requirement_list(project=project, filters=filters)


def _links(*, project, suspect=False):
    return selectors.link_list(project=project, suspect_only=suspect)


HazardListApi = list_create(
    "HazardList",
    queryset=selectors.hazard_list,
    out=s.HazardSerializer,
    inp=s.HazardSerializer,
    create=services.hazard_create,
)
SituationListApi = list_create(
    "SituationList",
    queryset=selectors.situation_list,
    out=s.SituationSerializer,
    inp=s.SituationSerializer,
    create=services.situation_create,
)
HazardousEventListApi = list_create(
    "HazardousEventList",
    queryset=selectors.hazardous_event_list,
    out=s.HazardousEventOut,
    inp=s.HazardousEventIn,
    create=services.hazardous_event_save,
)
SafetyGoalListApi = list_create(
    "SafetyGoalList",
    queryset=selectors.safety_goal_list,
    out=s.SafetyGoalOut,
    inp=s.SafetyGoalIn,
    create=services.safety_goal_save,
)
RequirementListApi = list_create(
    "RequirementList",
    queryset=_requirements,
    out=s.RequirementOut,
    inp=s.RequirementIn,
    create=services.requirement_create,
    query=s.RequirementQuery,
)
LinkListApi = list_create(
    "LinkList",
    queryset=_links,
    out=s.LinkOut,
    inp=s.LinkIn,
    create=services.link_create,
    query=s.LinkQuery,
)
DecompositionListApi = list_create(
    "DecompositionList",
    queryset=selectors.decomposition_list,
    out=s.DecompositionOut,
    inp=s.DecompositionIn,
    create=services.decomposition_record,
)
VerificationListApi = list_create(
    "VerificationList",
    queryset=selectors.verification_list,
    out=s.VerificationOut,
    inp=s.VerificationIn,
    create=services.verification_record,
    unique=False,
)
BaselineListApi = list_create(
    "BaselineList",
    queryset=selectors.baseline_history,
    out=s.BaselineOut,
    inp=s.BaselineIn,
    create=services.baseline_freeze,
    action=Action.REVIEW,
)
ApprovalListApi = list_create(
    "ApprovalList",
    queryset=selectors.approval_list,
    out=s.ApprovalOut,
    inp=s.ApprovalIn,
    create=services.approval_record,
    action=Action.CONFIRM,
    unique=False,
)
TriggeringConditionListApi = list_create(
    "TriggeringConditionList",
    queryset=selectors.triggering_condition_list,
    out=s.TriggeringConditionSerializer,
    inp=s.TriggeringConditionSerializer,
    create=services.triggering_condition_create,
)
AcceptanceCriterionListApi = list_create(
    "AcceptanceCriterionList",
    queryset=selectors.acceptance_criterion_list,
    out=s.AcceptanceCriterionOut,
    inp=s.AcceptanceCriterionIn,
    create=services.acceptance_criterion_save,
)


class ItemApi(APIView):
    @extend_schema(responses=s.ItemSerializer)
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        item = selectors.item_definition(project=project)
        if item is None:
            raise NotFound("The item is not defined yet.")
        return Response(s.ItemSerializer(item).data)

    @extend_schema(request=s.ItemSerializer, responses=s.ItemSerializer, **requires(Action.EDIT))
    def put(self, request, key):
        project = get_project_for_user(request.user, key, Action.EDIT)
        item = services.item_set(
            user=request.user, project=project, **_parse(s.ItemSerializer, request, project)
        )
        return Response(s.ItemSerializer(item).data)


class HazardousEventDetailApi(APIView):
    @extend_schema(
        parameters=[CODE_PATH],
        request=s.HazardousEventIn,
        responses={200: s.HazardousEventOut, 409: DUPLICATE},
        **requires(Action.EDIT),
    )
    def patch(self, request, key, code):
        project = get_project_for_user(request.user, key, Action.EDIT)
        event = get_object_or_404(selectors.hazardous_event_list(project=project), code=code)
        data = _parse(s.HazardousEventIn, request, project, partial=True)
        event = services.hazardous_event_save(
            user=request.user, project=project, event=event, **data
        )
        return Response(s.HazardousEventOut(event).data)


class RequirementDetailApi(APIView):
    @extend_schema(parameters=[CODE_PATH], responses=s.RequirementOut)
    def get(self, request, key, code):
        project = get_project_for_user(request.user, key)
        requirement = get_object_or_404(selectors.requirement_list(project=project), code=code)
        return Response(s.RequirementOut(requirement).data)

    @extend_schema(
        parameters=[CODE_PATH],
        request=s.RequirementUpdateIn,
        responses=s.RequirementOut,
        **requires(Action.EDIT),
    )
    def patch(self, request, key, code):
        project = get_project_for_user(request.user, key, Action.EDIT)
        requirement = get_object_or_404(selectors.requirement_list(project=project), code=code)
        data = _parse(s.RequirementUpdateIn, request, project, partial=True)
        requirement = services.requirement_update(
            user=request.user, requirement=requirement, **data
        )
        return Response(s.RequirementOut(requirement).data)


class LinkClearApi(APIView):
    @extend_schema(request=s.ClearIn, responses=s.LinkOut, **requires(Action.REVIEW))
    def post(self, request, key, pk):
        project = get_project_for_user(request.user, key, Action.REVIEW)
        link = get_object_or_404(selectors.link_list(project=project), pk=pk)
        data = _parse(s.ClearIn, request, project)
        link = services.link_clear_suspect(user=request.user, link=link, comment=data["comment"])
        return Response(s.LinkOut(link).data)


class LinkRemoveApi(APIView):
    @extend_schema(request=s.LinkRemoveIn, responses={204: None}, **requires(Action.EDIT))
    def post(self, request, key, pk):
        """Remove a trace link, saying why; the ledger keeps the link and the reason. A link
        that carries a recorded decomposition stays (400)."""
        project = get_project_for_user(request.user, key, Action.EDIT)
        link = get_object_or_404(selectors.link_list(project=project), pk=pk)
        data = _parse(s.LinkRemoveIn, request, project)
        services.link_remove(user=request.user, link=link, reason=data["reason"])
        return Response(status=204)


def _baseline_name(name: str, description: str) -> OpenApiParameter:
    schema = {"type": "string", "minLength": 1, "maxLength": 100}
    return OpenApiParameter(name, schema, required=True, description=description)


class BaselineDiffApi(APIView):
    @extend_schema(
        parameters=[
            _baseline_name("from", "the older baseline's name"),
            _baseline_name("to", "the newer baseline's name"),
        ],
        responses={200: s.BASELINE_DIFF_SCHEMA},
    )
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        names = request.query_params.get("from"), request.query_params.get("to")
        if not all(names):
            raise ValidationError({"from": "Name two baselines: ?from=NAME&to=NAME."})
        baselines = selectors.baseline_list(project=project, content=True)
        old, new = (get_object_or_404(baselines, name=n) for n in names)
        return Response(services.baseline_diff(old, new))


class GapAnalysisApi(APIView):
    @extend_schema(responses={200: s.GAP_ANALYSIS_SCHEMA})
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        return Response(selectors.full_gap_analysis(project=project))


class ConfirmationMatrixApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
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
    pagination_class = Page

    @extend_schema(
        parameters=[s.TraceabilityQuery],
        responses={
            (200, "application/json"): s.MatrixRowOut(many=True),
            (200, "text/csv"): OpenApiTypes.STR,
        },
        description="The traceability matrix, a page of rows; with export=csv every row as CSV.",
    )
    def get(self, request, key):
        project = get_project_for_user(request.user, key, Action.VIEW)
        filters = _query(s.TraceabilityQuery, request)
        export = filters.pop("export", "")
        if export == "csv":
            return _matrix_csv(project, selectors.matrix_export(project=project, filters=filters))
        rows = selectors.traceability_matrix(project=project, filters=filters)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, request, view=self)
        states = selectors.matrix_verifications([row.pk for row in page])
        for row in page:
            row.latest_result, row.verified_ever = states.get(row.pk, (None, False))
        data = s.MatrixRowOut(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)


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
    for row in rows:
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
