"""Import jobs: one spreadsheet on its way into a store's stock.

A job keeps the file, the options it is read with, its progress, every row
error and warning, and its lines (:class:`ImportLine`: old → new per SKU, the
preview), so staff, the API and the reply mail all report the same thing.  The
stock changes themselves live in the ledger under the reference
``import:<id>``, which is also what Undo reads.
"""

import os
from collections.abc import Iterator, Sequence

from django.conf import settings
from django.db import models

from inventory.models import Store


def import_upload_to(job, filename):
    return f"imports/{job.store.slug}/{os.path.basename(filename)}"


class ImportJob(models.Model):
    UPLOAD, EMAIL, FTP, API, CLI = "upload", "email", "ftp", "api", "cli"
    ORIGINS = [(UPLOAD, "Staff upload"), (EMAIL, "Email"), (FTP, "FTP"), (API, "API"), (CLI, "Command line")]

    PENDING = "pending"
    READING = "reading"
    PREVIEWED = "previewed"
    APPLYING = "applying"
    APPLIED = "applied"
    REFUSED = "refused"
    FAILED = "failed"
    UNDONE = "undone"
    STATUSES = [
        (PENDING, "Waiting"),
        (READING, "Reading"),
        (PREVIEWED, "Preview ready"),
        (APPLYING, "Applying"),
        (APPLIED, "Applied"),
        (REFUSED, "File refused"),
        (FAILED, "Failed"),
        (UNDONE, "Undone"),
    ]

    SET, ADD = "set", "add"
    MODES = [(SET, "Set counts"), (ADD, "Add to counts (receipts)")]

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="import_jobs")
    origin = models.CharField(max_length=10, choices=ORIGINS, default=UPLOAD)
    file = models.FileField(upload_to=import_upload_to, max_length=500)
    original_name = models.CharField(max_length=255)
    file_size = models.PositiveBigIntegerField(default=0)
    mode = models.CharField(max_length=3, choices=MODES, default=SET)
    create_missing = models.BooleanField(default=False)
    dry_run = models.BooleanField(default=False)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING, db_index=True)
    message = models.TextField(blank=True, help_text="Why the whole file was refused or failed.")
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    # Which analysis the job's lines belong to: a new one replaces them only when complete.
    analysis = models.PositiveIntegerField(default=0, editable=False)
    last_analysis = models.PositiveIntegerField(default=0, editable=False)
    read_info = models.JSONField(default=dict, blank=True)
    undo_report = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sender = models.CharField(max_length=255, blank=True, help_text="Mail sender, FTP path or API client.")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"Import {self.pk} of {self.original_name}"

    def save(self, *args, **kwargs):
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            # ``last_analysis`` is counted up in the database only: a job loaded before an
            # analysis started must not set it back.
            kwargs["update_fields"] = [
                f.name for f in self._meta.concrete_fields if not f.primary_key and f.name != "last_analysis"
            ]
        super().save(*args, **kwargs)
        given = getattr(self, "_preview_given", None)
        if given is not None:
            self._preview_given = None
            self.lines.all().delete()
            ImportLine.objects.bulk_create(
                ImportLine(job=self, analysis=self.analysis, row=index, sku=sku, old=old, new=new)
                for index, (sku, old, new) in enumerate(given, start=1)
            )

    @property
    def preview(self) -> "PreviewLines":
        """``[sku, old, new]`` per SKU whose count the import changes (old None: a new item).

        Read from :class:`ImportLine` a page at a time; a job's preview can be as long as its file.
        """
        given = getattr(self, "_preview_given", None)
        return given if given is not None else PreviewLines(self)

    @preview.setter
    def preview(self, lines):
        """Lines given by hand (tests, fixtures) replace the job's lines when it is saved."""
        self._preview_given = [list(line) for line in lines]

    @property
    def reference(self):
        return f"import:{self.pk}"

    @property
    def progress_percent(self):
        if not self.progress_total:
            return 100 if self.status in {self.APPLIED, self.PREVIEWED, self.UNDONE} else 0
        return min(100, round(100 * self.progress_done / self.progress_total))


class ImportLine(models.Model):
    """One SKU of an analysed file: what applying it does (or did) to that SKU.

    A line changes the count (``old`` → ``new``; ``old`` None creates the item) or
    only details (``changes_stock`` False).  ``item_id`` and ``writes`` are what
    Apply needs, so it writes the analysis it just made without holding it in memory.
    """

    # Indexed by Meta.indexes (job, analysis, row), which serves lookups by job too.
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="lines", db_index=False)
    analysis = models.PositiveIntegerField()
    row = models.PositiveIntegerField(help_text="The SKU's first row in the file.")
    sku = models.CharField(max_length=255)
    item_id = models.BigIntegerField(null=True, blank=True)
    old = models.BigIntegerField(null=True, blank=True)
    new = models.BigIntegerField(null=True, blank=True)
    changes_stock = models.BooleanField(default=True)
    # Item details and metadata to write; for a new item, everything it is created with.
    writes = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["job", "analysis", "row"])]

    def __str__(self):
        return f"{self.sku}: {self.old} → {self.new}"


class PreviewLines(Sequence):
    """A job's preview as a sequence of ``[sku, old, new]``, read from the database on demand."""

    PAGE = 2000

    def __init__(self, job: ImportJob):
        self.job = job

    def _rows(self):
        return (
            ImportLine.objects.filter(job_id=self.job.pk, analysis=self.job.analysis, changes_stock=True)
            .order_by("row")
            .values_list("sku", "old", "new")
        )

    def __len__(self) -> int:
        return self._rows().count() if self.job.pk else 0

    def __getitem__(self, index):
        if not self.job.pk:
            return [][index]
        if isinstance(index, slice):
            if index.step not in (None, 1) or (index.start or 0) < 0 or (index.stop or 0) < 0:
                return list(self)[index]
            return [list(row) for row in self._rows()[index]]
        if index < 0:
            index += len(self)
        if index < 0:
            raise IndexError(index)
        found = self._rows()[index : index + 1]
        if not found:
            raise IndexError(index)
        return list(found[0])

    def __iter__(self) -> Iterator[list]:
        if not self.job.pk:
            return
        for row in self._rows().iterator(chunk_size=self.PAGE):
            yield list(row)

    def __eq__(self, other):
        if isinstance(other, PreviewLines | list | tuple):
            return list(self) == [list(line) for line in other]
        return NotImplemented

    __hash__ = None


class ColumnMapping(models.Model):
    """A store's saved way of reading its files, used when an import names none."""

    store = models.OneToOneField(Store, on_delete=models.CASCADE, related_name="column_mapping")
    sheet = models.CharField(max_length=100, blank=True)
    header_row = models.PositiveIntegerField(null=True, blank=True)
    sku_column = models.CharField(max_length=200, blank=True)
    qty_columns = models.CharField(
        max_length=500, blank=True, help_text="One or more headers separated by '|' (summed)."
    )
    location_column = models.CharField(max_length=200, blank=True)
    encoding = models.CharField(max_length=30, blank=True)
    delimiter = models.CharField(max_length=5, blank=True, help_text="',', ';', 'tab' or '|'.")
    decimal = models.CharField(
        max_length=5, blank=True, choices=[("", "From the delimiter"), ("dot", "Dot"), ("comma", "Comma")]
    )

    def __str__(self):
        return f"Column mapping of {self.store}"

    def as_options(self) -> dict:
        options = {
            "sheet": self.sheet or None,
            "header_row": self.header_row,
            "sku_column": self.sku_column or None,
            "qty_columns": [part.strip() for part in self.qty_columns.split("|") if part.strip()],
            "location_column": self.location_column or None,
            "encoding": self.encoding or None,
            "delimiter": ("\t" if self.delimiter == "tab" else self.delimiter) or None,
            "decimal": self.decimal or None,
        }
        return {key: value for key, value in options.items() if value not in (None, [], "")}


from .sources import EmailSource, FtpSource, Mailbox, ProcessedFile, ProcessedMessage  # noqa: E402,F401
