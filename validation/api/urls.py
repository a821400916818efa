from django.urls import path

from validation.api import views as v

p = "projects/<str:key>/"
urlpatterns = [
    path(f"{p}scenarios/", v.ScenarioListApi.as_view(), name="scenarios"),
    path(f"{p}scenario-catalogs/", v.ScenarioCatalogListApi.as_view(), name="scenario-catalogs"),
    path(f"{p}campaigns/", v.CampaignListApi.as_view(), name="campaigns"),
    path(f"{p}campaigns/<str:name>/runs/", v.RunStartApi.as_view(), name="campaign-run"),
    path(f"{p}runs/", v.RunListApi.as_view(), name="runs"),
    path(f"{p}runs/<int:pk>/", v.RunDetailApi.as_view(), name="run"),
    path(f"{p}runs/<int:pk>/cancel/", v.RunCancelApi.as_view(), name="run-cancel"),
    path(f"{p}runs/<int:pk>/results/", v.RunResultsApi.as_view(), name="run-results"),
    path(f"{p}runs/<int:pk>/compare/", v.RunCompareApi.as_view(), name="run-compare"),
    path(f"{p}runs/<int:pk>/coverage/", v.RunCoverageApi.as_view(), name="run-coverage"),
    path(f"{p}comparisons/", v.ComparisonListApi.as_view(), name="comparisons"),
    path(f"{p}searches/", v.FailureSearchApi.as_view(), name="searches"),
    path(f"{p}recorded-events/", v.RecordedEventListApi.as_view(), name="recorded-events"),
]
