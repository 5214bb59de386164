"""Delimited text: encodings, delimiters, header rows, columns, row numbers, odd rows."""

import codecs

import pytest

from imports.reading import FileRefused, ReadOptions, read_stock_file


def read(data, filename="stock.csv", **options):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return read_stock_file(data, filename, ReadOptions(**options))


def pairs(result):
    return [(r.sku, r.quantity) for r in result.records]


# --- encodings ------------------------------------------------------------------------------

TEXT = "sku\tqty\tname\nA-1\t5\tCafé – “Nº 1” ®\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), "utf-16-le"),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16-be"),
        (TEXT.encode("utf-16-le"), "utf-16-le"),
        (TEXT.encode("utf-16"), "utf-16-le" if codecs.BOM_UTF16 == codecs.BOM_UTF16_LE else "utf-16-be"),
        (TEXT.encode("cp1252"), "cp1252"),
    ],
)
def test_encoding_detection(data, encoding):
    result = read(data, "stock.txt")
    assert result.encoding == encoding
    assert result.headers == ["sku", "qty", "name"]
    assert pairs(result) == [("A-1", 5)]
    assert result.records[0].details == {"name": "Café – “Nº 1” ®"}


def test_excel_unicode_text_is_utf16_tab_separated():
    data = codecs.BOM_UTF16_LE + "SKU\tQuantity\r\n0017\t3\r\n".encode("utf-16-le")
    result = read(data, "export.txt")
    assert (result.encoding, result.delimiter) == ("utf-16-le", "\t")
    assert pairs(result) == [("0017", 3)]


def test_bytes_cp1252_leaves_undefined_are_kept_not_refused():
    result = read(b"sku,qty,name\nA,1,x\x81y\x92\n")
    assert result.encoding == "cp1252"
    assert result.records[0].details["name"] == "x\x81y’"


def test_encoding_option_overrides_detection():
    data = "sku,qty,name\nA,1,Café\n".encode()
    assert read(data).records[0].details["name"] == "Café"
    forced = read(data, encoding="cp1252")
    assert forced.encoding == "cp1252"
    assert forced.records[0].details["name"] == "CafÃ©"


def test_encoding_option_utf8_still_drops_a_bom():
    result = read(codecs.BOM_UTF8 + b"sku,qty\nA,1\n", encoding="UTF-8")
    assert result.headers == ["sku", "qty"]


def test_unknown_encoding_option_is_refused():
    with pytest.raises(FileRefused, match="Unknown encoding"):
        read(b"sku,qty\nA,1\n", encoding="klingon")


def test_bytes_that_do_not_fit_the_chosen_encoding_are_refused_with_the_line():
    with pytest.raises(FileRefused, match="line 3") as refused:
        read(b"sku,qty\nA,1\nB\xff,2\n", encoding="utf-8")
    assert "0xFF" in refused.value.message


# --- delimiters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("sku,qty\nA,1\nB,2\n", ","),
        ("sku;qty\nA;1\nB;2\n", ";"),
        ("sku\tqty\nA\t1\nB\t2\n", "\t"),
        ("sku|qty\nA|1\nB|2\n", "|"),
        # a ';' file full of "8,00" values must not be read as comma-separated
        ("sku;qty;note\nA;8,00;x\nB;1,50;y\nC;0,00;z\n", ";"),
        ('"sku";"qty"\n"A";"8,00"\n"B";"7,00"\n', ";"),
        # commas inside quoted fields do not count
        ('sku,qty,name\nA,1,"a, b; c"\nB,2,"d; e; f"\n', ","),
        # tab file whose names hold commas and semicolons
        ("sku\tqty\tname\nA\t1\tBig, red; new\nB\t2\tSmall, blue\n", "\t"),
        # pipe file with commas in the values
        ("sku|qty|name\nA|1|a,b\nB|2|c,d,e\n", "|"),
    ],
)
def test_delimiter_detection(text, delimiter):
    result = read(text)
    assert result.delimiter == delimiter
    assert result.headers[:2] in (["sku", "qty"], ["sku", "qty"])


def test_delimiter_is_the_one_most_records_agree_with_not_the_widest_header():
    # Split on ",", this header has 5 fields and the rows 3 or 4: ";" gives 3 everywhere.
    text = '"sku";"qty, pcs, boxes";"note, long, text"\n"A";"8,00";"x, y"\n"B";"1,50";"z"\n"C";"2,00";"z"\n'
    result = read(text, header_row=1, sku_column="sku", qty_columns=("qty, pcs, boxes",))
    assert result.delimiter == ";"
    assert result.headers == ["sku", "qty, pcs, boxes", "note, long, text"]
    assert pairs(result) == [("A", 8), ("C", 2)]


def test_refusal_lists_headers_split_by_the_detected_delimiter():
    with pytest.raises(FileRefused) as refused:
        read("Artikel;Menge;Notiz\nA;8,00;x, y\nB;1,00;z\n")
    assert refused.value.headers == ["Artikel", "Menge", "Notiz"]


def test_semicolon_file_reads_decimal_comma_counts():
    result = read("sku;qty;note\nA;8,00;x\nB;1.234;y\n")
    assert (result.delimiter, result.decimal) == (";", "comma")
    assert pairs(result) == [("A", 8), ("B", 1234)]


def test_decimal_option_overrides_the_semicolon_default():
    result = read("sku;qty\nA;1.234\nB;8,00\n", decimal="dot")
    assert result.decimal == "dot"
    assert pairs(result) == []
    assert [e.code for e in result.errors] == ["qty_fractional", "qty_ambiguous"]


@pytest.mark.parametrize(("option", "delimiter"), [(";", ";"), ("tab", "\t"), ("\t", "\t"), ("pipe", "|")])
def test_delimiter_option(option, delimiter):
    text = "sku,qty\nA,1\n".replace(",", delimiter)
    assert read(text, delimiter=option).delimiter == delimiter


def test_delimiter_option_wins_over_detection():
    with pytest.raises(FileRefused, match="No SKU column"):
        read("sku,qty\nA,1\n", delimiter=";")


def test_bad_delimiter_option_is_refused():
    with pytest.raises(FileRefused, match="delimiter"):
        read("sku,qty\nA,1\n", delimiter=":")


def test_trailing_empty_column_is_ignored():
    result = read('"sku";"qty";\r\n"A";"5";\r\n"B";"";\r\n')
    assert result.headers == ["sku", "qty"]
    assert pairs(result) == [("A", 5), ("B", None)]
    assert result.errors == []


# --- header row and columns ----------------------------------------------------------------------


def test_title_rows_above_the_header_are_skipped():
    result = read("Stock list,,\nExported 2024-01-02,,\n\nItem code,On hand,Warehouse\nA,3,Main\n")
    assert (result.header_row, result.sku_column, result.qty_columns, result.location_column) == (
        4,
        "Item code",
        ["On hand"],
        "Warehouse",
    )
    assert [(r.row, r.sku, r.quantity, r.location) for r in result.records] == [(5, "A", 3, "Main")]


def test_header_is_looked_for_in_the_first_20_rows_only():
    titles = "".join(f"note {n},x\n" for n in range(20))
    with pytest.raises(FileRefused, match="first 20 rows"):
        read(titles + "sku,qty\nA,1\n")
    assert read(titles + "sku,qty\nA,1\n", header_row=21).records[0].sku == "A"


def test_header_row_option():
    result = read("sku,qty\nold,1\nsku,qty\nA,1\n", header_row=3)
    assert result.header_row == 3
    assert pairs(result) == [("A", 1)]


def test_header_row_option_outside_the_file_is_refused():
    with pytest.raises(FileRefused, match="Row 9"):
        read("sku,qty\nA,1\n", header_row=9)


@pytest.mark.parametrize("value", [0, -1, "2", True])
def test_bad_header_row_option_is_refused(value):
    with pytest.raises(FileRefused, match="header row"):
        read("sku,qty\nA,1\n", header_row=value)


def test_sku_column_option_finds_its_header_row():
    result = read("Report,\nArticle,Count\nA-1,4\n", sku_column="article", qty_columns=("COUNT",))
    assert (result.header_row, result.sku_column, result.qty_columns) == (2, "Article", ["Count"])
    assert pairs(result) == [("A-1", 4)]


def test_named_columns_not_found_are_refused_with_the_headers():
    with pytest.raises(FileRefused) as refused:
        read("sku,qty\nA,1\n", qty_columns=("stock",))
    assert "'stock' was not found" in refused.value.message
    assert refused.value.headers == ["sku", "qty"]
    with pytest.raises(FileRefused, match="location column 'bin'"):
        read("sku,qty\nA,1\n", location_column="bin")


def test_first_alias_in_list_order_wins():
    result = read("Item number,Custom label (SKU),Quantity,Available\n1,X-1,4,9\n")
    assert (result.sku_column, result.qty_columns) == ("Custom label (SKU)", ["Quantity"])
    assert pairs(result) == [("X-1", 4)]


@pytest.mark.parametrize(
    "header",
    ["SKU,sku,qty", "sku,qty,Qty", "sku,qty,location,Location"],
)
def test_two_headers_equal_to_the_winning_alias_are_refused(header):
    with pytest.raises(FileRefused, match="Two columns"):
        read(header + "\nA,1,2,3\n")


def test_several_quantity_columns_are_summed():
    result = read("sku,Shop,Depot\nA,2,3\nB,,4\nC,,\nD,--,5.5\n", qty_columns=("Shop", "Depot"))
    assert result.qty_columns == ["Shop", "Depot"]
    assert [(r.sku, r.quantity) for r in result.records] == [("A", 5), ("B", 4), ("C", None)]
    [error] = result.errors
    assert (error.row, error.column, error.value, error.code) == (5, "Depot", "5.5", "qty_fractional")


@pytest.mark.parametrize(
    "options",
    [{"qty_columns": ("sku",)}, {"qty_columns": ("qty", "QTY")}, {"sku_column": " "}, {"decimal": "x"}],
)
def test_contradictory_options_are_refused(options):
    with pytest.raises(FileRefused):
        read("sku,qty\nA,1\n", **options)


def test_detail_columns_and_metadata_columns():
    text = (
        "Title,SKU,Quantity,Price,Cost,Weight,Description,metadata:max,Metadata: Max@Amazon-US,notes\n"
        "Red hat,H-1,3,9.99,4,0.2,A hat,10,5,x\n"
        "Blue hat,H-2,1,,,,,,,\n"
    )
    result = read(text)
    assert result.detail_columns == {"name": "Title", "price": "Price", "cost": "Cost", "weight": "Weight"}
    assert result.metadata_columns == {"max": "metadata:max", "max@amazon-us": "Metadata: Max@Amazon-US"}
    first, second = result.records
    assert first.details == {"name": "Red hat", "price": "9.99", "cost": "4", "weight": "0.2"}
    assert first.metadata == {"max": "10", "max@amazon-us": "5"}
    assert (dict(second.details), dict(second.metadata)) == ({"name": "Blue hat"}, {})


def test_a_detail_alias_never_steals_the_sku_or_quantity_column():
    result = read("name,price,title\nN-1,4,Hat\n", sku_column="name", qty_columns=("price",))
    assert result.detail_columns == {"name": "title"}
    assert result.records[0].details == {"name": "Hat"}


def test_metadata_column_named_sku_is_not_the_sku_column():
    result = read("metadata:sku,sku,qty\nx,A,1\n")
    assert result.sku_column == "sku"
    assert result.records[0].metadata == {"sku": "x"}


def test_two_columns_for_one_metadata_key_are_refused():
    with pytest.raises(FileRefused, match="metadata key 'max'"):
        read("sku,qty,metadata:max,METADATA:MAX\nA,1,2,3\n")


def test_metadata_column_without_a_key_is_ignored_with_a_warning():
    result = read("sku,qty,metadata:\nA,1,2\n")
    assert result.metadata_columns == {}
    assert [w.code for w in result.warnings] == ["ignored_column"]


def test_ambiguous_detail_column_is_skipped_with_a_warning():
    result = read("sku,qty,Title,title\nA,1,x,y\n")
    assert result.detail_columns == {}
    assert [w.code for w in result.warnings] == ["ambiguous_column"]
    assert pairs(result) == [("A", 1)]


# --- rows --------------------------------------------------------------------------------------


def test_row_numbers_are_physical_lines_with_multiline_fields_and_blank_lines():
    text = 'sku,qty,note\r\nA,1,"two\r\nlines"\r\n\r\nB,2,x\r\n"C\nD",3,y\nE,4,z'
    result = read(text)
    assert [(r.row, r.sku) for r in result.records] == [(2, "A"), (5, "B"), (6, "C\nD"), (8, "E")]
    assert result.rows == 4


def test_old_mac_line_breaks():
    assert [r.row for r in read("sku,qty\r1,1\r2,2\r").records] == [2, 3]


def test_blank_lines_and_whitespace_rows_are_not_counted():
    result = read("sku,qty\n\nA,1\n , \n,,\n\n")
    assert result.rows == 1
    assert result.errors == []


def test_header_only_file_has_no_rows():
    result = read("sku,qty\n")
    assert (result.rows, result.records, result.errors) == (0, [], [])


def test_negative_counts_apply_with_a_warning():
    result = read("sku,qty\nA,-3\n")
    assert pairs(result) == [("A", -3)]
    [warning] = result.warnings
    assert (warning.row, warning.column, warning.value, warning.sku, warning.code) == (
        2,
        "qty",
        "-3",
        "A",
        "negative",
    )
    assert "oversold" in warning.message


def test_excel_guards_on_skus_are_stripped():
    result = read('sku,qty\n\'0123,1\n="0456",2\n')
    assert pairs(result) == [("0123", 1), ("0456", 2)]


@pytest.mark.parametrize(
    ("cell", "code"), [("#REF!", "cell_error"), ("#N/A", "cell_error"), ("lots", "qty_text")]
)
def test_errors_name_row_column_value_and_sku(cell, code):
    result = read(f"SKU,Qty\nA,1\nB,{cell}\n")
    [error] = result.errors
    assert (error.row, error.column, error.value, error.sku, error.code) == (3, "Qty", cell, "B", code)
    assert error.message


def test_totals_row_in_a_text_file_is_reported():
    result = read("sku,qty\nA,1\nTotal,1\n,1\nGrand total:,,\n")
    assert pairs(result) == [("A", 1)]
    assert [(e.row, e.code) for e in result.errors] == [
        (3, "totals_row"),
        (4, "blank_sku"),
        (5, "totals_row"),
    ]


def test_row_with_more_fields_than_the_header_is_rejected():
    result = read("sku,qty,name\nA,1,Hat\nB,2,Big, red hat\nC,3,Cap,\n")
    assert pairs(result) == [("A", 1), ("C", 3)]
    [error] = result.errors
    assert (error.row, error.code, error.value) == (3, "row_too_long", " red hat")


def test_short_rows_are_padded():
    result = read("sku,name,qty\nA,Hat\n")
    assert pairs(result) == [("A", None)]


def test_quote_left_open_at_the_end_is_reported_not_imported():
    result = read('sku,qty,note\nA,1,ok\nB,2,"never closed\nC,3,x\nD,4,y\n')
    assert pairs(result) == [("A", 1)]
    [error] = result.errors
    assert (error.row, error.code) == (3, "unclosed_quote")
    assert "lines 3-5" in error.message


def test_quote_missing_in_the_middle_swallows_rows_with_a_warning():
    result = read('sku,qty,note\nA,1,"oops\nB,2,x\nC,3,"y\nD,4,z\n')
    assert pairs(result) == [("A", 1), ("D", 4)]
    [warning] = result.warnings
    assert (warning.row, warning.column, warning.code) == (2, "note", "suspect_quote")
    assert "lines 2-4" in warning.message


def test_legitimate_multiline_notes_raise_no_warning():
    result = read('sku;qty;note\n"A";"1";"bin 4 | shelf 2\n\n| box 3"\n"B";"2";""\n')
    assert pairs(result) == [("A", 1), ("B", 2)]
    assert result.warnings == []


def test_a_runaway_quote_is_refused_with_its_line():
    text = 'sku,qty,note\nA,1,ok\nB,2,"open\n' + "".join(f"X{n},1,x\n" for n in range(20000))
    with pytest.raises(FileRefused, match="starts on line 3"):
        read(text)


def test_multiline_last_record_that_is_closed_is_fine():
    result = read('sku,qty,note\nA,1,"two\nlines"')
    assert pairs(result) == [("A", 1)]
    assert result.errors == []


# --- file kinds and inputs --------------------------------------------------------------------


def test_path_inputs(tmp_path):
    path = tmp_path / "stock.csv"
    path.write_bytes(b"sku,qty\nA,1\n")
    assert pairs(read_stock_file(path, path.name)) == [("A", 1)]
    assert pairs(read_stock_file(str(path), path.name)) == [("A", 1)]


def test_missing_path_is_refused(tmp_path):
    with pytest.raises(FileRefused, match="could not be opened"):
        read_stock_file(tmp_path / "nope.csv", "nope.csv")


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n\r\n  \n"])
def test_empty_files_are_refused(data):
    with pytest.raises(FileRefused, match="empty"):
        read(data)


@pytest.mark.parametrize("name", ["stock.tsv", "stock.tab", "stock.TXT", "stock", "stock.dat", "stock.xls"])
def test_text_under_other_names_is_read_as_text(name):
    result = read("sku\tqty\nA\t1\n", name)
    assert result.file_kind == "text"
    assert pairs(result) == [("A", 1)]


def test_html_saved_as_xls_is_refused():
    with pytest.raises(FileRefused, match="web page"):
        read(b"<html><table><tr><td>sku</td></tr></table></html>", "export.xls")


def test_progress_is_reported():
    text = "sku,qty\n" + "".join(f"S{n},{n}\n" for n in range(12000))
    calls = []
    result = read_stock_file(text.encode(), "big.csv", progress=calls.append)
    assert calls[:2] == [5000, 10000]
    assert calls[-1] == result.rows == 12000


@pytest.mark.parametrize("data", ["sku,qty\n", "Stock list\nsku,qty\r\n", "sku,qty\n,\n\n"])
def test_header_without_data_rows_is_one_file_level_warning(data):
    """Not refused (a header was found, unlike an empty file) but never a silent "0 rows":
    one warning with no row says so and why nothing changes."""
    result = read(data)
    assert (result.rows, result.records, result.errors) == (0, [], [])
    [warning] = result.warnings
    assert (warning.row, warning.column, warning.value, warning.code) == (None, None, None, "no_data_rows")
    assert warning.message == (
        f"The file has a header (row {result.header_row}) but no data rows below it, so nothing changes."
    )
