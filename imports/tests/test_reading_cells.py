"""Cell rules: counts in comma and semicolon files, SKUs, header normalisation."""

import datetime as dt

import pytest

from imports.reading import (
    DETAIL_ALIASES,
    LOCATION_ALIASES,
    QTY_ALIASES,
    SKU_ALIASES,
    TEMPLATE_HEADERS,
    normalise_header,
)
from imports.reading.cells import (
    Bad,
    cell_count,
    cell_sku,
    cell_text,
    clean_sku,
    is_total_label,
    parse_count,
)


def outcome(value):
    return value.code if isinstance(value, Bad) else value


# A file whose decimal mark is "." (comma, tab and pipe files): "," only groups thousands.
DOT_FILE = [
    ("5", 5),
    ("0", 0),
    ("007", 7),
    (" 12 ", 12),
    ("+3", 3),
    ("-4", -4),
    (" - 4 ", -4),
    ("\u22124", -4),
    ("5.0", 5),
    ("5.", 5),
    ("5.000", 5),
    ("1,234", 1234),
    ("1,234,567", 1234567),
    ("1,234.00", 1234),
    ("-1,234", -1234),
    ("1234.0", 1234),
    ("5.5", "qty_fractional"),
    (".5", "qty_fractional"),
    ("1,234.5", "qty_fractional"),
    ("8,00", "qty_ambiguous"),
    ("1,23", "qty_ambiguous"),
    ("12,3456", "qty_ambiguous"),
    ("1.234,50", "qty_ambiguous"),
    ("1,2,3", "qty_ambiguous"),
    ("", None),
    ("   ", None),
    ("--", None),
    ("not stocked", None),
    ("Not  Stocked", None),
    ("#REF!", "cell_error"),
    ("#N/A", "cell_error"),
    ("#VALUE!", "cell_error"),
    ("#DIV/0!", "cell_error"),
    ("#name?", "cell_error"),
    ("Err:502", "cell_error"),
    ("abc", "qty_text"),
    ("5 pcs", "qty_text"),
    ("1e3", "qty_text"),
    ("1_000", "qty_text"),
    ("-", "qty_text"),
    ("\uff15", "qty_text"),  # full-width digit
    ("1 234", "qty_text"),
    ("99999999999", "qty_too_large"),
    ("2147483647", 2147483647),
]

# A semicolon file: "," is the decimal mark, "." only groups thousands.
COMMA_FILE = [
    ("8,00", 8),
    ("0,00", 0),
    ("8", 8),
    ("1.234", 1234),
    ("1.234.567", 1234567),
    ("1.234,00", 1234),
    ("-2,0", -2),
    ("62,50", "qty_fractional"),
    ("1.234,50", "qty_fractional"),
    (",5", "qty_fractional"),
    ("1.5", "qty_ambiguous"),
    ("1.23", "qty_ambiguous"),
    ("1,234.00", "qty_ambiguous"),
    ("--", None),
    ("", None),
    ("#REF!", "cell_error"),
    ("viel", "qty_text"),
]


@pytest.mark.parametrize(("text", "expected"), DOT_FILE)
def test_counts_in_a_dot_decimal_file(text, expected):
    assert outcome(parse_count(text, comma_decimal=False)) == expected


@pytest.mark.parametrize(("text", "expected"), COMMA_FILE)
def test_counts_in_a_comma_decimal_file(text, expected):
    assert outcome(parse_count(text, comma_decimal=True)) == expected


def test_bad_counts_say_what_is_wrong():
    assert "(1234.5)" in parse_count("1.234,50", True).message
    assert "whole units" in parse_count("5.5", False).message
    assert "decimal mark to comma" in parse_count("8,00", False).message
    assert "decimal mark to dot" in parse_count("1.5", True).message
    assert "#REF!" in parse_count("#REF!", False).message
    assert "not a number" in parse_count("lots", False).message


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (5.0, 5),
        (0.0, 0),
        (-3.0, -3),
        (7, 7),
        (5.5, "qty_fractional"),
        (1886.4470000000001, "qty_fractional"),
        (8.171241461241152e-14, "qty_fractional"),
        (3.0000000000000004, 3),  # binary noise below 15 significant digits
        (float("nan"), "qty_text"),
        (1e20, "qty_too_large"),
        (True, "qty_not_number"),
        (dt.date(2024, 1, 2), "qty_not_number"),
        (dt.datetime(2024, 1, 2, 3, 4), "qty_not_number"),
        (dt.time(1, 2), "qty_not_number"),
        (dt.timedelta(hours=1), "qty_not_number"),
        ("", None),
        ("12", 12),
        ("not stocked", None),
        ("8,00", "qty_ambiguous"),
    ],
)
def test_counts_from_workbook_cells(cell, expected):
    assert outcome(cell_count(cell, comma_decimal=False)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A-1", "A-1"),
        ("  A-1  ", "A-1"),
        ("0017", "0017"),
        ("'0123", "0123"),
        ('="0123"', "0123"),
        ('="A ""B"""', 'A "B"'),
        ("DEWDCB182(2) + DCB115", "DEWDCB182(2) + DCB115"),
        ("a  b", "a  b"),
        ("1765483662026", "1765483662026"),
        ("12E5", "12E5"),
        ("3e10x", "3e10x"),
        ("EAN-1", "EAN-1"),
        ("", None),
        ("   ", None),
        ("'", None),
        ('=""', None),
        ("1.76548E+12", "sku_scientific"),
        ("1,76548E+12", "sku_scientific"),
        ("1E+12", "sku_scientific"),
        ("1.2e-05", "sku_scientific"),
        ("'1.76548E+12", "sku_scientific"),
        ("#REF!", "cell_error"),
        ("#N/A", "cell_error"),
    ],
)
def test_skus_from_text(text, expected):
    assert outcome(clean_sku(text)) == expected


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (100498.0, "100498"),
        (100498, "100498"),
        (0.0, "0"),
        (1765483662026.0, "1765483662026"),
        (" 0017 ", "0017"),
        (10133.1, "sku_number"),
        (1e16, "sku_number"),
        (True, "sku_not_text"),
        (dt.date(2024, 1, 2), "sku_not_text"),
        ("", None),
    ],
)
def test_skus_from_workbook_cells(cell, expected):
    assert outcome(cell_sku(cell)) == expected


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (19.99, "19.99"),
        (29.429999999999993, "29.43"),
        (5.0, "5"),
        (True, "TRUE"),
        (dt.date(2024, 1, 2), "2024-01-02"),
        ("  x ", "x"),
        ("", ""),
    ],
)
def test_workbook_cells_as_text(cell, expected):
    assert cell_text(cell) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Total", True),
        ("TOTAL=", True),
        ("Grand Total:", True),
        ("totals", True),
        ("SUM", True),
        ("Sub-total", True),
        ("SUM-01", False),
        ("TOTAL2", False),
        ("Total 2024", False),
        ("Totally Tubular", False),
        ("SUMMER-01", False),
        ("T-1", False),
        ("", False),
    ],
)
def test_totals_labels(text, expected):
    assert is_total_label(text) is expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("SKU", "sku"),
        ("SKU ", "sku"),
        ("\ufeffsku", "sku"),
        ("seller-sku", "seller sku"),
        ("Custom label (SKU)", "custom label sku"),
        ("Available (not editable)", "available not editable"),
        ("afn-fulfillable-quantity", "afn fulfillable quantity"),
        ("On hand (current)", "on hand current"),
        ("Variant_Inventory_Qty", "variant inventory qty"),
        ("TOTAL SOLD \nQTY", "total sold qty"),
        ("Lagerbestand Lager [Im Hasseldamm]", "lagerbestand lager im hasseldamm"),
        ("item.number:", "item number"),
        ("Is featured?", "is featured?"),
        ("Weight (lbs)", "weight lbs"),
        ("  --  ", ""),
    ],
)
def test_normalise_header(header, expected):
    assert normalise_header(header) == expected


def test_alias_lists_are_normalised_and_in_the_documented_order():
    for aliases in (SKU_ALIASES, QTY_ALIASES, LOCATION_ALIASES, *DETAIL_ALIASES.values()):
        assert all(normalise_header(a) == a for a in aliases)
    assert SKU_ALIASES[0] == "sku" and SKU_ALIASES[-1] == "artikelnummer"
    assert QTY_ALIASES.index("available not editable") < QTY_ALIASES.index("on hand current")
    assert set(DETAIL_ALIASES) == {"name", "price", "cost", "weight"}
    assert TEMPLATE_HEADERS == ["sku", "quantity", "location", "name"]
