"""Reading stock spreadsheets (CSV/TSV/XLSX/XLS/ODS) into records: pure, no database.

``read_stock_file`` reads one file; ``combine_records`` adds its records up per SKU.
"""

from .cells import MAX_COUNT
from .columns import (
    DETAIL_ALIASES,
    HEADER_SEARCH_ROWS,
    LOCATION_ALIASES,
    QTY_ALIASES,
    SKU_ALIASES,
    TEMPLATE_HEADERS,
    normalise_header,
)
from .combine import combine_records
from .reader import TEXT_EXTENSIONS, WORKBOOK_EXTENSIONS, file_kind, read_stock_file
from .results import Count, FileRefused, Issue, ReadOptions, ReadResult, Record

__all__ = [
    "DETAIL_ALIASES",
    "HEADER_SEARCH_ROWS",
    "LOCATION_ALIASES",
    "MAX_COUNT",
    "QTY_ALIASES",
    "SKU_ALIASES",
    "TEMPLATE_HEADERS",
    "TEXT_EXTENSIONS",
    "WORKBOOK_EXTENSIONS",
    "Count",
    "FileRefused",
    "Issue",
    "ReadOptions",
    "ReadResult",
    "Record",
    "combine_records",
    "file_kind",
    "normalise_header",
    "read_stock_file",
]
