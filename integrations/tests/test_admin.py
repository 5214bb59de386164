"""The integrations admin: secrets write-only, buttons call the engine."""

import pytest
from django.urls import reverse

from integrations.fakes.shopify import ShopifyFake
from integrations.models import Integration, SyncRun

from .conftest import SCALE


@pytest.fixture
def shopify():
    with ShopifyFake(time_scale=SCALE) as fake:
        yield fake


@pytest.fixture
def cart(store, shopify):
    integration = Integration(
        store=store,
        kind="shopify",
        role=Integration.CART,
        name="Shop",
        slug="shop",
        base_url=shopify.url,
        inventory_sync=True,
    )
    integration.credentials = {"access_token": "shpat_fake_token"}
    integration.save()
    return integration


def test_credentials_are_masked_and_kept_when_left_empty(admin_client, cart):
    url = reverse("admin:integrations_integration_change", args=[cart.pk])
    page = admin_client.get(url).content.decode()
    assert "shpat_fake_token" not in page
    assert "••••oken" in page
    data = {
        "store": cart.store_id,
        "kind": "shopify",
        "role": "cart",
        "name": "Shop renamed",
        "slug": "shop",
        "base_url": cart.base_url,
        "location_id": "",
        "location_name": "",
        "inventory_sync": "on",
        "schedule_minutes": 15,
        "reconcile_hours": 24,
        "product_code_match": "",
        "options": "{}",
        "credentials_text": "",
        "webhook_secret_text": "",
        "runs-TOTAL_FORMS": 0,
        "runs-INITIAL_FORMS": 0,
        "runs-MIN_NUM_FORMS": 0,
        "runs-MAX_NUM_FORMS": 0,
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    cart.refresh_from_db()
    assert cart.name == "Shop renamed" and cart.credentials == {"access_token": "shpat_fake_token"}


def test_test_connection_and_sync_now_buttons(admin_client, store, make_items, cart, shopify, monkeypatch):
    from integrations import services
    from integrations.adapters.http import HttpClient, TimeScale

    scale = TimeScale(SCALE)
    original = services.build_adapter
    monkeypatch.setattr(
        services,
        "build_adapter",
        lambda integration, client=None: original(
            integration, HttpClient(sleep=scale.sleep, clock=scale.monotonic)
        ),
    )
    make_items(store, {"A-1": 4})
    shopify.add_product("A-1", 0)
    response = admin_client.post(reverse("admin:integrations_integration_test", args=[cart.pk]), follow=True)
    assert "Connected to Shop" in response.content.decode()
    cart.refresh_from_db()
    assert cart.location_id  # the only location was chosen
    admin_client.post(reverse("admin:integrations_integration_sync", args=[cart.pk]))
    assert SyncRun.objects.get(integration=cart).kind == SyncRun.PREVIEW  # a new cart previews first
    assert shopify.level("A-1") == 0
    admin_client.post(reverse("admin:integrations_integration_confirm", args=[cart.pk]))
    assert shopify.level("A-1") == 4


def test_item_page_explains_each_cart(admin_client, store, make_items, cart):
    from inventory import services as stock_services

    item = make_items(store, {"A-1": 100})["A-1"]
    stock_services.set_metadata(item, {"max": "25", "max@shop": "10"})
    page = admin_client.get(reverse("admin:inventory_inventoryitem_change", args=[item.pk])).content.decode()
    assert "Shop (shop)" in page and "<strong>10</strong>" in page


def test_code_match_note_on_old_item(admin_client, store, make_items):
    item = make_items(store, {"OLD-1": 0, "NEW-1": 5})["OLD-1"]
    warehouse = Integration(
        store=store,
        kind="shipbob",
        role=Integration.FULFILLMENT,
        name="Warehouse",
        slug="wh",
        product_code_match="OLD-1=NEW-1",
    )
    warehouse.credentials = {"token": "t"}
    warehouse.save()
    page = admin_client.get(reverse("admin:inventory_inventoryitem_change", args=[item.pk])).content.decode()
    assert "never move counts back to OLD-1" in page and "code_replace=NEW-1" in page
