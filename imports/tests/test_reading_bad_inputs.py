"""Known answers for bad-inputs.md, at the reading and combining level.

Matching against the store (e.g. the "0017 exists" hint of #3) is the service's part;
here the file's side of each case is pinned down.
"""


import pytest

from imports.reading import FileRefused, ReadOptions, combine_records, read_stock_file
from imports.tests import workbooks

BOM = b"\xef\xbb\xbf"


def read(data, filename="stock.csv", **options):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return read_stock_file(data, filename, ReadOptions(**options))


def quantities(result):
    return {r.sku: r.quantity for r in result.records}


def codes(issues):
    return [i.code for i in issues]


def xlsx(rows, title="Sheet1"):
    return workbooks.xlsx_bytes(rows, title)


# 1 -------------------------------------------------------------------------------------
def test_1_bom_never_sticks_to_the_first_header():
    result = read(BOM + b"sku,quantity\nA-1,5")
    assert result.headers == ["sku", "quantity"]
    assert result.sku_column == "sku"
    assert result.encoding == "utf-8-sig"
    assert quantities(result) == {"A-1": 5}
    assert result.errors == [] and result.warnings == []


# 2 -------------------------------------------------------------------------------------
def test_2_digit_only_sku_from_an_xlsx_number_cell_is_text_without_point_zero():
    data = xlsx([["sku", "quantity"], [100498, 5]])
    result = read(data, "stock.xlsx")
    assert result.file_kind == "workbook"
    assert [(r.sku, r.quantity) for r in result.records] == [("100498", 5)]


# 3 -------------------------------------------------------------------------------------
def test_3_skus_stay_exact_text_so_17_never_becomes_0017_or_the_reverse():
    result = read("sku,qty\n17,4\n0017,2\n")
    assert [(r.sku, r.quantity) for r in result.records] == [("17", 4), ("0017", 2)]
    counts, problems = combine_records(result)
    assert set(counts) == {"17", "0017"}
    assert problems == []


# 4 -------------------------------------------------------------------------------------
def test_4_scientific_notation_sku_is_rejected_digits_lost():
    result = read("sku,quantity\n1.76548E+12,3\n")
    assert result.records == []
    [error] = result.errors
    assert (error.row, error.column, error.value, error.code) == (2, "sku", "1.76548E+12", "sku_scientific")
    assert "scientific notation" in error.message and "digits" in error.message
    counts, _ = combine_records(result)
    assert counts == {}


# 6 -------------------------------------------------------------------------------------
def test_6_european_semicolon_file():
    result = read('Artikelnummer;Bestand\n"21-5815-001";"8,00";\n"336";"1.234,50";\n')
    assert result.delimiter == ";"
    assert result.decimal == "comma"
    assert result.headers == ["Artikelnummer", "Bestand"]
    assert quantities(result) == {"21-5815-001": 8}
    [error] = result.errors
    assert (error.row, error.column, error.value, error.sku, error.code) == (
        3,
        "Bestand",
        "1.234,50",
        "336",
        "qty_fractional",
    )
    assert "1234.5" in error.message


# 7 -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "sku_header", "qty_header"),
    [
        ("SKU ,Quantity \nA-1,5\n", "SKU", "Quantity"),
        ("sku,QTY\nA-1,5\n", "sku", "QTY"),
    ],
)
def test_7_headers_with_stray_spaces_or_case_map(text, sku_header, qty_header):
    result = read(text)
    assert (result.sku_column, result.qty_columns) == (sku_header, [qty_header])
    assert quantities(result) == {"A-1": 5}


def test_7_an_unmappable_header_stops_with_the_headers_found():
    with pytest.raises(FileRefused) as refused:
        read("Item,Amount\nA-1,5\n")
    assert refused.value.headers == ["Item", "Amount"]
    assert "Headers found: Item, Amount" in refused.value.message


# 8 -------------------------------------------------------------------------------------
def test_8_blank_quantity_cells_are_no_count_and_listed():
    result = read("sku,quantity\nA-1,\nA-2,5\nA-3, \n")
    assert [(r.row, r.sku, r.quantity) for r in result.records] == [
        (2, "A-1", None),
        (3, "A-2", 5),
        (4, "A-3", None),
    ]
    assert result.skipped == 2
    assert result.errors == []
    counts, _ = combine_records(result)
    assert {sku: c.quantity for sku, c in counts.items()} == {"A-1": None, "A-2": 5, "A-3": None}


# 9 -------------------------------------------------------------------------------------
def test_9_thousands_separator_in_a_comma_file():
    result = read('sku,quantity\nA-1,"1,234"\nA-2,1234.0\nA-3,5.5\n')
    assert quantities(result) == {"A-1": 1234, "A-2": 1234}
    [error] = result.errors
    assert (error.row, error.value, error.sku, error.code) == (4, "5.5", "A-3", "qty_fractional")


# 11 ------------------------------------------------------------------------------------
def test_11_workbook_title_row_hidden_sheets_formulas_ref_and_totals(reading_inputs):
    path = reading_inputs / "amitgupta1000-stock_report.xlsx"
    # First visible sheet, header under the title, totals row reported.
    result = read_stock_file(
        path, path.name, ReadOptions(sku_column="PRODUCT NAME", qty_columns=("PHYSICAL STOCK ON PORT",))
    )
    assert (result.sheet, result.header_row) == ("STOCK SUMMARY.", 2)
    assert [(e.row, e.code) for e in result.errors if e.code == "totals_row"] == [(9, "totals_row")]
    # A hidden sheet named exactly: cached formula values (R = O - P) are read as numbers.
    result = read_stock_file(
        path,
        path.name,
        ReadOptions(sheet="STOCK SHEET", sku_column="PRODUCT NAME", qty_columns=("TOTAL SOLD \nQTY",)),
    )
    assert result.sheet == "STOCK SHEET"
    by_row = {r.row: (r.sku, r.quantity) for r in result.records}
    assert by_row[3] == ("ACETIC ACID", 0)
    assert by_row[5] == ("IPA", 751)
    assert by_row[6] == ("DEG", 513)
    # #REF! in the quantity column of the GRAND TOTAL row: reported, never imported.
    result = read_stock_file(
        path,
        path.name,
        ReadOptions(sheet="STOCK SHEET", sku_column="PRODUCT NAME", qty_columns=("PHYSICAL STOCK",)),
    )
    [totals] = [e for e in result.errors if e.row == 12]
    assert totals.code == "totals_row" and totals.value == "GRAND TOTAL"
    assert "#REF!" in totals.message
    assert all(r.row != 12 for r in result.records)


# 12 ------------------------------------------------------------------------------------
def test_12_windows_1252_text_files(reading_inputs):
    fba = read_stock_file(reading_inputs / "falconer94-FBA_inv_report.txt", "FBA_inv_report.txt")
    assert fba.encoding == "cp1252"
    names = "".join(r.details.get("name", "") for r in fba.records)
    for char in "…’®":
        assert char in names
    assert fba.errors == []
    listings = read_stock_file(
        reading_inputs / "george-itf-All+Listings+Report_01-14-2026.txt", "All+Listings+Report.txt"
    )
    assert listings.encoding == "cp1252"
    assert "–" in "".join(r.details.get("name", "") for r in listings.records)
    assert listings.errors == []


# not a count ----------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["not stocked", "Not Stocked", "--", " -- ", "", "   "])
def test_not_a_count_is_no_count_not_zero(cell):
    result = read(f"sku,available,location\nA-1,{cell},Shop\nA-1,3,Depot\nB-2,{cell},Shop\n")
    assert quantities(result) == {"A-1": 3, "B-2": None}
    assert result.errors == []
    counts, _ = combine_records(result)
    assert counts["A-1"].quantity == 3
    assert counts["B-2"].quantity is None


# files with no usable key ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "header", "rows"),
    [
        ("abhilasha12345-products_export_1.csv", "Variant SKU", 115),
        ("mthous72-eBay-all-active-listings-report-2026-04-30-12315361660.csv", "Custom label (SKU)", 37),
    ],
)
def test_files_with_no_usable_key(reading_inputs, name, header, rows):
    result = read_stock_file(reading_inputs / name, name)
    assert result.records == []
    first = result.errors[0]
    assert (first.row, first.column, first.code) == (None, header, "sku_column_empty")
    assert f"'{header}' is empty on every row" in first.message
    assert codes(result.errors[1:]) == ["blank_sku"] * rows
    assert result.rows == rows


def test_every_sku_blank_in_a_small_file_gives_one_clear_message_then_each_row():
    result = read("sku,qty\n,1\n  ,2\n")
    assert codes(result.errors) == ["sku_column_empty", "blank_sku", "blank_sku"]
    assert [e.row for e in result.errors] == [None, 2, 3]


# quantity column named after a channel ------------------------------------------------------
def test_quantity_column_named_after_a_channel(reading_inputs):
    path = reading_inputs / "anandogs-inventory_export_1.csv"
    with pytest.raises(FileRefused) as refused:
        read_stock_file(path, path.name)
    assert "Headers found: SKU, Rangsutra Online, location" in refused.value.message
    assert refused.value.headers == ["SKU", "Rangsutra Online", "location"]
    result = read_stock_file(path, path.name, ReadOptions(qty_columns=("Rangsutra Online",)))
    assert result.location_column == "location"
    counts, problems = combine_records(result)
    assert "BTC/03/18/WI/ALINE KURTA/04/MIRROR/NT" not in counts
    [problem] = [p for p in problems if p.sku == "BTC/03/18/WI/ALINE KURTA/04/MIRROR/NT"]
    assert problem.code == "duplicate_sku" and "rows 772, 773, 774 and 775" in problem.message


def test_quantity_column_named_after_a_channel_small():
    text = "SKU,Rangsutra Online,location\nA,5,rs\nB,1,rs\nB,2,rs\n"
    with pytest.raises(FileRefused):
        read(text)
    result = read(text, qty_columns=("Rangsutra Online",))
    counts, problems = combine_records(result)
    assert {s: c.quantity for s, c in counts.items()} == {"A": 5}
    assert [(p.sku, p.row) for p in problems] == [("B", 3)]


# 13 ------------------------------------------------------------------------------------
def test_13_duplicate_across_the_whole_file_however_it_is_batched():
    lines = ["sku,quantity"] + [f"S-{n},{n}" for n in range(2, 100)] + ["A,1", "A,2"]
    text = "\n".join(lines) + "\n"
    result = read(text)
    assert [r.row for r in result.records if r.sku == "A"] == [100, 101]
    calls = []
    read_stock_file(text.encode(), "stock.csv", progress=calls.append)
    assert calls and calls[-1] == 100
    counts, problems = combine_records(result)
    assert "A" not in counts
    assert len(counts) == 98
    [problem] = problems
    assert (problem.row, problem.sku, problem.code) == (100, "A", "duplicate_sku")
    assert "rows 100 and 101" in problem.message
