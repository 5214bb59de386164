"""Every real seller file gives the result EXPECTED.md states, end to end.

Each case runs ``manage.py import_stock --create-missing --json`` into an empty
store and checks the JSON, the items written and the ledger.
"""

import io
import json

import pytest
from django.core.management import call_command
from django.db.models import Sum

from inventory.models import InventoryItem, StockLedgerEntry


def run_import(path, store, *args):
    out = io.StringIO()
    code = 0
    try:
        call_command("import_stock", str(path), "--store", store.slug, "--json", *args, stdout=out)
    except SystemExit as exc:
        code = exc.code
    return code, json.loads(out.getvalue())


def stock_state(store):
    items = InventoryItem.objects.filter(store=store, archived_at__isnull=True)
    return items.count(), items.aggregate(total=Sum("stock"))["total"] or 0


def assert_ledger_matches(store):
    for item in InventoryItem.objects.filter(store=store):
        total = StockLedgerEntry.objects.filter(item=item).aggregate(t=Sum("delta"))["t"] or 0
        assert total == item.stock, item.code


def messages(entries):
    return [entry["message"] for entry in entries]


@pytest.mark.parametrize(
    "name, applied, total",
    [
        ("barrida-Inventory+Report+09-13-2018.txt", 122, 2033),
        ("falconer94-FBA_inv_report.txt", 701, 259642),
        ("george-itf-All+Listings+Report_01-14-2026.txt", 107, 1024),
    ],
)
def test_clean_reports_apply_fully(real_inputs, store, name, applied, total):
    code, result = run_import(real_inputs / name, store, "--create-missing")
    assert code == 0
    assert result["applied"] is True
    assert result["errors"] == []
    assert stock_state(store) == (applied, total)
    assert result["rows"] >= applied
    assert_ledger_matches(store)


def test_fba_names_keep_cp1252_characters(real_inputs, store):
    run_import(real_inputs / "falconer94-FBA_inv_report.txt", store, "--create-missing")
    text = "".join(InventoryItem.objects.filter(store=store).values_list("name", flat=True))
    assert "…" in text and "’" in text and "®" in text


def test_all_listings_skus_keep_spaces_and_plus(real_inputs, store):
    run_import(real_inputs / "george-itf-All+Listings+Report_01-14-2026.txt", store, "--create-missing")
    codes = set(InventoryItem.objects.filter(store=store).values_list("code", flat=True))
    assert any(" " in code for code in codes)
    assert any("+" in code for code in codes)


def test_shopify_inventory_export_sums_locations(real_inputs, store):
    code, result = run_import(
        real_inputs / "volticscontent-inventory_export_1.csv", store, "--create-missing"
    )
    assert code == 0 and result["applied"] is True
    assert stock_state(store) == (18, 99)
    assert InventoryItem.objects.filter(store=store, stock__lt=0).count() == 1
    blank = [
        e for e in result["errors"] if "blank" in e["message"].lower() or "empty" in e["message"].lower()
    ]
    assert len(blank) == 489
    duplicate = [e for e in result["errors"] if "1765483662026" in (e["message"] + str(e["value"]))]
    assert duplicate, "the SKU repeated in the same locations is reported"
    assert not InventoryItem.objects.filter(store=store, code="1765483662026").exists()
    assert any("negative" in m.lower() or "oversold" in m.lower() for m in messages(result["warnings"]))


@pytest.mark.parametrize(
    "name",
    [
        "abhilasha12345-products_export_1.csv",
        "mthous72-eBay-all-active-listings-report-2026-04-30-12315361660.csv",
    ],
)
def test_files_with_an_empty_sku_column_apply_nothing(real_inputs, store, name):
    code, result = run_import(real_inputs / name, store, "--create-missing")
    assert code == 0
    assert stock_state(store) == (0, 0)
    assert result["changed"] == 0
    first = result["errors"][0]
    assert first["row"] is None and "empty" in first["message"].lower()
    assert len(result["errors"]) > 1, "per-row detail follows the summary"


def test_woocommerce_blank_stock_is_no_count(real_inputs, store):
    code, result = run_import(real_inputs / "woocommerce-sample_products.csv", store, "--create-missing")
    assert code == 0
    assert stock_state(store) == (0, 0)
    assert result["skipped"] > 0
    rows_listed = [
        w for w in result["warnings"] if w["row"] is not None and "no count" in w["message"].lower()
    ]
    assert len(rows_listed) == result["skipped"] == 25


def test_channel_named_quantity_column_is_not_guessed(real_inputs, store):
    code, result = run_import(real_inputs / "anandogs-inventory_export_1.csv", store, "--create-missing")
    assert code == 2 and result["applied"] is False
    assert len(result["errors"]) == 1 and result["errors"][0]["row"] is None
    assert "SKU, Rangsutra Online, location" in result["errors"][0]["message"]
    assert stock_state(store) == (0, 0)


def test_channel_named_quantity_column_when_named(real_inputs, store):
    code, result = run_import(
        real_inputs / "anandogs-inventory_export_1.csv",
        store,
        "--create-missing",
        "--qty-column",
        "Rangsutra Online",
    )
    assert code == 0 and result["applied"] is True
    assert stock_state(store) == (934, 3035)
    assert InventoryItem.objects.filter(store=store, stock__lt=0).count() == 7
    duplicates = [
        e
        for e in result["errors"]
        if "rows" in e["message"].lower()
        and e["row"] is not None
        and "more than once" in e["message"].lower()
        or "twice" in e["message"].lower()
    ]
    assert len(duplicates) == 6
    blank = [
        e for e in result["errors"] if "blank" in e["message"].lower() or "empty" in e["message"].lower()
    ]
    assert len(blank) == 3
    assert_ledger_matches(store)


def test_semicolon_file_without_options_stops(real_inputs, store):
    code, result = run_import(real_inputs / "ssieja-dev-lagerbestand.csv", store, "--create-missing")
    assert code == 2
    message = result["errors"][0]["message"]
    assert "Artikelnummer" in message and "Lagerbestand Lager [Im Hasseldamm]" in message


@pytest.mark.parametrize(
    "columns, total",
    [
        (["Lagerbestand Lager [Im Hasseldamm]"], 27751),
        (["Lagerbestand Lager [Im Hasseldamm]", "Lagerbestand Lager [Im Hasseldamm] 2"], None),
    ],
)
def test_semicolon_file_with_named_quantity(real_inputs, store, columns, total):
    header = (
        (real_inputs / "ssieja-dev-lagerbestand.csv").read_bytes().splitlines()[0].decode("utf-8", "replace")
    )
    warehouse_columns = [
        h.strip().strip('"') for h in header.split(";") if h.strip().strip('"').startswith("Lagerbestand")
    ]
    if total is None:
        columns, total = warehouse_columns, 27863
    args = []
    for column in columns:
        args += ["--qty-column", column]
    code, result = run_import(real_inputs / "ssieja-dev-lagerbestand.csv", store, "--create-missing", *args)
    assert code == 0 and result["applied"] is True
    assert stock_state(store) == (1071, total)
    fractional = [e for e in result["errors"] if "not a whole number" in e["message"].lower()]
    assert len(fractional) == 22
    assert any(e["value"] == "62,50" for e in fractional)


def test_workbook_title_row_without_sku_column_stops(real_inputs, store):
    code, result = run_import(real_inputs / "amitgupta1000-stock_report.xlsx", store, "--create-missing")
    assert code == 2
    message = result["errors"][0]["message"]
    assert "PRODUCT NAME" in message and "PHYSICAL STOCK ON PORT" in message


def test_workbook_with_named_columns(real_inputs, store):
    code, result = run_import(
        real_inputs / "amitgupta1000-stock_report.xlsx",
        store,
        "--create-missing",
        "--sku-column",
        "PRODUCT NAME",
        "--qty-column",
        "PHYSICAL STOCK ON PORT",
    )
    assert code == 0
    text = " ".join(messages(result["errors"])).lower()
    assert "not a whole number" in text
    assert "total" in text
    codes = set(InventoryItem.objects.filter(store=store).values_list("code", flat=True))
    assert not any(code.strip().lower().startswith("total") for code in codes)
    assert_ledger_matches(store)


def test_an_unknown_store_is_refused_with_the_json_object(real_inputs, store):
    """``--json`` always prints exactly one object, even when the store does not exist."""
    store.slug = "nosuch"  # not saved: the command looks up a slug no store has
    code, result = run_import(real_inputs / "abhilasha12345-products_export_1.csv", store)
    assert code == 2 and result["applied"] is False and result["job"] is None
    assert result["errors"] == [
        {"row": None, "column": None, "value": None, "message": "No store with slug 'nosuch'."}
    ]
