"""Shared stock end to end (design §7): an order in a linked store reaches every
store's cart, each told with its own store's safety levels, over real HTTP."""

from __future__ import annotations

import pytest

from integrations import services
from integrations.fakes.shopify import ShopifyFake
from integrations.models import Integration
from inventory import services as stock_services
from inventory.models import InventoryItem, Store
from inventory.order_services import LineIn, record_order

from .conftest import SCALE


@pytest.fixture(autouse=True)
def scaled_adapters(monkeypatch, client):
    original = services.build_adapter
    monkeypatch.setattr(services, "build_adapter", lambda integration, client_=None: original(integration, client))


@pytest.fixture
def fakes():
    with ShopifyFake(time_scale=SCALE) as warehouse_cart, ShopifyFake(time_scale=SCALE) as outlet_cart:
        yield warehouse_cart, outlet_cart


def shopify_cart(store, fake, slug):
    integration = Integration(
        store=store,
        kind="shopify",
        role=Integration.CART,
        name=slug.title(),
        slug=slug,
        base_url=fake.url,
        location_id=f"gid://shopify/Location/{fake.default_location}",
        inventory_sync=True,
        first_push_confirmed=True,
        reconcile_hours=0,
        schedule_minutes=0,
    )
    integration.credentials = {"access_token": "shpat_fake_token"}
    integration.save()
    return integration


def test_an_order_in_a_linked_store_reaches_both_carts_with_their_own_levels(
    db, make_items, fakes, monkeypatch, django_capture_on_commit_callbacks
):
    warehouse_fake, outlet_fake = fakes
    warehouse = Store.objects.create(name="Warehouse", slug="warehouse", reduce_stock_on_order_import=True)
    outlet = Store.objects.create(
        name="Outlet", slug="outlet", inventory_source=warehouse, reduce_stock_on_order_import=True
    )
    source_item = make_items(warehouse, {"SHIRT": 40})["SHIRT"]
    linked_item = make_items(outlet, {"SHIRT": 0})["SHIRT"]
    stock_services.set_metadata(source_item, {"max": "30"})
    stock_services.set_metadata(linked_item, {"adjustment_percent": "50"})
    for fake in fakes:
        fake.add_product("SHIRT", 0)
    warehouse_cart = shopify_cart(warehouse, warehouse_fake, "warehouse-web")
    outlet_cart = shopify_cart(outlet, outlet_fake, "outlet-web")
    services.push(warehouse_cart)
    services.push(outlet_cart)
    assert (warehouse_fake.level("SHIRT"), outlet_fake.level("SHIRT")) == (30, 20)  # 40 capped; half of 40

    queued = []
    monkeypatch.setattr("inventory.tasks.async_task", lambda *args, **kwargs: queued.append(args))
    monkeypatch.setattr(services, "COALESCE_SECONDS", 0)
    Integration.objects.update(push_pending=False)
    with django_capture_on_commit_callbacks(execute=True):
        record_order(outlet, origin="outlet-web", external_id="1001", status="paid", lines=[LineIn("SHIRT", 18)])

    assert InventoryItem.objects.get(pk=source_item.pk).stock == 22  # the outlet's order came off the source
    pushes = sorted(args[1] for args in queued if args[0] == "integrations.tasks.run_pending_push")
    assert pushes == sorted([warehouse_cart.pk, outlet_cart.pk])  # both stores' carts are told
    for integration_id in pushes:
        services.run_pending_push(integration_id)
    assert warehouse_fake.level("SHIRT") == 22  # below the warehouse's max of 30
    assert outlet_fake.level("SHIRT") == 11  # the outlet's own 50 %
