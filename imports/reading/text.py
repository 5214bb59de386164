"""Delimited text files: encoding and delimiter detection, header location."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import BinaryIO, NamedTuple

from .columns import candidate_header, find_header
from .results import FileRefused, ReadOptions

DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
_DELIMITER_NAMES = {
    ",": ",",
    "comma": ",",
    ";": ";",
    "semicolon": ";",
    "\t": "\t",
    "\\t": "\t",
    "tab": "\t",
    "|": "|",
    "pipe": "|",
}
_SAMPLE_LINES = 200
_SAMPLE_CHARS = 1 << 20
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ERROR_HANDLER = "imports.reading.c1"


def _c1_controls(error: UnicodeError) -> tuple[str, int]:
    """Bytes cp1252 leaves undefined (0x81 0x8D 0x8F 0x90 0x9D) become the same code points."""
    if isinstance(error, UnicodeDecodeError):
        return "".join(chr(b) for b in error.object[error.start : error.end]), error.end
    raise error


codecs.register_error(_ERROR_HANDLER, _c1_controls)


def delimiter_option(value: str | None) -> str | None:
    if value is None:
        return None
    found = _DELIMITER_NAMES.get(value if value in ("\t", " ") else value.strip().lower())
    if found is None:
        raise FileRefused(
            f"The delimiter option {value!r} is not one of: comma (,), semicolon (;), tab, pipe (|)."
        )
    return found


def _utf16_without_bom(data: bytes) -> str | None:
    sample = data[:512]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even_zero = sample[0 : pairs * 2 : 2].count(0)
    odd_zero = sample[1 : pairs * 2 : 2].count(0)
    if odd_zero >= 0.9 * pairs and even_zero <= 0.1 * pairs:
        return "utf-16-le"
    if even_zero >= 0.9 * pairs and odd_zero <= 0.1 * pairs:
        return "utf-16-be"
    return None


def looks_like_utf16(data: bytes) -> bool:
    """A UTF-16 byte-order mark, or the NUL pattern of BOM-less UTF-16 text."""
    return data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _utf16_without_bom(data) is not None


def _refuse_decode(error: UnicodeDecodeError, data: bytes, encoding: str) -> FileRefused:
    line = data[: error.start].count(b"\n") + 1
    return FileRefused(
        f"The file is not valid {encoding} text: byte 0x{data[error.start]:02X} on line {line} "
        "can't be decoded. Choose another encoding in the import options (e.g. cp1252 or utf-8)."
    )


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """The text of ``data`` and the encoding used (a BOM never stays in the text).

    Detection: UTF-32/UTF-16/UTF-8 byte-order mark, BOM-less UTF-16, valid UTF-8, else cp1252.
    """
    if encoding:
        try:
            name = codecs.lookup(encoding).name
        except LookupError:
            raise FileRefused(f"Unknown encoding {encoding!r} in the import options.") from None
        if name == "utf-8" and data.startswith(codecs.BOM_UTF8):
            name = "utf-8-sig"
        try:
            text = data.decode(name)
        except UnicodeDecodeError as error:
            raise _refuse_decode(error, data, name) from None
        return text.removeprefix("\ufeff"), name
    for bom, name in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            body = data if name == "utf-32" else data[len(bom) :]
            try:
                return body.decode(name).removeprefix("\ufeff"), name
            except UnicodeDecodeError as error:
                raise _refuse_decode(error, body, name) from None
    utf16 = _utf16_without_bom(data)
    if utf16:
        try:
            return data.decode(utf16), utf16
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors=_ERROR_HANDLER), "cp1252"


def _sample(text: str, lines: int, needed: int) -> tuple[str, bool]:
    """The first ``lines`` lines of ``text`` and whether it was cut short.

    Past about a megabyte the sample stops early, but never before line ``needed``.
    """
    end = len(text)
    for count, match in enumerate(_LINE_BREAK.finditer(text), start=1):
        if count >= lines or (count >= needed and match.end() > _SAMPLE_CHARS):
            end = match.end()
            break
    return text[:end], end < len(text)


def _records(sample: str, delimiter: str, cut: bool) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    line = 0
    try:
        for cells in reader:
            start = line + 1
            line = reader.line_num
            if cells and any(c.strip() for c in cells):
                rows.append((start, cells))
    except csv.Error:
        return rows
    if cut and rows:
        rows.pop()
    return rows


def _fits(cells: list[str], width: int, header_open_end: bool) -> bool:
    size = len(cells)
    if size == width:
        return True
    if size == width - 1 and header_open_end:
        return True
    return size == width + 1 and not cells[-1].strip()


class Layout:
    """Where the header is in a text file and how to split it."""

    __slots__ = ("delimiter", "header_line", "header_cells", "candidate_cells")

    def __init__(self, delimiter, header_line, header_cells, candidate_cells):
        self.delimiter: str = delimiter
        self.header_line: int | None = header_line
        self.header_cells: list[str] | None = header_cells
        self.candidate_cells: list[str] | None = candidate_cells


def detect_layout(text: str, options: ReadOptions, delimiter: str | None) -> Layout:
    """Choose the delimiter and find the header record (its starting line).

    Of , ; tab |, the delimiter for which the header record and most records after it split
    into the same number (more than one) of fields, quotes respected.
    """
    needed = sample_needed(options)
    sample, cut = _sample(text, _SAMPLE_LINES + needed, needed)
    return layout_of_sample(sample, cut, options, delimiter)


def sample_needed(options: ReadOptions) -> int:
    """Lines the header search must see (the sample never stops before them)."""
    return (options.header_row or 0) + 20


def sample_size(options: ReadOptions) -> int:
    """Lines the delimiter choice looks at."""
    return _SAMPLE_LINES + sample_needed(options)


def layout_of_sample(sample: str, cut: bool, options: ReadOptions, delimiter: str | None) -> Layout:
    """:func:`detect_layout` on the file's first lines (``cut``: more lines follow)."""
    best = None
    for candidate in (delimiter,) if delimiter else DELIMITERS:
        rows = _records(sample, candidate, cut)
        index = find_header(rows, options)
        found = index is not None
        fallback = candidate_header(rows)
        if not found:
            index = fallback if options.header_row is None else None
        if index is None:
            score = (False, False, False, 0, 0)
        else:
            header = rows[index][1]
            width = len(header)
            open_end = not header[-1].strip()
            after = rows[index + 1 :]
            consistent = sum(1 for _n, cells in after if _fits(cells, width, open_end))
            majority = not after or consistent * 2 > len(after)
            score = (found, width - open_end > 1, majority, consistent, width)
        if best is None or score > best[0]:
            best = (score, candidate, rows, index if found else None, fallback)
    assert best is not None
    _score, chosen, rows, index, fallback = best
    if index is None:
        return Layout(chosen, None, None, rows[fallback][1] if fallback is not None else None)
    line, cells = rows[index]
    return Layout(chosen, line, cells, cells)


# --- streaming: a file read in passes, never held whole ----------------------------------

_READ_BYTES = 1 << 20


class ByteSource:
    """A file's bytes, opened afresh for each pass (encoding check, header sample, rows).

    ``open_binary`` returns a new binary file object positioned at the start; a large
    upload is then read a megabyte at a time instead of being held (and decoded) whole.
    """

    def __init__(self, open_binary: Callable[[], BinaryIO]):
        self.open_binary = open_binary

    @classmethod
    def from_bytes(cls, data: bytes) -> ByteSource:
        return cls(lambda: io.BytesIO(data))

    def head(self, size: int) -> bytes:
        with self.open_binary() as handle:
            return handle.read(size)

    def chunks(self, skip: int = 0) -> Iterator[bytes]:
        with self.open_binary() as handle:
            if skip:
                handle.read(skip)
            while chunk := handle.read(_READ_BYTES):
                yield chunk

    def read_all(self) -> bytes:
        with self.open_binary() as handle:
            return handle.read()

    @contextmanager
    def lines(self, encoding: str, skip: int = 0, errors: str = "strict") -> Iterator[Iterator[str]]:
        """The decoded lines, line ends kept as in the file (what ``csv`` needs)."""
        handle = self.open_binary()
        if skip:
            handle.read(skip)
        with io.TextIOWrapper(handle, encoding=encoding, errors=errors, newline="") as text:
            yield _without_bom(text)


def _without_bom(lines: Iterable[str]) -> Iterator[str]:
    """A byte-order mark never stays in the text, whatever codec was named.

    Only the first line is looked at; the rest pass through ``chain`` untouched
    (no Python step per line of a 100,000-line file)."""
    lines = iter(lines)
    first = next(lines, None)
    if first is None:
        return iter(())
    return itertools.chain((first.removeprefix("\ufeff"),), lines)


class Decoding(NamedTuple):
    """How to decode a file: codec, bytes to skip first (a BOM the codec keeps), error handler."""

    encoding: str
    skip: int = 0
    errors: str = "strict"


def _first_error(source: ByteSource, encoding: str, skip: int) -> UnicodeDecodeError | None:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for chunk in source.chunks(skip):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        return error
    return None


def _refuse_whole(source: ByteSource, encoding: str, skip: int) -> FileRefused:
    """The refusal ``decode`` gives, worked out on the whole file (only when it is refused)."""
    body = source.read_all()[skip:]
    try:
        body.decode(encoding)
    except UnicodeDecodeError as error:
        return _refuse_decode(error, body, encoding)
    raise AssertionError("a streamed decode failed but the whole file decodes")


def stream_decoding(source: ByteSource, encoding: str | None = None) -> Decoding:
    """The same choice as :func:`decode`, made by decoding the file in chunks, not whole."""
    head = source.head(512)
    if encoding:
        try:
            name = codecs.lookup(encoding).name
        except LookupError:
            raise FileRefused(f"Unknown encoding {encoding!r} in the import options.") from None
        if name == "utf-8" and head.startswith(codecs.BOM_UTF8):
            name = "utf-8-sig"
        if _first_error(source, name, 0) is not None:
            raise _refuse_whole(source, name, 0)
        return Decoding(name)
    for bom, name in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if head.startswith(bom):
            skip = 0 if name == "utf-32" else len(bom)
            if name == "utf-8-sig":
                skip = 0  # the codec drops the BOM itself
            if _first_error(source, name, skip) is not None:
                raise _refuse_whole(source, name, skip)
            return Decoding(name, skip)
    utf16 = _utf16_without_bom(head)
    if utf16 and _first_error(source, utf16, 0) is None:
        return Decoding(utf16)
    if _first_error(source, "utf-8", 0) is None:
        return Decoding("utf-8")
    return Decoding("cp1252", 0, _ERROR_HANDLER)


def sample_lines(lines: Iterable[str], wanted: int, needed: int) -> tuple[str, bool]:
    """What :func:`_sample` cuts from a whole text, taken from a stream of lines."""
    taken: list[str] = []
    size = 0
    lines = iter(lines)
    for count, line in enumerate(lines, start=1):
        taken.append(line)
        size += len(line)
        ended = line.endswith(("\n", "\r"))
        if ended and (count >= wanted or (count >= needed and size > _SAMPLE_CHARS)):
            return "".join(taken), next(lines, None) is not None
    return "".join(taken), False
