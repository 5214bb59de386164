"""Header names: normalisation, aliases, and finding the header row and columns."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .results import FileRefused, Issue, ReadOptions

SKU_ALIASES: tuple[str, ...] = (
    "sku",
    "code",
    "variant sku",
    "seller sku",
    "custom label sku",
    "product code",
    "item code",
    "item sku",
    "product sku",
    "item number",
    "artikelnummer",
)
QTY_ALIASES: tuple[str, ...] = (
    "stock",
    "quantity",
    "qty",
    "available",
    "available quantity",
    "available not editable",
    "afn fulfillable quantity",
    "variant inventory qty",
    "on hand",
    "on hand current",
    "inventory",
    "stock level",
    "bestand",
)
LOCATION_ALIASES: tuple[str, ...] = ("location", "warehouse", "location name")
DETAIL_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "title", "product name", "item name", "description"),
    "price": ("price", "your price"),
    "cost": ("cost",),
    "weight": ("weight",),
}
METADATA_PREFIX = "metadata:"
TEMPLATE_HEADERS: list[str] = ["sku", "quantity", "location", "name"]

HEADER_SEARCH_ROWS = 20

_SEPARATOR_RUN = re.compile(r"[\s\-_()\[\]:./\ufeff\u200b]+")


def normalise_header(text: object) -> str:
    """Lower case; every run of spaces and ``-_()[]:./`` becomes one space; trimmed."""
    return _SEPARATOR_RUN.sub(" ", str(text).lower()).strip()


def show_headers(headers: Sequence[str]) -> str:
    """The headers as a readable, comma-separated list (for messages)."""
    return ", ".join(" ".join(h.split()) or "(blank)" for h in headers)


def metadata_key(header: str) -> str | None:
    """The key of a ``metadata:<key>`` header (lower-cased, ``@suffix`` kept), else None."""
    text = header.strip()
    if text[: len(METADATA_PREFIX)].lower() != METADATA_PREFIX:
        return None
    return text[len(METADATA_PREFIX) :].strip().lower()


def trim_header(cells: Sequence[str]) -> list[str]:
    """Header texts stripped of surrounding spaces, trailing empty columns dropped."""
    headers = [c.strip() for c in cells]
    while headers and not headers[-1]:
        headers.pop()
    return headers


def has_sku_column(headers: Sequence[str], options: ReadOptions) -> bool:
    norms = {normalise_header(h) for h in headers if metadata_key(h) is None}
    if options.sku_column is not None:
        return normalise_header(options.sku_column) in norms
    return any(alias in norms for alias in SKU_ALIASES)


@dataclass
class Columns:
    sku: int
    qty: list[int]
    location: int | None
    details: dict[str, int] = field(default_factory=dict)
    metadata: dict[str, int] = field(default_factory=dict)
    warnings: list[Issue] = field(default_factory=list)


def _quote(text: str) -> str:
    return "'" + " ".join(text.split()) + "'"


def _named(norms, headers, name: str, role: str, row: int, taken: set[int]) -> int:
    target = normalise_header(name)
    found = [i for i, n in enumerate(norms) if n == target and n]
    if not found:
        raise FileRefused(
            f"The {role} column {_quote(name)} was not found in the header row (row {row}). "
            f"Headers found: {show_headers(headers)}",
            headers,
        )
    if len(found) > 1:
        raise FileRefused(
            f"The {role} column {_quote(name)} is ambiguous: columns "
            + " and ".join(f"{i + 1} ({_quote(headers[i])})" for i in found)
            + f" of row {row} both match. Rename one of them.",
            headers,
        )
    if found[0] in taken:
        raise FileRefused(
            f"The column {_quote(headers[found[0]])} can't be the {role} column: "
            "it is already used for another purpose.",
            headers,
        )
    return found[0]


def _by_alias(norms, aliases: Sequence[str], taken: set[int]) -> tuple[str | None, list[int]]:
    for alias in aliases:
        found = [i for i, n in enumerate(norms) if n == alias and i not in taken]
        if found:
            return alias, found
    return None, []


def map_columns(headers: list[str], options: ReadOptions, row: int) -> Columns:
    """Find the SKU, quantity, location, detail and metadata columns of a header row."""
    metadata: dict[str, int] = {}
    warnings: list[Issue] = []
    meta_cols: set[int] = set()
    for i, header in enumerate(headers):
        key = metadata_key(header)
        if key is None:
            continue
        meta_cols.add(i)
        if not key:
            warnings.append(
                Issue(
                    None,
                    header,
                    None,
                    f"Column {i + 1} {_quote(header)} names no metadata key "
                    "(write it as metadata:<key>, e.g. metadata:max); it was ignored.",
                    code="ignored_column",
                )
            )
            continue
        if key in metadata:
            raise FileRefused(
                f"Two columns set the metadata key '{key}': {_quote(headers[metadata[key]])} and "
                f"{_quote(header)}. Keep one of them.",
                headers,
            )
        metadata[key] = i
    norms = [normalise_header(h) if i not in meta_cols else "" for i, h in enumerate(headers)]
    taken = set(meta_cols)

    if options.sku_column is not None:
        sku = _named(norms, headers, options.sku_column, "SKU", row, taken)
    else:
        alias, found = _by_alias(norms, SKU_ALIASES, taken)
        if not found:
            raise FileRefused(
                f"No SKU column found (looked for: {', '.join(SKU_ALIASES)}). "
                f"Headers found: {show_headers(headers)}",
                headers,
            )
        if len(found) > 1:
            raise FileRefused(
                "Two columns could be the SKU column: "
                + " and ".join(f"{_quote(headers[i])} (column {i + 1})" for i in found)
                + ". Rename one, or name the SKU column in the import options.",
                headers,
            )
        sku = found[0]
    taken.add(sku)

    qty: list[int] = []
    if options.qty_columns:
        for name in options.qty_columns:
            index = _named(norms, headers, name, "quantity", row, taken)
            qty.append(index)
            taken.add(index)
    else:
        alias, found = _by_alias(norms, QTY_ALIASES, taken)
        if not found:
            raise FileRefused(
                f"No quantity column found. Headers found: {show_headers(headers)}. "
                "Name the quantity column in the import options "
                f"(recognised names: {', '.join(QTY_ALIASES)}).",
                headers,
            )
        if len(found) > 1:
            raise FileRefused(
                "Two columns could be the quantity column: "
                + " and ".join(f"{_quote(headers[i])} (column {i + 1})" for i in found)
                + ". Name the one to use in the import options.",
                headers,
            )
        qty.append(found[0])
        taken.add(found[0])

    location: int | None = None
    if options.location_column is not None:
        location = _named(norms, headers, options.location_column, "location", row, taken)
    else:
        alias, found = _by_alias(norms, LOCATION_ALIASES, taken)
        if len(found) > 1:
            raise FileRefused(
                "Two columns could be the location column: "
                + " and ".join(f"{_quote(headers[i])} (column {i + 1})" for i in found)
                + ". Name the one to use in the import options.",
                headers,
            )
        if found:
            location = found[0]
    if location is not None:
        taken.add(location)

    details: dict[str, int] = {}
    for name, aliases in DETAIL_ALIASES.items():
        alias, found = _by_alias(norms, aliases, taken)
        if len(found) > 1:
            warnings.append(
                Issue(
                    None,
                    headers[found[0]],
                    None,
                    f"Several columns could hold the item {name} ("
                    + ", ".join(_quote(headers[i]) for i in found)
                    + f"); the {name} was not imported. Rename all but one of them.",
                    code="ambiguous_column",
                )
            )
        elif found:
            details[name] = found[0]
            taken.add(found[0])
    return Columns(sku, qty, location, details, metadata, warnings)


_NUMERIC_CELL = re.compile(r"[\s+\-]*[\d.,]+\s*")


def find_header(rows: Sequence[tuple[int, list[str]]], options: ReadOptions) -> int | None:
    """Index in ``rows`` (non-blank rows as (row number, cell texts)) of the header row, or None.

    With ``options.header_row`` that row; otherwise the first of the first 20 rows that has
    a SKU column (the named one when ``options.sku_column`` is set).
    """
    if options.header_row is not None:
        for i, (number, _cells) in enumerate(rows):
            if number == options.header_row:
                return i
        return None
    for i, (_number, cells) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if has_sku_column(trim_header(cells), options):
            return i
    return None


def candidate_header(rows: Sequence[tuple[int, list[str]]]) -> int | None:
    """The row most likely meant as the header when none has a SKU column.

    The first of the first 20 rows with the most non-empty, non-numeric cells: a title row
    above the headers (one cell) loses to the header row under it.
    """
    best, best_score = None, 0
    for i, (_number, cells) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        score = sum(1 for c in cells if c.strip() and not _NUMERIC_CELL.fullmatch(c))
        if score > best_score:
            best, best_score = i, score
    return best
