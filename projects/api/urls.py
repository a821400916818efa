"""The project detail route. Listing and creating projects and the membership routes write the
ledger, so they are served by :mod:`evidence.api.memberships` (see ``evidence/api/urls.py``)."""

from django.urls import path

from projects.api import views

urlpatterns = [
    path("projects/<str:key>/", views.ProjectDetailApi.as_view(), name="project-detail"),
]
