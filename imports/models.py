"""Import jobs: one spreadsheet on its way into a store's stock.

A job keeps the file, the options it is read with, its progress, the preview
(old → new per SKU) and every row error and warning, so staff, the API and the
reply mail all report the same thing.  The stock changes themselves live in the
ledger under the reference ``import:<id>``, which is also what Undo reads.
"""

import os

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
    preview = models.JSONField(default=list, blank=True)
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

    @property
    def reference(self):
        return f"import:{self.pk}"

    @property
    def progress_percent(self):
        if not self.progress_total:
            return 100 if self.status in {self.APPLIED, self.PREVIEWED, self.UNDONE} else 0
        return min(100, round(100 * self.progress_done / self.progress_total))


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
