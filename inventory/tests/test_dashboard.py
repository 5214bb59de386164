"""The admin front page: per-store counts, connection health, item errors and
recent imports, each store limited to its members and in a fixed number of queries."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from imports.models import ImportJob
from integrations.models import Integration, PushState, SyncRun
from inventory import dashboard, services
from inventory.models import InventoryItem, Store, StoreMembership


@pytest.fixture
def other_store(db):
    return Store.objects.create(name="Other shop", slug="other")


def text(html: str) -> str:
    """The words of a piece of page, tags removed and spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def set_meta(item, **metadata):
    services.set_metadata(item, {key: str(value) for key, value in metadata.items()})


def low_codes(store):
    return set(
        InventoryItem.objects.active()
        .filter(store=store)
        .filter(dashboard.low_stock_q())
        .values_list("code", flat=True)
    )


# --- low stock and oversold ------------------------------------------------------------


def test_low_stock_follows_item_metadata_then_store_threshold(store, make_items):
    store.low_stock_threshold = 5
    store.save()
    items = make_items(
        store, {"AT-5": 5, "ABOVE": 6, "OVERSOLD": -2, "OWN-LOW": 15, "OWN-OK": 4, "BUNDLE": 0}
    )
    set_meta(items["OWN-LOW"], low_stock=20)  # its own threshold is higher than the store's
    set_meta(items["OWN-OK"], low_stock=2)  # its own threshold wins over the store's 5
    set_meta(items["BUNDLE"], code_replace="AT-5")  # holds no stock: the component is watched
    archived = make_items(store, {"GONE": 0})["GONE"]
    services.archive_item(archived)

    assert low_codes(store) == {"AT-5", "OVERSOLD", "OWN-LOW"}
    counts = dashboard.stock_counts([store.pk])[store.pk]
    assert counts == dashboard.StockCounts(items=6, oversold=1, low_stock=3)


def test_without_store_threshold_only_items_with_their_own_count(store, make_items):
    items = make_items(store, {"ZERO": 0, "OWN": 1})
    set_meta(items["OWN"], low_stock=1)
    assert low_codes(store) == {"OWN"}


def test_items_whose_stock_another_store_holds_are_not_low(store, other_store, make_items):
    make_items(store, {"SHARED": 0})
    other_store.inventory_source = store
    other_store.low_stock_threshold = 3
    other_store.save()
    make_items(other_store, {"SHARED": 0, "OWN-ONLY": 1})
    assert low_codes(other_store) == {"OWN-ONLY"}


def test_counts_for_many_stores_take_one_query(store, other_store, make_items):
    make_items(store, {"A": 1, "B": -1})
    make_items(other_store, {"A": 3})
    with CaptureQueriesContext(connection) as queries:
        counts = dashboard.stock_counts([store.pk, other_store.pk])
    assert len(queries) == 1
    assert counts[store.pk].items == 2 and counts[store.pk].oversold == 1
    assert counts[other_store.pk].items == 1


# --- integrations and imports ----------------------------------------------------------------


def make_integration(store, slug, role=Integration.CART, kind="shopify", **fields):
    integration = Integration(store=store, kind=kind, role=role, name=slug.title(), slug=slug, **fields)
    integration.credentials = {"access_token": "shpat_secret_token_1234"}
    integration.save()
    return integration


def test_latest_pull_and_push_per_integration(store, make_items):
    cart = make_integration(store, "shop", inventory_sync=True, status=Integration.OK)
    warehouse = make_integration(
        store,
        "wh",
        role=Integration.FULFILLMENT,
        kind="shipbob",
        status=Integration.FAILING,
        last_error="401 token refused",
    )
    SyncRun.objects.create(integration=cart, kind=SyncRun.PUSH, status=SyncRun.OK, counts={"confirmed": 1})
    latest = SyncRun.objects.create(
        integration=cart,
        kind=SyncRun.PUSH,
        status=SyncRun.PARTIAL,
        counts={"confirmed": 2, "failed": 1, "item_errors": 1},
        item_errors=[{"sku": "X", "error": "not in the cart"}],
    )
    pull = SyncRun.objects.create(
        integration=warehouse, kind=SyncRun.PULL, status=SyncRun.FAILED, message="401 token refused"
    )
    health = {h.name: h for h in dashboard.integration_health([store.pk])[store.pk]}
    assert health["Shop"].last_push.id == latest.pk and health["Shop"].last_push.item_error_count == 1
    assert health["Shop"].last_pull is None and health["Shop"].pushes
    assert health["Wh"].last_pull.id == pull.pk and health["Wh"].status == "failing"
    assert health["Wh"].last_error == "401 token refused"


def test_failed_items_and_recent_imports(store, make_items):
    items = make_items(store, {"A": 1, "B": 2, "C": 3})
    cart = make_integration(store, "shop")
    now = timezone.now()
    PushState.objects.create(
        integration=cart, item=items["A"], last_error="SKU A is not in the cart.", error_at=now
    )
    PushState.objects.create(integration=cart, item=items["B"], last_confirmed=2)
    PushState.objects.create(integration=cart, item=items["C"], last_error="old", error_at=now)
    InventoryItem.objects.filter(pk=items["C"].pk).update(archived_at=now)  # no longer pushed: not counted
    assert dashboard.failed_item_counts([store.pk]) == {store.pk: 1}
    [failed] = dashboard.failed_items(store)
    assert (failed.code, failed.integration, failed.error) == ("A", "Shop", "SKU A is not in the cart.")

    for number in range(7):
        ImportJob.objects.create(
            store=store,
            original_name=f"stock-{number}.csv",
            status=ImportJob.APPLIED,
            counts={"changed": number},
            preview=[["A", 1, 2]] * 1000,
        )
    jobs = dashboard.recent_imports(store)
    assert [job.name for job in jobs] == [f"stock-{n}.csv" for n in range(6, 1, -1)]
    assert jobs[0].counts == {"changed": 6}


def test_whole_dashboard_costs_a_fixed_number_of_queries_per_store(db, make_items):
    stores = [Store.objects.create(name=f"Shop {n}", slug=f"shop-{n}") for n in range(4)]
    for store in stores:
        items = make_items(store, {"A": 1, "B": -1})
        cart = make_integration(store, "shop")
        SyncRun.objects.create(integration=cart, kind=SyncRun.PUSH, status=SyncRun.OK)
        PushState.objects.create(integration=cart, item=items["A"], last_error="refused")
        ImportJob.objects.create(store=store, original_name="x.csv", status=ImportJob.PREVIEWED)
    with CaptureQueriesContext(connection) as queries:
        boards = dashboard.store_dashboards(stores)
    assert len(queries) <= 4 + 2 * len(stores)
    assert [board.counts.oversold for board in boards] == [1, 1, 1, 1]
    assert all(board.needs_attention for board in boards)


# --- the page ---------------------------------------------------------------------------------


@pytest.fixture
def admin_user(db, django_user_model):
    return django_user_model.objects.create_superuser("boss", "boss@example.com", None)


def test_front_page_shows_each_store_at_a_glance(client, admin_user, store, other_store, make_items):
    store.low_stock_threshold = 2
    store.save()
    items = make_items(store, {"LOW-1": 1, "MINUS-1": -3, "FINE-1": 40})
    cart = make_integration(store, "shop", inventory_sync=True, status=Integration.OK)
    SyncRun.objects.create(
        integration=cart,
        kind=SyncRun.PUSH,
        status=SyncRun.PARTIAL,
        counts={"confirmed": 2, "failed": 1, "item_errors": 1},
    )
    PushState.objects.create(
        integration=cart, item=items["FINE-1"], last_error="Cart says: SKU unknown", error_at=timezone.now()
    )
    ImportJob.objects.create(
        store=store, original_name="count.csv", status=ImportJob.APPLIED, counts={"changed": 3, "errors": 1}
    )
    client.force_login(admin_user)
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="store-main"' in page and 'id="store-other"' in page
    assert "Your stores at a glance" in page
    main = text(page[page.index('id="store-main"') : page.index('id="store-other"')])
    assert "3 items 1 oversold 2 low stock 1 items with sync errors" in main  # low: LOW-1 and MINUS-1
    assert "Done with item errors" in main and "1 item error" in main
    assert "Cart says: SKU unknown" in main and "FINE-1" in main
    assert "count.csv" in main and "changed 3, errors 1" in main
    assert "shpat_secret_token_1234" not in page
    other = text(page[page.index('id="store-other"') :])
    assert "No cart or warehouse is connected yet" in other and "No imports yet" in other


def test_low_stock_link_lists_the_counted_items(client, admin_user, store, make_items):
    store.low_stock_threshold = 2
    store.save()
    make_items(store, {"LOW-1": 1, "MINUS-1": -3, "FINE-1": 40})
    client.force_login(admin_user)
    url = (
        reverse("admin:inventory_inventoryitem_changelist") + f"?store__id__exact={store.pk}&stock_level=low"
    )
    page = client.get(url).content.decode()
    assert ">LOW-1</a>" in page and ">MINUS-1</a>" in page and ">FINE-1</a>" not in page


def test_staff_see_only_their_stores_and_viewers_get_no_upload_link(
    db, django_user_model, store, other_store, make_items
):
    make_integration(store, "shop")
    user = django_user_model.objects.create_user("clerk", password=None, is_staff=True)
    StoreMembership.objects.create(store=store, user=user, role=StoreMembership.VIEWER)
    client = Client()
    client.force_login(user)
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="store-main"' in page and 'id="store-other"' not in page and "Other shop" not in page
    # The membership alone lets a viewer read every section, but offers no upload.
    assert "Connections" in page and "Recent imports" in page
    assert "Upload a stock file" not in page

    loner = django_user_model.objects.create_user("new", password=None, is_staff=True)
    client.force_login(loner)
    page = client.get(reverse("admin:index")).content.decode()
    assert "You are not a member of any store yet" in page
