"""Import a stock spreadsheet into a store from the command line."""

import argparse
import json
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from imports import services
from imports.models import ImportJob
from imports.reading import FileRefused, file_kind
from inventory.models import Store

EXIT_REFUSED = 2


def header_row(text: str) -> int:
    """``--header-row`` as the admin form takes it: a row number, at least 1.

    A 0 used to be dropped without a word (read as "find the header"), so the user never
    learnt the option was not used.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a row number (1 or more), not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (the first row of the file is 1), not {value}")
    return value


class Command(BaseCommand):
    help = (
        "Import stock counts from a CSV, TSV, text, XLSX, XLS or ODS file. Exit status 0 when the "
        "file was read (whatever its row errors), 2 when the whole file is refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--store", required=True, help="Store slug.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would change; change nothing."
        )
        parser.add_argument(
            "--mode",
            choices=["set", "add"],
            default="set",
            help="set: the file holds counts (default); add: the file holds receipts.",
        )
        parser.add_argument("--create-missing", action="store_true", help="Create items for unknown SKUs.")
        parser.add_argument("--sheet", help="Workbook sheet name (exact); default the first visible sheet.")
        parser.add_argument("--header-row", type=header_row, help="Row number of the header (from 1).")
        parser.add_argument("--sku-column", help="Header of the SKU column.")
        parser.add_argument(
            "--qty-column",
            action="append",
            default=[],
            dest="qty_columns",
            help="Header of a quantity column; repeat to sum several (one per warehouse).",
        )
        parser.add_argument("--location-column", help="Header of the location column.")
        parser.add_argument("--encoding", help="Text encoding, e.g. cp1252 or utf-16.")
        parser.add_argument("--delimiter", help="Field separator: , ; | or tab.")
        parser.add_argument("--decimal", choices=["comma", "dot"], help="Decimal mark of text numbers.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object with the result.")

    def handle(self, *args, **opts):
        try:
            store = Store.objects.get(slug=opts["store"])
        except Store.DoesNotExist:
            return self.refused(opts, f"No store with slug '{opts['store']}'.")
        path = Path(opts["path"])
        options = {key: opts[key] for key in services.OPTION_KEYS if opts.get(key)}
        try:
            content = path.read_bytes()
        except OSError as exc:
            return self.refused(opts, f"Cannot read {path}: {exc.strerror or exc}.")
        if opts.get("sheet") and self.is_text(content, path.name):
            # Ignoring it would let the user believe the sheet they named was the one read.
            return self.refused(
                opts, f"--sheet applies to workbooks (.xlsx, .xls, .ods); {path.name} is a text file."
            )
        try:
            job = services.create_job(
                store,
                content=content,
                filename=path.name,
                origin=ImportJob.CLI,
                mode=opts["mode"],
                create_missing=opts["create_missing"],
                dry_run=opts["dry_run"],
                options=options,
                sender=str(path),
            )
        except ValidationError as exc:
            return self.refused(opts, " ".join(exc.messages))
        progress = ProgressBar(self.stderr, path.name) if sys.stderr.isatty() and not opts["json"] else None
        if progress:
            services.PROGRESS_HOOK = progress
        job = services.run(job) if progress is None else self.run_with_progress(job, progress)
        applied = job.status == ImportJob.APPLIED
        if opts["json"]:
            self.stdout.write(json.dumps(result_json(job, applied), ensure_ascii=False))
        else:
            self.print_report(job, applied)
        if job.status == ImportJob.REFUSED:
            raise SystemExit(EXIT_REFUSED)

    @staticmethod
    def is_text(content: bytes, name: str) -> bool:
        """Whether the reader takes the file as text (by its content, as the reader does: a
        workbook saved as .csv is a workbook). A file the reader refuses outright is left to
        it, so that refusal gives its own reason."""
        try:
            return file_kind(content, name) == "text"
        except FileRefused:
            return False

    def run_with_progress(self, job, progress):
        original = services._progress_updater

        def updater(job_):
            inner = original(job_)

            def update(done):
                progress(done)
                inner(done)

            return update

        services._progress_updater = updater
        try:
            return services.run(job)
        finally:
            services._progress_updater = original
            progress.finish()

    def refused(self, opts, message):
        if opts["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "rows": 0,
                        "changed": 0,
                        "unchanged": 0,
                        "unknown": 0,
                        "skipped": 0,
                        "errors": [{"row": None, "column": None, "value": None, "message": message}],
                        "warnings": [],
                        "applied": False,
                        "job": None,
                    }
                )
            )
        else:
            self.stderr.write(message)
        raise SystemExit(EXIT_REFUSED)

    def print_report(self, job, applied):
        out = self.stdout
        if job.status == ImportJob.REFUSED:
            out.write(self.style.ERROR(f"Refused: {job.message}"))
            return
        counts = job.counts
        info = job.read_info
        out.write(
            f"Import {job.pk} of {job.original_name}: columns SKU '{info.get('sku_column')}', quantity "
            f"'{', '.join(info.get('qty_columns') or [])}'"
            + (f", location '{info['location_column']}'" if info.get("location_column") else "")
        )
        out.write(
            f"{counts['rows']} rows: {counts['changed']} changed, {counts['unchanged']} unchanged, "
            f"{counts['unknown']} unknown, {counts['skipped']} with no count, {counts['errors']} errors, "
            f"{counts['warnings']} warnings."
        )
        for label, entries in (("error", job.errors), ("warning", job.warnings)):
            for entry in entries[:50]:
                where = f"row {entry['row']}" if entry["row"] is not None else "file"
                column = f", column '{entry['column']}'" if entry["column"] else ""
                out.write(f"  {label}: {where}{column}: {entry['message']}")
            if len(entries) > 50:
                out.write(f"  … and {len(entries) - 50} more {label}s (use --json for all).")
        verdict = "Applied." if applied else ("Dry run: nothing changed." if job.dry_run else "Not applied.")
        out.write(self.style.SUCCESS(verdict) if applied else verdict)


def result_json(job, applied):
    counts = job.counts or {}
    return {
        "rows": counts.get("rows", 0),
        "changed": counts.get("changed", 0),
        "unchanged": counts.get("unchanged", 0),
        "unknown": counts.get("unknown", 0),
        "skipped": counts.get("skipped", 0),
        "errors": [{k: e[k] for k in ("row", "column", "value", "message")} for e in job.errors],
        "warnings": [{k: e[k] for k in ("row", "column", "value", "message")} for e in job.warnings],
        "applied": applied,
        "job": job.pk,
    }


class ProgressBar:
    """A one-line counter on a terminal; nothing when output is redirected."""

    def __init__(self, stream, label):
        self.stream, self.label = stream, label

    def __call__(self, done):
        self.stream.write(f"\r{self.label}: {done:,} rows read", ending="")
        self.stream.flush()

    def finish(self):
        self.stream.write("")
