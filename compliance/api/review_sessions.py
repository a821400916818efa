"""Review sessions, electronic signatures, comments and impact analysis over REST.

Signing needs the password again in the body (``password``): an API token alone never signs.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance import impact, iso26262, selectors
from compliance import review_sessions as rs
from compliance.api.serializers import BaselineField, UserField
from compliance.api.views import _parse
from compliance.models import (
    Comment,
    Requirement,
    ReviewSession,
    SafetyGoal,
    SignatureDecision,
    SignatureMeaning,
)
from projects.api.pagination import Page, paginated
from projects.api.schema import requires
from projects.api.strict import JSONInput
from projects.permissions import Action, get_project_for_user

KEY_MAX = 300


class SessionIn(JSONInput, serializers.Serializer):
    title = serializers.CharField(max_length=200)
    measure = serializers.ChoiceField(choices=[m.value for m in iso26262.ConfirmationMeasure])
    reviewers = serializers.ListField(child=UserField(), min_length=1, max_length=100)
    keys = serializers.ListField(
        child=serializers.CharField(max_length=KEY_MAX),
        required=False,
        default=list,
        max_length=rs.MAX_ITEMS,
    )
    baseline = BaselineField(required=False, allow_null=True, default=None)


class SessionOut(serializers.ModelSerializer):
    opened_by = serializers.CharField(source="opened_by.username")
    reviewers = serializers.SerializerMethodField()
    baseline = serializers.CharField(source="baseline.name", allow_null=True, default=None)
    entry = serializers.IntegerField(source="entry.index")
    items = serializers.IntegerField(source="item_count", default=0)
    signatures = serializers.IntegerField(source="signature_count", default=0)

    class Meta:
        model = ReviewSession
        fields = [
            "id",
            "title",
            "measure",
            "baseline",
            "status",
            "opened_by",
            "reviewers",
            "items",
            "signatures",
            "entry",
            "created_at",
        ]

    def get_reviewers(self, session) -> list[str]:
        return sorted(u.username for u in session.reviewers.all())


class SignatureOut(serializers.Serializer):
    id = serializers.IntegerField(source="signature.pk")
    item = serializers.CharField(source="signature.item.key")
    signer = serializers.CharField(source="signature.signer.username")
    meaning = serializers.CharField(source="signature.meaning")
    decision = serializers.CharField(source="signature.decision")
    comment = serializers.CharField(source="signature.comment")
    digest = serializers.CharField(source="signature.digest")
    required_independence = serializers.CharField(source="signature.required_independence")
    achieved_independence = serializers.CharField(source="signature.achieved_independence")
    reauthentication = serializers.CharField(source="signature.reauthentication")
    entry = serializers.IntegerField(source="signature.entry.index")
    signed_at = serializers.DateTimeField(source="signature.signed_at")
    state = serializers.ChoiceField(choices=["current", "stale", "revoked"], source="label")
    reason = serializers.CharField()


class ItemOut(serializers.Serializer):
    key = serializers.CharField(source="item.key")
    version = serializers.IntegerField(source="item.version", allow_null=True)
    digest = serializers.CharField(source="item.digest")
    asil = serializers.CharField(source="item.asil")
    required_independence = serializers.CharField(source="item.required_independence")
    signatures = SignatureOut(many=True)


class SessionDetailOut(serializers.Serializer):
    session = SessionOut()
    items = ItemOut(many=True)


class SignIn(JSONInput, serializers.Serializer):
    item = serializers.CharField(max_length=KEY_MAX)
    decision = serializers.ChoiceField(choices=SignatureDecision.values)
    meaning = serializers.ChoiceField(choices=SignatureMeaning.values)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
    password = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=1000,
        write_only=True,
        style={"input_type": "password"},
    )


class RevokeIn(JSONInput, serializers.Serializer):
    reason = serializers.CharField(max_length=10_000)


class CommentIn(JSONInput, serializers.Serializer):
    key = serializers.CharField(max_length=KEY_MAX)
    text = serializers.CharField(max_length=10_000)


class CommentOut(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username")
    mentions = serializers.SerializerMethodField()
    entry = serializers.IntegerField(source="entry.index")

    class Meta:
        model = Comment
        fields = ["id", "key", "author", "text", "mentions", "entry", "created_at"]

    def get_mentions(self, comment) -> list[str]:
        return sorted(u.username for u in comment.mentions.all())


class ImpactIn(JSONInput, serializers.Serializer):
    requirement = serializers.CharField(max_length=40, required=False)
    goal = serializers.CharField(max_length=40, required=False)
    title = serializers.CharField(required=False, allow_blank=True, max_length=500)
    text = serializers.CharField(required=False, allow_blank=True, max_length=100_000)
    asil = serializers.CharField(required=False, max_length=8)
    kind = serializers.CharField(required=False, max_length=8)
    safe_state = serializers.CharField(required=False, allow_blank=True, max_length=100_000)

    def validate(self, data):
        if ("requirement" in data) == ("goal" in data):
            raise serializers.ValidationError({"requirement": "Name a requirement or a goal."})
        return data


class EffectOut(serializers.Serializer):
    group = serializers.CharField()
    label = serializers.CharField()
    what = serializers.CharField()


class ImpactOut(serializers.Serializer):
    key = serializers.CharField()
    changes_content = serializers.BooleanField()
    count = serializers.IntegerField()
    summary = serializers.CharField()
    effects = EffectOut(many=True)


class OpenImpactOut(serializers.Serializer):
    count = serializers.IntegerField()
    suspect_links = serializers.ListField(child=serializers.CharField())
    stale_verifications = serializers.ListField(child=serializers.CharField())
    requirements_to_review = serializers.ListField(child=serializers.CharField())
    stale_reviews = serializers.ListField(child=serializers.CharField())
    stale_signatures = serializers.ListField(child=serializers.CharField())


def _session(project, pk) -> ReviewSession:
    return get_object_or_404(selectors.review_session_list(project=project), pk=pk)


def _state(project, pk: int) -> rs.SignatureState:
    signature = selectors.signature_list(project=project).get(pk=pk)
    return rs.signature_states(project, [signature])[pk]


class ReviewSessionListApi(APIView):
    pagination_class = Page

    @extend_schema(responses=SessionOut(many=True))
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        return paginated(self, selectors.review_session_list(project=project), SessionOut)

    @extend_schema(request=SessionIn, responses={201: SessionOut}, **requires(Action.REVIEW))
    def post(self, request, key):
        project = get_project_for_user(request.user, key, Action.REVIEW)
        session = rs.session_open(
            user=request.user, project=project, **_parse(SessionIn, request, project)
        )
        return Response(SessionOut(_session(project, session.pk)).data, status=201)


class ReviewSessionDetailApi(APIView):
    @extend_schema(responses=SessionDetailOut)
    def get(self, request, key, pk):
        project = get_project_for_user(request.user, key)
        detail = selectors.review_session_detail(project=project, pk=pk)
        if detail is None:
            raise NotFound("No such review.")
        return Response(SessionDetailOut(detail).data)


class ReviewSessionSignApi(APIView):
    @extend_schema(request=SignIn, responses={201: SignatureOut}, **requires(Action.VIEW))
    def post(self, request, key, pk):
        project = get_project_for_user(request.user, key)
        data = _parse(SignIn, request, project)
        session = _session(project, pk)
        item = get_object_or_404(session.items.all(), key=data.pop("item"))
        signature = rs.signature_sign(user=request.user, request=request, item=item, **data)
        return Response(SignatureOut(_state(project, signature.pk)).data, status=201)


class SignatureRevokeApi(APIView):
    @extend_schema(request=RevokeIn, responses={201: SignatureOut}, **requires(Action.VIEW))
    def post(self, request, key, pk):
        project = get_project_for_user(request.user, key)
        data = _parse(RevokeIn, request, project)
        signature = get_object_or_404(selectors.signature_list(project=project), pk=pk)
        rs.signature_revoke(user=request.user, signature=signature, reason=data["reason"])
        return Response(SignatureOut(_state(project, signature.pk)).data, status=201)


class CommentListApi(APIView):
    pagination_class = Page

    @extend_schema(
        parameters=[OpenApiParameter("key", OpenApiTypes.STR, description="one work product")],
        responses=CommentOut(many=True),
    )
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        about = request.query_params.get("key")
        return paginated(self, selectors.comment_list(project=project, key=about), CommentOut)

    @extend_schema(request=CommentIn, responses={201: CommentOut}, **requires(Action.VIEW))
    def post(self, request, key):
        project = get_project_for_user(request.user, key)
        data = _parse(CommentIn, request, project)
        comment = rs.comment_add(user=request.user, project=project, **data)
        return Response(CommentOut(comment).data, status=201)


class ImpactPreviewApi(APIView):
    """What a change would make suspect or stale; reads only (POST carries the proposed text)."""

    @extend_schema(request=ImpactIn, responses=ImpactOut, **requires(Action.VIEW))
    def post(self, request, key):
        project = get_project_for_user(request.user, key)
        data = dict(_parse(ImpactIn, request, project))
        if "requirement" in data:
            target = Requirement.objects.filter(project=project, code=data.pop("requirement"))
        else:
            target = SafetyGoal.objects.filter(project=project, code=data.pop("goal"))
        target = target.first()
        if target is None:
            raise NotFound("No such requirement or safety goal.")
        found = impact.preview(project, target, data)
        return Response(
            ImpactOut(
                {
                    "key": found.key,
                    "changes_content": found.changes_content,
                    "count": found.count,
                    "summary": found.summary,
                    "effects": found.effects,
                }
            ).data
        )


class OpenImpactApi(APIView):
    @extend_schema(responses=OpenImpactOut)
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        left = impact.open_impact(project)
        return Response(
            OpenImpactOut(
                {
                    "count": left["count"],
                    "suspect_links": [
                        f"{link.source.code} {link.kind} {link.target.code}"
                        for link in left["links"]
                    ],
                    "stale_verifications": [
                        f"{v.requirement.code} v{v.requirement_version} {v.method}"
                        for v in left["verifications"]
                    ],
                    "requirements_to_review": [r.code for r in left["requirements"]],
                    "stale_reviews": [
                        f"{c.approval.measure}: {c.approval.work_product}"
                        for c in left["approvals"]
                    ],
                    "stale_signatures": [
                        f"{s.signature.item.key} by {s.signature.signer.username}"
                        for s in left["signatures"]
                    ],
                }
            ).data
        )
