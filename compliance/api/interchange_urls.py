"""URL patterns of the ReqIF and table exchange (included under /api/v1/)."""

from django.urls import path

from compliance.api import interchange as v

p = "projects/<str:key>/"
urlpatterns = [
    path(f"{p}reqif/import/", v.ReqIFImportApi.as_view(), name="reqif-import"),
    path(f"{p}reqif/export/", v.ReqIFExportApi.as_view(), name="reqif-export"),
    path(
        f"{p}requirements/import/",
        v.RequirementTableImportApi.as_view(),
        name="requirements-import",
    ),
    path(
        f"{p}requirements/export.xlsx",
        v.RequirementWorkbookApi.as_view(),
        name="requirements-xlsx-export",
    ),
    path(
        f"{p}requirements/roundtrip/",
        v.RequirementWorkbookImportApi.as_view(),
        name="requirements-xlsx-reimport",
    ),
]
