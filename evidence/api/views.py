"""The ledger over REST: entries, checkpoints, proofs, artifacts and decisions."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from evidence import ledger, selectors, services
from evidence.api.serializers import (
    ArtifactOut,
    CheckpointOut,
    ConsistencyQuery,
    DecisionIn,
    DecisionOut,
    EntryOut,
    EntryQuery,
    InclusionQuery,
)
from projects.api.pagination import Page, paginated
from projects.api.schema import requires
from projects.permissions import Action, get_project_for_user

ProofOut = inline_serializer(
    "ProofOut",
    {
        "tree_size": serializers.IntegerField(),
        "root": serializers.CharField(),
        "proof": serializers.ListField(child=serializers.CharField()),
    },
)


class EntryListApi(APIView):
    pagination_class = Page

    @extend_schema(parameters=[EntryQuery], responses=EntryOut(many=True))
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        query = EntryQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        entries = selectors.entry_list(project=project, kind=query.validated_data.get("kind"))
        return paginated(self, entries, EntryOut)


class EntryDetailApi(APIView):
    @extend_schema(responses=EntryOut)
    def get(self, request, key, index):
        project = get_project_for_user(request.user, key)
        entry = get_object_or_404(selectors.entry_list(project=project), index=index)
        return Response(EntryOut(entry).data)


class CheckpointLatestApi(APIView):
    @extend_schema(responses=CheckpointOut)
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        checkpoint = selectors.latest_checkpoint(project=project)
        if checkpoint is None:
            raise NotFound("The log is empty: no checkpoint yet.")
        return Response(CheckpointOut(checkpoint).data)


def _proof_response(project, size, proof):
    return Response(
        {
            "tree_size": size,
            "root": ledger.root_at(project, size).hex(),
            "proof": [h.hex() for h in proof],
        }
    )


class InclusionProofApi(APIView):
    @extend_schema(parameters=[InclusionQuery], responses=ProofOut)
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        query = InclusionQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        ledger.cover(project)
        size = query.validated_data.get("size") or ledger.head_of(project)[0]
        try:
            proof = ledger.inclusion_proof(project, query.validated_data["index"], size)
        except ledger.LedgerError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        return _proof_response(project, size, proof)


class ConsistencyProofApi(APIView):
    @extend_schema(parameters=[ConsistencyQuery], responses=ProofOut)
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        query = ConsistencyQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        ledger.cover(project)
        second = query.validated_data.get("second") or ledger.head_of(project)[0]
        try:
            proof = ledger.consistency_proof(project, query.validated_data["first"], second)
        except ledger.LedgerError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        return _proof_response(project, second, proof)


class ArtifactListApi(APIView):
    pagination_class = Page

    @extend_schema(responses=ArtifactOut(many=True))
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        return paginated(self, selectors.artifact_list(project=project), ArtifactOut)


class DecisionListApi(APIView):
    pagination_class = Page

    @extend_schema(responses=DecisionOut(many=True))
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        return paginated(self, selectors.decision_list(project=project), DecisionOut)

    @extend_schema(request=DecisionIn, responses={201: DecisionOut}, **requires(Action.REVIEW))
    def post(self, request, key):
        project = get_project_for_user(request.user, key, Action.REVIEW)
        data = DecisionIn(data=request.data)
        data.is_valid(raise_exception=True)
        decision = services.decision_record(
            user=request.user, project=project, **data.validated_data
        )
        return Response(DecisionOut(decision).data, status=201)
