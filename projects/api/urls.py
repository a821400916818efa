from django.urls import path

from projects.api import views

urlpatterns = [
    path("projects/", views.ProjectListApi.as_view(), name="project-list"),
    path("projects/<str:key>/", views.ProjectDetailApi.as_view(), name="project-detail"),
    path(
        "projects/<str:key>/memberships/",
        views.MembershipListApi.as_view(),
        name="membership-list",
    ),
    path(
        "projects/<str:key>/memberships/<int:pk>/",
        views.MembershipDetailApi.as_view(),
        name="membership-detail",
    ),
]
