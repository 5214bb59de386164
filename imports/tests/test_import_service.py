"""Known answers for "Matching and applying" (bad-inputs.md) and design §6."""

import io
import json

import pytest
from django.core.management import call_command
from django.db.models import Sum

from imports import services
from imports.models import ImportJob
from inventory import services as stock_services
from inventory.models import InventoryItem, ItemMetadata, StockLedgerEntry


def job_for(store, text, name="stock.csv", **kwargs):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return services.create_job(store, content=data, filename=name, **kwargs)


def stocks(store):
    return dict(InventoryItem.objects.active().filter(store=store).values_list("code", "stock"))


def test_near_miss_is_reported_with_a_hint_and_never_matched(store, make_items):
    """bad-inputs #3: 17 is unknown, with the hint that 0017 exists."""
    make_items(store, {"0017": 9})
    job = services.run(job_for(store, "sku,qty\n17,4\n"))
    assert stocks(store) == {"0017": 9}
    assert job.counts["unknown"] == 1
    [error] = job.errors
    assert error["row"] == 2 and error["value"] == "17"
    assert "0017 exists" in error["message"]


def test_scientific_notation_sku_is_rejected(store, make_items):
    """bad-inputs #4."""
    make_items(store, {"1765483662026": 1})
    job = services.run(job_for(store, "sku,quantity\n1.76548E+12,3\n"))
    assert stocks(store) == {"1765483662026": 1}
    assert job.errors and job.errors[0]["row"] == 2 and job.errors[0]["value"] == "1.76548E+12"


def test_duplicate_across_batch_boundary(store, make_items):
    """bad-inputs #13: rows 100 and 101 both SKU A; A unchanged, everything else applies."""
    codes = [f"S{n:03d}" for n in range(1, 100)]
    make_items(store, {**dict.fromkeys(codes, 0), "A": 7})
    lines = ["sku,stock"] + [f"{code},5" for code in codes[:98]] + ["A,1", "A,2", f"{codes[98]},5"]
    job = services.run(job_for(store, "\n".join(lines) + "\n"))
    assert job.status == ImportJob.APPLIED
    result = stocks(store)
    assert result["A"] == 7
    assert all(result[code] == 5 for code in codes)
    [error] = [e for e in job.errors if e["value"] == "A" or " A " in e["message"]]
    assert "100" in error["message"] and "101" in error["message"]


def test_unknown_skus_are_not_created_unless_asked(store, make_items):
    """bad-inputs #15."""
    make_items(store, {"A-1": 0})
    job = services.run(job_for(store, "sku,stock\nA-1,5\nZZ-9,3\n"))
    assert stocks(store) == {"A-1": 5}
    assert job.counts["unknown"] == 1 and "ZZ-9" in job.errors[0]["message"]
    job = services.run(job_for(store, "sku,stock\nA-1,5\nZZ-9,3\n", create_missing=True))
    assert stocks(store) == {"A-1": 5, "ZZ-9": 3}
    assert StockLedgerEntry.objects.get(item__code="ZZ-9").reference == job.reference


@pytest.mark.parametrize("mode, expected", [("set", 5), ("add", 13)])
def test_set_versus_add_with_preview(store, make_items, mode, expected):
    """bad-inputs #16: stock 8, file 5 → set 5, add 13; the preview shows 8 → 5 first."""
    make_items(store, {"A-1": 8})
    job = services.preview(job_for(store, "sku,quantity\nA-1,5\n", mode=mode))
    assert job.status == ImportJob.PREVIEWED
    assert job.preview == [["A-1", 8, expected]]
    assert stocks(store) == {"A-1": 8}
    job = services.apply(job)
    assert job.status == ImportJob.APPLIED
    assert stocks(store) == {"A-1": expected}


def test_apply_reports_skus_changed_since_preview(store, make_items):
    item = make_items(store, {"A-1": 8})["A-1"]
    job = services.preview(job_for(store, "sku,quantity\nA-1,5\n"))
    stock_services.set_item_stock(item, 6, source="order")
    job = services.apply(job)
    assert stocks(store) == {"A-1": 5}
    assert any(
        "changed since the preview" in w["message"] and "was 8, now 6" in w["message"] for w in job.warnings
    )


def test_dry_run_changes_nothing_and_cannot_be_applied(store, make_items):
    make_items(store, {"A-1": 8})
    job = services.run(job_for(store, "sku,quantity\nA-1,5\n", dry_run=True))
    assert job.status == ImportJob.PREVIEWED and job.counts["changed"] == 1
    assert stocks(store) == {"A-1": 8}
    with pytest.raises(services.ImportStateError):
        services.apply(job)


def test_undo_restores_and_leaves_later_changes_alone(store, make_items):
    items = make_items(store, {"A-1": 8, "A-2": 3})
    job = services.run(job_for(store, "sku,quantity\nA-1,5\nA-2,4\nNEW,2\n", create_missing=True))
    assert stocks(store) == {"A-1": 5, "A-2": 4, "NEW": 2}
    stock_services.adjust_item_stock(items["A-2"], -1, source="order")
    job = services.undo(job)
    assert job.status == ImportJob.UNDONE
    assert job.undo_report["left_alone"] == ["A-2"]
    assert stocks(store) == {"A-1": 8, "A-2": 3}  # NEW archived, A-2 kept at 3 (= 4 - 1)
    assert InventoryItem.objects.get(code="NEW").archived_at is not None
    for item in InventoryItem.objects.filter(store=store):
        assert StockLedgerEntry.objects.filter(item=item).aggregate(t=Sum("delta"))["t"] == item.stock
    with pytest.raises(services.ImportStateError):
        services.undo(job)


def test_applying_twice_writes_once(store, make_items):
    make_items(store, {"A-1": 8})
    job = services.run(job_for(store, "sku,quantity\nA-1,5\n"))
    again = services.apply(job)
    assert again.status == ImportJob.APPLIED
    assert StockLedgerEntry.objects.filter(reference=job.reference).count() == 1


@pytest.mark.parametrize(
    "origin, changed", [("email", False), ("ftp", False), ("upload", True), ("api", True)]
)
def test_skip_pull_protects_from_unattended_files_only(store, make_items, origin, changed):
    item = make_items(store, {"A-1": 8})["A-1"]
    stock_services.set_metadata(item, {"skip_pull": "yes"})
    job = services.run(job_for(store, "sku,quantity\nA-1,5\n", origin=origin))
    assert stocks(store)["A-1"] == (5 if changed else 8)
    if not changed:
        assert any("skip_pull" in w["message"] for w in job.warnings)


def test_detail_and_metadata_columns(store, make_items):
    make_items(store, {"A-1": 1, "B-2": 1})
    text = (
        "sku,quantity,name,price,metadata:max,metadata:max@amazon-us\nA-1,5,Red mug,4.50,25,10\nB-2,3,,,,\n"
    )
    job = services.run(job_for(store, text))
    assert job.status == ImportJob.APPLIED, job.errors
    item = InventoryItem.objects.get(code="A-1")
    assert (item.name, str(item.price)) == ("Red mug", "4.5000")
    assert dict(item.metadata.values_list("key", "value")) == {"max": "25", "max@amazon-us": "10"}
    assert not InventoryItem.objects.get(code="B-2").metadata.exists()


def test_a_negative_price_or_weight_is_reported_and_left_out(store, make_items):
    make_items(store, {"A-1": 1})
    job = services.run(job_for(store, "sku,quantity,Your Price,weight\nA-1,5,-4.50,2\n"))
    assert job.status == ImportJob.APPLIED
    [error] = job.errors
    assert (error["row"], error["column"], error["value"]) == (2, "Your Price", "-4.50")
    assert error["message"] == "Your Price cannot be negative; '-4.50' was left out."
    item = InventoryItem.objects.get(code="A-1")
    assert (item.stock, item.price, str(item.weight)) == (5, None, "2.0000")


def test_rows_whose_code_replace_conflict_with_each_other_are_reported_not_fatal(store, make_items):
    """Each cell is valid against the store as it is; together they would make a chain."""
    make_items(store, {"A": 1, "B": 1})
    job = services.run(job_for(store, "sku,qty,metadata:code_replace\nA,4,B\nB,5,A\n"))
    assert job.status == ImportJob.APPLIED, job.message
    assert job.errors  # the chain, said from both ends
    for error in job.errors:
        assert (error["row"], error["column"], error["value"]) == (3, "metadata:code_replace", "A")
        assert "chains are not allowed" in error["message"]
        assert error["message"].endswith("This row's metadata is left out; the rest of the row applies.")
    stocks = dict(InventoryItem.objects.values_list("code", "stock"))
    assert stocks == {"A": 4, "B": 5}
    meta = dict(ItemMetadata.objects.values_list("item__code", "value"))
    assert meta == {"A": "B"}
    call_command("check_ledger", store=store.slug, stdout=io.StringIO())


def test_an_apply_that_fails_leaves_the_job_failed_not_applying(store, make_items, monkeypatch):
    make_items(store, {"A": 1})
    job = services.preview(job_for(store, "sku,qty\nA,4\n"))

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services.stock_services, "write_stock_from_query", broken)
    with pytest.raises(RuntimeError):
        services.apply(job)
    job.refresh_from_db()
    assert job.status == ImportJob.FAILED and "nothing was changed" in job.message
    assert InventoryItem.objects.get(code="A").stock == 1


def test_invalid_metadata_cell_is_reported_with_row_and_value(store, make_items):
    make_items(store, {"A-1": 1})
    job = services.run(job_for(store, "sku,quantity,metadata:skip_push\nA-1,5,maybe\n"))
    [error] = job.errors
    assert error["row"] == 2 and "skip_push" in error["message"]
    assert not InventoryItem.objects.get(code="A-1").metadata.exists()


def test_cli_json_shape_and_exit_codes(store, make_items, tmp_path):
    make_items(store, {"A-1": 8})
    good = tmp_path / "good.csv"
    good.write_text("sku,quantity\nA-1,5\nZZ,1\nA-3,\n")
    out = io.StringIO()
    call_command("import_stock", str(good), "--store", "main", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert set(result) == {
        "rows",
        "changed",
        "unchanged",
        "unknown",
        "skipped",
        "errors",
        "warnings",
        "applied",
        "job",
    }
    assert (result["rows"], result["changed"], result["unknown"], result["skipped"], result["applied"]) == (
        3,
        1,
        1,
        1,
        True,
    )
    assert set(result["errors"][0]) == {"row", "column", "value", "message"}
    bad = tmp_path / "bad.csv"
    bad.write_text("name,price\nmug,3\n")
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_stock", str(bad), "--store", "main", "--json", stdout=out)
    assert exit_info.value.code == 2
    result = json.loads(out.getvalue())
    assert result["applied"] is False and result["errors"][0]["row"] is None
    assert "name, price" in result["errors"][0]["message"]
    with pytest.raises(SystemExit) as exit_info:
        call_command(
            "import_stock", str(tmp_path / "missing.csv"), "--store", "main", "--json", stdout=io.StringIO()
        )
    assert exit_info.value.code == 2


def test_large_file_goes_to_the_cluster(
    store, make_items, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.IMPORT_BACKGROUND_BYTES = 10
    make_items(store, {"A-1": 8})
    queued = []
    monkeypatch.setattr("inventory.tasks.async_task", lambda *a, **k: queued.append(a))
    with django_capture_on_commit_callbacks(execute=True):
        job = services.submit(job_for(store, "sku,quantity\nA-1,5\n"), then_apply=True)
    assert job.status == ImportJob.PENDING
    assert queued == [("imports.tasks.process_import", job.pk, True)]
    from imports.tasks import process_import

    assert process_import(job.pk, True) == ImportJob.APPLIED
    assert process_import(job.pk, True) == ImportJob.APPLIED  # safe to run twice
    assert stocks(store) == {"A-1": 5}
