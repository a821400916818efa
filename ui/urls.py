"""The web UI's pages, at the site root; every project page lives under ``p/<key>/``."""

from django.contrib.auth import views as auth_views
from django.urls import path

from ui.views import (
    campaigns,
    comparisons,
    confirmation,
    coverage,
    dashboard,
    evidence,
    hara,
    impact,
    matrix,
    reports,
    requirements,
    review_sessions,
    searches,
    sotif,
    traceability,
)

app_name = "ui"

p = "p/<str:key>/"
urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="ui/login.html", redirect_authenticated_user=True, next_page="ui:projects"
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="ui:login"), name="logout"),
    path("", dashboard.projects, name="projects"),
    path("asil/", hara.asil, name="asil"),
    path(p, dashboard.dashboard, name="dashboard"),
    path(f"{p}live/runs/", dashboard.dashboard_runs, name="dashboard-runs"),
    path(f"{p}ledger/verify/", dashboard.verify_ledger, name="verify-ledger"),
    path(f"{p}hara/", hara.hara, name="hara"),
    path(f"{p}hara/<str:code>/", hara.hazardous_event, name="hazardous-event"),
    path(f"{p}requirements/", requirements.tree, name="requirements"),
    path(f"{p}requirements/new/", requirements.create, name="requirement-new"),
    path(f"{p}requirements/<str:code>/", requirements.detail, name="requirement"),
    path(f"{p}requirements/<str:code>/edit/", requirements.edit, name="requirement-edit"),
    path(
        f"{p}requirements/<str:code>/decompose/",
        requirements.decompose,
        name="requirement-decompose",
    ),
    path(f"{p}links/<int:pk>/clear/", requirements.clear_link, name="link-clear"),
    path(f"{p}traceability/", matrix.matrix, name="matrix"),
    path(f"{p}campaigns/", campaigns.campaigns, name="campaigns"),
    path(f"{p}campaigns/new/", campaigns.campaign_new, name="campaign-new"),
    path(f"{p}campaigns/spaces/new/", campaigns.space_new, name="space-new"),
    path(f"{p}campaigns/<int:pk>/", campaigns.campaign, name="campaign"),
    path(f"{p}campaigns/<int:pk>/start/", campaigns.run_start, name="run-start"),
    path(f"{p}runs/<int:pk>/", campaigns.run, name="run"),
    path(f"{p}runs/<int:pk>/progress/", campaigns.run_progress, name="run-progress"),
    path(f"{p}runs/<int:pk>/cancel/", campaigns.run_cancel, name="run-cancel"),
    path(f"{p}runs/<int:pk>/compare/", comparisons.run_compare, name="run-compare"),
    path(f"{p}runs/<int:pk>/coverage/", coverage.run_coverage, name="run-coverage"),
    path(
        f"{p}runs/<int:pk>/compare/record/",
        comparisons.run_compare_record,
        name="run-compare-record",
    ),
    path(f"{p}evidence/", evidence.entries, name="evidence"),
    path(f"{p}evidence/<int:index>/proof/", evidence.proof, name="entry-proof"),
    path(f"{p}gsn/", reports.gsn, name="gsn"),
    path(f"{p}gsn.svg", reports.gsn_svg, name="gsn-svg"),
    path(f"{p}sotif/", sotif.sotif, name="sotif"),
    path(f"{p}sotif/criteria/new/", sotif.criterion_new, name="criterion-new"),
    path(f"{p}confirmation/", confirmation.confirmation, name="confirmation"),
    path(f"{p}confirmation/approve/", confirmation.approve, name="approve"),
    path(f"{p}reviews/", review_sessions.sessions, name="reviews"),
    path(f"{p}reviews/open/", review_sessions.session_open, name="review-open"),
    path(f"{p}reviews/<int:pk>/", review_sessions.session, name="review"),
    path(f"{p}reviews/<int:pk>/sign/", review_sessions.sign, name="review-sign"),
    path(f"{p}reviews/<int:pk>/close/", review_sessions.close, name="review-close"),
    path(f"{p}signatures/<int:pk>/revoke/", review_sessions.revoke, name="signature-revoke"),
    path(f"{p}items/<str:item>/", review_sessions.item, name="item-reviews"),
    path(f"{p}items/<str:item>/comment/", review_sessions.comment, name="item-comment"),
    path(f"{p}impact/", impact.open_impact, name="impact"),
    path(
        f"{p}requirements/<str:code>/impact/", impact.requirement_impact, name="requirement-impact"
    ),
    path(f"{p}baselines/", reports.baselines, name="baselines"),
    path(f"{p}baselines/freeze/", reports.baseline_freeze, name="baseline-freeze"),
    path(f"{p}baselines/<int:pk>/package/", reports.package, name="package"),
    path(f"{p}baselines/<int:pk>/evidence-pack.pdf", reports.evidence_pack, name="evidence-pack"),
    path(f"{p}searches/", searches.searches, name="searches"),
    path(f"{p}searches/new/", searches.search_new, name="search-new"),
    path(f"{p}searches/<int:pk>/", searches.search, name="search"),
    path(f"{p}searches/<int:pk>/promote/", searches.search_promote, name="search-promote"),
    # Navigation at scale: the tree's rows a page at a time (fetched when a node is expanded)
    path(f"{p}tree/rows/", requirements.tree_children, name="requirement-tree-children"),
    path(f"{p}chains/", traceability.chains, name="chains"),
]
