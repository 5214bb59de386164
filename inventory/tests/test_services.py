"""Stock services: ledger for every change, bulk paths, no lost updates."""

import threading

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.db.models import Sum

from inventory import services
from inventory.models import InventoryItem, StockLedgerEntry, Store
from inventory.signals import stock_changed


def ledger_sum(item):
    return StockLedgerEntry.objects.filter(item=item).aggregate(total=Sum("delta"))["total"] or 0


def test_set_stock_writes_one_entry_per_changed_item(store, make_items):
    items = make_items(store, {"A-1": 8, "A-2": 3, "A-3": 0})
    changes = services.set_stock(
        {items["A-1"].pk: 5, items["A-2"].pk: 3, items["A-3"].pk: -2},
        source="import",
        reference="import:1",
    )
    assert [(c.item_id, c.before, c.after, c.delta) for c in changes] == [
        (items["A-1"].pk, 8, 5, -3),
        (items["A-3"].pk, 0, -2, -2),
    ]
    for item in InventoryItem.objects.filter(store=store):
        assert ledger_sum(item) == item.stock
    entry = StockLedgerEntry.objects.get(item=items["A-1"], reference="import:1")
    assert (entry.delta, entry.stock_after, entry.source, entry.stock_before) == (-3, 5, "import", 8)
    assert InventoryItem.objects.get(pk=items["A-1"].pk).update_source == "import"
    assert not StockLedgerEntry.objects.filter(item=items["A-2"], reference="import:1").exists()


def test_adjust_stock_goes_below_zero(store, make_items):
    item = make_items(store, {"A-1": 1})["A-1"]
    change = services.adjust_item_stock(item, -3, source="order", reference="order:9")
    assert (change.before, change.after) == (1, -2)
    assert item.stock == -2
    assert ledger_sum(item) == -2


def test_zero_adjustment_writes_nothing(store, make_items):
    item = make_items(store, {"A-1": 4})["A-1"]
    assert services.adjust_stock({item.pk: 0}, source="api") == []
    assert StockLedgerEntry.objects.filter(item=item).count() == 1


@pytest.mark.parametrize("size", [3, 499, 501, 2500])
def test_bulk_paths_agree(store, size):
    """The VALUES path and the temp-table path give the same result."""
    ids = services.create_items(
        store, [{"code": f"S{n:05d}", "stock": n} for n in range(size)], source="import"
    )
    counts = {item_id: (n * 7) % 11 - 3 for n, item_id in enumerate(ids.values())}
    changes = services.set_stock(counts, source="import", reference="import:2")
    expected = sum(1 for n, item_id in enumerate(ids.values()) if n != counts[item_id])
    assert len(changes) == expected
    stocks = dict(InventoryItem.objects.filter(store=store).values_list("id", "stock"))
    assert stocks == counts
    deltas = dict(
        StockLedgerEntry.objects.filter(item__store=store)
        .values("item_id")
        .annotate(total=Sum("delta"))
        .values_list("item_id", "total")
    )
    assert deltas == {item_id: stock for item_id, stock in stocks.items() if stock != 0 or item_id in deltas}
    # twice in one transaction (temp table dropped and made again)
    services.adjust_stock(dict.fromkeys(ids.values(), 1), source="api")
    assert (
        InventoryItem.objects.filter(store=store).aggregate(s=Sum("stock"))["s"]
        == sum(counts.values()) + size
    )


def test_values_must_be_whole_numbers(store, make_items):
    item = make_items(store, {"A-1": 4})["A-1"]
    with pytest.raises(TypeError):
        services.set_stock({item.pk: 2.5}, source="api")
    with pytest.raises(ValueError):
        services.set_stock({item.pk: 2}, source="nonsense")


def test_signal_sent_after_commit(store, make_items, django_capture_on_commit_callbacks):
    item = make_items(store, {"A-1": 4})["A-1"]
    seen = []

    def listener(sender, store_ids, item_ids, source, **kwargs):
        seen.append((store_ids, item_ids, source))

    stock_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.set_item_stock(item, 9, source="admin")
            assert seen == []
        assert seen == [([store.pk], [item.pk], "admin")]
    finally:
        stock_changed.disconnect(listener)


def test_check_ledger_names_broken_items(store, make_items, capsys):
    items = make_items(store, {"A-1": 4, "B-2": 6})
    call_command("check_ledger")
    assert "Every item matches its ledger (2 checked)" in capsys.readouterr().out
    # A change that bypasses the services is exactly what the command exists to catch.
    InventoryItem.objects.filter(pk=items["B-2"].pk).update(stock=7)
    with pytest.raises(SystemExit) as exit_info:
        call_command("check_ledger")
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "B-2" in out and "A-1" not in out and "stock 7" in out and "ledger 6" in out


def test_check_ledger_refuses_a_store_that_does_not_exist(store):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="No store with slug 'nosuch'"):
        call_command("check_ledger", "--store", "nosuch")


@pytest.mark.django_db(transaction=True)
def test_no_lost_update_under_concurrency():
    """bad-inputs #21: two (here eight) workers take stock off at once; none is lost."""
    store = Store.objects.create(name="Race", slug="race")
    ids = services.create_items(
        store, [{"code": "A", "stock": 10}, {"code": "B", "stock": 10}], source="admin"
    )
    errors = []

    def worker(n):
        try:
            for _ in range(15):
                # both orders of the two rows, to provoke a deadlock if locks were unordered
                pair = [ids["A"], ids["B"]] if n % 2 else [ids["B"], ids["A"]]
                services.adjust_stock({pair[0]: -1, pair[1]: -2}, source="order")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stocks = dict(InventoryItem.objects.filter(store=store).values_list("code", "stock"))
    assert stocks == {"A": 10 - 180, "B": 10 - 180}
    for item in InventoryItem.objects.filter(store=store):
        assert ledger_sum(item) == item.stock
    assert connection.vendor in {"sqlite", "postgresql"}


def test_the_stock_writer_is_prepared_on_postgresql_after_a_few_runs(store, make_items):
    """Planning the writer cost more than running it; on PostgreSQL each connection prepares it once."""
    items = make_items(store, {"A-1": 100, "A-2": 100})
    for _ in range(6):
        services.adjust_stock({items["A-1"].pk: -1, items["A-2"].pk: -1}, source="order", reference="order:1")
    assert InventoryItem.objects.get(pk=items["A-1"].pk).stock == 94
    if connection.vendor != "postgresql":
        return  # SQLite caches its own statements
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%locked AS%"])
        prepared = [row[0] for row in cursor.fetchall()]
    assert len(prepared) == 1 and "FOR UPDATE" in prepared[0]


def test_changed_metadata_marks_the_item_changed_and_unchanged_metadata_writes_nothing(store, make_items):
    item = make_items(store, {"A-1": 1})["A-1"]
    InventoryItem.objects.filter(pk=item.pk).update(updated_at="2020-01-01T00:00:00Z")
    services.set_metadata(item, {"max": "5"})
    first = InventoryItem.objects.get(pk=item.pk).updated_at
    assert first.year > 2020
    InventoryItem.objects.filter(pk=item.pk).update(updated_at="2020-01-01T00:00:00Z")
    services.set_metadata(item, {"max": "5"})  # the same again
    assert InventoryItem.objects.get(pk=item.pk).updated_at.year == 2020
