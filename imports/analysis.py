"""Analysing an import: read the file, combine rows per SKU, match them against the
store and work out old → new, one chunk of rows at a time.

The file's records are staged in a temporary table as they are read
(:mod:`imports.staging`) and read back joined with the store's items; what the
import would do goes to :class:`~imports.models.ImportLine` as it is worked out.
Memory holds a chunk of rows, the row errors and warnings, and counters, however
long the file and however large the store.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import groupby

from django.db import connection, transaction
from django.db.models import F

from inventory import rules
from inventory import services as stock_services
from inventory.models import InventoryItem, Store

from . import staging
from .models import ImportJob
from .reading import Issue, ReadOptions, Record, read_stock_file
from .reading.combine import combine_group, rejected_duplicates, rejected_skus
from .reading.text import ByteSource

# Origins that are not a person's deliberate act: skip_pull protects items from them.
UNATTENDED_ORIGINS = {ImportJob.EMAIL, ImportJob.FTP}
SKIP_PULL_ON = {"1", "true", "yes", "on"}
# Records staged, and lines written, a chunk at a time.
READ_CHUNK = 5000
LINE_CHUNK = 5000
DECIMAL_FIELDS = {name: InventoryItem._meta.get_field(name) for name in ("price", "cost", "weight")}


@dataclass
class Plan:
    """What applying a file would do to a store right now; its lines are ``ImportLine``
    rows of analysis ``analysis``."""

    analysis: int = 0
    read_info: dict = field(default_factory=dict)
    rows: int = 0
    skipped: int = 0
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    changed: int = 0
    created: int = 0
    unknown: int = 0
    unchanged: int = 0

    def counts(self) -> dict:
        return {
            "rows": self.rows,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "unknown": self.unknown,
            "skipped": self.skipped,
            "created": self.created,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
        }


def issue_dict(issue: Issue) -> dict:
    return {"row": issue.row, "column": issue.column, "value": issue.value, "message": issue.message}


def issue(row, column, value, message) -> dict:
    return {"row": row, "column": column, "value": value, "message": message}


def read_options(job: ImportJob) -> ReadOptions:
    options = dict(job.options)
    if "qty_columns" in options:
        options["qty_columns"] = tuple(options["qty_columns"])
    return ReadOptions(**options)


def job_source(job: ImportJob) -> ByteSource:
    """The job's stored file, opened anew for each pass over it."""
    return ByteSource(lambda: job.file.storage.open(job.file.name, "rb"))


def count_lines(source: ByteSource) -> int:
    """Line ends in a text file: a good estimate of its records, for the progress bar."""
    return sum(chunk.count(b"\n") for chunk in source.chunks())


def start_analysis(job: ImportJob) -> int:
    """A number for a new analysis of ``job``, never handed out twice (even to two workers)."""
    with transaction.atomic():
        ImportJob.objects.filter(pk=job.pk).update(last_analysis=F("last_analysis") + 1)
        job.last_analysis = ImportJob.objects.filter(pk=job.pk).values_list("last_analysis", flat=True).get()
    return job.last_analysis


def analyse(job: ImportJob, *, progress=None, then: Callable[[Plan], object] | None = None) -> Plan:
    """Read the job's file and work out what applying it would do now.

    The lines go to the database under a new analysis number (``plan.analysis``);
    the job shows them once it records the plan.  ``then`` runs in the transaction
    that writes the lines, so applying them costs no commit of its own.  Raises
    :class:`FileRefused` when the whole file is unusable.
    """
    source = job_source(job)
    if not job.progress_total and not source.head(8).startswith((b"PK", b"\xd0\xcf")):
        job.progress_total = count_lines(source)
        ImportJob.objects.filter(pk=job.pk).update(progress_total=job.progress_total)
    plan = Plan(analysis=start_analysis(job))
    with connection.cursor() as cursor, staging.RecordStage(cursor) as stage:
        no_counts: list[tuple[int, str]] = []

        def stage_chunk(records: list[tuple]) -> None:
            no_counts.extend((record[0], record[1]) for record in records if record[2] is None)
            with staging.passing_transaction():
                stage.add(records)

        result = read_stock_file(
            source, job.original_name, read_options(job), progress=progress, sink=stage_chunk, chunk_size=READ_CHUNK
        )
        _read_into(plan, result, no_counts)
        with transaction.atomic():
            Matcher(job, plan, result, cursor).run(stage)
            plan.errors.sort(key=lambda entry: (entry["row"] is not None, entry["row"] or 0))
            plan.warnings.sort(key=lambda entry: (entry["row"] is not None, entry["row"] or 0))
            if then is not None:
                then(plan)
    return plan


def _read_into(plan: Plan, result, no_counts: list[tuple[int, str]]) -> None:
    plan.rows, plan.skipped = result.rows, result.skipped
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
    plan.warnings.extend(
        issue(row, qty_header, None, f"No count for {sku} in this row; nothing changes for it.")
        for row, sku in no_counts
    )


class Matcher:
    """Turns the staged records into lines: one decision per SKU, written a chunk at a time."""

    def __init__(self, job: ImportJob, plan: Plan, result, cursor):
        self.job = job
        self.store: Store = job.store
        self.plan = plan
        self.cursor = cursor
        self.adding = job.mode == ImportJob.ADD
        self.unattended = job.origin in UNATTENDED_ORIGINS
        self.qty_header = ", ".join(result.qty_columns)
        self.sku_header = result.sku_column
        self.metadata_headers = result.metadata_columns
        self.detail_headers = result.detail_columns
        self.with_location = result.location_column is not None
        self.rejected = rejected_skus(result.errors)
        self.unknown_rows: list[tuple[str, int]] = []
        self.lines: list[tuple] = []

    def run(self, stage: staging.RecordStage) -> None:
        plan = self.plan
        store_id = self.store.pk
        if not stage.count:
            self._finish()
            return
        repeated = stage.mark_repeated(self.rejected)
        plain_changed = stage.write_plain_lines(
            store_id, self.job.pk, plan.analysis, adding=self.adding, with_skip_pull=self.unattended
        )
        decided_here = 0
        for staged in stage.single(store_id, with_skip_pull=self.unattended):
            self._single(staged)
            decided_here += 1
        plan.changed += plain_changed
        plan.unchanged += stage.counted_once() - decided_here - plain_changed
        if repeated:
            rows = stage.repeated(store_id, with_skip_pull=self.unattended)
            for sku, group in groupby(rows, key=lambda staged: staged[1]):
                self._group(sku, list(group))
        self._finish()

    def _finish(self) -> None:
        if not self.with_location:
            self.plan.errors.extend(issue_dict(i) for i in rejected_duplicates(self.rejected, self.sku_header))
        self._flush()
        self._report_unknown()

    # -- one SKU ----------------------------------------------------------------------
    def _single(self, staged: tuple) -> None:
        """A SKU staged once (with a count) that the database could not decide alone."""
        self._decide(staged[1], staged[0], staged[2], _details(staged), _metadata(staged), staged)

    def _group(self, sku: str, group: list[tuple]) -> None:
        records = [
            Record(staged[0], sku, staged[2], staged[3], _details(staged) or {}, _metadata(staged) or {})
            for staged in group
        ]
        bad_rows = self.rejected.pop(sku, None) if self.rejected else None
        combined = combine_group(sku, records, bad_rows, self.with_location, self.sku_header)
        if type(combined) is Issue:
            self.plan.errors.append(issue_dict(combined))
            return
        if combined.quantity is None:
            return
        self._decide(sku, combined.rows[0], combined.quantity, combined.details, combined.metadata, group[0])

    def _decide(self, sku, row, quantity, details, metadata, staged) -> None:
        """What happens to one SKU: the same rules whatever the file's size."""
        plan = self.plan
        item_id, old = staged[9], staged[10]
        if item_id is None:
            self._create(sku, row, quantity, details, metadata)
            return
        skip_pull = staged[15]
        if skip_pull is not None and skip_pull.strip().lower() in SKIP_PULL_ON:
            plan.unchanged += 1
            plan.warnings.append(
                issue(row, self.qty_header, str(quantity), f"{sku} has skip_pull set: this file does not change it.")
            )
            return
        new = old + quantity if self.adding else quantity
        if new == old:
            plan.unchanged += 1
        else:
            plan.changed += 1
        writes = {}
        if details:
            cleaned, problems = clean_details(details, row, self.detail_headers)
            plan.errors.extend(problems)
            # Only what differs is written: re-importing a full listing is cheap.
            differs = {name: value for name, value in cleaned.items() if _current(staged, name) != value}
            if differs:
                writes["details"] = {name: str(value) for name, value in differs.items()}
        if metadata:
            normalised, problems = clean_metadata(self.store, sku, metadata, row, self.metadata_headers)
            plan.errors.extend(problems)
            if normalised and not problems:
                writes["metadata"] = normalised
        if new != old or writes:
            self._line(row, sku, item_id, old, new, new != old, writes)

    def _create(self, sku, row, quantity, details, metadata) -> None:
        plan = self.plan
        if not self.job.create_missing:
            plan.unknown += 1
            self.unknown_rows.append((sku, row))
            return
        cleaned, problems = clean_details(details or {}, row, self.detail_headers)
        plan.errors.extend(problems)
        normalised, meta_problems = clean_metadata(self.store, sku, metadata or {}, row, self.metadata_headers)
        if meta_problems:
            plan.errors.extend(meta_problems)
            return
        plan.changed += 1
        plan.created += 1
        writes = {"details": {name: str(value) for name, value in cleaned.items()}, "metadata": normalised}
        self._line(row, sku, None, None, quantity, True, writes)

    def _line(self, row, sku, item_id, old, new, changes_stock, writes) -> None:
        writes = json.dumps(writes) if writes else None
        self.lines.append((self.job.pk, self.plan.analysis, row, sku, item_id, old, new, changes_stock, writes))
        if len(self.lines) >= LINE_CHUNK:
            self._flush()

    def _flush(self) -> None:
        staging.write_lines(self.cursor, self.lines)
        self.lines = []

    # -- SKUs the store does not have -------------------------------------------------
    def _report_unknown(self) -> None:
        if not self.unknown_rows:
            return
        hints = near_misses(self.store, [sku for sku, _row in self.unknown_rows])
        for sku, row in self.unknown_rows:
            message = f"SKU {sku} is not in {self.store.name}; nothing was changed or created for it."
            if sku in hints:
                message += f" Did a spreadsheet drop leading zeros? {hints[sku]} exists."
            self.plan.errors.append(issue(row, self.sku_header, sku, message))


_DETAIL_AT = {name: 4 + index for index, name in enumerate(staging.DETAIL_COLUMNS)}
_CURRENT_AT = {name: 11 + index for index, name in enumerate(staging.DETAIL_COLUMNS)}


def _details(staged: tuple) -> dict:
    return {name: staged[at] for name, at in _DETAIL_AT.items() if staged[at] is not None}


def _metadata(staged: tuple) -> dict:
    return json.loads(staged[8]) if staged[8] else {}


def _current(staged: tuple, name: str):
    """The item's current value of a detail, as the file's value is compared with it."""
    value = staged[_CURRENT_AT[name]]
    if name == "name" or value is None or isinstance(value, Decimal):
        return value
    return DECIMAL_FIELDS[name].to_python(value)


def near_misses(store: Store, unknown: list[str]) -> dict[str, str]:
    """Unknown SKUs that differ from a real one only by leading zeros or case."""

    def key(code: str) -> str:
        return code.lower().lstrip("0")

    wanted = {key(sku) for sku in unknown}
    index = defaultdict(list)
    codes = staging.stream(
        f"SELECT code FROM {staging.ITEM_TABLE} WHERE store_id = %s AND archived_at IS NULL ORDER BY id",
        [store.pk],
    )
    for (code,) in codes:
        k = key(code)
        if k in wanted:
            index[k].append(code)
    return {sku: ", ".join(index[key(sku)]) for sku in unknown if index.get(key(sku))}


def clean_details(details: dict, row: int, headers: dict | None = None) -> tuple[dict, list[dict]]:
    """Item details as the model takes them; a bad cell is left out and reported under its
    column's header as written in the file (``headers``: detail name → header)."""
    cleaned, problems = {}, []
    headers = headers or {}
    for name, raw in details.items():
        column = headers.get(name, name)
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
            problems.append(issue(row, column, raw, f"{column} must be a number; '{raw}' was left out."))
            continue
        if value < 0:
            problems.append(issue(row, column, raw, f"{column} cannot be negative; '{raw}' was left out."))
            continue
        cleaned[name] = value
    return cleaned, problems


# A bad metadata cell costs the row its metadata, not its count (design §6: nothing is lost).
METADATA_LEFT_OUT = "This row's metadata is left out; the rest of the row applies."


def clean_metadata(
    store: Store, sku: str, metadata: dict, row: int, headers: dict | None = None
) -> tuple[dict, list[dict]]:
    """Validate ``metadata:<key>`` cells the same way the admin does.

    ``headers`` maps each key to its column's header as written in the file. A problem
    names that column and the cell's value (design §6), never a bare "metadata" and the
    SKU: the user has to find the cell to fix it.
    """
    if not metadata:
        return {}, []
    normalised, problems = stock_services.validate_metadata(store, sku, metadata)
    if not problems:
        return normalised, []
    return normalised, _metadata_cell_problems(store, sku, metadata, row, headers or {}, problems)


def _metadata_cell_problems(store, sku, metadata: dict, row, headers: dict, problems: list[str]) -> list[dict]:
    """The row's metadata problems, each on its cell.

    The admin's check gives one list of texts for the whole row, so a row with problems
    is checked again (rare, so cheap): each cell alone (its own rule; code_replace's SKUs
    in the store), then the cells that pass together (``max`` below ``min``…), where the
    rules name the cell they blame.
    """

    def cell(key: str, message: str) -> dict:
        return issue(
            row, headers.get(key, f"metadata:{key}"), metadata.get(key), f"{sku}: {message} {METADATA_LEFT_OUT}"
        )

    placed, passing = [], {}
    for key, value in metadata.items():
        _normalised, own = stock_services.validate_metadata(store, sku, {key: value})
        placed.extend(cell(key, message) for message in own)
        if not own:
            passing[key] = value
    placed.extend(cell(error.key, error.message) for error in rules.validate_metadata_set(passing))
    if placed:
        return placed
    # Not expected: the whole row failed where its parts did not. Still reported, on all its
    # metadata columns, rather than lost.
    columns = ", ".join(headers.get(key, f"metadata:{key}") for key in metadata)
    return [issue(row, columns, None, f"{sku}: {problem} {METADATA_LEFT_OUT}") for problem in problems]

