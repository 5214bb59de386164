"""Spreadsheet imports: one service behind the admin, the API, the command line,
email and FTP.

The flow is *analyse* (read the file, combine rows per SKU, match against the
store, compute old → new) and *apply* (write every valid row in one
transaction through :mod:`inventory.services`).  The command line, email, FTP
and the API analyse and apply in one go; the admin shows the analysis as a
preview first and analyses again on Apply, so the counts written are measured
against the stock at that moment.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from inventory import selectors
from inventory import services as stock_services
from inventory.models import InventoryItem, ItemMetadata, StockLedgerEntry, Store
from inventory.tasks import offload

from .models import ImportJob
from .reading import FileRefused, Issue, ReadOptions, combine_records, read_stock_file

logger = logging.getLogger(__name__)

# Origins that are not a person's deliberate act: skip_pull protects items from them.
UNATTENDED_ORIGINS = {ImportJob.EMAIL, ImportJob.FTP}
DETAIL_FIELDS = {"name": 500, "price": None, "cost": None, "weight": None}
PROGRESS_EVERY = 2000
# How many preview lines a job keeps for the admin and the API.
PREVIEW_LIMIT = 200_000


class ImportStateError(Exception):
    """An import cannot proceed in its current state (e.g. undo of a dry run)."""


@dataclass
class Plan:
    """What applying a file would do to a store right now."""

    read_info: dict = field(default_factory=dict)
    rows: int = 0
    skipped: int = 0
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    # (sku, item_id or None when created, old or None, new)
    lines: list[tuple] = field(default_factory=list)
    targets: dict[int, int] = field(default_factory=dict)  # item_id -> value for set/adjust
    create: list[dict] = field(default_factory=list)
    details: dict[int, dict] = field(default_factory=dict)
    metadata: dict[int, dict] = field(default_factory=dict)
    unknown: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> int:
        return sum(1 for _sku, _item, old, new in self.lines if old != new)

    def counts(self) -> dict:
        return {
            "rows": self.rows,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "unknown": self.unknown,
            "skipped": self.skipped,
            "created": len(self.create),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
        }


def issue_dict(issue: Issue) -> dict:
    return {"row": issue.row, "column": issue.column, "value": issue.value, "message": issue.message}


def issue(row, column, value, message) -> dict:
    return {"row": row, "column": column, "value": value, "message": message}


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


def read_options(job: ImportJob) -> ReadOptions:
    options = dict(job.options)
    if "qty_columns" in options:
        options["qty_columns"] = tuple(options["qty_columns"])
    return ReadOptions(**options)


# --- analysing ---------------------------------------------------------------


def _progress_updater(job: ImportJob):
    last = [0]

    def update(done: int):
        if done - last[0] >= PROGRESS_EVERY:
            last[0] = done
            ImportJob.objects.filter(pk=job.pk).update(progress_done=done)

    return update


def analyse(job: ImportJob, *, progress=None) -> Plan:
    """Read the job's file and work out what applying it would do now.

    Raises :class:`FileRefused` when the whole file is unusable.
    """
    with job.file.open("rb") as handle:
        data = handle.read()
    if not job.progress_total and not data.startswith((b"PK", b"\xd0\xcf")):
        # Text: lines are a good estimate of records, so the progress bar has a total.
        job.progress_total = data.count(b"\n")
        ImportJob.objects.filter(pk=job.pk).update(progress_total=job.progress_total)
    result = read_stock_file(data, job.original_name, read_options(job), progress=progress)
    plan = Plan(rows=result.rows, skipped=result.skipped)
    plan.read_info = {
        "file_kind": result.file_kind,
        "encoding": result.encoding,
        "delimiter": result.delimiter,
        "decimal": result.decimal,
        "header_row": result.header_row,
        "sheet": result.sheet,
        "sku_column": result.sku_column,
        "qty_columns": list(result.qty_columns),
        "location_column": result.location_column,
        "headers": list(result.headers),
    }
    plan.errors = [issue_dict(i) for i in result.errors]
    plan.warnings = [issue_dict(i) for i in result.warnings]
    qty_header = ", ".join(result.qty_columns)
    for record in result.records:
        if record.quantity is None:
            plan.warnings.append(
                issue(
                    record.row,
                    qty_header,
                    None,
                    f"No count for {record.sku} in this row; nothing changes for it.",
                )
            )
    counts, duplicate_errors = combine_records(result)
    plan.errors.extend(issue_dict(i) for i in duplicate_errors)
    _match(job, plan, counts, qty_header, result.sku_column)
    plan.errors.sort(key=lambda entry: (entry["row"] is not None, entry["row"] or 0))
    plan.warnings.sort(key=lambda entry: (entry["row"] is not None, entry["row"] or 0))
    return plan


def _match(job: ImportJob, plan: Plan, counts: dict, qty_header: str, sku_header: str) -> None:
    store = job.store
    existing = selectors.codes_with_stock(store)
    protected: set[int] = set()
    if job.origin in UNATTENDED_ORIGINS:
        protected = {
            item_id
            for item_id, value in ItemMetadata.objects.filter(item__store=store, key="skip_pull").values_list(
                "item_id", "value"
            )
            if value.strip().lower() in {"1", "true", "yes", "on"}
        }
    unknown_rows = []
    current_details = None
    adding = job.mode == ImportJob.ADD
    for sku, count in counts.items():
        row = count.rows[0]
        found = existing.get(sku)
        if count.quantity is None:
            continue  # listed already as "no count"; whether the SKU exists does not matter
        if found is None:
            if not job.create_missing:
                plan.unknown += 1
                unknown_rows.append((sku, row))
                continue
            details, problems = _clean_details(count.details, row)
            plan.errors.extend(problems)
            metadata, meta_problems = _clean_metadata(store, sku, count.metadata, row)
            if meta_problems:
                plan.errors.extend(meta_problems)
                continue
            plan.create.append({"code": sku, "stock": count.quantity, "metadata": metadata, **details})
            plan.lines.append((sku, None, None, count.quantity))
            continue
        item_id, old = found
        if item_id in protected:
            plan.unchanged += 1
            plan.warnings.append(
                issue(
                    row,
                    qty_header,
                    str(count.quantity),
                    f"{sku} has skip_pull set: this file does not change it.",
                )
            )
            continue
        new = old + count.quantity if adding else count.quantity
        if new == old:
            plan.unchanged += 1
        else:
            plan.targets[item_id] = count.quantity if adding else new
            plan.lines.append((sku, item_id, old, new))
        details, problems = _clean_details(count.details, row)
        plan.errors.extend(problems)
        if details:
            if current_details is None:
                current_details = selectors.details_by_id(store)
            known = current_details.get(item_id, {})
            # Only what differs is written: re-importing a full listing is cheap.
            details = {name: value for name, value in details.items() if known.get(name) != value}
            if details:
                plan.details[item_id] = details
        if count.metadata:
            metadata, meta_problems = _clean_metadata(store, sku, count.metadata, row)
            plan.errors.extend(meta_problems)
            if metadata and not meta_problems:
                plan.metadata[item_id] = metadata
    if unknown_rows:
        hints = _near_misses(existing, [sku for sku, _row in unknown_rows])
        for sku, row in unknown_rows:
            message = f"SKU {sku} is not in {store.name}; nothing was changed or created for it."
            if sku in hints:
                message += f" Did a spreadsheet drop leading zeros? {hints[sku]} exists."
            plan.errors.append(issue(row, sku_header, sku, message))


def _near_misses(existing: dict, unknown: list[str]) -> dict[str, str]:
    """Unknown SKUs that differ from a real one only by leading zeros or case."""

    def key(code: str) -> str:
        return code.lower().lstrip("0")

    wanted = {key(sku) for sku in unknown}
    index = defaultdict(list)
    for code in existing:
        k = key(code)
        if k in wanted:
            index[k].append(code)
    return {sku: ", ".join(index[key(sku)]) for sku in unknown if index.get(key(sku))}


def _clean_details(details: dict, row: int) -> tuple[dict, list[dict]]:
    cleaned, problems = {}, []
    for name, raw in details.items():
        if name == "name":
            cleaned["name"] = raw[:500]
            continue
        try:
            value = (
                Decimal(raw.replace(",", ""))
                if raw.count(",") and raw.count(".")
                else Decimal(raw.replace(",", "."))
            )
            if not value.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            problems.append(issue(row, name, raw, f"{name} must be a number; '{raw}' was left out."))
            continue
        cleaned[name] = value
    return cleaned, problems


def _clean_metadata(store: Store, sku: str, metadata: dict, row: int) -> tuple[dict, list[dict]]:
    """Validate ``metadata:<key>`` cells the same way the admin does."""
    if not metadata:
        return {}, []
    normalised, problems = stock_services.validate_metadata(store, sku, metadata)
    return normalised, [issue(row, "metadata", sku, f"{sku}: {problem}") for problem in problems]


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
    job.save()
    return job


def _record_plan(job: ImportJob, plan: Plan) -> None:
    job.counts = plan.counts()
    job.errors = plan.errors
    job.warnings = plan.warnings
    job.preview = [list(line[:1]) + list(line[2:]) for line in plan.lines[:PREVIEW_LIMIT]]
    job.read_info = {**job.read_info, **plan.read_info}
    job.progress_done = job.progress_total = plan.rows


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
    previewed = {line[0]: line[1] for line in job.preview} if job.status == ImportJob.PREVIEWED else None
    job.status = ImportJob.APPLYING
    job.save(update_fields=["status"])
    try:
        plan = analyse(job, progress=_progress_updater(job))
    except FileRefused as exc:
        return _refuse(job, exc)
    if previewed is not None and job.mode == ImportJob.SET:
        for sku, _item_id, old, _new in plan.lines:
            if sku in previewed and previewed[sku] != old:
                plan.warnings.append(
                    issue(
                        None,
                        None,
                        sku,
                        f"{sku} changed since the preview (was {previewed[sku]}, now {old}); "
                        f"the file's count was written.",
                    )
                )
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status == ImportJob.APPLIED:
            return job
        created_ids = _write(job, plan, user)
        _record_plan(job, plan)
        job.read_info["created_ids"] = created_ids
        job.status = ImportJob.APPLIED
        job.applied_at = job.finished_at = timezone.now()
        job.save()
    logger.info("import %s applied to %s: %s", job.pk, job.store.slug, job.counts)
    return job


def _write(job: ImportJob, plan: Plan, user) -> list[int]:
    reference = job.reference
    created = {}
    if plan.create:
        created = stock_services.create_items(
            job.store, plan.create, source=StockLedgerEntry.IMPORT, reference=reference, user=user
        )
        for row in plan.create:
            if row.get("metadata"):
                ItemMetadata.objects.bulk_create(
                    ItemMetadata(item_id=created[row["code"]], key=key, value=value)
                    for key, value in row["metadata"].items()
                )
    writer = stock_services.adjust_stock if job.mode == ImportJob.ADD else stock_services.set_stock
    writer(
        plan.targets,
        source=StockLedgerEntry.IMPORT,
        reference=reference,
        user=user,
        update_source=f"import:{job.origin}",
    )
    if plan.details:
        stock_services.update_details(plan.details)
    for item_id, metadata in plan.metadata.items():
        item = InventoryItem.objects.get(pk=item_id)
        stock_services.set_metadata(item, metadata)
    return sorted(created.values())


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
