"""stock_report and explain_quantity: with --json, a refusal is JSON too.

A script that asked for JSON parses stdout; a plain "CommandError: …" on stderr and
nothing on stdout breaks it. Mirrors import_stock --json (README): one object, exit
status non-zero.
"""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


def run_json(command, *args):
    """(exit status, the JSON printed) of a read-out run with --json."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(command, *args, "--json", stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    assert err.getvalue() == ""
    return code, json.loads(out.getvalue())


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("stock_report", ["--store", "nope"], "No store with slug 'nope'."),
        ("explain_quantity", ["--store", "nope", "--sku", "A-1"], "No store with slug 'nope'."),
        ("explain_quantity", ["--store", "main", "--sku", "ZZ-9"], "SKU 'ZZ-9' is not in Main shop."),
        ("stock_report", ["--store", "main", "--integration", "ghost"], "Main shop has no integration 'ghost'."),
    ],
)
def test_json_refusals_are_one_json_object(store, make_items, command, args, message):
    make_items(store, {"A-1": 3})
    code, result = run_json(command, *args)
    assert code == 1
    assert result == {"error": message}


@pytest.mark.parametrize(
    ("command", "args"),
    [("stock_report", ["--store", "nope"]), ("explain_quantity", ["--store", "nope", "--sku", "A-1"])],
)
def test_without_json_a_refusal_stays_a_command_error(db, command, args):
    out = io.StringIO()
    with pytest.raises(CommandError, match="No store with slug 'nope'"):
        call_command(command, *args, stdout=out)
    assert out.getvalue() == ""


def test_json_output_of_a_known_store_is_unchanged(store, make_items):
    make_items(store, {"A-1": 3})
    code, rows = run_json("stock_report", "--store", "main")
    assert code == 0
    assert [(row["code"], row["stock"], row["told"]) for row in rows] == [("A-1", 3, 3)]
    code, row = run_json("explain_quantity", "--store", "main", "--sku", "A-1")
    assert (code, row["code"], row["told"]) == (0, "A-1", 3)
