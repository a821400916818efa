from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.health import healthz
from config.metrics import metrics_view

api_v1 = [
    path("", include("projects.api.urls")),
    path("", include("evidence.api.urls")),
    path("", include("compliance.api.interchange_urls")),  # before requirements/<code>/
    path("", include("compliance.api.urls")),
    path("", include("compliance.api.git_urls")),
    path("", include("validation.api.urls")),
]

handler404 = "config.api.not_found"
handler403 = "config.api.refused"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("sso/", include(("ui.sso", "sso"))),
    path("", include("ui.urls")),
]
