"""Known answers for what a new user met with ``import_stock`` (design §6, README import_stock).

Every refusal here has the shape of a refused file: exit status 2 and, with ``--json``,
one object with ``applied: false`` and one error whose ``row`` is null.
"""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from imports import services
from imports.models import ImportJob
from imports.tests import workbooks
from inventory.models import InventoryItem


def run_cli(path, *args, store="main"):
    """Run import_stock with --json: (exit status, the JSON object printed)."""
    out = io.StringIO()
    try:
        call_command("import_stock", str(path), "--store", store, "--json", *args, stdout=out)
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    return code, json.loads(out.getvalue())


def xlsx_bytes(rows, title="Stock"):
    return workbooks.xlsx_bytes(rows, title)


def stocks(store):
    return dict(InventoryItem.objects.active().filter(store=store).values_list("code", "stock"))


# -- 1. a bad metadata cell points at its own column and value ------------------------------


def metadata_errors(job):
    return [e for e in job.errors if e["column"] and e["column"].lower().startswith("metadata")]


def test_bad_metadata_cell_names_its_header_and_value_in_a_csv(store, make_items, tmp_path):
    """The user's file: row 3's metadata:max is abc. Before the fix the error said column
    "metadata" and value "NEW-B" (the SKU); it must say the header as written and the cell."""
    path = tmp_path / "stock.csv"
    path.write_text("sku,qty,metadata:max\nNEW-A,1,5\nNEW-B,2,abc\n")
    code, result = run_cli(path, "--create-missing")
    assert code == 0
    [error] = result["errors"]
    assert (error["row"], error["column"], error["value"]) == (3, "metadata:max", "abc")
    assert "NEW-B" in error["message"]
    assert stocks(store) == {"NEW-A": 1}


def test_bad_metadata_cells_of_existing_items_keep_the_header_as_written(store, make_items):
    """Each key's own column, spelled as in the file (case, spaces, @cart suffix)."""
    make_items(store, {"A-1": 1, "B-2": 1})
    text = (
        "sku,quantity,Metadata: Max@Amazon-US,metadata:skip_push,metadata:code_replace\n"
        "A-1,5,lots,maybe,\n"
        "B-2,3,,,NOPE-9\n"
    )
    job = services.run(services.create_job(store, content=text.encode(), filename="stock.csv"))
    found = sorted((e["row"], e["column"], e["value"]) for e in metadata_errors(job))
    assert found == [
        (2, "Metadata: Max@Amazon-US", "lots"),
        (2, "metadata:skip_push", "maybe"),
        (3, "metadata:code_replace", "NOPE-9"),
    ]
    assert all(e["message"].startswith(("A-1: ", "B-2: ")) for e in metadata_errors(job))
    assert not InventoryItem.objects.get(code="A-1").metadata.exists()


def test_metadata_problem_across_two_columns_points_at_the_one_blamed(store, make_items):
    """max below min is one problem of two cells: it names the column the rules blame."""
    make_items(store, {"A-1": 1})
    text = "sku,quantity,metadata:min,metadata:max\nA-1,5,10,2\n"
    job = services.run(services.create_job(store, content=text.encode(), filename="stock.csv"))
    [error] = metadata_errors(job)
    assert (error["row"], error["column"], error["value"]) == (2, "metadata:max", "2")


def test_bad_metadata_cell_names_its_header_and_value_in_a_workbook(store, make_items):
    make_items(store, {"A-1": 1})
    data = xlsx_bytes([["SKU", "Qty", "METADATA:max"], ["A-1", 4, "abc"]])
    job = services.run(services.create_job(store, content=data, filename="stock.xlsx"))
    [error] = metadata_errors(job)
    assert (error["row"], error["column"], error["value"]) == (2, "METADATA:max", "abc")


# -- 2. --header-row 0 ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-2"])
def test_header_row_below_one_is_refused(store, tmp_path, value):
    """The admin form refuses it (at least 1); the command used to drop 0 silently."""
    path = tmp_path / "stock.csv"
    path.write_text("sku,qty\nA,1\n")
    with pytest.raises(CommandError, match=r"--header-row.*at least 1.*" + value):
        call_command("import_stock", str(path), "--store", "main", f"--header-row={value}", stdout=io.StringIO())
    assert not ImportJob.objects.exists()


# -- 3. --sheet on a text file --------------------------------------------------------------


@pytest.mark.parametrize("name", ["stock.csv", "stock.tsv", "stock.txt"])
def test_sheet_option_on_a_text_file_is_refused(store, make_items, tmp_path, name):
    make_items(store, {"A": 0})
    path = tmp_path / name
    path.write_text("sku\tqty\nA\t1\n" if name != "stock.csv" else "sku,qty\nA,1\n")
    code, result = run_cli(path, "--sheet", "Foo")
    assert code == 2
    assert result["applied"] is False and result["job"] is None
    [error] = result["errors"]
    assert error["row"] is None
    assert error["message"] == f"--sheet applies to workbooks (.xlsx, .xls, .ods); {name} is a text file."
    assert stocks(store) == {"A": 0} and not ImportJob.objects.exists()


def test_sheet_option_refusal_without_json_goes_to_stderr(store, tmp_path):
    path = tmp_path / "stock.csv"
    path.write_text("sku,qty\nA,1\n")
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_stock", str(path), "--store", "main", "--sheet", "Foo", stdout=io.StringIO(), stderr=err)
    assert exit_info.value.code == 2
    assert "stock.csv is a text file" in err.getvalue()


def test_sheet_option_follows_the_content_not_the_name(store, make_items, tmp_path):
    """A workbook saved under a .csv name is read as a workbook, so --sheet applies to it."""
    make_items(store, {"A": 0})
    path = tmp_path / "stock.csv"
    path.write_bytes(xlsx_bytes([["sku", "qty"], ["A", 3]], title="Foo"))
    code, result = run_cli(path, "--sheet", "Foo")
    assert (code, result["applied"], stocks(store)) == (0, True, {"A": 3})


# -- 4. a header and no data rows -----------------------------------------------------------


@pytest.mark.parametrize("text", ["sku,qty\n", "sku,qty", "sku,qty\n\n,\n"])
def test_header_without_data_rows_is_reported(store, make_items, tmp_path, text):
    """The file is read (exit 0, applied as the README says of a file read) but the user is
    told nothing changed, and why: one file-level warning."""
    make_items(store, {"A": 4})
    path = tmp_path / "stock.csv"
    path.write_text(text)
    code, result = run_cli(path)
    assert (code, result["rows"], result["changed"], result["errors"]) == (0, 0, 0, [])
    [warning] = result["warnings"]
    assert warning["row"] is None
    assert "header" in warning["message"] and "no data rows" in warning["message"]
    assert "nothing changes" in warning["message"]
    assert stocks(store) == {"A": 4}
    out = io.StringIO()
    call_command("import_stock", str(path), "--store", "main", stdout=out)
    assert "warning: file: " in out.getvalue() and "no data rows" in out.getvalue()


def test_workbook_header_without_data_rows_is_reported(store, tmp_path):
    path = tmp_path / "stock.xlsx"
    path.write_bytes(xlsx_bytes([["sku", "qty"]]))
    code, result = run_cli(path)
    assert code == 0
    [warning] = result["warnings"]
    assert warning["row"] is None and "sheet 'Stock'" in warning["message"]
    assert "no data rows" in warning["message"]
