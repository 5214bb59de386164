"""Order pulls from the four carts, end to end: engine + real adapters + fakes over HTTP.

Every scenario runs against Shopify, WooCommerce, BigCommerce and Square: a new
order takes stock once however often it is pulled and whichever route brings it,
edits are reconciled, cancels and refunds with restock put stock back, paging
and a 429 mid-way lose nothing, unknown SKUs are reported, and the store's
switch keeps everything off.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from integrations import services, tasks
from integrations.fakes.bigcommerce import BigCommerceFake
from integrations.fakes.shopify import ShopifyFake
from integrations.fakes.square import SquareFake
from integrations.fakes.woocommerce import WooCommerceFake
from integrations.models import CartReturn, Integration, SyncRun
from inventory.api.tokens import create_token
from inventory.models import InventoryItem, StockLedgerEntry
from inventory.orders import Order

from .conftest import SCALE

# --- one driver per cart: how a shopper or the seller changes an order there -------------------------


class Cart:
    kind = ""
    fake_class: type
    unpaid_takes_stock = False  # the cart itself commits stock before payment

    def __init__(self, fake):
        self.fake = fake

    def integration(self, store, **options) -> Integration:
        integration = Integration(
            store=store,
            kind=self.kind,
            role=Integration.CART,
            name=self.kind.title(),
            slug=f"{self.kind}-main",
            base_url=self.fake.url,
            inventory_sync=True,
            first_push_confirmed=True,
            reconcile_hours=0,
            options=options,
            **self.location(),
        )
        integration.credentials = self.credentials()
        integration.save()
        return integration

    def location(self) -> dict:
        return {}

    def stock(self, *skus):
        for sku in skus:
            self.fake.add_product(sku, 0)

    def unpaid(self, lines) -> str:
        raise NotImplementedError

    def pay(self, oid) -> None:
        raise NotImplementedError

    def orders_path(self) -> str:
        raise NotImplementedError


class ShopifyCart(Cart):
    kind = "shopify"
    fake_class = ShopifyFake
    unpaid_takes_stock = True

    def credentials(self):
        return {"access_token": self.fake.access_token}

    def location(self):
        return {"location_id": f"gid://shopify/Location/{self.fake.default_location}"}

    def place(self, lines, at=None):
        return str(self.fake.add_order(lines, at=at))

    def edit(self, oid, lines):
        self.fake.edit_order(int(oid), lines)

    def cancel(self, oid):
        self.fake.cancel_order(int(oid))

    def refund(self, oid, lines, restock=True):
        self.fake.refund_order(int(oid), lines, restock=restock)

    def unpaid(self, lines):
        return str(self.fake.add_order(lines, financial="PENDING"))

    def pay(self, oid):
        self.fake.set_order_status(int(oid), financial="PAID")

    def orders_path(self):
        return r"graphql\.json$"


class WooCart(Cart):
    kind = "woocommerce"
    fake_class = WooCommerceFake

    def credentials(self):
        return {"consumer_key": self.fake.consumer_key, "consumer_secret": self.fake.consumer_secret}

    def place(self, lines, at=None):
        return str(self.fake.add_order(lines, at=at))

    def edit(self, oid, lines):
        self.fake.edit_order(int(oid), lines)

    def cancel(self, oid):
        self.fake.set_order_status(int(oid), "cancelled")

    def refund(self, oid, lines, restock=True):
        self.fake.refund_order(int(oid), lines, restock=restock)

    def unpaid(self, lines):
        return str(self.fake.add_order(lines, status="pending"))

    def pay(self, oid):
        self.fake.set_order_status(int(oid), "processing")

    def orders_path(self):
        return r"/wc/v3/orders$"


class BigCommerceCart(Cart):
    kind = "bigcommerce"
    fake_class = BigCommerceFake

    def credentials(self):
        return {"store_hash": self.fake.store_hash, "access_token": self.fake.access_token}

    def place(self, lines, at=None):
        return str(self.fake.add_order(lines, at=at))

    def edit(self, oid, lines):
        self.fake.edit_order(int(oid), lines)

    def cancel(self, oid):
        self.fake.set_order_status(int(oid), 5)

    def refund(self, oid, lines, restock=True):
        self.fake.refund_order(int(oid), lines)

    def unpaid(self, lines):
        return str(self.fake.add_order(lines, status_id=0))  # Incomplete: the checkout was not finished

    def pay(self, oid):
        self.fake.set_order_status(int(oid), 11)

    def orders_path(self):
        return r"/v2/orders$"


class SquareCart(Cart):
    kind = "square"
    fake_class = SquareFake

    def credentials(self):
        return {"access_token": self.fake.access_token}

    def location(self):
        return {"location_id": self.fake.default_location}

    def place(self, lines, at=None):
        return self.fake.add_order(lines, at=at)

    def edit(self, oid, lines):
        self.fake.edit_order(oid, lines)

    def cancel(self, oid):
        self.fake.set_order_state(oid, "CANCELED")

    def refund(self, oid, lines, restock=True):
        self.fake.return_items(oid, lines)

    def unpaid(self, lines):
        return self.fake.add_order(lines, paid=False)

    def pay(self, oid):
        self.fake.set_order_state(oid, "OPEN", paid=True)

    def orders_path(self):
        return r"/v2/orders/search$"


CARTS = [ShopifyCart, WooCart, BigCommerceCart, SquareCart]


@pytest.fixture(autouse=True)
def scaled_adapters(monkeypatch, client):
    """Every adapter the engine builds shares the tests' scaled clock."""
    original = services.build_adapter
    monkeypatch.setattr(
        services, "build_adapter", lambda integration, client_=None: original(integration, client)
    )


@pytest.fixture
def shop(store):
    store.reduce_stock_on_order_import = True
    store.restock_on_cancel = True
    store.save()
    return store


@pytest.fixture(params=CARTS, ids=[cls.kind for cls in CARTS])
def cart(request):
    cls = request.param
    fake = cls.fake_class(time_scale=SCALE)
    with fake:
        yield cls(fake)


@pytest.fixture
def connected(shop, cart):
    """The cart's integration, after the first pull that sets the cursor to now."""
    integration = cart.integration(shop)
    first = services.pull_orders(integration)
    assert first is not None and first.status == SyncRun.OK and "First order pull" in first.message
    return integration


def stocks(store):
    return dict(InventoryItem.objects.active().filter(store=store).values_list("code", "stock"))


def pull(integration) -> SyncRun:
    run = services.pull_orders(integration)
    assert run is not None
    assert run.status in (SyncRun.OK, SyncRun.PARTIAL), run.message
    return run


# --- taking off once ------------------------------------------------------------------------------


def test_a_new_order_takes_stock_once_however_often_it_is_pulled(shop, make_items, cart, connected):
    make_items(shop, {"A": 10, "B": 5})
    cart.stock("A", "B")
    oid = cart.place({"A": 2, "B": 1})
    run = pull(connected)
    assert stocks(shop) == {"A": 8, "B": 4}
    assert (run.counts["seen"], run.counts["new"], run.counts["units_out"]) == (1, 1, 3)
    order = Order.objects.get(store=shop, origin=connected.slug, external_id=oid)
    assert order.takes_stock and order.version
    again = pull(connected)  # the overlap reads the order again: nothing changes
    assert stocks(shop) == {"A": 8, "B": 4}
    assert again.counts["new"] == 0 and again.counts["units_out"] == 0
    assert Order.objects.filter(store=shop).count() == 1
    assert StockLedgerEntry.objects.filter(reference=order.reference).count() == 2


def test_an_order_forwarded_to_the_api_and_pulled_counts_once(shop, make_items, cart, connected):
    make_items(shop, {"A": 10})
    cart.stock("A")
    oid = cart.place({"A": 3})
    client = APIClient()
    _token, key = create_token("forwarder", [shop])
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = {"origin": connected.slug, "external_id": oid, "status": "paid", "lines": [{"code": "A", "quantity": 3}]}
    response = client.post(f"/api/v1/stores/{shop.slug}/orders/", body, format="json")
    assert response.status_code == 201, response.content
    assert stocks(shop) == {"A": 7}
    run = pull(connected)
    assert stocks(shop) == {"A": 7}
    assert run.counts["seen"] == 1 and run.counts["new"] == 0 and run.counts["units_out"] == 0
    # And the other way round: pulled first, then forwarded.
    second = cart.place({"A": 1})
    pull(connected)
    body.update(external_id=second, lines=[{"code": "A", "quantity": 1}])
    assert client.post(f"/api/v1/stores/{shop.slug}/orders/", body, format="json").json()["taken_off"] == {}
    assert stocks(shop) == {"A": 6}


def test_an_edited_order_is_reconciled(shop, make_items, cart, connected):
    make_items(shop, {"A": 10, "B": 10})
    cart.stock("A", "B")
    oid = cart.place({"A": 2, "B": 1})
    pull(connected)
    cart.edit(oid, {"A": 5})
    run = pull(connected)
    assert stocks(shop) == {"A": 5, "B": 9}
    assert run.counts["updated"] == 1 and run.counts["units_out"] == 3
    cart.edit(oid, {"A": 1, "B": 0})
    pull(connected)
    assert stocks(shop) == {"A": 9, "B": 10}


def test_a_cancel_puts_stock_back_once(shop, make_items, cart, connected):
    make_items(shop, {"A": 10})
    cart.stock("A")
    oid = cart.place({"A": 4})
    pull(connected)
    assert stocks(shop) == {"A": 6}
    cart.cancel(oid)
    run = pull(connected)
    assert stocks(shop) == {"A": 10}
    assert run.counts["units_back"] == 4
    assert Order.objects.get(external_id=oid).status == Order.CANCELLED
    pull(connected)
    assert stocks(shop) == {"A": 10}
    assert StockLedgerEntry.objects.filter(source="cancel").count() == 1


def test_a_cancel_without_restock_on_cancel_leaves_stock_out(shop, make_items, cart, connected):
    shop.restock_on_cancel = False
    shop.save()
    make_items(shop, {"A": 10})
    cart.stock("A")
    oid = cart.place({"A": 4})
    pull(connected)
    cart.cancel(oid)
    pull(connected)
    assert stocks(shop) == {"A": 6}


def test_a_refund_with_restock_puts_the_units_back_once(shop, make_items, cart, connected):
    make_items(shop, {"A": 10, "B": 10})
    cart.stock("A", "B")
    oid = cart.place({"A": 3, "B": 2})
    pull(connected)
    cart.refund(oid, {"A": 1})
    run = pull(connected)
    assert stocks(shop) == {"A": 8, "B": 8}
    assert run.counts["units_back"] == 1
    cart.refund(oid, {"A": 2})
    pull(connected)
    pull(connected)
    assert stocks(shop) == {"A": 10, "B": 8}
    assert sorted(StockLedgerEntry.objects.filter(source="refund").values_list("delta", flat=True)) == [1, 2]
    if cart.kind == "square":
        assert CartReturn.objects.filter(integration=connected, source_id=oid).count() == 2


@pytest.mark.parametrize("kind", ["shopify", "woocommerce"])
def test_a_refund_without_restock_leaves_stock_out(shop, make_items, kind):
    cls = {c.kind: c for c in CARTS}[kind]
    with cls.fake_class(time_scale=SCALE) as fake:
        cart = cls(fake)
        integration = cart.integration(shop)
        services.pull_orders(integration)
        make_items(shop, {"A": 10})
        cart.stock("A")
        oid = cart.place({"A": 3})
        pull(integration)
        cart.refund(oid, {"A": 2}, restock=False)
        pull(integration)
        assert stocks(shop) == {"A": 7}


def test_an_unpaid_order_takes_stock_as_the_cart_does(shop, make_items, cart, connected):
    """Shopify commits stock for unpaid orders; the others only once paid (see each adapter)."""
    make_items(shop, {"A": 10})
    cart.stock("A")
    oid = cart.unpaid({"A": 2})
    pull(connected)
    assert stocks(shop) == {"A": 8 if cart.unpaid_takes_stock else 10}
    assert Order.objects.filter(external_id=oid).exists()
    cart.pay(oid)
    pull(connected)
    pull(connected)
    assert stocks(shop) == {"A": 8}


# --- paging, rate limits, failures, reports -----------------------------------------------------


def test_paging_across_several_pages_records_every_order_once(shop, make_items, cart):
    integration = cart.integration(shop, orders_page_size=4)
    services.pull_orders(integration)
    make_items(shop, {"A": 100})
    cart.stock("A")
    now = time.time()
    ids = [cart.place({"A": 1}, at=now - 3 + n * 0.25) for n in range(11)]
    run = pull(integration)
    assert stocks(shop) == {"A": 89}
    assert run.counts["new"] == 11 and run.counts["seen"] == 11
    assert set(Order.objects.filter(store=shop).values_list("external_id", flat=True)) == set(ids)
    assert len(cart.fake.requests(path_regex=cart.orders_path())) >= 3
    integration.refresh_from_db()
    assert integration.orders_cursor is not None and integration.last_orders_at is not None


def test_a_429_in_the_middle_of_paging_is_waited_out(shop, make_items, cart):
    integration = cart.integration(shop, orders_page_size=3)
    services.pull_orders(integration)
    make_items(shop, {"A": 100})
    cart.stock("A")
    now = time.time()
    for n in range(8):
        cart.place({"A": 2}, at=now - 3 + n * 0.3)
    cart.fake.inject(cart.orders_path(), 429, times=2, skip=1, headers={"Retry-After": "1"})
    run = pull(integration)
    assert run.status == SyncRun.OK
    assert stocks(shop) == {"A": 84}
    statuses = [r.status for r in cart.fake.requests(path_regex=cart.orders_path())]
    assert statuses.count(429) == 2 and statuses[0] == 200


def test_the_cursor_moves_only_past_recorded_pages(shop, make_items, cart):
    integration = cart.integration(shop, orders_page_size=3)
    services.pull_orders(integration)
    start = Integration.objects.get(pk=integration.pk).orders_cursor
    make_items(shop, {"A": 100})
    cart.stock("A")
    now = time.time()
    for n in range(8):
        cart.place({"A": 1}, at=now - 3 + n * 0.3)
    cart.fake.inject(cart.orders_path(), 503, times=50, skip=1)  # down after the first page
    failed = services.pull_orders(integration)
    assert failed.status == SyncRun.FAILED
    recorded = Order.objects.filter(store=shop).count()
    assert 0 < recorded < 8 and stocks(shop) == {"A": 100 - recorded}
    cursor = Integration.objects.get(pk=integration.pk).orders_cursor
    assert cursor is not None and cursor >= start
    cart.fake.clear_faults()
    pull(integration)
    assert stocks(shop) == {"A": 92} and Order.objects.filter(store=shop).count() == 8


def test_an_unknown_sku_is_reported_not_fatal(shop, make_items, cart, connected):
    make_items(shop, {"A": 10})
    cart.stock("A", "GHOST")
    cart.place({"A": 1, "GHOST": 2})
    run = pull(connected)
    assert run.status == SyncRun.PARTIAL
    assert stocks(shop) == {"A": 9}
    assert run.counts["unknown_skus"] == 1
    assert [error["sku"] for error in run.item_errors] == ["GHOST"]


def test_the_first_pull_starts_from_now(shop, make_items, cart):
    make_items(shop, {"A": 10})
    cart.stock("A")
    cart.place({"A": 5}, at=time.time() - 3600)  # history the stock already reflects
    integration = cart.integration(shop)
    first = services.pull_orders(integration)
    assert first.counts["seen"] == 0
    pull(integration)
    assert stocks(shop) == {"A": 10} and not Order.objects.exists()


def test_store_switch_off_means_no_pull(shop, make_items, cart, connected):
    make_items(shop, {"A": 10})
    cart.stock("A")
    shop.reduce_stock_on_order_import = False
    shop.save()
    cart.place({"A": 2}, at=time.time() - 60)
    assert services.pull_orders(connected) is None
    assert [run.kind for run in services.sync(connected, trigger="manual")] == [SyncRun.PUSH]
    assert stocks(shop) == {"A": 10}
    assert Integration.objects.get(pk=connected.pk).orders_cursor is None
    # Turned on again: pulls start from then, the order placed meanwhile is not replayed.
    shop.reduce_stock_on_order_import = True
    shop.save()
    services.pull_orders(connected)
    pull(connected)
    assert stocks(shop) == {"A": 10}


def test_paused_store_and_cart_without_sync_pull_nothing(shop, make_items, cart, connected):
    make_items(shop, {"A": 10})
    cart.stock("A")
    cart.place({"A": 2})
    shop.sync_paused = True
    shop.save()
    assert services.pull_orders(connected) is None and services.sync(connected) == []
    shop.sync_paused = False
    shop.save()
    pull(connected)  # a pause keeps the cursor: the order placed meanwhile is taken now
    assert stocks(shop) == {"A": 8}


# --- one code path: schedule, API, admin ----------------------------------------------------------


@pytest.fixture
def shopify():
    with ShopifyFake(time_scale=SCALE) as fake:
        yield ShopifyCart(fake)


def test_the_scheduled_task_pulls_orders_before_it_pushes(shop, make_items, shopify):
    integration = shopify.integration(shop)
    make_items(shop, {"A": 10})
    shopify.stock("A")
    assert tasks.scheduled_sync(integration.pk) == "orders:ok, push:ok"  # first: the cursor starts now
    assert shopify.fake.level("A") == 10
    shopify.place({"A": 3})
    Integration.objects.filter(pk=integration.pk).update(
        orders_cursor=Integration.objects.get(pk=integration.pk).orders_cursor - timedelta(seconds=1)
    )
    assert tasks.scheduled_sync(integration.pk) == "orders:ok, push:ok"
    assert stocks(shop) == {"A": 7}
    assert shopify.fake.level("A") == 7  # the same run pushed the new count
    kinds = list(SyncRun.objects.filter(integration=integration).order_by("id").values_list("kind", flat=True))
    assert kinds == ["orders", "push", "orders", "push"]


def test_failing_order_pulls_are_not_hidden_by_pushes_that_land(shop, make_items, inbox):
    """Each scheduled run pushes fine while its order pull fails: the cart is failing, the
    failures add up to the sync-trouble mail, and the first order pull that works clears it."""
    shop.low_stock_recipients = "ops@example.com"
    shop.save()
    with WooCommerceFake(time_scale=SCALE) as fake:
        woo = WooCart(fake)
        integration = woo.integration(shop)
        make_items(shop, {"A": 10})
        woo.stock("A")
        assert tasks.scheduled_sync(integration.pk) == "orders:ok, push:ok"
        fake.inject(woo.orders_path(), 503, times=1000)
        for failures in (1, 2, 3):
            InventoryItem.objects.filter(store=shop, code="A").update(stock=10 - failures)  # a push is due
            assert tasks.scheduled_sync(integration.pk) == "orders:failed, push:ok"
            assert fake.stock("A") == 10 - failures
            integration.refresh_from_db()
            assert (integration.status, integration.consecutive_failures) == (Integration.FAILING, failures)
        [message] = inbox.take()
        assert "Woocommerce" in message["subject"] and "3 time(s)" in message["body"]
        fake.clear_faults()
        assert tasks.scheduled_sync(integration.pk) == "orders:ok, push:ok"
    integration.refresh_from_db()
    assert (integration.status, integration.consecutive_failures) == (Integration.OK, 0)
    assert inbox.take() == []  # one mail per incident


def test_a_push_requested_by_a_stock_change_does_not_pull_orders(shop, make_items, shopify):
    integration = shopify.integration(shop)
    make_items(shop, {"A": 10})
    shopify.stock("A")
    Integration.objects.filter(pk=integration.pk).update(push_pending=True)
    run = services.run_pending_push(integration.pk, sleep=lambda seconds: None)
    assert run.kind == SyncRun.PUSH
    assert not SyncRun.objects.filter(kind=SyncRun.ORDERS).exists()


def test_api_sync_and_admin_sync_now_pull_orders(shop, make_items, shopify, admin_client):
    from django.urls import reverse

    integration = shopify.integration(shop)
    services.pull_orders(integration, trigger="schedule")
    make_items(shop, {"A": 10})
    shopify.stock("A")
    shopify.place({"A": 2})
    client = APIClient()
    _token, key = create_token("script", [shop])
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.post(f"/api/v1/stores/{shop.slug}/integrations/{integration.slug}/sync/")
    assert response.status_code == 200, response.content
    assert [run["kind"] for run in response.json()] == ["orders", "push"]
    assert response.json()[0]["counts"]["new"] == 1 and stocks(shop) == {"A": 8}
    shopify.place({"A": 1})
    admin_client.post(reverse("admin:integrations_integration_sync", args=[integration.pk]))
    assert stocks(shop) == {"A": 7}
    assert SyncRun.objects.filter(integration=integration, kind=SyncRun.ORDERS, trigger="manual").count() == 1


# --- numbered pages that shift under the reader -------------------------------------------------


def test_walk_modified_survives_an_order_modified_while_paging():
    """Page 1 is read; then order 1 is modified (it jumps to the end) and every later
    order slides one place up. Plain page numbers would now skip order 4; the walk
    restarts from the newest change seen and misses nothing."""
    from datetime import UTC, datetime

    from integrations.adapters.base import RemoteOrder, walk_modified

    base = datetime(2026, 1, 1, tzinfo=UTC)
    table = {n: base + timedelta(seconds=10 * n) for n in range(1, 8)}

    def order(n):
        return RemoteOrder(str(n), int(table[n].timestamp()), table[n], "paid", True, ())

    calls = []

    def fetch(after, page, size=3):
        calls.append((after, page))
        rows = sorted((n for n in table if table[n] > after), key=lambda n: (table[n], n))
        answer = [order(n) for n in rows[(page - 1) * size : page * size]], page * size < len(rows)
        if len(calls) == 1:
            table[1] = base + timedelta(seconds=500)  # modified right after page 1 was read
        return answer

    seen = [o.external_id for page in walk_modified(fetch, base) for o in page]
    assert sorted(set(seen)) == [str(n) for n in range(1, 8)]
    assert seen.count("1") == 2  # once as first read, once at its new version
    assert all(page == 1 for _after, page in calls)


# --- what the fakes enforce on the order endpoints ------------------------------------------------


def test_shopify_throttles_order_pages_with_a_200_and_the_adapter_waits(shop, make_items):
    with ShopifyFake(time_scale=SCALE, graphql_bucket=600, graphql_restore=1) as fake:
        cart = ShopifyCart(fake)
        integration = cart.integration(shop, orders_page_size=10)
        services.pull_orders(integration)
        make_items(shop, {"A": 100})
        cart.stock("A")
        for _ in range(25):
            cart.place({"A": 1})
        fake.cost_bucket.drain()  # another app just spent the bucket (it restores slowly: 1 point a second)
        run = pull(integration)
        assert run.counts["new"] == 25 and stocks(shop) == {"A": 75}
        assert fake.throttled >= 1  # answered THROTTLED (HTTP 200), waited, asked again


def test_fakes_refuse_malformed_order_queries(client):
    import requests

    with SquareFake(time_scale=SCALE) as fake:
        headers = {"Authorization": f"Bearer {fake.access_token}"}
        body = {
            "location_ids": [fake.default_location],
            "query": {
                "filter": {"date_time_filter": {"updated_at": {"start_at": "2026-01-01T00:00:00Z"}}},
                "sort": {"sort_field": "CREATED_AT"},
            },
        }
        answer = requests.post(f"{fake.url}/v2/orders/search", json=body, headers=headers, timeout=5)
        assert answer.status_code == 400 and "sort_field" in answer.text
        body["query"]["sort"]["sort_field"] = "UPDATED_AT"
        body["cursor"] = "forged:3"
        assert requests.post(f"{fake.url}/v2/orders/search", json=body, headers=headers, timeout=5).status_code == 400
        del body["location_ids"]
        del body["cursor"]
        assert requests.post(f"{fake.url}/v2/orders/search", json=body, headers=headers, timeout=5).status_code == 400
        assert requests.post(f"{fake.url}/v2/orders/search", json={}, timeout=5).status_code == 401
    with BigCommerceFake(time_scale=SCALE) as fake:
        url = f"{fake.url}/stores/{fake.store_hash}/v2/orders"
        headers = {"X-Auth-Token": fake.access_token}
        empty = requests.get(url, params={"min_date_modified": "2026-01-01T00:00:00+00:00"}, headers=headers, timeout=5)
        assert empty.status_code == 204 and empty.headers["X-Rate-Limit-Requests-Left"]
        bad = requests.get(url, params={"limit": 500}, headers=headers, timeout=5)
        assert bad.status_code == 400 and bad.json()[0]["status"] == 400
        assert requests.get(url, timeout=5).status_code == 401
    with WooCommerceFake(time_scale=SCALE) as fake:
        from integrations.adapters.woocommerce import WooCommerceAdapter

        adapter = WooCommerceAdapter(
            base_url=fake.url,
            credentials={"consumer_key": fake.consumer_key, "consumer_secret": fake.consumer_secret},
            client=client,
        )
        with pytest.raises(services.AdapterError) as info:
            adapter._call("GET", "orders", params={"orderby": "total"}, label="orders")
        assert info.value.code == "rest_invalid_param"
        oid = fake.add_order({"X": 2})
        fake.refund_order(oid, {"X": 1})
        [refund] = adapter._call("GET", f"orders/{oid}/refunds", label="refunds").json()
        assert refund["line_items"][0]["quantity"] == -1
        assert requests.get(f"{fake.url}/wp-json/wc/v3/orders", timeout=5).status_code == 401
