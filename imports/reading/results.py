"""Value types of the reading layer: options in, records and issues out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

EMPTY: Mapping[str, str] = MappingProxyType({})


def _empty() -> Mapping[str, str]:
    return EMPTY


@dataclass(frozen=True)
class ReadOptions:
    sheet: str | None = None
    header_row: int | None = None
    sku_column: str | None = None
    qty_columns: tuple[str, ...] = ()
    location_column: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None


@dataclass(frozen=True, slots=True)
class Issue:
    """A row error or warning; ``row`` is None when it is about the whole file.

    ``code`` is a stable machine-readable kind (e.g. ``blank_sku``, ``qty_fractional``).
    """

    row: int | None
    column: str | None
    value: str | None
    message: str
    sku: str | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Record:
    """One data row with a valid SKU. ``quantity`` None means "no count"."""

    row: int
    sku: str
    quantity: int | None
    location: str | None = None
    details: Mapping[str, str] = field(default_factory=_empty)
    metadata: Mapping[str, str] = field(default_factory=_empty)


class FileRefused(Exception):
    """The whole file is refused; ``message`` says why and what to do."""

    def __init__(self, message: str, headers: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.headers = list(headers or [])

    def __str__(self) -> str:
        return self.message


@dataclass
class ReadResult:
    records: list[Record] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    rows: int = 0
    skipped: int = 0
    headers: list[str] = field(default_factory=list)
    sku_column: str = ""
    qty_columns: list[str] = field(default_factory=list)
    location_column: str | None = None
    detail_columns: dict[str, str] = field(default_factory=dict)
    metadata_columns: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str = "dot"
    header_row: int = 1
    sheet: str | None = None
    file_kind: str = "text"


@dataclass(frozen=True, slots=True)
class Count:
    """What one SKU's rows add up to. ``quantity`` None means no count anywhere."""

    sku: str
    quantity: int | None
    rows: tuple[int, ...]
    details: Mapping[str, str] = field(default_factory=_empty)
    metadata: Mapping[str, str] = field(default_factory=_empty)
