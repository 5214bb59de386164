"""``/api/v1/stores/{slug}/imports/``: spreadsheet uploads through the import service.

The only part of ``inventory.api`` that uses the ``imports`` app, kept in its
own module so the dependency stays in one place.  An upload becomes a job via
:func:`imports.services.create_job` (origin ``api``) and goes through
:func:`imports.services.submit`, exactly as a staff upload does: small files
finish within the request (201), large ones are read by the task cluster (202)
and the job shows their progress.
"""

from __future__ import annotations

import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, generics, parsers, serializers, status
from rest_framework.response import Response

from imports import services as import_services
from imports.models import ImportJob

from .v1 import Conflict, StoreScopedView


@extend_schema_field({"type": "object", "additionalProperties": True,
                      "example": {"sku_column": "Item", "qty_columns": ["Berlin", "Leeds"]}})
class OptionsField(serializers.Field):
    """Read options as a JSON object; in a multipart form, that object as text."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            if not data.strip():
                return {}
            try:
                data = json.loads(data)
            except ValueError:
                raise serializers.ValidationError("options must be a JSON object.") from None
        if not isinstance(data, dict):
            raise serializers.ValidationError("options must be a JSON object.")
        return data

    def to_representation(self, value):
        return value


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV, TSV, TXT, XLSX, XLS or ODS.")
    mode = serializers.ChoiceField(ImportJob.MODES, default=ImportJob.SET,
                                   help_text="set: counts; add: receipts added to stock.")
    create_missing = serializers.BooleanField(default=False, help_text="Create unknown SKUs.")
    dry_run = serializers.BooleanField(default=False, help_text="Report what would change; write nothing.")
    preview = serializers.BooleanField(default=False, help_text=(
        "Read and show what would change, then wait: POST …/imports/{id}/apply/ applies it."
    ))
    options = OptionsField(required=False, help_text=(
        "sheet, header_row, sku_column, qty_columns, location_column, encoding, delimiter, decimal."
    ))

    def validate(self, attrs):
        if attrs.get("dry_run") and attrs.get("preview"):
            # Two different promises: a preview waits to be applied, a dry run never is.
            raise serializers.ValidationError({"preview": [
                "Send preview=true (read, then apply with …/apply/) or dry_run=true (report only, never "
                "applied), not both."
            ]})
        return attrs


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    percent = serializers.IntegerField()


class ImportJobSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    read_info = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id", "status", "origin", "original_name", "file_size", "mode", "create_missing", "dry_run",
            "options", "message", "progress", "counts", "read_info", "undo_report", "sender",
            "created_at", "finished_at", "applied_at", "undone_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, job):
        return {"done": job.progress_done, "total": job.progress_total, "percent": job.progress_percent}

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_read_info(self, job):
        # created_ids can be as long as the file; undo already uses it server-side.
        return {key: value for key, value in (job.read_info or {}).items() if key != "created_ids"}


class IssueSerializer(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True, help_text="The file's line or the sheet's row.")
    column = serializers.CharField(allow_null=True)
    value = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class PreviewLineSerializer(serializers.Serializer):
    code = serializers.CharField()
    old = serializers.IntegerField(allow_null=True, help_text="null: the SKU is created.")
    new = serializers.IntegerField()


class JobScopedView(StoreScopedView):
    def jobs(self):
        if self.schema_only:
            return ImportJob.objects.none()
        return ImportJob.objects.filter(store=self.get_store())

    def get_job(self) -> ImportJob:
        try:
            pk = int(self.kwargs["job_id"])
        except (TypeError, ValueError):
            raise exceptions.NotFound() from None
        job = self.jobs().select_related("store").filter(pk=pk).first()
        if job is None:
            raise exceptions.NotFound()
        return job

    def handle_exception(self, exc):
        if isinstance(exc, import_services.ImportStateError):
            exc = Conflict(str(exc))
        return super().handle_exception(exc)


UPLOAD_SCHEMA = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "CSV, TSV, TXT, XLSX, XLS or ODS."},
        "mode": {"type": "string", "enum": [ImportJob.SET, ImportJob.ADD], "default": ImportJob.SET},
        "create_missing": {"type": "boolean", "default": False},
        "dry_run": {"type": "boolean", "default": False},
        "preview": {"type": "boolean", "default": False},
        "options": {"type": "string", "description": 'A JSON object as text, e.g. {"sku_column": "Item"}.'},
    },
}
JOB_ID = OpenApiParameter("job_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The import job.")


class ImportListCreate(JobScopedView, generics.ListAPIView):
    """Import jobs of the store, newest first; POST a file to start one."""

    serializer_class = ImportJobSerializer
    parser_classes = [parsers.MultiPartParser, parsers.FormParser]

    def get_queryset(self):
        return self.jobs().order_by("-created_at", "-id")

    @extend_schema(
        request={"multipart/form-data": UPLOAD_SCHEMA},
        responses={
            201: OpenApiResponse(ImportJobSerializer, description="Read (and applied unless dry_run)."),
            202: OpenApiResponse(ImportJobSerializer,
                                 description="Large file: a worker reads it; poll the job."),
        },
    )
    def post(self, request, *args, **kwargs):
        upload = ImportUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        store = self.get_store()
        handle = data["file"]
        job = import_services.create_job(
            store, content=handle.read(), filename=handle.name or "upload", origin=ImportJob.API,
            mode=data["mode"], create_missing=data["create_missing"], dry_run=data["dry_run"],
            options=data.get("options") or {}, user=self.access.ledger_user, sender=self.access.sender,
        )
        then_apply = not (data["dry_run"] or data["preview"])
        job = import_services.submit(job, then_apply=then_apply, user=self.access.ledger_user)
        return _job_response(request, job, created=True)


def _job_response(request, job: ImportJob, *, created: bool) -> Response:
    """201/200 when the job has finished this step, 202 while a worker is on it."""
    job.refresh_from_db()
    waiting = job.status in {ImportJob.PENDING, ImportJob.READING, ImportJob.APPLYING}
    if waiting:
        code = status.HTTP_202_ACCEPTED
    else:
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    headers = {"Location": request.build_absolute_uri(f"{job.pk}/")} if created else {}
    return Response(ImportJobSerializer(job).data, status=code, headers=headers)


@extend_schema(parameters=[JOB_ID])
class ImportDetail(JobScopedView):
    """One job: status, progress, counts; its errors, warnings and preview are paged separately."""

    serializer_class = ImportJobSerializer

    def get(self, request, *args, **kwargs):
        return Response(ImportJobSerializer(self.get_job()).data)


class _JobList(JobScopedView, generics.ListAPIView):
    """A page of one of the job's lists (kept in the job as JSON)."""

    def rows(self, job):
        raise NotImplementedError

    def get_queryset(self):
        return ImportJob.objects.none() if self.schema_only else self.rows(self.get_job())


@extend_schema(parameters=[JOB_ID])
class ImportErrors(_JobList):
    """Rows that were not imported, with row number, column, value and reason."""

    serializer_class = IssueSerializer

    def rows(self, job):
        return job.errors or []


@extend_schema(parameters=[JOB_ID])
class ImportWarnings(_JobList):
    """Rows imported (or skipped on purpose) with something worth knowing."""

    serializer_class = IssueSerializer

    def rows(self, job):
        return job.warnings or []


@extend_schema(parameters=[JOB_ID])
class ImportPreview(_JobList):
    """Old → new per SKU, as analysed (for a dry run: what applying would do)."""

    serializer_class = PreviewLineSerializer

    def rows(self, job):
        return [{"code": line[0], "old": line[1], "new": line[2]} for line in job.preview or []]


@extend_schema(parameters=[JOB_ID])
class ImportApply(JobScopedView):
    """Apply a previewed import, checked again against stock as it is now (as the admin's Apply does)."""

    serializer_class = ImportJobSerializer

    @extend_schema(request=None, responses={
        200: ImportJobSerializer,
        202: OpenApiResponse(ImportJobSerializer, description="Large file: a worker applies it; poll the job."),
        409: OpenApiResponse(description="A dry run, or an import that is not waiting to be applied."),
    })
    def post(self, request, *args, **kwargs):
        job = self.get_job()
        if job.dry_run:
            raise Conflict("A dry run is never applied; upload the file again with preview=true or without dry_run.")
        job = import_services.submit(job, then_apply=True, user=self.access.ledger_user)
        return _job_response(request, job, created=False)


@extend_schema(parameters=[JOB_ID])
class ImportUndo(JobScopedView):
    """Put each SKU back to its count before the import; SKUs changed since are left alone."""

    serializer_class = ImportJobSerializer

    @extend_schema(request=None, responses={200: ImportJobSerializer,
                                            409: OpenApiResponse(description="Not an applied import.")})
    def post(self, request, *args, **kwargs):
        job = import_services.undo(self.get_job(), user=self.access.ledger_user)
        return Response(ImportJobSerializer(job).data)
