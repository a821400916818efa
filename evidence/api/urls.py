from django.urls import path

from evidence.api import memberships, views

prefix = "projects/<str:key>/ledger/"
urlpatterns = [
    path("projects/", memberships.ProjectListApi.as_view(), name="project-list"),
    path(
        "projects/<str:key>/memberships/",
        memberships.MembershipListApi.as_view(),
        name="membership-list",
    ),
    path(
        "projects/<str:key>/memberships/<int:pk>/",
        memberships.MembershipDetailApi.as_view(),
        name="membership-detail",
    ),
    path(f"{prefix}entries/", views.EntryListApi.as_view(), name="ledger-entries"),
    path(f"{prefix}entries/<int:index>/", views.EntryDetailApi.as_view(), name="ledger-entry"),
    path(f"{prefix}checkpoint/", views.CheckpointLatestApi.as_view(), name="ledger-checkpoint"),
    path(f"{prefix}proofs/inclusion/", views.InclusionProofApi.as_view(), name="ledger-inclusion"),
    path(
        f"{prefix}proofs/consistency/",
        views.ConsistencyProofApi.as_view(),
        name="ledger-consistency",
    ),
    path("projects/<str:key>/artifacts/", views.ArtifactListApi.as_view(), name="artifacts"),
    path("projects/<str:key>/decisions/", views.DecisionListApi.as_view(), name="decisions"),
]
