"""The admin for stock imports: upload → preview → Apply, Undo, the template file.

Every step calls :mod:`imports.services`, the same functions the API, the
command line, email and FTP use, so a file gives the same preview, the same
row errors and the same result wherever it comes in.  The admin only adds the
pages: an upload form, the job page with its preview and reports, a small JSON
status endpoint the job page polls while a background worker reads a large
file, and the template download.
"""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from inventory.admin import (
    CSS,
    MINUS,
    ScopedStoreFilter,
    StoreScopedAdmin,
    formfield_store_queryset,
    spreadsheet_response,
)

from . import services
from .forms import MODE_HELP, ColumnMappingForm, UploadForm
from .models import ColumnMapping, ImportJob, ImportLine
from .reading import (
    DETAIL_ALIASES,
    HEADER_SEARCH_ROWS,
    LOCATION_ALIASES,
    QTY_ALIASES,
    SKU_ALIASES,
    TEMPLATE_HEADERS,
)

logger = logging.getLogger(__name__)

# States in which a worker is still busy with the job: the page polls.
WORKING = (ImportJob.PENDING, ImportJob.READING, ImportJob.APPLYING)
# Rows rendered on the job page; the counts above the tables give the totals.
PREVIEW_SHOWN = 2000
ISSUES_SHOWN = 1000

# Two example rows of the template, by header, so the template follows
# TEMPLATE_HEADERS if the reading module changes it.  The leading zero and the
# comma in a name show that SKUs are text and quoting works.
TEMPLATE_EXAMPLES = {
    "sku": ["0012345", "TSHIRT-RED-M"],
    "quantity": [8, 15],
    "location": ["Shelf A1", "Back room"],
    "name": ["Blue mug", "T-shirt, red, M"],
}


def template_rows():
    yield list(TEMPLATE_HEADERS)
    for index in range(2):
        yield [TEMPLATE_EXAMPLES.get(header, ["", ""])[index] for header in TEMPLATE_HEADERS]


def _plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"


def _signed(delta: int) -> str:
    return f"+{delta}" if delta > 0 else (f"{MINUS}{-delta}" if delta < 0 else "±0")


def preview_rows(job: ImportJob, limit: int = PREVIEW_SHOWN) -> list[dict]:
    """The job's preview lines (``[sku, old, new]``) ready to show: old → new (±delta)."""
    rows = []
    for sku, old, new in job.preview[:limit]:
        if old is None:
            rows.append({"sku": sku, "old": "new item", "new": new, "delta": "", "css": "hub-up"})
            continue
        delta = new - old
        rows.append({
            "sku": sku, "old": old, "new": new, "delta": f"({_signed(delta)})",
            "css": "hub-up" if delta > 0 else "hub-down" if delta < 0 else "",
        })
    return rows


REPORT_HEADERS = ("kind", "row", "column", "value", "message", "sku", "old", "new", "delta")
# Jobs whose report is final (or, for a preview, complete until Apply reads the file again).
REPORTABLE = (ImportJob.PREVIEWED, ImportJob.APPLIED, ImportJob.UNDONE, ImportJob.REFUSED, ImportJob.FAILED)


def report_rows(job: ImportJob):
    """Every error, warning and SKU change of a job as one table (first row: headers).

    Unlike the page, nothing is cut: a seller fixing a 50,000-row file needs
    every row number.  Text cells are guarded against formula injection by
    :func:`inventory.admin.spreadsheet_response`; counts stay numbers.
    """
    yield list(REPORT_HEADERS)
    for kind, issues in (("error", job.errors), ("warning", job.warnings)):
        for issue in issues:
            yield [kind, issue.get("row"), issue.get("column"), issue.get("value"), issue.get("message"),
                   None, None, None, None]
    applied = job.status in (ImportJob.APPLIED, ImportJob.UNDONE)
    for sku, old, new in job.preview:
        if old is None:
            yield ["new item" if applied else "will create", None, None, None, None, sku, None, new, None]
        else:
            yield ["changed" if applied else "will change", None, None, None, None, sku, old, new, new - old]


def _delimiter_name(value):
    return {"\t": "tab", ",": "comma ( , )", ";": "semicolon ( ; )", "|": "pipe ( | )"}.get(value, value)


def read_info_rows(job: ImportJob) -> list[tuple[str, str]]:
    """What the reader found (file kind, encoding, columns …), as label/value pairs."""
    info = job.read_info or {}
    shown = [
        ("File type", info.get("file_kind")),
        ("Sheet", info.get("sheet")),
        ("Encoding", info.get("encoding")),
        ("Delimiter", _delimiter_name(info.get("delimiter"))),
        ("Decimal mark", info.get("decimal")),
        ("Header row", info.get("header_row")),
        ("SKU column", info.get("sku_column")),
        ("Quantity column(s)", " + ".join(info.get("qty_columns") or [])),
        ("Location column", info.get("location_column")),
        ("All headers", ", ".join(str(h) for h in info.get("headers") or [])),
    ]
    return [(label, value) for label, value in shown if value not in (None, "", [])]


def count_rows(job: ImportJob) -> list[tuple[str, int, str]]:
    counts = job.counts or {}
    applied = job.status in (ImportJob.APPLIED, ImportJob.UNDONE)
    labels = [
        ("rows", "Rows read", ""),
        ("changed", "Changed" if applied else "Will change", ""),
        ("unchanged", "Unchanged", ""),
        ("created", "New items", ""),
        ("unknown", "Unknown SKUs", "hub-error"),
        ("skipped", "No count", ""),
        ("errors", "Errors", "hub-error"),
        ("warnings", "Warnings", ""),
    ]
    return [(label, counts[key], css if counts[key] else "") for key, label, css in labels if key in counts]


# --- import jobs ---------------------------------------------------------------


@admin.register(ImportJob)
class ImportJobAdmin(StoreScopedAdmin):
    """Import jobs are created by uploading a file and changed only by Apply and Undo."""

    list_display = ["job_title", "store", "status_badge", "mode", "origin", "result_summary", "who",
                    "created_at"]
    list_filter = ["status", "origin", ("store", ScopedStoreFilter)]
    list_select_related = ["store", "created_by"]
    search_fields = ["original_name", "sender"]
    date_hierarchy = "created_at"
    change_list_template = "admin/imports/importjob/change_list.html"
    change_form_template = "admin/imports/importjob/change_form.html"
    upload_template = "admin/imports/importjob/upload.html"
    fieldsets = [
        (
            "File and options",
            {
                "fields": ["original_name", "store", "origin", "mode", "create_missing", "dry_run",
                           "options", "file_size", "who", "created_at", "finished_at", "applied_at",
                           "undone_at"],
                "classes": ["collapse"],
            },
        ),
    ]
    readonly_fields = fieldsets[0][1]["fields"]

    class Media:
        css = CSS

    # -- permissions: the page is read-only; Apply and Undo need the editor role

    def has_change_permission(self, request, obj=None):
        return False

    def may_run(self, request, job) -> bool:
        """Apply and Undo: Django's change permission and the editor role in the job's store."""
        return StoreScopedAdmin.has_change_permission(self, request, job)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.status in (ImportJob.APPLIED, *WORKING):
            return False  # Undo needs the job; a running job is still being written
        return super().has_delete_permission(request, obj)

    # -- list

    @admin.display(description="import", ordering="-id")
    def job_title(self, obj):
        return f"#{obj.pk} {obj.original_name}"

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return format_html('<span class="hub-badge hub-badge-{}">{}</span>', obj.status,
                           obj.get_status_display())

    @admin.display(description="result")
    def result_summary(self, obj):
        counts = obj.counts or {}
        if obj.status == ImportJob.REFUSED:
            return obj.message[:120]
        parts = []
        if "changed" in counts:
            done = obj.status == ImportJob.APPLIED
            parts.append(f"{counts['changed']} {'changed' if done else 'to change'}")
        if counts.get("created"):
            parts.append(f"{counts['created']} new")
        if counts.get("errors"):
            parts.append(_plural(counts["errors"], "error"))
        return " · ".join(parts) or "—"

    @admin.display(description="by")
    def who(self, obj):
        return obj.created_by or obj.sender or obj.get_origin_display()

    # -- URLs

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("upload/", wrap(self.upload_view), name=f"{prefix}_upload"),
            path("template.<str:kind>", wrap(self.template_view), name=f"{prefix}_template"),
            path("<path:object_id>/status/", wrap(self.status_view), name=f"{prefix}_status"),
            path("<path:object_id>/report.<str:kind>", wrap(self.report_view), name=f"{prefix}_report"),
            path("<path:object_id>/apply/", wrap(self.apply_view), name=f"{prefix}_apply"),
            path("<path:object_id>/undo/", wrap(self.undo_view), name=f"{prefix}_undo"),
            *super().get_urls(),
        ]

    def _job_url(self, job, **params):
        url = reverse("admin:imports_importjob_change", args=[job.pk])
        if params:
            url += "?" + "&".join(f"{key}={value}" for key, value in params.items())
        return url

    def add_view(self, request, form_url="", extra_context=None):
        # A job starts from a file: "Add" leads to the upload page.
        return HttpResponseRedirect(reverse("admin:imports_importjob_upload"))

    def changelist_view(self, request, extra_context=None):
        extra = {"can_upload": self.has_add_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra)

    # -- upload

    def upload_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        stores = formfield_store_queryset(request)
        form = UploadForm(request.POST or None, request.FILES or None, stores=stores)
        if request.method == "POST" and form.is_valid():
            job = self._start(request, form)
            if job is not None:
                return HttpResponseRedirect(self._job_url(job))
        fieldsets = [
            (None, {"fields": ["store", "file", "mode", "create_missing"]}),
            (
                "Reading options (only if the file is not understood on its own)",
                {
                    "fields": ["sheet", "header_row", "sku_column", "qty_columns", "location_column",
                               "encoding", "delimiter", "decimal"],
                    "classes": ["collapse"],
                    "description": "Leave these empty: columns, delimiter, encoding and decimal mark are "
                    "detected, or taken from the store's saved column mapping.",
                },
            ),
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Upload stock file",
            "form": form,
            "adminform": helpers.AdminForm(form, fieldsets, {}, model_admin=self),
            "media": self.media + form.media,
            "aliases": [
                ("SKU", SKU_ALIASES),
                ("Quantity", QTY_ALIASES),
                ("Location", LOCATION_ALIASES),
                *((f"{name.capitalize()} (updates the item)", names)
                  for name, names in DETAIL_ALIASES.items()),
            ],
            "header_search_rows": HEADER_SEARCH_ROWS,
            "template_headers": TEMPLATE_HEADERS,
            "mode_help": MODE_HELP,
        }
        return TemplateResponse(request, self.upload_template, context)

    def _start(self, request, form):
        """Create the job and read it for a preview (in the background when large)."""
        upload = form.cleaned_data["file"]
        try:
            job = services.create_job(
                form.cleaned_data["store"],
                content=upload.read(),
                filename=upload.name,
                origin=ImportJob.UPLOAD,
                mode=form.cleaned_data["mode"],
                create_missing=form.cleaned_data["create_missing"],
                options=form.options(),
                user=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
            return None
        try:
            job = services.submit(job, then_apply=False, user=request.user)
        except Exception:
            # A fault in reading must not leave the page polling a job nobody works on.
            logger.exception("import %s could not be read", job.pk)
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportJob.FAILED,
                message="The file could not be read because of an unexpected error (details are in the "
                "server log). Nothing was changed.",
            )
            messages.error(request, "The file could not be read; nothing was changed.")
            return job
        if job.status == ImportJob.PREVIEWED:
            changed = job.counts.get("changed", 0)
            messages.success(
                request,
                f"Preview ready: {_plural(changed, 'SKU')} would change. Nothing has changed yet: "
                "check the preview, then press Apply.",
            )
        elif job.status == ImportJob.REFUSED:
            messages.error(request, f"The file was refused: {job.message}")
        else:
            messages.info(request, "The file is large, so it is read in the background. This page "
                                   "updates by itself when the preview is ready.")
        return job

    # -- the job page

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        queued = request.GET.get("queued") == "1"
        wait_while = list(WORKING)
        if queued and job.status == ImportJob.PREVIEWED:
            wait_while.append(ImportJob.PREVIEWED)  # Apply was handed to a worker that has not started yet
        may_run = self.may_run(request, job)
        extra = {
            "title": "Stock import",
            "job": job,
            "waiting": job.status in wait_while,
            "wait_while": ",".join(wait_while),
            "status_url": reverse("admin:imports_importjob_status", args=[job.pk]),
            "apply_url": reverse("admin:imports_importjob_apply", args=[job.pk]),
            "undo_url": reverse("admin:imports_importjob_undo", args=[job.pk]),
            "can_apply": may_run and job.status == ImportJob.PREVIEWED and not job.dry_run and not queued,
            "can_undo": may_run and job.status == ImportJob.APPLIED,
            "read_info": read_info_rows(job),
            "counts": count_rows(job),
            "preview": preview_rows(job),
            "preview_total": len(job.preview),
            "preview_limit": PREVIEW_SHOWN,
            # Lines that write names, prices or metadata but no count: not in the count preview.
            "detail_lines": ImportLine.objects.filter(
                job_id=job.pk, analysis=job.analysis, changes_stock=False
            ).count() if job.analysis else 0,
            # Not "errors": the admin's change form reads that name as form errors
            # and would say "Please correct the errors below".
            "row_errors": job.errors[:ISSUES_SHOWN],
            "row_warnings": job.warnings[:ISSUES_SHOWN],
            "issues_limit": ISSUES_SHOWN,
            "mode_help": MODE_HELP.get(job.mode, ""),
            "has_report": job.status in REPORTABLE and not (queued and job.status == ImportJob.PREVIEWED),
            "report_url_csv": reverse("admin:imports_importjob_report", args=[job.pk, "csv"]),
            "report_url_xlsx": reverse("admin:imports_importjob_report", args=[job.pk, "xlsx"]),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)

    def status_view(self, request, object_id):
        """The job's state as JSON, polled by the job page while a worker is busy."""
        job = self.get_object(request, object_id)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        return JsonResponse({
            "id": job.pk,
            "status": job.status,
            "status_display": job.get_status_display(),
            "progress_done": job.progress_done,
            "progress_total": job.progress_total,
            "percent": job.progress_percent,
            "finished": job.status not in WORKING,
            "message": job.message,
            "counts": job.counts,
        })

    def report_view(self, request, object_id, kind):
        """The job's full report as a spreadsheet: errors, warnings and every SKU's old → new."""
        job = self.get_object(request, object_id)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        if job.status not in REPORTABLE:
            messages.info(request, "The report is ready once the file has been read.")
            return HttpResponseRedirect(self._job_url(job))
        stem = job.original_name.rsplit(".", 1)[0] or "import"
        return spreadsheet_response(report_rows(job), f"import-{job.pk}-{stem}-report", kind, sku_column=None)

    def _post_job(self, request, object_id):
        if request.method != "POST":
            return None, HttpResponseNotAllowed(["POST"])
        job = self.get_object(request, object_id)
        if not self.may_run(request, job):
            raise PermissionDenied
        return job, None

    def apply_view(self, request, object_id):
        job, refusal = self._post_job(request, object_id)
        if refusal:
            return refusal
        if job.dry_run:
            messages.error(request, "This was a dry run: it is never applied. Upload the file again.")
            return HttpResponseRedirect(self._job_url(job))
        try:
            job = services.submit(job, then_apply=True, user=request.user)
        except services.ImportStateError as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(self._job_url(job))
        if job.status == ImportJob.APPLIED:
            counts = job.counts
            text = f"Applied: {_plural(counts.get('changed', 0), 'SKU')} changed"
            if counts.get("created"):
                text += f", {_plural(counts['created'], 'new item')} created"
            text += "."
            if counts.get("errors"):
                text += f" {_plural(counts['errors'], 'row problem')} listed below were not applied."
            messages.success(request, text)
            return HttpResponseRedirect(self._job_url(job))
        if job.status == ImportJob.REFUSED:
            messages.error(request, f"The file was refused: {job.message}")
            return HttpResponseRedirect(self._job_url(job))
        messages.info(request, "The file is large, so it is applied in the background. This page updates "
                               "by itself when it is done.")
        return HttpResponseRedirect(self._job_url(job, queued=1))

    def undo_view(self, request, object_id):
        job, refusal = self._post_job(request, object_id)
        if refusal:
            return refusal
        try:
            job = services.undo(job, user=request.user)
        except services.ImportStateError as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(self._job_url(job))
        report = job.undo_report
        restored = report.get("restored", 0)
        messages.success(
            request,
            f"Undone: {_plural(restored, 'SKU')} restored to the stock before the import.",
        )
        if report.get("left_alone"):
            skus = report["left_alone"]
            messages.warning(
                request,
                f"{_plural(len(skus), 'SKU')} changed since the import and "
                f"{'was' if len(skus) == 1 else 'were'} left alone: "
                f"{', '.join(skus[:50])}{' …' if len(skus) > 50 else ''}",
            )
        if report.get("archived_created"):
            messages.info(request, f"{report['archived_created']} item(s) the import created were archived.")
        return HttpResponseRedirect(self._job_url(job))

    # -- the template file

    def template_view(self, request, kind):
        if not self.has_view_permission(request) and not self.has_add_permission(request):
            raise PermissionDenied
        return spreadsheet_response(template_rows(), "stock-template", kind,
                                    sku_column=list(TEMPLATE_HEADERS).index("sku"))


# --- saved column mappings -----------------------------------------------------


@admin.register(ColumnMapping)
class ColumnMappingAdmin(StoreScopedAdmin):
    """How a store's files are read when an upload, mail or FTP file names no options."""

    form = ColumnMappingForm
    list_display = ["store", "sku_column", "qty_columns", "location_column", "sheet", "header_row",
                    "delimiter", "decimal", "encoding"]
    list_select_related = ["store"]
    list_filter = [("store", ScopedStoreFilter)]
    fieldsets = [
        (None, {"fields": ["store"],
                "description": "Used for every import of the store that names no reading options. "
                "Leave a field empty to detect it."}),
        ("Columns", {"fields": ["sku_column", "qty_columns", "location_column", "header_row", "sheet"]}),
        ("Text files", {"fields": ["encoding", "delimiter", "decimal"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return ["store"] if obj is not None else []
