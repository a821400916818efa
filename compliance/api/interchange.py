"""ReqIF and table exchange over REST: upload a file to import it, download the ReqIF export.

An upload over ``SAFECASE_MAX_UPLOAD_BYTES`` is answered 413 before its body is read when the
request says its length, and again from the file's size; a file the importer refuses is a 400
carrying the reader's message under ``file``.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance import links
from compliance.interchange.common import UploadTooLarge
from compliance.interchange.reqif import reqif_export_with_report, reqif_import
from compliance.interchange.tables import table_import
from compliance.interchange.workbook import xlsx_export, xlsx_reimport
from compliance.models import RequirementKind
from compliance.reqif.profiles import PROFILES
from projects.api.schema import ErrorOut, FieldErrorsOut, requires
from projects.jsonbody import BoundedJSONField
from projects.permissions import Action, get_project_for_user

# Room for the multipart boundaries and headers around the file itself.
MULTIPART_SLACK = 64 * 1024


def _on_violation_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=links.ON_VIOLATION,
        default=links.REFUSE,
        help_text="what a link breaking a trace-link rule does: refuse (the whole import is "
        "refused, nothing written) or note (the rest is imported; an ASIL-lowering link is "
        "created and warned about, a self link or a cycle is listed as not imported)",
    )


class ReqIFImportIn(serializers.Serializer):
    file = serializers.FileField(help_text=".reqif or .reqifz")
    default_kind = serializers.ChoiceField(
        choices=RequirementKind.choices, default=RequirementKind.FSR
    )
    on_violation = _on_violation_field()
    profile = serializers.ChoiceField(
        choices=["auto", *PROFILES],
        default="auto",
        help_text="the tool whose ReqIF dialect the file speaks (auto: from the header)",
    )


class TableImportIn(serializers.Serializer):
    file = serializers.FileField(help_text=".csv (UTF-8) or .xlsx")
    mapping = BoundedJSONField(
        binary=True,
        required=False,
        help_text='Safecase field to column header, e.g. {"code": "ID", "title": "Name"}',
    )
    default_kind = serializers.ChoiceField(
        choices=RequirementKind.choices, default=RequirementKind.FSR
    )
    on_violation = _on_violation_field()

    def validate_mapping(self, value):
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise serializers.ValidationError("Give an object of field name to column header.")
        return value


class ImportReportOut(serializers.Serializer):
    requirements = serializers.IntegerField()
    headings = serializers.IntegerField()
    links = serializers.IntegerField()
    unmapped = serializers.ListField(child=serializers.DictField())
    warnings = serializers.ListField(child=serializers.CharField())
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    tool = serializers.CharField(allow_null=True)
    profile = serializers.CharField(allow_null=True, required=False)
    not_preserved = serializers.ListField(child=serializers.CharField(), required=False)


def _too_large(message: str) -> Response:
    return Response({"detail": message}, status=413)


class _UploadApi(APIView):
    """Shared upload handling: role first, then the size, then the service."""

    parser_classes = [MultiPartParser, FormParser]
    serializer_in: type[serializers.Serializer]
    serializer_out: type[serializers.Serializer] = ImportReportOut

    def run(self, request, key, service, **extra):
        project = get_project_for_user(request.user, key, Action.EDIT)
        limit = settings.SAFECASE_MAX_UPLOAD_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit + MULTIPART_SLACK:
            return _too_large(f"The upload has {length:,} bytes; the limit is {limit:,} bytes.")
        data = self.serializer_in(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        upload = fields.pop("file")
        if upload.size > limit:
            return _too_large(f"The file has {upload.size:,} bytes; the limit is {limit:,} bytes.")
        try:
            report = service(
                user=request.user,
                project=project,
                data=upload.read(),
                filename=upload.name or "upload",
                **fields,
                **extra,
            )
        except UploadTooLarge as exc:
            return _too_large(" ".join(exc.messages))
        return Response(self.serializer_out(report.as_json()).data)


_UPLOAD_RESPONSES = {
    200: ImportReportOut,
    400: OpenApiResponse(
        FieldErrorsOut,
        description="the file was refused (or, with on_violation=refuse, a link broke a "
        "trace-link rule); nothing written",
    ),
    413: OpenApiResponse(ErrorOut, description="the upload is over the size limit"),
}


class ReqIFImportApi(_UploadApi):
    serializer_in = ReqIFImportIn

    @extend_schema(
        operation_id="reqif_import",
        **requires(Action.EDIT),
        request={"multipart/form-data": ReqIFImportIn},
        responses=_UPLOAD_RESPONSES,
        description="Import a .reqif or .reqifz file: requirements, headings and links, in one "
        "transaction with one ledger entry.",
    )
    def post(self, request, key):
        return self.run(request, key, reqif_import)


class RequirementTableImportApi(_UploadApi):
    serializer_in = TableImportIn

    @extend_schema(
        operation_id="requirements_table_import",
        **requires(Action.EDIT),
        request={"multipart/form-data": TableImportIn},
        responses=_UPLOAD_RESPONSES,
        description="Import requirements from a .csv or .xlsx table; rows with invalid values "
        "are reported by row number and not imported.",
    )
    def post(self, request, key):
        return self.run(request, key, table_import)


class ReqIFExportApi(APIView):
    @extend_schema(
        operation_id="reqif_export",
        parameters=[
            OpenApiParameter(
                "archive",
                bool,
                description="a .reqifz holding the document and the files its embedded "
                "objects refer to",
            )
        ],
        responses={
            (200, "application/xml"): OpenApiTypes.BINARY,
            (200, "application/zip"): OpenApiTypes.BINARY,
        },
        description="The project's requirements, headings and requirement links as ReqIF 1.2; "
        "what was imported goes out as it came in. The header X-Safecase-Not-Preserved counts "
        "what could not be written as it was imported.",
    )
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        result = reqif_export_with_report(user=request.user, project=project)
        if request.query_params.get("archive") in ("1", "true", "yes"):
            data = result.archive(f"{project.key}.reqif")
            response = HttpResponse(data, content_type="application/zip")
            response["Content-Disposition"] = f'attachment; filename="{project.key}.reqifz"'
        else:
            response = HttpResponse(result.data, content_type="application/xml")
            response["Content-Disposition"] = f'attachment; filename="{project.key}.reqif"'
        response["X-Safecase-Not-Preserved"] = str(len(result.not_preserved))
        return response


_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class RequirementWorkbookApi(APIView):
    @extend_schema(
        operation_id="requirements_xlsx_export",
        responses={(200, _XLSX): OpenApiTypes.BINARY},
        description="The requirements as a workbook for the Excel round trip: a stable "
        "Safecase ID and a digest of each row as exported.",
    )
    def get(self, request, key):
        project = get_project_for_user(request.user, key)
        response = HttpResponse(xlsx_export(user=request.user, project=project), content_type=_XLSX)
        response["Content-Disposition"] = f'attachment; filename="{project.key}-requirements.xlsx"'
        return response


class WorkbookImportIn(serializers.Serializer):
    file = serializers.FileField(help_text="an edited requirements .xlsx export")
    dry_run = serializers.BooleanField(default=False, help_text="report only; write nothing")


class RoundTripReportOut(serializers.Serializer):
    applied = serializers.ListField(child=serializers.DictField())
    created = serializers.ListField(child=serializers.DictField())
    conflicts = serializers.ListField(child=serializers.DictField())
    refused = serializers.ListField(child=serializers.DictField())
    unchanged = serializers.IntegerField()
    applied_to_database = serializers.BooleanField()


class RequirementWorkbookImportApi(_UploadApi):
    serializer_in = WorkbookImportIn
    serializer_out = RoundTripReportOut

    @extend_schema(
        operation_id="requirements_xlsx_reimport",
        **requires(Action.EDIT),
        request={"multipart/form-data": WorkbookImportIn},
        responses={**_UPLOAD_RESPONSES, 200: RoundTripReportOut},
        description="Bring an edited requirements workbook back: rows changed only in the "
        "sheet are applied through the services in one transaction; rows changed in the "
        "sheet and in Safecase since the export are reported as conflicts and not applied.",
    )
    def post(self, request, key):
        return self.run(request, key, _reimport)


def _reimport(*, dry_run: bool = False, **kwargs):
    return xlsx_reimport(apply=not dry_run, **kwargs)
