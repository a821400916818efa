from django.urls import path

from compliance.api import review_sessions as r
from compliance.api import views as v

p = "projects/<str:key>/"
urlpatterns = [
    path(f"{p}item/", v.ItemApi.as_view(), name="item"),
    path(f"{p}hazards/", v.HazardListApi.as_view(), name="hazards"),
    path(f"{p}situations/", v.SituationListApi.as_view(), name="situations"),
    path(f"{p}hazardous-events/", v.HazardousEventListApi.as_view(), name="hazardous-events"),
    path(
        f"{p}hazardous-events/<str:code>/",
        v.HazardousEventDetailApi.as_view(),
        name="hazardous-event",
    ),
    path(f"{p}safety-goals/", v.SafetyGoalListApi.as_view(), name="safety-goals"),
    path(f"{p}requirements/", v.RequirementListApi.as_view(), name="requirements"),
    path(f"{p}requirements/<str:code>/", v.RequirementDetailApi.as_view(), name="requirement"),
    path(f"{p}links/", v.LinkListApi.as_view(), name="links"),
    path(f"{p}links/<int:pk>/clear/", v.LinkClearApi.as_view(), name="link-clear"),
    path(f"{p}links/<int:pk>/remove/", v.LinkRemoveApi.as_view(), name="link-remove"),
    path(f"{p}decompositions/", v.DecompositionListApi.as_view(), name="decompositions"),
    path(f"{p}verifications/", v.VerificationListApi.as_view(), name="verifications"),
    path(f"{p}baselines/", v.BaselineListApi.as_view(), name="baselines"),
    path(f"{p}baselines/diff/", v.BaselineDiffApi.as_view(), name="baseline-diff"),
    path(f"{p}approvals/", v.ApprovalListApi.as_view(), name="approvals"),
    path(f"{p}confirmation-matrix/", v.ConfirmationMatrixApi.as_view(), name="confirmation-matrix"),
    path(
        f"{p}triggering-conditions/",
        v.TriggeringConditionListApi.as_view(),
        name="triggering-conditions",
    ),
    path(
        f"{p}acceptance-criteria/",
        v.AcceptanceCriterionListApi.as_view(),
        name="acceptance-criteria",
    ),
    path(f"{p}gaps/", v.GapAnalysisApi.as_view(), name="gaps"),
    path(f"{p}traceability/", v.TraceabilityApi.as_view(), name="traceability"),
    path(f"{p}review-sessions/", r.ReviewSessionListApi.as_view(), name="review-sessions"),
    path(
        f"{p}review-sessions/<int:pk>/",
        r.ReviewSessionDetailApi.as_view(),
        name="review-session",
    ),
    path(
        f"{p}review-sessions/<int:pk>/sign/",
        r.ReviewSessionSignApi.as_view(),
        name="review-session-sign",
    ),
    path(
        f"{p}signatures/<int:pk>/revoke/", r.SignatureRevokeApi.as_view(), name="signature-revoke"
    ),
    path(f"{p}comments/", r.CommentListApi.as_view(), name="comments"),
    path(f"{p}impact/preview/", r.ImpactPreviewApi.as_view(), name="impact-preview"),
    path(f"{p}impact/", r.OpenImpactApi.as_view(), name="impact"),
]
