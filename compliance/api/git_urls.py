"""URL patterns of the Git hosting webhooks (see :mod:`compliance.api.git`)."""

from django.urls import path

from compliance.api import git

p = "projects/<str:key>/webhooks/"
urlpatterns = [
    path(f"{p}github/", git.GitHubWebhookApi.as_view(), name="webhook-github"),
    path(f"{p}gitlab/", git.GitLabWebhookApi.as_view(), name="webhook-gitlab"),
]
