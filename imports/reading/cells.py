"""Turning cells into SKUs and counts: the number and SKU rules of design §6."""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal

MAX_COUNT = 2_147_483_647

_NO_COUNT = frozenset({"--", "not stocked"})
_EXCEL_ERROR = re.compile(
    r"#(?:REF!|N/A!?|VALUE!|DIV/0!|NAME\?|NUM!|NULL!|SPILL!|CALC!|GETTING_DATA|FIELD!|BLOCKED!"
    r"|CONNECT!|BUSY!|UNKNOWN!|EXTERNAL!|PYTHON!)|Err:\d{3}",
    re.IGNORECASE,
)
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]\d{1,3}")
_DOT_NUMBER = re.compile(r"(\d{1,3}(?:,\d{3})+|\d*)(?:\.(\d*))?")
_COMMA_NUMBER = re.compile(r"(\d{1,3}(?:\.\d{3})+|\d*)(?:,(\d*))?")
_NUMBER_CHARS = re.compile(r"[0-9.,]+")
_TOTAL_WORDS = frozenset({"total", "totals", "grand total", "sum", "subtotal", "sub total"})
_NOT_LETTERS = re.compile(r"[\W\d_]+")


class Bad:
    """A cell that can't be used, with a machine code and a human message."""

    __slots__ = ("code", "message")

    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"Bad({self.code!r}, {self.message!r})"


def is_excel_error(text: str) -> bool:
    return _EXCEL_ERROR.fullmatch(text.strip()) is not None


def excel_error(text: str) -> Bad:
    return Bad(
        "cell_error",
        f"The cell holds the spreadsheet error {text.strip()}, not a value. "
        "Fix the formula in the spreadsheet and export again.",
    )


def is_no_count(text: str) -> bool:
    """Blank, ``--`` or ``not stocked`` (any case, any spacing)."""
    stripped = text.strip()
    return not stripped or " ".join(stripped.lower().split()) in _NO_COUNT


def is_total_label(text: str) -> bool:
    """Text like ``Total``, ``TOTAL=``, ``Grand total:``, ``Sum`` (never with digits, so
    SKUs such as ``SUM-01`` or ``TOTAL2`` are not taken for labels)."""
    if not text or len(text) > 30:
        return False
    lowered = text.lower()
    if "tot" not in lowered and "sum" not in lowered:
        return False
    if any(c.isdigit() for c in lowered):
        return False
    return _NOT_LETTERS.sub(" ", lowered).strip() in _TOTAL_WORDS


def _checked(value: int, text: str) -> int | Bad:
    if -MAX_COUNT <= value <= MAX_COUNT:
        return value
    return Bad("qty_too_large", f"'{text.strip()}' is too large to be a stock count.")


def parse_count(text: str, comma_decimal: bool) -> int | None | Bad:
    """A count from text: an int, None for "no count", or Bad.

    ``comma_decimal``: the file's decimal mark is ``,`` and ``.`` groups thousands
    (semicolon files); otherwise ``.`` is the decimal mark and ``,`` groups thousands.
    """
    if text.isdigit() and text.isascii() and len(text) < 10:
        return int(text)
    body = text.strip()
    if not body:
        return None
    sign = ""
    if body[0] in "+-\u2212":
        sign = "-" if body[0] != "+" else ""
        body = body[1:].lstrip()
    if body.isdigit() and body.isascii():
        return _checked(int(sign + body), text)
    if is_no_count(text):
        return None
    if is_excel_error(text):
        return excel_error(text)
    pattern = _COMMA_NUMBER if comma_decimal else _DOT_NUMBER
    match = pattern.fullmatch(body) if body.isascii() else None
    if match and (match[1] or match[2]):
        whole = match[1].replace("." if comma_decimal else ",", "") or "0"
        fraction = match[2] or ""
        if fraction.strip("0"):
            value = Decimal(f"{sign}{whole}.{fraction}").normalize()
            return Bad(
                "qty_fractional",
                f"'{text.strip()}' is not a whole number ({value:f}). Counts must be whole units.",
            )
        return _checked(int(sign + whole), text)
    if _NUMBER_CHARS.fullmatch(body):
        if comma_decimal:
            rule = "this file uses ',' for decimals and '.' only between groups of three digits (1.234)"
            hint = "or set the decimal mark to dot"
        else:
            rule = "this file uses '.' for decimals and ',' only between groups of three digits (1,234)"
            hint = "or set the decimal mark to comma"
        return Bad(
            "qty_ambiguous",
            f"'{text.strip()}' is ambiguous: {rule}. Correct the cell, {hint} in the import options.",
        )
    return Bad(
        "qty_text",
        f"'{text.strip()}' is not a number. Enter a whole number, or leave the cell blank (or '--') "
        "for no count.",
    )


def number_count(value: float) -> int | Bad:
    """A count from a workbook number cell (integral floats are whole units)."""
    if not math.isfinite(value):
        return Bad("qty_text", f"{value} is not a count.")
    if value.is_integer():
        number = int(value)
        if -MAX_COUNT <= number <= MAX_COUNT:
            return number
        return _checked(number, format(value, ".15g"))
    shown = float(format(value, ".15g"))
    if shown.is_integer():
        return _checked(int(shown), format(shown, ".15g"))
    return Bad(
        "qty_fractional",
        # 12 digits: a formula's binary noise (93.8710000000001) shows as the sheet does.
        f"{format(value, '.12g')} is not a whole number. Counts must be whole units.",
    )


def cell_count(value: object, comma_decimal: bool) -> int | None | Bad:
    """A count from a workbook cell of any type."""
    kind = type(value)
    if kind is str:
        return parse_count(value, comma_decimal)
    if kind is float:
        return number_count(value)
    if kind is int:
        return _checked(value, str(value))
    if kind is bool:
        return Bad("qty_not_number", f"{str(value).upper()} is a yes/no value, not a count.")
    if isinstance(value, dt.date | dt.time | dt.timedelta):
        return Bad(
            "qty_not_number",
            f"{cell_text(value)} is a date or time, not a count. Format the column as numbers.",
        )
    if value is None:
        return None
    return Bad("qty_text", f"'{value}' is not a count.")


def clean_sku(text: str) -> str | Bad | None:
    """A SKU from text: trimmed, Excel guards stripped. None when blank."""
    sku = text.strip()
    if not sku:
        return None
    if sku[0] == "'":
        sku = sku[1:].strip()
    elif sku.startswith('="') and sku.endswith('"') and len(sku) >= 3:
        sku = sku[2:-1].replace('""', '"').strip()
    if not sku:
        return None
    first = sku[0]
    if first == "#" or first == "E":
        if is_excel_error(sku):
            return excel_error(sku)
    elif (first.isdigit() or first in "+-") and ("E" in sku or "e" in sku) and _SCIENTIFIC.fullmatch(sku):
        return Bad(
            "sku_scientific",
            f"'{sku}' is a number in scientific notation: the spreadsheet dropped digits of this "
            "SKU. Format the SKU column as text and export again.",
        )
    return sku


def cell_sku(value: object) -> str | Bad | None:
    """A SKU from a workbook cell: integral numbers become ``100498``, never ``100498.0``."""
    kind = type(value)
    if kind is str:
        return clean_sku(value)
    if kind is float:
        if not math.isfinite(value) or not value.is_integer():
            return Bad(
                "sku_number",
                f"The SKU cell holds the number {format(value, '.15g')}, which has decimals. "
                "Format the SKU column as text and enter the SKU exactly.",
            )
        if abs(value) >= 1e15:
            return Bad(
                "sku_number",
                f"The SKU cell holds the number {format(value, '.15g')}: spreadsheets keep only 15 "
                "digits of a number, so digits may be lost. Format the SKU column as text.",
            )
        return str(int(value))
    if kind is int:
        return str(value)
    if value is None:
        return None
    if kind is bool or isinstance(value, dt.date | dt.time | dt.timedelta):
        return Bad(
            "sku_not_text",
            f"The SKU cell holds {cell_text(value)}, a {'yes/no value' if kind is bool else 'date'}, "
            "not a SKU. Format the SKU column as text.",
        )
    return clean_sku(str(value))


def cell_text(value: object) -> str:
    """Any workbook cell as trimmed text (integral numbers without ``.0``)."""
    kind = type(value)
    if kind is str:
        return value.strip()
    if kind is float:
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if value is None:
        return ""
    return str(value).strip()
