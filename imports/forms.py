"""Forms of the imports admin: the stock-file upload and the saved column mapping.

They collect what a person chooses; :func:`imports.services.create_job`
checks the options again (the API and command line go through it too).
"""

from __future__ import annotations

import codecs

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from .models import ColumnMapping, ImportJob

DELIMITER_CHOICES = [("", "Detect"), (",", "Comma ( , )"), (";", "Semicolon ( ; )"),
                     ("tab", "Tab"), ("|", "Pipe ( | )")]
DECIMAL_CHOICES = [("", "From the delimiter (; files use a comma)"), ("dot", "Dot (8.5)"),
                   ("comma", "Comma (8,5)")]

MODE_HELP = {
    ImportJob.SET: "Set: each SKU's stock becomes the number in the file (a stock count).",
    ImportJob.ADD: "Add: the numbers in the file are added to the current stock (goods received).",
}


def _check_encoding(value: str) -> str:
    value = value.strip()
    if value:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValidationError(f"“{value}” is not an encoding name such as utf-8 or cp1252.") from None
    return value


class UploadForm(forms.Form):
    """Upload a stock file for a preview (nothing changes until Apply)."""

    store = forms.ModelChoiceField(queryset=None, empty_label=None)
    file = forms.FileField(
        label="Stock file",
        help_text="CSV, TSV or text (, ; tab |), XLSX, XLS or ODS. One row per SKU with its count.",
    )
    mode = forms.ChoiceField(
        choices=[(value, MODE_HELP[value]) for value, _label in ImportJob.MODES],
        initial=ImportJob.SET,
        widget=forms.RadioSelect,
        help_text="You see a preview of every change before anything is written.",
    )
    create_missing = forms.BooleanField(
        required=False,
        label="Create items for SKUs the store does not have",
        help_text="Off: unknown SKUs are listed in the preview and nothing is created.",
    )
    sheet = forms.CharField(
        required=False, max_length=100,
        help_text="Workbooks only: the sheet's exact name. Empty: the first visible sheet.",
    )
    header_row = forms.IntegerField(required=False, min_value=1,
                                    help_text="Row number of the headers. Empty: found automatically.")
    sku_column = forms.CharField(required=False, max_length=200, label="SKU column",
                                 help_text="The header of the SKU column, if it is not recognised.")
    qty_columns = forms.CharField(
        required=False, max_length=500, label="Quantity column(s)",
        help_text="The header of the quantity column. Several separated by | are added up "
        "(one column per warehouse).",
    )
    location_column = forms.CharField(required=False, max_length=200)
    encoding = forms.CharField(required=False, max_length=30,
                               help_text="Text files only, e.g. utf-8 or cp1252. Empty: detected.")
    delimiter = forms.ChoiceField(required=False, choices=DELIMITER_CHOICES)
    decimal = forms.ChoiceField(required=False, choices=DECIMAL_CHOICES, label="Decimal mark")

    OPTION_FIELDS = ("sheet", "header_row", "sku_column", "qty_columns", "location_column",
                     "encoding", "delimiter", "decimal")

    def __init__(self, *args, stores=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = stores
        if stores is not None and len(stores) == 1:
            self.fields["store"].initial = stores[0].pk

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size == 0:
            raise ValidationError("The file is empty.")
        if upload.size > settings.IMPORT_MAX_FILE_BYTES:
            raise ValidationError(
                f"The file is {upload.size:,} bytes; the limit is {settings.IMPORT_MAX_FILE_BYTES:,}."
            )
        return upload

    def clean_encoding(self):
        return _check_encoding(self.cleaned_data.get("encoding", ""))

    def options(self) -> dict:
        """The reading options as :func:`imports.services.create_job` takes them."""
        options = {}
        for name in self.OPTION_FIELDS:
            value = self.cleaned_data.get(name)
            if value in (None, ""):
                continue
            if name == "qty_columns":
                value = [part.strip() for part in value.split("|") if part.strip()]
            elif isinstance(value, str):
                value = value.strip()
            options[name] = value
        return options


class ColumnMappingForm(forms.ModelForm):
    """A store's saved way of reading its files (used when an upload names no options)."""

    delimiter = forms.ChoiceField(required=False, choices=DELIMITER_CHOICES)

    class Meta:
        model = ColumnMapping
        fields = ["store", "sku_column", "qty_columns", "location_column", "header_row", "sheet",
                  "encoding", "delimiter", "decimal"]

    def clean_encoding(self):
        return _check_encoding(self.cleaned_data.get("encoding", ""))
