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


# --- store roles: a viewer looks, an editor changes -------------------------------------------------


@pytest.fixture
def member_client(db, django_user_model):
    """A logged-in staff user whose only rights come from a membership of ``store`` with ``role``."""
    from django.test import Client

    from inventory.models import StoreMembership

    def make(store, role, username="clerk"):
        user = django_user_model.objects.create_user(username, password=None, is_staff=True)
        StoreMembership.objects.create(store=store, user=user, role=role)
        client = Client()
        client.force_login(user)
        return client

    return make


def failing_cart_without_location(cart):
    Integration.objects.filter(pk=cart.pk).update(status=Integration.FAILING, last_error="was down")
    cart.refresh_from_db()
    return cart


def test_a_viewer_cannot_test_the_connection_or_sync(member_client, store, make_items, cart, shopify):
    """Test connection changes the integration (status, last error, location): like Sync now and
    Confirm first push, it is refused to a member who may only look at the store."""
    from inventory.models import StoreMembership

    failing_cart_without_location(cart)
    make_items(store, {"A-1": 4})
    shopify.add_product("A-1", 0)
    viewer = member_client(store, StoreMembership.VIEWER)
    page = viewer.get(reverse("admin:integrations_integration_change", args=[cart.pk]))
    assert page.status_code == 200
    assert "Test connection</button>" not in page.content.decode()  # no button it may not press
    for name in ("test", "sync", "confirm"):
        response = viewer.post(reverse(f"admin:integrations_integration_{name}", args=[cart.pk]))
        assert response.status_code == 302
    cart.refresh_from_db()
    assert (cart.status, cart.last_error, cart.location_id, cart.first_push_confirmed) == (
        Integration.FAILING, "was down", "", False,
    )
    assert shopify.requests() == [] and SyncRun.objects.count() == 0
    assert shopify.level("A-1") == 0
    products = reverse("admin:integrations_integration_products", args=[cart.pk])
    page = viewer.get(products, follow=True).content.decode()
    assert "not import its products" in page and "Import products</button>" not in page


def test_an_editor_tests_the_connection(member_client, store, cart, shopify):
    from inventory.models import StoreMembership

    failing_cart_without_location(cart)
    editor = member_client(store, StoreMembership.EDITOR)
    response = editor.post(reverse("admin:integrations_integration_test", args=[cart.pk]), follow=True)
    assert "Connected to Shop" in response.content.decode()
    cart.refresh_from_db()
    assert cart.status == Integration.NEW and cart.last_error == "" and cart.location_id


# --- credentials: only the keys the service takes; every value masked on the way out -----------------


def form_data(cart, **changes):
    return {
        "store": cart.store_id, "kind": cart.kind, "role": cart.role, "name": cart.name, "slug": cart.slug,
        "base_url": cart.base_url, "location_id": "", "location_name": "", "inventory_sync": "on",
        "schedule_minutes": 15, "reconcile_hours": 24, "product_code_match": "", "options": "{}",
        "credentials_text": "", "webhook_secret_text": "",
        "runs-TOTAL_FORMS": 0, "runs-INITIAL_FORMS": 0, "runs-MIN_NUM_FORMS": 0, "runs-MAX_NUM_FORMS": 0,
        **changes,
    }


def test_unknown_credential_keys_are_refused(admin_client, cart):
    url = reverse("admin:integrations_integration_change", args=[cart.pk])
    typed = "access_token=SUPERSECRETTOKEN123\nextra_key=LEAKME"
    response = admin_client.post(url, form_data(cart, credentials_text=typed))
    assert response.status_code == 200  # the form again, with the error
    page = response.content.decode()
    assert "Shopify does not take extra_key" in page and "Shopify takes: access_token" in page
    assert "LEAKME" not in page and "SUPERSECRET" not in page  # the box does not echo secrets back
    cart.refresh_from_db()
    assert cart.credentials == {"access_token": "shpat_fake_token"}


def test_stored_unknown_keys_are_masked_and_must_be_typed_again(admin_client, cart):
    cart.credentials = {"access_token": "shpat_fake_token", "extra_key": "LEAKME"}  # stored before the check
    cart.save()
    url = reverse("admin:integrations_integration_change", args=[cart.pk])
    page = admin_client.get(url).content.decode()
    assert "LEAKME" not in page and "<code>extra_key=••••</code>" in page
    response = admin_client.post(url, form_data(cart, name="Renamed"))
    assert response.status_code == 200
    assert "does not take extra_key" in response.content.decode()
    response = admin_client.post(url, form_data(cart, credentials_text="access_token=shpat_fake_token"))
    assert response.status_code == 302
    cart.refresh_from_db()
    assert cart.credentials == {"access_token": "shpat_fake_token"}
