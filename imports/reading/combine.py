"""Adding up a file's records per SKU (design §6, "Duplicates and locations")."""

from __future__ import annotations

from .results import EMPTY, Count, Issue, ReadResult, Record


def _rows_text(rows: list[int]) -> str:
    if len(rows) == 1:
        return f"row {rows[0]}"
    return "rows " + ", ".join(str(r) for r in rows[:-1]) + f" and {rows[-1]}"


def _merge(records: list[Record], attribute: str):
    merged: dict[str, str] = {}
    for record in records:
        for key, value in getattr(record, attribute).items():
            merged.setdefault(key, value)
    return merged or EMPTY


def rejected_skus(errors: list[Issue]) -> dict[str, set[int]]:
    """The rows of each SKU that have an error (a SKU's other rows depend on them)."""
    rejected: dict[str, set[int]] = {}
    for issue in errors:
        if issue.sku is not None and issue.row is not None:
            rejected.setdefault(issue.sku, set()).add(issue.row)
    return rejected


def combine_records(result: ReadResult) -> tuple[dict[str, Count], list[Issue]]:
    """Counts per SKU for the whole file, and the SKUs that must stay unchanged.

    With a location column, a SKU's counts in different locations are summed (no count adds
    nothing; no count anywhere is None). The same SKU twice in one location, or twice in a
    file without a location column, is one error naming all its rows, and the SKU is left
    out. With a location column, a SKU that has a rejected row (e.g. a fractional count in
    one location) is left out too: its total would be wrong.
    """
    first: dict[str, Record] = {}
    more: dict[str, list[Record]] = {}
    for record in result.records:
        kept = first.setdefault(record.sku, record)
        if kept is not record:
            group = more.get(record.sku)
            if group is None:
                more[record.sku] = [kept, record]
            else:
                group.append(record)
    rejected = rejected_skus(result.errors)
    with_location = result.location_column is not None
    column = result.sku_column
    counts: dict[str, Count] = {}
    problems: list[Issue] = []
    for sku, record in first.items():
        records = more.get(sku)
        bad_rows = rejected.pop(sku, None) if rejected else None
        if records is None and not bad_rows:
            counts[sku] = Count(sku, record.quantity, (record.row,), record.details, record.metadata)
            continue
        combined = combine_group(sku, records or [record], bad_rows, with_location, column)
        if type(combined) is Issue:
            problems.append(combined)
        else:
            counts[sku] = combined
    if not with_location:
        problems.extend(rejected_duplicates(rejected, column))
    problems.sort(key=lambda issue: issue.row or 0)
    return counts, problems


def combine_group(
    sku: str, records: list[Record], bad_rows: set[int] | None, with_location: bool, column: str
) -> Count | Issue:
    """One SKU's records (in row order) and rejected rows: its count, or why it is left out."""
    rows = sorted({r.row for r in records} | (bad_rows or set()))
    if not with_location:
        if len(rows) == 1:
            record = records[0]
            return Count(sku, record.quantity, (record.row,), record.details, record.metadata)
        return Issue(
            rows[0],
            column,
            sku,
            f"SKU '{sku}' appears {len(rows)} times ({_rows_text(rows)}). It was left unchanged; "
            "keep one row per SKU.",
            sku,
            "duplicate_sku",
        )
    seen: dict[str | None, int] = {}
    repeated: list[str | None] = []
    for record in records:
        seen[record.location] = seen.get(record.location, 0) + 1
        if seen[record.location] == 2:
            repeated.append(record.location)
    if repeated:
        places = ", ".join(f"'{p}'" if p is not None else "(no location)" for p in repeated)
        return Issue(
            rows[0],
            column,
            sku,
            f"SKU '{sku}' appears more than once in the same location ({places}): "
            f"{_rows_text(rows)}. It was left unchanged; keep one row per SKU and location.",
            sku,
            "duplicate_sku",
        )
    if bad_rows:
        return Issue(
            rows[0],
            column,
            sku,
            f"SKU '{sku}' was left unchanged: its locations can't be added up because "
            f"{_rows_text(sorted(bad_rows))} {'has' if len(bad_rows) == 1 else 'have'} an error "
            f"({_rows_text(rows)} in all).",
            sku,
            "sku_incomplete",
        )
    quantities = [r.quantity for r in records if r.quantity is not None]
    return Count(
        sku,
        sum(quantities) if quantities else None,
        tuple(r.row for r in records),
        _merge(records, "details"),
        _merge(records, "metadata"),
    )


def rejected_duplicates(rejected: dict[str, set[int]], column: str) -> list[Issue]:
    """Without a location column: SKUs whose only rows, two or more, all have errors."""
    problems = []
    for sku, bad_rows in rejected.items():
        if len(bad_rows) > 1:
            rows = sorted(bad_rows)
            problems.append(
                Issue(
                    rows[0],
                    column,
                    sku,
                    f"SKU '{sku}' appears {len(rows)} times ({_rows_text(rows)}). Keep one row per SKU.",
                    sku,
                    "duplicate_sku",
                )
            )
    return problems
