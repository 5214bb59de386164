"""Workbooks: XLSX written with openpyxl, a hand-built ODS, XLS when a writer is installed."""

import datetime as dt
import io
import zipfile

import openpyxl
import pytest

from imports.reading import FileRefused, ReadOptions, combine_records, read_stock_file
from imports.tests.workbooks import book_bytes, xlsx_bytes


def xlsx(rows, title="Stock"):
    return xlsx_bytes(rows, title)


def read(data, filename="stock.xlsx", **options):
    return read_stock_file(data, filename, ReadOptions(**options))


def pairs(result):
    return [(r.sku, r.quantity) for r in result.records]


def test_number_cells_are_numbers_and_integral_skus_have_no_point_zero():
    result = read(xlsx([["SKU", "Qty"], [100498, 5], [17.0, 4.0], ["0017", 2], ["A-1", "7"]]))
    assert (result.file_kind, result.sheet, result.header_row) == ("workbook", "Stock", 1)
    assert (result.encoding, result.delimiter, result.decimal) == (None, None, "dot")
    assert pairs(result) == [("100498", 5), ("17", 4), ("0017", 2), ("A-1", 7)]


def test_first_visible_sheet_is_read_and_hidden_ones_skipped():
    book = openpyxl.Workbook()
    hidden = book.active
    hidden.title = "Old"
    hidden.append(["sku", "qty"])
    hidden.append(["OLD", 1])
    hidden.sheet_state = "hidden"
    current = book.create_sheet("Current")
    current.append(["sku", "qty"])
    current.append(["NEW", 2])
    book.create_sheet("Later").append(["sku", "qty"])
    data = book_bytes(book)
    result = read(data)
    assert (result.sheet, pairs(result)) == ("Current", [("NEW", 2)])
    assert pairs(read(data, sheet="Old")) == [("OLD", 1)]


def test_no_visible_sheet_is_refused():
    book = openpyxl.Workbook()
    book.active.title = "A"
    book.create_sheet("B").sheet_state = "hidden"
    source = zipfile.ZipFile(io.BytesIO(book_bytes(book)))
    out = io.BytesIO()
    with source, zipfile.ZipFile(out, "w") as target:  # openpyxl refuses to save this itself
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/workbook.xml":
                content = content.replace(b'state="visible"', b'state="hidden"')
            target.writestr(item, content)
    with pytest.raises(FileRefused, match="no visible worksheet") as refused:
        read(out.getvalue())
    assert "'A' (hidden), 'B' (hidden)" in refused.value.message


def test_unknown_sheet_is_refused_with_the_sheet_names():
    with pytest.raises(FileRefused) as refused:
        read(xlsx([["sku", "qty"]]), sheet="stock")
    assert "'stock'" in refused.value.message and "Sheets: 'Stock'" in refused.value.message


def test_merged_title_row_and_offset_table():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["C2"] = "STOCK REPORT (March)"
    sheet.merge_cells("C2:F2")
    sheet["C3"], sheet["D3"], sheet["E3"] = "Item Code", "Stock", "Warehouse"
    sheet["C4"], sheet["D4"], sheet["E4"] = "X-1", 3, "North"
    sheet["C6"], sheet["D6"], sheet["E6"] = "X-2", 4, "South"
    result = read(book_bytes(book))
    assert (result.header_row, result.sku_column, result.location_column) == (3, "Item Code", "Warehouse")
    assert [(r.row, r.sku, r.quantity, r.location) for r in result.records] == [
        (4, "X-1", 3, "North"),
        (6, "X-2", 4, "South"),
    ]
    assert result.rows == 2


def test_no_sku_column_lists_the_headers_under_the_title_row():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["B1"] = "REPORT"
    sheet.append(["Product", "Tonnes", "Port"])
    sheet.append(["Acid", 5.5, "Kandla"])
    with pytest.raises(FileRefused) as refused:
        read(book_bytes(book))
    assert refused.value.headers == ["Product", "Tonnes", "Port"]
    assert "Headers found: Product, Tonnes, Port" in refused.value.message


@pytest.mark.parametrize(
    ("cell", "code"),
    [
        (5.5, "qty_fractional"),
        (True, "qty_not_number"),
        (dt.date(2024, 3, 1), "qty_not_number"),
        ("8,00", "qty_ambiguous"),
        ("lots", "qty_text"),
        ("#REF!", "cell_error"),
        ("#N/A", "cell_error"),
        ("#DIV/0!", "cell_error"),
        ("=B3*2", "formula_no_value"),
    ],
)
def test_bad_quantity_cells(cell, code):
    result = read(xlsx([["sku", "qty"], ["OK", 1], ["BAD", cell]]))
    assert pairs(result) == [("OK", 1)]
    [error] = result.errors
    assert (error.row, error.column, error.sku, error.code) == (3, "qty", "BAD", code)
    assert error.value
    assert error.message


def test_error_cell_values_are_shown():
    result = read(xlsx([["sku", "qty"], ["A", "#REF!"]]))
    assert result.errors[0].value == "#REF!"
    assert "#REF!" in result.errors[0].message


@pytest.mark.parametrize(
    ("cell", "code"),
    [
        ("#N/A", "cell_error"),
        (10133.1, "sku_number"),
        (True, "sku_not_text"),
        (dt.date(2024, 1, 1), "sku_not_text"),
        ("1.76548E+12", "sku_scientific"),
    ],
)
def test_bad_sku_cells(cell, code):
    result = read(xlsx([["sku", "qty"], [cell, 1]]))
    assert result.records == []
    [error] = result.errors
    assert (error.row, error.column, error.code) == (2, "sku", code)


def test_excel_errors_in_location_reject_the_row_and_in_details_only_the_field():
    rows = [
        ["sku", "qty", "location", "price"],
        ["A", 1, "#REF!", 2.5],
        ["B", 2, "Main", "#VALUE!"],
    ]
    result = read(xlsx(rows))
    assert [(r.sku, r.quantity, dict(r.details)) for r in result.records] == [("B", 2, {})]
    [error] = result.errors
    assert (error.row, error.column, error.code) == (2, "location", "cell_error")
    [warning] = result.warnings
    assert (warning.row, warning.column, warning.code) == (3, "price", "cell_error")


def test_totals_rows_are_reported_never_imported():
    rows = [
        ["sku", "name", "qty"],
        ["A", "Hat", 2],
        ["B", "Cap", 3],
        [None, None, 5],
        ["Total", None, 5],
        [None, "TOTAL=", None],
        [None, "just a note", None],
    ]
    result = read(xlsx(rows))
    assert pairs(result) == [("A", 2), ("B", 3)]
    assert [(e.row, e.code, e.value) for e in result.errors] == [
        (4, "totals_row", ""),
        (5, "totals_row", "Total"),
        (6, "totals_row", "TOTAL="),
        (7, "blank_sku", ""),
    ]
    assert result.errors[2].column == "name"


def test_negative_and_details_from_number_cells():
    result = read(xlsx([["sku", "qty", "price", "weight", "metadata:min"], ["A", -2, 19.99, 0.5, 3]]))
    [record] = result.records
    assert record.quantity == -2
    assert record.details == {"price": "19.99", "weight": "0.5"}
    assert record.metadata == {"min": "3"}
    assert [w.code for w in result.warnings] == ["negative"]


def test_locations_in_a_workbook_are_summed():
    rows = [["sku", "qty", "location"], ["A", 1, "X"], ["A", 2, "Y"], ["A", None, "Z"], ["B", 1, 7]]
    counts, problems = combine_records(read(xlsx(rows)))
    assert {s: c.quantity for s, c in counts.items()} == {"A": 3, "B": 1}
    assert problems == []


def test_a_workbook_saved_under_a_text_name_is_read_as_a_workbook():
    result = read(xlsx([["sku", "qty"], ["A", 1]]), "stock.csv")
    assert result.file_kind == "workbook"
    assert pairs(result) == [("A", 1)]


def test_unknown_extension_is_sniffed():
    assert read(xlsx([["sku", "qty"], ["A", 1]]), "upload.bin").file_kind == "workbook"


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04" + b"\x00" * 200,
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600,
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
    ],
)
def test_damaged_or_foreign_binaries_are_refused(data):
    with pytest.raises(FileRefused, match="XLSX or CSV"):
        read(data, "stock.xlsx")


def test_a_zip_that_is_not_a_workbook_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("stock.csv", "sku,qty\nA,1\n")
    with pytest.raises(FileRefused, match="could not be read as a workbook"):
        read(out.getvalue(), "stock.zip")


def test_numbered_rows_are_sheet_rows_with_header_row_option():
    rows = [["sku", "qty"], ["junk", 1], ["code", "stock"], ["A", 4]]
    result = read(xlsx(rows), header_row=3)
    assert (result.header_row, result.sku_column, result.qty_columns) == (3, "code", ["stock"])
    assert [(r.row, r.sku, r.quantity) for r in result.records] == [(4, "A", 4)]


def test_progress_for_workbooks():
    rows = [["sku", "qty"]] + [[f"S{n}", n] for n in range(6000)]
    calls = []
    result = read_stock_file(xlsx(rows), "big.xlsx", progress=calls.append)
    assert calls[0] == 5000 and calls[-1] == result.rows == 6000


# --- ODS and XLS ------------------------------------------------------------------------------

ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
)


def ods_cell(value):
    if isinstance(value, str):
        return f'<table:table-cell office:value-type="string"><text:p>{value}</text:p></table:table-cell>'
    return (
        f'<table:table-cell office:value-type="float" office:value="{value}">'
        f"<text:p>{value}</text:p></table:table-cell>"
    )


def ods(rows, name="Stock"):
    body = "".join("<table:table-row>" + "".join(map(ods_cell, row)) + "</table:table-row>" for row in rows)
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODS_NS} office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="{name}">{body}</table:table>'
        "</office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def test_ods_workbook():
    data = ods([["SKU", "Quantity"], [100498, 5], ["0017", 2.5], ["B", "#REF!"], ["C", 3]])
    result = read(data, "stock.ods")
    assert (result.file_kind, result.sheet) == ("workbook", "Stock")
    assert pairs(result) == [("100498", 5), ("C", 3)]
    assert [(e.row, e.code) for e in result.errors] == [(3, "qty_fractional"), (4, "cell_error")]


def test_xls_workbook():
    import xlwt  # a test-only writer: legacy .xls files are read, never written, by the hub
    book = xlwt.Workbook()
    sheet = book.add_sheet("Stock")
    for r, row in enumerate([["sku", "qty"], [100498, 5], ["A", 2.0]]):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    result = read(out.getvalue(), "stock.xls")
    assert pairs(result) == [("100498", 5), ("A", 2)]


def test_header_without_data_rows_is_one_file_level_warning():
    result = read(xlsx([["Stock list"], ["sku", "qty"]]))
    [warning] = result.warnings
    assert (warning.row, warning.code) == (None, "no_data_rows")
    assert warning.message == (
        "The sheet 'Stock' has a header (row 2) but no data rows below it, so nothing changes."
    )


def several_sheets(first_rows):
    """The first sheet holds ``first_rows``; the stock is on a hidden-free second sheet."""
    book = openpyxl.Workbook()
    book.active.title = "Read me"
    for row in first_rows:
        book.active.append(row)
    book.create_sheet("Stock").append(["sku", "qty"])
    book.create_sheet("Old").sheet_state = "hidden"
    return book_bytes(book)


def test_no_sku_column_on_the_first_sheet_lists_the_other_sheets():
    """The refusal when --sheet names a missing sheet lists the sheets; so must this one,
    so the user knows the stock may be on another sheet and to name it."""
    with pytest.raises(FileRefused) as refused:
        read(several_sheets([["How to use this file"], ["Product", "Tonnes"]]))
    message = refused.value.message
    assert "No SKU column found in the first 20 rows of the sheet 'Read me'" in message
    assert "Headers found: Product, Tonnes. The workbook's sheets:" in message
    assert message.endswith(
        "The workbook's sheets: 'Read me', 'Stock', 'Old' (hidden). To read another sheet, name it "
        "(--sheet, or the sheet of the import options)."
    )
    assert refused.value.headers == ["Product", "Tonnes"]


@pytest.mark.parametrize(
    ("rows", "options", "start"),
    [
        ([["sku", "price"], ["A", 1]], {}, "No quantity column found."),
        ([["Item", "qty"], ["A", 1]], {"sku_column": "code"}, "The SKU column 'code' was not found"),
        ([["sku", "qty"], ["A", 1]], {"header_row": 5}, "Row 5 is not a row of the sheet 'Read me'"),
        ([], {}, "No SKU column found"),
    ],
)
def test_every_header_refusal_of_a_workbook_lists_its_sheets(rows, options, start):
    with pytest.raises(FileRefused) as refused:
        read(several_sheets(rows), **options)
    message = refused.value.message
    assert message.startswith(start)
    assert "The workbook's sheets: 'Read me', 'Stock', 'Old' (hidden)." in message


def test_header_refusal_of_a_one_sheet_workbook_names_no_sheets():
    with pytest.raises(FileRefused) as refused:
        read(xlsx([["Product", "Tonnes"]]))
    assert "sheets" not in refused.value.message
