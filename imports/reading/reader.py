"""read_stock_file: one spreadsheet in, records and issues out (no database)."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import os
import re
from collections.abc import Callable
from pathlib import Path

from .cells import Bad, cell_count, cell_sku, cell_text, clean_sku, is_total_label, parse_count
from .columns import (
    SKU_ALIASES,
    candidate_header,
    find_header,
    map_columns,
    normalise_header,
    show_headers,
    trim_header,
)
from .results import EMPTY, FileRefused, Issue, ReadOptions, ReadResult, Record
from .text import (
    ByteSource,
    Decoding,
    Layout,
    delimiter_option,
    layout_of_sample,
    looks_like_utf16,
    sample_lines,
    sample_needed,
    sample_size,
    stream_decoding,
)
from .workbook import NO_VALUE, looks_like_workbook, open_sheet, xlsx_problem_cells

TEXT_EXTENSIONS = frozenset({".csv", ".tsv", ".txt", ".tab"})
WORKBOOK_EXTENSIONS = frozenset({".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"})
PROGRESS_EVERY = 5000
# Records handed to the sink at a time: memory holds one chunk, not the file.
CHUNK_ROWS = 5000

_PLAIN_START = frozenset("0123456789abcdefhijklmnopqruvwxyzABCDEFHIJKLMNOPQRUVWXYZ")
_FAST_START = frozenset("abcdefhijklmnopqruvwxyzABCDFHIJKLMNOPQRUVWXYZ")


def _plain_sku(sku: str) -> bool:
    """True when ``clean_sku`` would return ``sku`` unchanged and it is no totals label."""
    first = sku[0]
    if first in _FAST_START:
        return True
    if first.isdigit():
        return "e" not in sku and "E" not in sku
    if first in "TtGgSs":
        return not is_total_label(sku)
    return first == "E" and not sku.startswith("Err:")


_DECIMALS = {"comma": "comma", ",": "comma", "dot": "dot", ".": "dot", "point": "dot"}


def _collect_into(result: ReadResult) -> Callable[[list[tuple]], None]:
    """The default sink: every record kept in ``result.records`` (small files, tests)."""
    records = result.records

    def collect(chunk: list[tuple]) -> None:
        records.extend(Record(*values) for values in chunk)

    return collect


def _source(data: ByteSource | bytes | bytearray | memoryview | str | os.PathLike) -> ByteSource:
    if isinstance(data, ByteSource):
        return data
    if isinstance(data, bytes | bytearray | memoryview):
        return ByteSource.from_bytes(bytes(data))
    path = Path(data)
    try:
        path.open("rb").close()
    except OSError as error:
        raise FileRefused(f"The file could not be opened: {error.strerror or error}.") from None
    return ByteSource(lambda: path.open("rb"))


_BLANK_BYTES = b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n"


def _is_blank(source: ByteSource) -> bool:
    return not any(chunk.strip(_BLANK_BYTES) for chunk in source.chunks())


def _checked_options(options: ReadOptions) -> ReadOptions:
    header_row = options.header_row
    if header_row is not None and (type(header_row) is not int or header_row < 1):
        raise FileRefused(f"The header row option must be a row number (1 or more), not {header_row!r}.")
    qty = options.qty_columns
    if isinstance(qty, str):
        qty = (qty,)
    qty = tuple(qty)
    seen: set[str] = set()
    for name in qty:
        norm = normalise_header(name)
        if not norm:
            raise FileRefused("A quantity column option is blank.")
        if norm in seen:
            raise FileRefused(f"The quantity column '{name}' is named twice in the import options.")
        seen.add(norm)
    for label, name in (("SKU", options.sku_column), ("location", options.location_column)):
        if name is not None and not normalise_header(name):
            raise FileRefused(f"The {label} column option is blank.")
    decimal = options.decimal
    if decimal is not None:
        decimal = _DECIMALS.get(str(decimal).strip().lower())
        if decimal is None:
            raise FileRefused(f"The decimal mark option {options.decimal!r} must be 'comma' or 'dot'.")
    return dataclasses.replace(options, qty_columns=qty, decimal=decimal)


def _kind(source: ByteSource, filename: str) -> str:
    """The file kind, "workbook" or "text".

    The content decides where it is clear (a workbook saved under a text name, and
    tab-separated text saved as .xls, both happen in the wild); otherwise the extension.
    """
    extension = os.path.splitext(filename or "")[1].lower()
    head = source.head(4096)
    if looks_like_workbook(head):
        return "workbook"
    if extension in WORKBOOK_EXTENSIONS:
        start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        if start.startswith(b"<"):
            what = "an Excel 2003 XML file" if b"urn:schemas-microsoft-com" in head else "a web page"
            raise FileRefused(
                f"'{filename}' is {what}, not a workbook. Open it in a spreadsheet app and save it "
                "as XLSX or CSV."
            )
    if b"\x00" in head and not looks_like_utf16(head):
        raise FileRefused(
            f"'{filename}' is neither a readable workbook nor a text file (it may be damaged). "
            "Save it again as XLSX or CSV and upload that."
        )
    return "text"


def read_stock_file(
    data: ByteSource | bytes | str | os.PathLike,
    filename: str,
    options: ReadOptions = ReadOptions(),  # noqa: B008 - frozen, so a shared default is safe
    progress: Callable[[int], None] | None = None,
    sink: Callable[[list[tuple]], None] | None = None,
    chunk_size: int = CHUNK_ROWS,
) -> ReadResult:
    """Read a stock file into records, row errors and warnings.

    ``data`` is the raw bytes, a path or a :class:`ByteSource`; ``filename`` decides text
    or workbook by its extension (content is sniffed too: a workbook saved under a text
    name is still read as one). Raises FileRefused for whole-file problems.

    Without ``sink`` the records end up in ``result.records``; with one, they are handed
    to it as lists of ``(row, sku, quantity, location, details, metadata)`` tuples, at
    most ``chunk_size`` at a time, and a text file is never held whole in memory.
    """
    source = _source(data)
    options = _checked_options(options)
    if file_kind(source, filename) == "workbook":
        return _read_workbook(source.read_all(), options, progress, sink, chunk_size)
    return _read_text(source, options, progress, sink, chunk_size)


def file_kind(data: ByteSource | bytes | str | os.PathLike, filename: str) -> str:
    """How ``read_stock_file`` reads the file: "workbook" or "text" (FileRefused as it would
    refuse it: empty, a web page saved as .xls, damaged).

    For callers with an option that applies to one kind only (``import_stock --sheet``):
    the content decides, as in the reader, so a workbook saved as .csv still is one.
    """
    source = _source(data)
    if _is_blank(source):
        raise FileRefused("The file is empty.")
    return _kind(source, filename)


class _Rows:
    """Turns data rows into records and issues under one column mapping."""

    def __init__(
        self,
        result: ReadResult,
        columns,
        headers: list[str],
        comma_decimal: bool,
        problems: dict[tuple[int, int], str] | None = None,
        sink: Callable[[list[tuple]], None] | None = None,
        chunk_size: int = CHUNK_ROWS,
    ):
        self.result = result
        self.sink = sink if sink is not None else _collect_into(result)
        self.chunk_size = chunk_size
        self.buffer: list[tuple] = []
        self.recorded = 0
        self.errors = result.errors
        self.warnings = result.warnings
        self.headers = headers
        self.width = len(headers)
        self.sku_index = columns.sku
        self.sku_header = headers[columns.sku]
        self.qty = [(i, headers[i]) for i in columns.qty]
        self.single_qty = columns.qty[0] if len(columns.qty) == 1 else None
        self.location = columns.location
        self.location_header = headers[columns.location] if columns.location is not None else None
        self.details = [(name, i, headers[i]) for name, i in columns.details.items()]
        self.metadata = [(key, i, headers[i]) for key, i in columns.metadata.items()]
        self.comma_decimal = comma_decimal
        self.problems = problems or {}
        self.problem_rows = {row for row, _column in self.problems}
        self.rows = 0
        self.skipped = 0
        self.blank_skus = 0
        self.qty_errors = 0

    # -- helpers -----------------------------------------------------------------------
    def _error(self, row, column, value, bad: Bad, sku=None):
        self.errors.append(Issue(row, column, value, bad.message, sku, bad.code))

    def _totals(self, row: int, label: str, note: str = "", column: int | None = None) -> None:
        if column is None:
            header = self.sku_header
        else:
            header = self.headers[column] if column < self.width else None
        self.errors.append(
            Issue(
                row,
                header,
                label,
                f"This looks like a totals row ('{label}'), not an item; it was not imported.{note}",
                code="totals_row",
            )
        )

    def _problem_note(self, row: int) -> str:
        """For a row rejected anyway: the error cells it holds in the quantity columns."""
        found = [
            f"{self.problems[(row, i)]} in '{header}'" for i, header in self.qty if (row, i) in self.problems
        ]
        return f" It also holds {', '.join(found)}." if found else ""

    def _blank_sku(self, row: int, label: tuple[int, str] | None, numbers: bool, note: str = "") -> None:
        self.blank_skus += 1
        if label is not None:
            self._totals(row, label[1], note, label[0])
        elif numbers:
            self.errors.append(
                Issue(
                    row,
                    self.sku_header,
                    "",
                    "This row has no SKU but has numbers: a totals or subtotal row? It was not imported. "
                    f"If it is an item, fill in its SKU.{note}",
                    code="totals_row",
                )
            )
        else:
            self.errors.append(
                Issue(
                    row,
                    self.sku_header,
                    "",
                    "The SKU cell is blank, so this row can't be matched to an item; it was not imported. "
                    "Fill in the SKU or delete the row.",
                    code="blank_sku",
                )
            )

    # -- text rows ---------------------------------------------------------------------
    def text_row(self, row: int, cells: list[str]) -> None:
        n = len(cells)
        width = self.width
        if n > width and any(c.strip() for c in cells[width:]):
            self._too_long(row, cells)
            return
        sku_index = self.sku_index
        raw = cells[sku_index] if sku_index < n else ""
        sku = clean_sku(raw)
        if sku is None:
            if not any(c.strip() for c in cells):
                return
            self.rows += 1
            first = next(i for i, c in enumerate(cells) if c.strip())
            label = cells[first].strip()
            self._blank_sku(row, (first, label) if is_total_label(label) else None, False)
            return
        self.rows += 1
        if type(sku) is Bad:
            self._error(row, self.sku_header, raw.strip(), sku)
            return
        if sku[0] not in _PLAIN_START and is_total_label(sku):
            self._totals(row, sku)
            return
        comma = self.comma_decimal
        single = self.single_qty
        if single is not None:
            cell = cells[single] if single < n else ""
            if cell.isdigit() and cell.isascii() and len(cell) < 10:
                quantity = int(cell)
            else:
                quantity = parse_count(cell, comma)
                if type(quantity) is Bad:
                    self.qty_errors += 1
                    self._error(row, self.qty[0][1], cell.strip(), quantity, sku)
                    return
        else:
            quantity = None
            failed = False
            for index, header in self.qty:
                cell = cells[index] if index < n else ""
                value = parse_count(cell, comma)
                if value is None:
                    continue
                if type(value) is Bad:
                    failed = True
                    self._error(row, header, cell.strip(), value, sku)
                    continue
                quantity = value if quantity is None else quantity + value
            if failed:
                self.qty_errors += 1
                return
        location = self.location
        if location is not None:
            location = (cells[location].strip() or None) if location < n else None
        details = metadata = EMPTY
        if self.details:
            found = {name: cells[i].strip() for name, i, _h in self.details if i < n and cells[i].strip()}
            if found:
                details = found
        if self.metadata:
            found = {key: cells[i].strip() for key, i, _h in self.metadata if i < n and cells[i].strip()}
            if found:
                metadata = found
        self._record(row, sku, quantity, location, details, metadata)

    def text_rows(self, records, progress) -> None:
        """All records of a text file. The common row (a plain SKU, a whole-number count in a
        single quantity column) takes a fast path; everything else goes through ``text_row``."""
        slow = self.text_row
        width = self.width
        sku_index = self.sku_index
        single = self.single_qty
        location = self.location
        details = [(name, i) for name, i, _h in self.details]
        metadata = [(key, i) for key, i, _h in self.metadata]
        buffer = self.buffer
        append = buffer.append
        chunk_size = self.chunk_size
        fast = 0
        count = 0
        for row, cells in records:
            if count and progress is not None and count % PROGRESS_EVERY == 0:
                progress(self.rows + fast)
            count += 1
            if len(buffer) >= chunk_size:
                self._flush()
            if single is not None and (len(cells) == width or (len(cells) == width + 1 and not cells[-1])):
                sku = cells[sku_index].strip()
                cell = cells[single]
                if sku and cell.isdigit() and cell.isascii() and len(cell) < 10 and _plain_sku(sku):
                    found_details = found_metadata = EMPTY
                    if details:
                        found_details = {n: v for n, i in details if (v := cells[i].strip())} or EMPTY
                    if metadata:
                        found_metadata = {k: v for k, i in metadata if (v := cells[i].strip())} or EMPTY
                    append(
                        (
                            row,
                            sku,
                            int(cell),
                            (cells[location].strip() or None) if location is not None else None,
                            found_details,
                            found_metadata,
                        )
                    )
                    fast += 1
                    continue
            slow(row, cells)
        self.rows += fast

    def _too_long(self, row: int, cells: list[str]) -> None:
        self.rows += 1
        width = self.width
        extra = [c for c in cells[width:] if c.strip()]
        self.errors.append(
            Issue(
                row,
                None,
                " | ".join(extra),
                f"This row has {len(cells)} fields but the header has {width}: a value probably contains "
                "an unquoted delimiter, so its columns can't be trusted. The row was not imported; "
                "quote that value or remove the extra fields.",
                code="row_too_long",
            )
        )

    def _negative(self, row: int, sku: str, quantity: int) -> None:
        self.warnings.append(
            Issue(
                row,
                self.qty[0][1] if len(self.qty) == 1 else ", ".join(h for _i, h in self.qty),
                str(quantity),
                f"Negative count {quantity}: it is applied, and the item shows as oversold.",
                sku,
                "negative",
            )
        )

    def _record(self, row, sku, quantity, location, details, metadata) -> None:
        if quantity is None:
            self.skipped += 1
        elif quantity < 0:
            self._negative(row, sku, quantity)
        self.buffer.append((row, sku, quantity, location, details, metadata))
        if len(self.buffer) >= self.chunk_size:
            self._flush()

    def _flush(self) -> None:
        """Hand the buffered records to the sink: a file's records are never all held at once."""
        buffer = self.buffer
        if buffer:
            self.recorded += len(buffer)
            self.sink(buffer[:])
            buffer.clear()

    # -- workbook rows -----------------------------------------------------------------
    def _problem(self, row: int, index: int) -> str | None:
        return self.problems.get((row, index)) if row in self.problem_rows else None

    def _problem_bad(self, text: str) -> Bad:
        if text == NO_VALUE:
            return Bad(
                "formula_no_value",
                "The cell has a formula but no saved result (the file was written by a program that "
                "does not calculate formulas). Open and save it in a spreadsheet app, or paste values.",
            )
        return Bad(
            "cell_error",
            f"The cell holds the spreadsheet error {text}, not a value. Fix the formula and export again.",
        )

    def cell_row(self, row: int, cells: list[object]) -> None:
        n = len(cells)
        has_problem = row in self.problem_rows
        raw = cells[self.sku_index] if self.sku_index < n else ""
        if (
            not has_problem
            and (raw == "" or (type(raw) is str and not raw.strip()))
            and not any((c.strip() if type(c) is str else c is not None) for c in cells)
        ):
            return
        self.rows += 1
        problem = self._problem(row, self.sku_index) if has_problem else None
        if problem is not None:
            self._error(row, self.sku_header, problem, self._problem_bad(problem))
            return
        sku = cell_sku(raw)
        if sku is None:
            label = next(
                ((i, c.strip()) for i, c in enumerate(cells) if type(c) is str and is_total_label(c)), None
            )
            numbers = has_problem or any(type(c) in (int, float) for c in cells)
            self._blank_sku(row, label, numbers, self._problem_note(row) if has_problem else "")
            return
        if type(sku) is Bad:
            self._error(row, self.sku_header, cell_text(raw), sku)
            return
        if is_total_label(sku):
            self._totals(row, sku, self._problem_note(row) if has_problem else "")
            return
        quantity = None
        failed = False
        for index, header in self.qty:
            cell = cells[index] if index < n else ""
            problem = self._problem(row, index) if has_problem else None
            if problem is not None:
                value = self._problem_bad(problem)
            else:
                value = cell_count(cell, self.comma_decimal)
            if value is None:
                continue
            if type(value) is Bad:
                failed = True
                self._error(row, header, problem or cell_text(cell), value, sku)
                continue
            quantity = value if quantity is None else quantity + value
        if failed:
            self.qty_errors += 1
            return
        location = None
        if self.location is not None:
            problem = self._problem(row, self.location) if has_problem else None
            if problem is not None:
                self._error(row, self.location_header, problem, self._problem_bad(problem), sku)
                self.qty_errors += 1
                return
            if self.location < n:
                location = cell_text(cells[self.location]) or None
        details = self._optional(row, cells, self.details, sku, has_problem)
        metadata = self._optional(row, cells, self.metadata, sku, has_problem)
        self._record(row, sku, quantity, location, details, metadata)

    def _optional(self, row, cells, wanted, sku, has_problem):
        if not wanted:
            return EMPTY
        found = {}
        n = len(cells)
        for name, index, header in wanted:
            problem = self._problem(row, index) if has_problem else None
            if problem is not None:
                bad = self._problem_bad(problem)
                self.warnings.append(
                    Issue(
                        row, header, problem, bad.message + " This field was left unchanged.", sku, bad.code
                    )
                )
                continue
            if index < n:
                text = cell_text(cells[index])
                if text:
                    found[name] = text
        return found or EMPTY

    # -- end ---------------------------------------------------------------------------
    def finish(self) -> None:
        self._flush()
        result = self.result
        result.rows = self.rows
        result.skipped = self.skipped
        if not self.rows:
            # Not refused like an empty file (its header was found and mapped), but never a
            # silent "0 rows, applied": nothing is silently dropped (design §6).
            where = "The file" if result.sheet is None else f"The sheet '{result.sheet}'"
            result.warnings.insert(
                0,
                Issue(
                    None,
                    None,
                    None,
                    f"{where} has a header (row {result.header_row}) but no data rows below it, "
                    "so nothing changes.",
                    code="no_data_rows",
                ),
            )
        elif self.blank_skus == self.rows:
            # One clear message for the whole file, then each row (bad-inputs: per-row detail).
            result.errors.insert(
                0,
                Issue(
                    None,
                    self.sku_header,
                    None,
                    f"The SKU column '{self.sku_header}' is empty on every row ({self.rows} rows), "
                    "so nothing can be imported. Fill in the SKUs, or name another SKU column "
                    "(--sku-column, or the SKU column of the import options).",
                    code="sku_column_empty",
                ),
            )
        elif self.recorded and self.skipped == self.recorded and not self.qty_errors:
            names = ", ".join(f"'{h}'" for _i, h in self.qty)
            result.warnings.insert(
                0,
                Issue(
                    None,
                    names,
                    None,
                    f"The quantity column {names} has no count on any row: nothing will change. "
                    "Every row is listed as 'no count'.",
                    code="no_counts",
                ),
            )


def _result_columns(result: ReadResult, columns, headers: list[str]) -> None:
    result.headers = headers
    result.sku_column = headers[columns.sku]
    result.qty_columns = [headers[i] for i in columns.qty]
    result.location_column = headers[columns.location] if columns.location is not None else None
    result.detail_columns = {name: headers[i] for name, i in columns.details.items()}
    result.metadata_columns = {key: headers[i] for key, i in columns.metadata.items()}
    result.warnings.extend(columns.warnings)


def _no_header(options: ReadOptions, candidate: list[str] | None, where: str) -> FileRefused:
    headers = trim_header(candidate) if candidate else []
    found = f" Headers found: {show_headers(headers)}" if headers else ""
    if options.header_row is not None:
        return FileRefused(
            f"Row {options.header_row} is not a row of {where} (or it is blank).{found}", headers
        )
    if options.sku_column is not None:
        return FileRefused(
            f"The SKU column '{options.sku_column}' was not found in the first 20 rows of {where}.{found}",
            headers,
        )
    return FileRefused(
        f"No SKU column found in the first 20 rows of {where} (looked for: {', '.join(SKU_ALIASES)}).{found}",
        headers,
    )


def _read_text(source: ByteSource, options: ReadOptions, progress, sink, chunk_size) -> ReadResult:
    decoding = stream_decoding(source, options.encoding)
    encoding = decoding.encoding
    delimiter = delimiter_option(options.delimiter)
    with source.lines(*decoding) as lines:
        sample, cut = sample_lines(lines, sample_size(options), sample_needed(options))
    layout: Layout = layout_of_sample(sample, cut, options, delimiter)
    del sample
    if layout.header_line is None or layout.header_cells is None:
        raise _no_header(options, layout.candidate_cells, "the file")
    headers = trim_header(layout.header_cells)
    decimal = options.decimal or ("comma" if layout.delimiter == ";" else "dot")
    result = ReadResult(
        encoding=encoding,
        delimiter=layout.delimiter,
        decimal=decimal,
        header_row=layout.header_line,
        sheet=None,
        file_kind="text",
    )
    columns = map_columns(headers, options, layout.header_line)
    _result_columns(result, columns, headers)
    rows = _Rows(result, columns, headers, comma_decimal=decimal == "comma", sink=sink, chunk_size=chunk_size)
    tail = _Tail()
    try:
        with source.lines(*decoding) as lines:
            reader = csv.reader(lines, delimiter=layout.delimiter)
            rows.text_rows(_all_but_last(reader, layout.header_line, tail), progress)
    except csv.Error as error:
        if "field larger than field limit" in str(error):
            raise FileRefused(
                f"A quoted value that starts on line {tail.line + 1} runs on for more than "
                f"{csv.field_size_limit():,} characters: a closing quote is probably missing. "
                "Check the quotes on that line."
            ) from None
        raise FileRefused(
            f"Line {tail.line + 1} can't be split into fields ({error}). Check the quotes on that line."
        ) from None
    if tail.last is not None:
        start, cells = tail.last
        if tail.line > start and _unclosed_quote(source, decoding, start, layout.delimiter):
            tail.spans = [span for span in tail.spans if span[0] != start]
            rows.rows += 1
            result.errors.append(
                Issue(
                    start,
                    None,
                    None,
                    f"A quoted value that starts on line {start} is never closed, so lines "
                    f"{start}-{tail.line} were read as one row. It was not imported; close the quote.",
                    code="unclosed_quote",
                )
            )
        else:
            rows.text_row(start, cells)
    if tail.spans:
        result.warnings.extend(_swallowed_rows(tail.spans, headers, layout.delimiter))
        result.warnings.sort(key=lambda issue: issue.row or 0)
    rows.finish()
    if progress is not None:
        progress(result.rows)
    return result


class _Tail:
    __slots__ = ("last", "line", "spans")

    def __init__(self) -> None:
        self.last: tuple[int, list[str]] | None = None
        self.line = 0
        self.spans: list[tuple[int, int, list[str]]] = []


def _all_but_last(reader, header_line: int, tail: _Tail):
    """(start line, cells) of the records after the header, keeping the last one in ``tail``
    (it is checked for a quote left open at the end of the file). Records spanning several
    lines are noted in ``tail.spans``."""
    line = 0
    for _cells in reader:
        start = line + 1
        line = tail.line = reader.line_num
        if start == header_line:
            break
    else:
        return
    held = None
    spans = tail.spans
    for cells in reader:
        start = line + 1
        line = tail.line = reader.line_num
        if held is not None:
            yield held
        held = (start, cells)
        if line > start:
            spans.append((start, line, cells))
    tail.last = held


_LINE_SPLIT = re.compile(r"\r\n|\r|\n")


def _swallowed_rows(spans, headers: list[str], delimiter: str):
    """Multi-line values that hold lines looking like rows of the file (as many delimiters as
    a row has): a closing quote is probably missing and those rows were read as one value."""
    needed = len(headers) - 1
    if needed < 1:
        return
    for start, end, cells in spans:
        for index, cell in enumerate(cells):
            if ("\n" in cell or "\r" in cell) and any(
                part.count(delimiter) >= needed for part in _LINE_SPLIT.split(cell)[1:]
            ):
                column = headers[index] if index < len(headers) else None
                yield Issue(
                    start,
                    column,
                    cell[:200],
                    f"The value in this row spans lines {start}-{end} and holds lines that look like "
                    "rows of the file: a closing quote is probably missing, so those lines were not "
                    "read as rows. Check the quotes.",
                    code="suspect_quote",
                )
                break


def _unclosed_quote(source: ByteSource, decoding: Decoding, start: int, delimiter: str) -> bool:
    """Whether the file's last record (from line ``start``) ends inside a quoted value."""
    with source.lines(*decoding) as lines:
        try:
            for _cells in csv.reader(itertools.islice(lines, start - 1, None), delimiter=delimiter, strict=True):
                pass
        except csv.Error as error:
            return "unexpected end of data" in str(error)
    return False


def _with_sheets(refused: FileRefused, sheets: str | None) -> FileRefused:
    """A refusal about a sheet's header, naming the workbook's sheets when it has others.

    Whether or not a sheet was named, the stock may be on another one; as when a named
    sheet is missing, the user is told the sheets and how to pick one.
    """
    if sheets is None:
        return refused
    message = refused.message if refused.message.endswith(".") else f"{refused.message}."
    return FileRefused(
        f"{message} The workbook's sheets: {sheets}. To read another sheet, name it "
        "(--sheet, or the sheet of the import options).",
        refused.headers,
    )


def _read_workbook(raw: bytes, options: ReadOptions, progress, sink, chunk_size) -> ReadResult:
    sheet, table, sheets = open_sheet(raw, options.sheet)
    where = f"the sheet '{sheet}'"
    texts: list[tuple[int, list[str]]] = []
    for number, cells in enumerate(table, start=1):
        if any((c.strip() if type(c) is str else c is not None) for c in cells):
            texts.append((number, [cell_text(c) for c in cells]))
            if len(texts) >= 20 and (options.header_row is None or number >= options.header_row):
                break
    index = find_header(texts, options)
    if index is None:
        fallback = candidate_header(texts) if options.header_row is None else None
        raise _with_sheets(_no_header(options, texts[fallback][1] if fallback is not None else None, where), sheets)
    header_row, header_cells = texts[index]
    headers = trim_header(header_cells)
    decimal = options.decimal or "dot"
    result = ReadResult(
        encoding=None,
        delimiter=None,
        decimal=decimal,
        header_row=header_row,
        sheet=sheet,
        file_kind="workbook",
    )
    try:
        columns = map_columns(headers, options, header_row)
    except FileRefused as refused:
        raise _with_sheets(refused, sheets) from None
    _result_columns(result, columns, headers)
    used = {columns.sku, *columns.qty, *columns.details.values(), *columns.metadata.values()}
    if columns.location is not None:
        used.add(columns.location)
    problems = xlsx_problem_cells(raw, sheet, used)
    rows = _Rows(
        result,
        columns,
        headers,
        comma_decimal=decimal == "comma",
        problems=problems,
        sink=sink,
        chunk_size=chunk_size,
    )
    process = rows.cell_row
    for number in range(header_row + 1, len(table) + 1):
        process(number, table[number - 1])
        if progress is not None and (number - header_row) % PROGRESS_EVERY == 0:
            progress(rows.rows)
    rows.finish()
    if progress is not None:
        progress(result.rows)
    return result
