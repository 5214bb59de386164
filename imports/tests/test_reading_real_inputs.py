"""EXPECTED.md, file by file: the columns found and, by combining records, what importing
into an empty store with create-missing would apply ("applied" = SKUs with a count)."""

from collections import Counter

import pytest

from imports.reading import FileRefused, ReadOptions, combine_records, read_stock_file

HASSELDAMM = "Lagerbestand Lager [Im Hasseldamm]"
REKLAMATION = "Lagerbestand Lager [Reklamation]"


def read(folder, name, **options):
    return read_stock_file(folder / name, name, ReadOptions(**options))


def applied(result):
    counts, problems = combine_records(result)
    with_count = {sku: c.quantity for sku, c in counts.items() if c.quantity is not None}
    return with_count, problems


def error_codes(result):
    return Counter(e.code for e in result.errors)


@pytest.mark.parametrize(
    ("name", "options", "columns", "layout", "n_applied", "total"),
    [
        (
            "barrida-Inventory+Report+09-13-2018.txt",
            {},
            ("sku", ["quantity"], None),
            ("utf-8-sig", "\t"),
            122,
            2033,
        ),
        (
            "falconer94-FBA_inv_report.txt",
            {},
            ("sku", ["afn-fulfillable-quantity"], None),
            ("cp1252", "\t"),
            701,
            259642,
        ),
        (
            "george-itf-All+Listings+Report_01-14-2026.txt",
            {},
            ("seller-sku", ["quantity"], None),
            ("cp1252", "\t"),
            107,
            1024,
        ),
    ],
)
def test_clean_reports_apply_everything(reading_inputs, name, options, columns, layout, n_applied, total):
    result = read(reading_inputs, name, **options)
    assert (result.sku_column, result.qty_columns, result.location_column) == columns
    assert (result.encoding, result.delimiter) == layout
    counts, problems = applied(result)
    assert (len(counts), sum(counts.values())) == (n_applied, total)
    assert result.errors == [] and result.warnings == [] and problems == []


def test_falconer_names_keep_cp1252_characters(reading_inputs):
    result = read(reading_inputs, "falconer94-FBA_inv_report.txt")
    names = [r.details["name"] for r in result.records]
    assert any("…" in n for n in names)
    assert any("’" in n for n in names)
    assert any("®" in n for n in names)
    assert result.detail_columns == {"name": "product-name", "price": "your-price"}
    assert max(r.quantity for r in result.records) == 14545


def test_george_skus_with_spaces_and_plus_signs_are_intact(reading_inputs):
    result = read(reading_inputs, "george-itf-All+Listings+Report_01-14-2026.txt")
    skus = {r.sku for r in result.records}
    for sku in (
        "DEWDCB182(2) + DCB115",
        "MAK BUC122",
        "DEWDCS380N/2xDCB184/DCB115/DEEPTSTAK",
        "DHR243+BL1850(x2)+DC18RC+MAK4",
        "07-5ZYG-K6JQ",
    ):
        assert sku in skus


def test_barrida_prices_are_kept_as_written(reading_inputs):
    result = read(reading_inputs, "barrida-Inventory+Report+09-13-2018.txt")
    assert result.headers == ["sku", "asin", "price", "quantity"]
    assert {r.details["price"] for r in result.records} >= {"65.00"}


def test_volticscontent_shopify_inventory_export(reading_inputs):
    result = read(reading_inputs, "volticscontent-inventory_export_1.csv")
    assert (result.sku_column, result.qty_columns, result.location_column) == (
        "SKU",
        ["Available (not editable)"],
        "Location",
    )
    assert result.rows == 555
    counts, problems = applied(result)
    assert (len(counts), sum(counts.values())) == (18, 99)
    assert error_codes(result) == {"blank_sku": 489}
    [negative] = result.warnings
    assert (negative.code, negative.sku, negative.value, negative.row) == (
        "negative",
        "1765483665042",
        "-1",
        452,
    )
    assert counts["1765483665042"] == -1
    assert counts["625555"] == 100  # 100 in one location, "not stocked" in the two others
    [duplicate] = problems
    assert (duplicate.sku, duplicate.code) == ("1765483662026", "duplicate_sku")
    assert "1765483662026" not in counts
    assert duplicate.message.count(",") >= 11  # all twelve rows named


@pytest.mark.parametrize(
    ("name", "sku_header", "qty_header", "rows"),
    [
        ("abhilasha12345-products_export_1.csv", "Variant SKU", "Variant Inventory Qty", 115),
        (
            "mthous72-eBay-all-active-listings-report-2026-04-30-12315361660.csv",
            "Custom label (SKU)",
            "Available quantity",
            37,
        ),
    ],
)
def test_exports_with_an_empty_sku_column_apply_nothing(reading_inputs, name, sku_header, qty_header, rows):
    result = read(reading_inputs, name)
    assert (result.sku_column, result.qty_columns) == (sku_header, [qty_header])
    counts, problems = applied(result)
    assert counts == {} and problems == []
    assert result.errors[0].code == "sku_column_empty"
    assert error_codes(result) == {"sku_column_empty": 1, "blank_sku": rows}


def test_abhilasha_row_numbers_follow_physical_lines(reading_inputs):
    """One Body (HTML) cell spans several lines: row numbers are where each record starts."""
    path = reading_inputs / "abhilasha12345-products_export_1.csv"
    lines = path.read_bytes().decode("utf-8").split("\n")
    result = read(reading_inputs, path.name)
    starts = [e.row for e in result.errors[1:]]
    assert starts == sorted(starts) and len(starts) == 115
    assert starts[-1] > 116  # 115 records + header, pushed down by the multi-line cell
    handles = {line.split(",", 1)[0] for line in lines[1:] if line}
    for row in starts:
        assert lines[row - 1].split(",", 1)[0] in handles


def test_woocommerce_every_stock_cell_blank_is_no_count(reading_inputs):
    result = read(reading_inputs, "woocommerce-sample_products.csv")
    assert (result.sku_column, result.qty_columns) == ("SKU", ["Stock"])
    assert len(result.records) == 25 and result.skipped == 25
    assert all(r.quantity is None for r in result.records)
    assert result.errors == []
    assert [w.code for w in result.warnings] == ["no_counts"]
    counts, problems = applied(result)
    assert counts == {} and problems == []


def test_anandogs_without_options_stops(reading_inputs):
    with pytest.raises(FileRefused) as refused:
        read(reading_inputs, "anandogs-inventory_export_1.csv")
    assert refused.value.message.startswith(
        "No quantity column found. Headers found: SKU, Rangsutra Online, location"
    )


def test_anandogs_with_the_quantity_column_named(reading_inputs):
    result = read(reading_inputs, "anandogs-inventory_export_1.csv", qty_columns=("Rangsutra Online",))
    assert (result.sku_column, result.qty_columns, result.location_column) == (
        "SKU",
        ["Rangsutra Online"],
        "location",
    )
    counts, problems = applied(result)
    assert (len(counts), sum(counts.values())) == (934, 3035)
    assert [w.code for w in result.warnings] == ["negative"] * 7
    assert [p.code for p in problems] == ["duplicate_sku"] * 6
    assert error_codes(result) == {"blank_sku": 3}
    assert [e.row for e in result.errors] == [913, 914, 915]
    assert '"BTC 03/18/GA/BLOUSE PC/03/HAND EMB/BG&RU "' in counts  # quoting damage kept as is


def test_ssieja_without_options_stops_semicolon_detected(reading_inputs):
    with pytest.raises(FileRefused) as refused:
        read(reading_inputs, "ssieja-dev-lagerbestand.csv")
    assert refused.value.headers == ["Artikelnummer", HASSELDAMM, REKLAMATION, "Anmerkung"]
    assert "No quantity column found" in refused.value.message


@pytest.mark.parametrize(
    ("qty", "total"),
    [((HASSELDAMM,), 27751), ((HASSELDAMM, REKLAMATION), 27863)],
)
def test_ssieja_with_quantity_columns(reading_inputs, qty, total):
    result = read(reading_inputs, "ssieja-dev-lagerbestand.csv", qty_columns=qty)
    assert (result.delimiter, result.decimal, result.sku_column) == (";", "comma", "Artikelnummer")
    assert result.headers == ["Artikelnummer", HASSELDAMM, REKLAMATION, "Anmerkung"]
    counts, problems = applied(result)
    assert (len(counts), sum(counts.values())) == (1071, total)
    assert problems == []
    assert error_codes(result) == {"qty_fractional": 22}
    assert len({e.row for e in result.errors}) == 22
    first = result.errors[0]
    assert (first.row, first.column, first.value, first.sku) == (420, HASSELDAMM, "62,50", "2573-002")
    assert (counts["336-001"], counts["1704-002"]) == (8, 30)
    assert counts["21-5815-001"] == 16


def test_ssieja_row_numbers_are_physical_lines_despite_multiline_notes(reading_inputs):
    path = reading_inputs / "ssieja-dev-lagerbestand.csv"
    lines = path.read_bytes().decode("ascii").split("\r\n")
    result = read(reading_inputs, path.name, qty_columns=(HASSELDAMM,))
    assert result.rows == 1093
    assert len(lines) > 1093 + 1  # notes span lines
    for record in result.records[::50] + result.records[-3:]:
        assert lines[record.row - 1].startswith(f'"{record.sku}";')
    for error in result.errors:
        assert lines[error.row - 1].startswith(f'"{error.sku}";')


def test_amitgupta_without_options_lists_the_headers_under_the_title(reading_inputs):
    with pytest.raises(FileRefused) as refused:
        read(reading_inputs, "amitgupta1000-stock_report.xlsx")
    assert refused.value.headers[:4] == [
        "Company Name",
        "PORT NAME",
        "PRODUCT NAME",
        "PHYSICAL STOCK ON PORT",
    ]
    assert len(refused.value.headers) == 12
    assert "STOCK SUMMARY." in refused.value.message
    assert "No SKU column" in refused.value.message


def test_amitgupta_with_columns_named(reading_inputs):
    result = read(
        reading_inputs,
        "amitgupta1000-stock_report.xlsx",
        sku_column="PRODUCT NAME",
        qty_columns=("PHYSICAL STOCK ON PORT",),
    )
    assert (result.sheet, result.header_row, result.file_kind) == ("STOCK SUMMARY.", 2, "workbook")
    assert (result.encoding, result.delimiter) == (None, None)
    assert [(e.row, e.code) for e in result.errors] == [
        (3, "qty_fractional"),
        (4, "qty_fractional"),
        (5, "qty_fractional"),
        (6, "qty_fractional"),
        (7, "qty_fractional"),
        (9, "totals_row"),
    ]
    assert result.errors[0].value == "1886.447"  # binary noise not shown
    counts, problems = applied(result)
    assert counts == {"PEG-400": 0}
    assert problems == []


def test_amitgupta_hidden_order_sheet_mixed_id_types(reading_inputs):
    """OBR NO. holds ints, text and floats; Balance is a formula (cached values)."""
    result = read(
        reading_inputs,
        "amitgupta1000-stock_report.xlsx",
        sheet="STYRENE MONOMER",
        sku_column="OBR NO.",
        qty_columns=("Balance",),
    )
    by_row = {r.row: (r.sku, r.quantity) for r in result.records}
    assert by_row[3] == ("340", 0)
    assert by_row[4] == ("ORD250", 0)
    errors = {e.row: e for e in result.errors}
    assert errors[9].code == "qty_fractional" and errors[9].sku == "ORD180"
    assert errors[43].code == "totals_row" and errors[43].value == "TOTAL="
    assert errors[43].column == "Party Name"
    xylene = read(
        reading_inputs,
        "amitgupta1000-stock_report.xlsx",
        sheet="MIXED XYLENE",
        sku_column="OBR NO.",
        qty_columns=("Balance",),
    )
    assert {e.row: e.code for e in xylene.errors}[3] == "sku_number"  # 10133.1
    assert ("01", 25) in {(r.sku, r.quantity) for r in xylene.records}


@pytest.mark.parametrize("sheet", ["STOCK SUMMARY", "STOCK SHEET", "STOCK SHEET ."])
def test_amitgupta_sheet_names_match_exactly(reading_inputs, sheet):
    result = read(
        reading_inputs,
        "amitgupta1000-stock_report.xlsx",
        sheet=sheet,
        sku_column="PRODUCT NAME",
        qty_columns=("PHYSICAL STOCK ON PORT",),
    )
    assert result.sheet == sheet


def test_amitgupta_unknown_sheet_lists_the_sheets(reading_inputs):
    with pytest.raises(FileRefused) as refused:
        read(reading_inputs, "amitgupta1000-stock_report.xlsx", sheet="STOCK SUMMARY ")
    assert "'STOCK SUMMARY.'" in refused.value.message
    assert "'STOCK SHEET' (hidden)" in refused.value.message
