"""Spreadsheet imports: one service behind the admin, the API, the command line,
email and FTP.

The flow is *analyse* (read the file, combine rows per SKU, match against the
store, compute old → new: :mod:`imports.analysis`, which leaves its result as the
job's lines in the database) and *apply* (write every valid line in one
transaction through :mod:`inventory.services`, a chunk of lines at a time).  The
command line, email, FTP and the API analyse and apply in one go; the admin shows
the analysis as a preview first and analyses again on Apply, so the counts
written are measured against the stock at that moment.
"""

from __future__ import annotations

import hashlib
import json
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from inventory import services as stock_services
from inventory.models import InventoryItem, ItemMetadata, StockLedgerEntry, Store
from inventory.tasks import offload

from . import staging
from .analysis import METADATA_LEFT_OUT, Plan, analyse, clean_metadata, issue
from .models import ImportJob, ImportLine
from .reading import FileRefused

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 2000
# Lines of new items, or of details and metadata, read and written at a time, so memory
# holds one chunk however many SKUs the file has.  (Counts of existing items are written
# by the database from the lines in one pass.)
WRITE_CHUNK = 10_000


class ImportStateError(Exception):
    """An import cannot proceed in its current state (e.g. undo of a dry run)."""


# --- creating jobs -----------------------------------------------------------

OPTION_KEYS = (
    "sheet",
    "header_row",
    "sku_column",
    "qty_columns",
    "location_column",
    "encoding",
    "delimiter",
    "decimal",
)


def clean_options(options: dict | None) -> dict:
    """Keep known, non-empty options; a bad value is refused with its name."""
    cleaned = {}
    for key, value in (options or {}).items():
        if key not in OPTION_KEYS:
            raise ValidationError(f"Unknown import option '{key}'.")
        if value in (None, "", [], ()):
            continue
        if key == "qty_columns":
            value = [value] if isinstance(value, str) else [str(part) for part in value]
        elif key == "header_row":
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise ValidationError(f"header_row must be a row number, not '{value}'.") from None
            if value < 1:
                raise ValidationError("header_row counts from 1.")
        elif key == "delimiter":
            value = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(value, value)
            if value not in {",", ";", "\t", "|"}:
                raise ValidationError(f"delimiter must be one of , ; tab |, not '{value}'.")
        elif key == "decimal" and value not in {"comma", "dot"}:
            raise ValidationError(f"decimal must be 'comma' or 'dot', not '{value}'.")
        cleaned[key] = value
    return cleaned


def create_job(
    store: Store,
    *,
    content: bytes,
    filename: str,
    origin: str = ImportJob.UPLOAD,
    mode: str = ImportJob.SET,
    create_missing: bool = False,
    dry_run: bool = False,
    options: dict | None = None,
    user=None,
    sender: str = "",
) -> ImportJob:
    """Store the file and its options as a pending job."""
    if mode not in {ImportJob.SET, ImportJob.ADD}:
        raise ValidationError(f"mode must be 'set' or 'add', not '{mode}'.")
    if len(content) > settings.IMPORT_MAX_FILE_BYTES:
        raise ValidationError(
            f"{filename} is {len(content):,} bytes; the limit is {settings.IMPORT_MAX_FILE_BYTES:,}."
        )
    options = clean_options(options)
    if not options and hasattr(store, "column_mapping"):
        options = store.column_mapping.as_options()
    job = ImportJob(
        store=store,
        origin=origin,
        mode=mode,
        create_missing=create_missing,
        dry_run=dry_run,
        options=options,
        original_name=filename[:255],
        file_size=len(content),
        created_by=user,
        sender=sender[:255],
    )
    job.read_info = {"sha256": hashlib.sha256(content).hexdigest()}
    job.file.save(filename, ContentFile(content), save=False)
    job.save()
    return job


# --- analysing ---------------------------------------------------------------


def _progress_updater(job: ImportJob):
    last = [0]

    def update(done: int):
        if done - last[0] >= PROGRESS_EVERY:
            last[0] = done
            with staging.passing_transaction():
                ImportJob.objects.filter(pk=job.pk).update(progress_done=done)

    return update


# --- running -----------------------------------------------------------------


def _refuse(job: ImportJob, exc: FileRefused) -> ImportJob:
    job.status = ImportJob.REFUSED
    job.message = exc.message
    job.errors = [issue(None, None, None, exc.message)]
    job.warnings = []
    job.counts = {
        "rows": 0,
        "changed": 0,
        "unchanged": 0,
        "unknown": 0,
        "skipped": 0,
        "created": 0,
        "errors": 1,
        "warnings": 0,
    }
    job.finished_at = timezone.now()
    job.analysis = 0
    job.save()
    ImportLine.objects.filter(job=job).delete()
    return job


def _fail(job: ImportJob, message: str) -> None:
    ImportJob.objects.filter(pk=job.pk).exclude(status=ImportJob.APPLIED).update(
        status=ImportJob.FAILED, message=message, finished_at=timezone.now()
    )
    job.refresh_from_db()


def _record_plan(job: ImportJob, plan: Plan) -> None:
    """Show the plan on the job; its lines replace the last analysis' once the job is saved."""
    job.counts = plan.counts()
    job.errors = plan.errors
    job.warnings = plan.warnings
    job.analysis = plan.analysis
    job.read_info = {**job.read_info, **plan.read_info}
    job.progress_done = job.progress_total = plan.rows


def _drop_older_lines(job: ImportJob) -> None:
    ImportLine.objects.filter(job=job, analysis__lt=job.analysis).delete()


def preview(job: ImportJob) -> ImportJob:
    """Analyse without applying: the admin's preview and every dry run."""
    job.status = ImportJob.READING
    job.save(update_fields=["status"])
    try:
        plan = analyse(job, progress=_progress_updater(job))
    except FileRefused as exc:
        return _refuse(job, exc)
    _record_plan(job, plan)
    job.status = ImportJob.PREVIEWED
    job.finished_at = timezone.now()
    job.save()
    _drop_older_lines(job)
    return job


def apply(job: ImportJob, *, user=None) -> ImportJob:
    """Analyse again against current stock and write every valid row at once."""
    if job.status == ImportJob.APPLIED:
        return job  # a task run twice, or Apply clicked twice
    if job.dry_run:
        raise ImportStateError("A dry run is never applied; upload the file again without dry run.")
    if job.status not in {ImportJob.PENDING, ImportJob.PREVIEWED, ImportJob.READING, ImportJob.APPLYING}:
        raise ImportStateError(
            f"Import {job.pk} is {job.get_status_display().lower()} and cannot be applied."
        )
    previewed = job.analysis if job.status == ImportJob.PREVIEWED else None
    job.status = ImportJob.APPLYING
    job.save(update_fields=["status"])
    applied: list[ImportJob] = []

    def write(plan: Plan) -> None:
        applied.append(_apply_plan(job, plan, previewed, user))

    try:
        analyse(job, progress=_progress_updater(job), then=write)
    except FileRefused as exc:
        return _refuse(job, exc)
    except Exception:
        # Everything the apply wrote was rolled back with its transaction; the job must
        # not stay "applying" (Undo and a second Apply would wait on it for ever).
        logger.exception("import %s failed while applying", job.pk)
        _fail(job, "Applying this file failed unexpectedly, so nothing was changed. The error is in the "
                   "hub's log; try again, or send the file to support.")
        raise
    job = applied[0]
    logger.info("import %s applied to %s: %s", job.pk, job.store.slug, job.counts)
    return job


def _apply_plan(job: ImportJob, plan: Plan, previewed: int | None, user) -> ImportJob:
    """Write a fresh analysis, in the transaction that wrote its lines; a job applied
    meanwhile (Apply clicked twice) is left as it is, and this analysis' lines are dropped."""
    if previewed is not None and job.mode == ImportJob.SET:
        plan.warnings.extend(_changed_since_preview(job, previewed, plan))
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status == ImportJob.APPLIED:
        transaction.set_rollback(True)
        return job
    created_ids = _write(job, plan, user)
    _record_plan(job, plan)
    job.read_info["created_ids"] = created_ids
    job.status = ImportJob.APPLIED
    job.applied_at = job.finished_at = timezone.now()
    job.save()
    _drop_older_lines(job)
    return job


def _changed_since_preview(job: ImportJob, previewed: int, plan: Plan) -> list[dict]:
    return [
        issue(
            None,
            None,
            sku,
            f"{sku} changed since the preview (was {then}, now {now}); the file's count was written.",
        )
        for sku, then, now in staging.changed_since(job.pk, previewed, plan.analysis)
    ]


def _write(job: ImportJob, plan: Plan, user) -> list[int]:
    """Write the plan's lines, all in the caller's transaction: new items a chunk at a
    time, then every count of existing items in one pass that never leaves the
    database, then the details and metadata of the lines that carry them."""
    created_ids: list[int] = []
    for lines in staging.line_writes(job.pk, plan.analysis, created=True, size=WRITE_CHUNK):
        created_ids.extend(_create(job, lines, user))
    adding = job.mode == ImportJob.ADD
    query, params = staging.stock_targets(job.pk, plan.analysis, adding=adding)
    stock_services.write_stock_from_query(
        query,
        params,
        relative=adding,
        source=StockLedgerEntry.IMPORT,
        reference=job.reference,
        user=user,
        update_source=f"import:{job.origin}",
    )
    for lines in staging.line_writes(job.pk, plan.analysis, created=False, size=WRITE_CHUNK, with_writes=True):
        plan.errors.extend(_write_details(lines))
    return sorted(created_ids)


def _writes(value) -> dict:
    """A line's ``writes`` as read with raw SQL (JSON text, or already decoded)."""
    if not value:
        return {}
    return json.loads(value) if isinstance(value, str) else value


def _create(job: ImportJob, lines: list[tuple], user) -> list[int]:
    rows = []
    for _item_id, _old, new, _changes_stock, writes, sku, _row in lines:
        writes = _writes(writes)
        rows.append({"code": sku, "stock": new, **writes.get("details", {}), "metadata": writes.get("metadata")})
    created = stock_services.create_items(
        job.store, rows, source=StockLedgerEntry.IMPORT, reference=job.reference, user=user
    )
    ItemMetadata.objects.bulk_create(
        ItemMetadata(item_id=created[row["code"]], key=key, value=value)
        for row in rows
        if row["metadata"]
        for key, value in row["metadata"].items()
    )
    return list(created.values())


def _write_details(lines: list[tuple]) -> list[dict]:
    """One chunk of lines for existing items that carry details or metadata; returns row errors.

    Each metadata value was checked against the store as it was; rows of one file
    can still conflict with each other (A replaced by B while B is given a
    ``code_replace`` of its own).  Such an item's metadata is left out and its
    cells reported the way the analysis reports a bad cell, instead of failing
    the whole file.  (``set_metadata`` checks before it writes, so a refusal
    leaves the transaction as it was.)
    """
    details, metadata = {}, {}
    for item_id, _old, _new, _changes_stock, writes, sku, row in lines:
        writes = _writes(writes)
        if writes.get("details"):
            details[item_id] = writes["details"]
        if writes.get("metadata"):
            metadata[item_id] = (writes["metadata"], sku, row)
    if details:
        stock_services.update_details(details)
    errors = []
    items = InventoryItem.objects.select_related("store").in_bulk(list(metadata))
    for item_id, (values, sku, row) in metadata.items():
        try:
            stock_services.set_metadata(items[item_id], values)
        except ValidationError as exc:
            _normalised, problems = clean_metadata(items[item_id].store, sku, values, row)
            errors.extend(problems or [issue(row, "metadata", sku, f"{sku}: {' '.join(exc.messages)} "
                                                                  f"{METADATA_LEFT_OUT}")])
    return errors


def run(job: ImportJob, *, user=None) -> ImportJob:
    """Analyse and apply in one go (command line, email, FTP, API); a dry run only analyses."""
    if job.dry_run:
        return preview(job)
    return apply(job, user=user)


# --- undo --------------------------------------------------------------------


def undo(job: ImportJob, *, user=None) -> ImportJob:
    """Put each SKU back to its count before the import.

    SKUs changed by anything since are listed and left alone: their current
    count reflects something that happened after the import.
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != ImportJob.APPLIED:
            raise ImportStateError(
                f"Only an applied import can be undone; this one is {job.get_status_display().lower()}."
            )
        entries = list(
            StockLedgerEntry.objects.filter(
                reference=job.reference, source=StockLedgerEntry.IMPORT
            ).values_list("id", "item_id", "delta", "stock_after", "item__code")
        )
        item_ids = [entry[1] for entry in entries]
        latest = (
            dict(
                StockLedgerEntry.objects.filter(item_id__in=item_ids)
                .values("item_id")
                .annotate(last=Max("id"))
                .values_list("item_id", "last")
            )
            if item_ids
            else {}
        )
        restore, left_alone = {}, []
        for entry_id, item_id, delta, stock_after, code in entries:
            if latest.get(item_id) == entry_id:
                restore[item_id] = stock_after - delta
            else:
                left_alone.append(code)
        changes = stock_services.set_stock(
            restore,
            source=StockLedgerEntry.UNDO,
            reference=job.reference,
            user=user,
            note=f"Undo of import {job.pk}",
        )
        # Items the import created go back to not existing (archived, ledger kept)
        # unless something has changed them since.
        created = set(job.read_info.get("created_ids", []))
        touched_since = set(
            StockLedgerEntry.objects.filter(item_id__in=created)
            .exclude(reference=job.reference)
            .values_list("item_id", flat=True)
        )
        untouched_created = sorted(created - touched_since)
        InventoryItem.objects.filter(pk__in=untouched_created).update(archived_at=timezone.now())
        job.status = ImportJob.UNDONE
        job.undone_at = timezone.now()
        job.undo_report = {
            "restored": len(changes),
            "left_alone": sorted(left_alone),
            "archived_created": len(untouched_created),
        }
        job.save()
    return job


def submit(job: ImportJob, *, then_apply: bool, user=None) -> ImportJob:
    """Preview (or run) a job now when small; hand a large file to the cluster.

    The admin and the API both call this; a large file's job shows its progress
    while a worker reads it.
    """
    if job.file_size >= settings.IMPORT_BACKGROUND_BYTES:
        offload("imports.tasks.process_import", job.pk, then_apply, task_name=f"import-{job.pk}")
        return job
    return apply(job, user=user) if then_apply and not job.dry_run else preview(job)
