"""The sync engine end to end: database + engine + real adapters + fakes over HTTP."""

from __future__ import annotations

import pytest
from django_q.models import Schedule

from integrations import services
from integrations.fakes.shipbob import ShipBobFake
from integrations.fakes.shopify import ShopifyFake
from integrations.models import Integration, PushState, SyncRun
from inventory import services as stock_services
from inventory.models import InventoryItem, StockLedgerEntry

from .conftest import SCALE

SHOPIFY_TOKEN = "shpat_fake_token"


@pytest.fixture(autouse=True)
def scaled_adapters(monkeypatch, client):
    """Every adapter the engine builds shares the tests' scaled clock."""
    original = services.build_adapter
    monkeypatch.setattr(
        services, "build_adapter", lambda integration, client_=None: original(integration, client)
    )


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
        location_id=f"gid://shopify/Location/{shopify.default_location}",
        inventory_sync=True,
        first_push_confirmed=True,
        reconcile_hours=0,
    )
    integration.credentials = {"access_token": SHOPIFY_TOKEN}
    integration.webhook_secret = "whsec-test"
    integration.save()
    return integration


def writes(fake):
    return [r for r in fake.requests("POST", r"graphql\.json$") if b"inventorySetQuantities" in r.body]


def states(integration):
    return {s.item.code: s for s in PushState.objects.filter(integration=integration).select_related("item")}


def test_push_end_to_end_then_nothing_to_send(store, make_items, cart, shopify):
    items = make_items(store, {"A-1": 70, "B-2": 3, "C-3": 9, "GONE": 4})
    stock_services.set_metadata(items["A-1"], {"adjustment_percent": "50"})
    stock_services.set_metadata(items["B-2"], {"min": "3"})
    stock_services.set_metadata(items["C-3"], {"max": "25", "max@shop": "5"})
    for sku in ("A-1", "B-2", "C-3"):
        shopify.add_product(sku, 1)
    run = services.push(cart)
    assert run.status == SyncRun.PARTIAL
    assert (shopify.level("A-1"), shopify.level("B-2"), shopify.level("C-3")) == (35, 0, 5)
    assert run.counts["confirmed"] == 3 and run.counts["failed"] == 1
    [error] = run.item_errors
    assert error["sku"] == "GONE"  # a SKU the cart does not have: an error, never "synced"
    pushed = states(cart)
    assert pushed["A-1"].last_confirmed == 35 and pushed["A-1"].remote_id
    assert pushed["GONE"].last_confirmed is None and pushed["GONE"].last_error
    before = len(shopify.requests())
    again = services.push(cart)
    assert again.counts["planned"] == 0  # the unknown SKU is not tried again while nothing changed
    assert again.counts["still_failing"] == 1 and [e["sku"] for e in again.item_errors] == ["GONE"]
    assert len(shopify.requests()) == before  # no call at all: nothing changed


TOO_HIGH = 1_000_000_001  # over the fake Shopify's (and Shopify's) cap of 1,000,000,000


def test_an_item_the_cart_refused_is_not_sent_again_until_something_changes(store, make_items, cart, shopify):
    """Known answer: a SKU missing from the cart and a quantity over its cap fail once; the
    following pushes with nothing changed make no call and still list both as failing."""
    items = make_items(store, {"OK-1": 3, "GONE": 4, "BIG": TOO_HIGH})
    shopify.add_product("OK-1", 0)
    shopify.add_product("BIG", 0)
    first = services.push(cart)
    assert (first.counts["planned"], first.counts["confirmed"], first.counts["failed"]) == (3, 1, 2)
    refused = states(cart)
    assert refused["BIG"].refused_quantity == TOO_HIGH and "higher than" in refused["BIG"].last_error
    assert refused["GONE"].refused_quantity == 4 and "not found" in refused["GONE"].last_error
    calls = len(shopify.requests())
    for _ in range(3):
        again = services.push(cart)
        assert again.counts["planned"] == 0 and again.counts["failed"] == 0
        assert again.counts["still_failing"] == 2 and again.status == SyncRun.PARTIAL
        assert {e["sku"] for e in again.item_errors} == {"BIG", "GONE"}
        assert "higher than" in next(e["error"] for e in again.item_errors if e["sku"] == "BIG")
    assert len(shopify.requests()) == calls  # not one call: nothing changed
    assert states(cart)["BIG"].last_error  # still shown as failing (admin, dashboard)

    # Its told quantity changes: sent again, and it lands.
    stock_services.set_item_stock(items["BIG"], 7, source="admin")
    run = services.push(cart)
    assert run.counts["planned"] == 1 and run.counts["confirmed"] == 1 and shopify.level("BIG") == 7
    assert states(cart)["BIG"].refused_quantity is None and states(cart)["BIG"].last_error == ""

    # The SKU is added to the cart: nothing in the hub changed, so a reconcile (scheduled, or
    # "Reconcile now") is what sends it again.
    shopify.add_product("GONE", 0)
    assert services.push(cart).counts["planned"] == 0
    services.reconcile(cart)
    run = services.push(cart)
    assert run.counts["planned"] == 1 and run.counts["confirmed"] == 1 and shopify.level("GONE") == 4
    assert run.status == SyncRun.OK and run.item_errors == []


def test_a_refused_item_is_sent_again_when_a_webhook_marks_it(store, make_items, cart, shopify):
    make_items(store, {"BIG": TOO_HIGH})
    shopify.add_product("BIG", 0)
    services.push(cart)
    assert services.push(cart).counts["planned"] == 0
    PushState.objects.filter(integration=cart).update(needs_reconcile=True)  # what a webhook does
    assert services.push(cart).counts["planned"] == 1


def test_a_refused_sku_renamed_in_the_hub_is_sent_under_its_new_sku(store, make_items, cart, shopify):
    item = make_items(store, {"GONE": 4})["GONE"]
    shopify.add_product("GONE-1", 0)
    services.push(cart)
    assert services.push(cart).counts["still_failing"] == 1
    item.code = "GONE-1"
    item.save(update_fields=["code", "updated_at"])  # as the admin and the API rename
    assert not PushState.objects.filter(item=item).exists()  # the mapping of the old SKU is gone
    run = services.push(cart)
    assert run.counts["confirmed"] == 1 and shopify.level("GONE-1") == 4


def test_a_changed_connection_sends_refused_items_again(admin_client, store, make_items, cart, shopify):
    from django.urls import reverse

    make_items(store, {"BIG": TOO_HIGH})
    shopify.add_product("BIG", 0)
    services.push(cart)
    url = reverse("admin:integrations_integration_change", args=[cart.pk])
    data = {
        "store": store.pk, "kind": "shopify", "role": "cart", "name": "Shop", "slug": "shop",
        "base_url": cart.base_url, "location_id": cart.location_id, "location_name": "", "inventory_sync": "on",
        "schedule_minutes": 15, "reconcile_hours": 0, "product_code_match": "", "options": "{}",
        "initial-options": "{}",  # what the page sends along (a field with a callable default)
        "credentials_text": "", "webhook_secret_text": "",
        "runs-TOTAL_FORMS": 0, "runs-INITIAL_FORMS": 0, "runs-MIN_NUM_FORMS": 0, "runs-MAX_NUM_FORMS": 0,
    }
    assert admin_client.post(url, {**data, "name": "Shop renamed"}).status_code == 302
    assert services.push(cart).counts["planned"] == 0  # a new name changes nothing at the cart
    assert admin_client.post(url, {**data, "credentials_text": f"access_token={SHOPIFY_TOKEN}"}).status_code == 302
    assert services.push(cart).counts["planned"] == 1  # another account may take it


def test_an_item_that_failed_on_a_transient_error_is_sent_again(store, make_items, cart, shopify):
    """503s, 429s and timeouts say nothing about the item: the next push sends it again."""
    item = make_items(store, {"A-1": 5})["A-1"]
    shopify.add_product("A-1", 0)
    services.push(cart)
    stock_services.set_item_stock(item, 6, source="admin")
    shopify.inject(r"graphql\.json$", 503, times=50, method="POST")
    failed = services.push(cart)
    assert failed.counts["failed"] == 1 and shopify.level("A-1") == 5
    assert states(cart)["A-1"].last_error and states(cart)["A-1"].refused_quantity is None
    shopify.clear_faults()
    run = services.push(cart)
    assert run.counts["planned"] == 1 and run.counts["confirmed"] == 1 and shopify.level("A-1") == 6


def test_reconcile_now_button_sends_refused_items_again(admin_client, store, make_items, cart, shopify):
    from django.urls import reverse

    make_items(store, {"GONE": 4})
    services.push(cart)
    shopify.add_product("GONE", 0)
    admin_client.post(reverse("admin:integrations_integration_sync", args=[cart.pk]))
    assert shopify.level("GONE") == 0  # Sync now: nothing changed, nothing sent
    admin_client.post(reverse("admin:integrations_integration_reconcile", args=[cart.pk]))
    assert shopify.level("GONE") == 4


def test_new_cart_starts_in_preview(store, make_items, cart, shopify):
    Integration.objects.filter(pk=cart.pk).update(first_push_confirmed=False)
    cart.refresh_from_db()
    make_items(store, {"A-1": 7})
    shopify.add_product("A-1", 1)
    run = services.push(cart)
    assert run.kind == SyncRun.PREVIEW and run.details == [{"sku": "A-1", "quantity": 7, "cart_had": None}]
    assert shopify.level("A-1") == 1 and writes(shopify) == []
    assert Integration.objects.get(pk=cart.pk).status == Integration.PREVIEW
    runs = services.confirm_first_push(cart)
    assert runs[-1].kind == SyncRun.PUSH and shopify.level("A-1") == 7


def test_a_preview_with_wrong_credentials_fails_before_anyone_confirms_it(store, make_items, cart, shopify):
    Integration.objects.filter(pk=cart.pk).update(first_push_confirmed=False)
    cart.refresh_from_db()
    cart.credentials = {"access_token": "wrong-token-1234"}
    cart.save()
    make_items(store, {"A-1": 7})
    run = services.push(cart)
    assert run.kind == SyncRun.PREVIEW and run.status == SyncRun.FAILED
    cart.refresh_from_db()
    assert cart.status == Integration.FAILING and cart.last_error and "wrong-token" not in cart.last_error


def test_skip_push_and_replaced_skus(store, make_items, cart, shopify):
    items = make_items(store, {"B": 10, "C": 7, "BUNDLE": 0, "HIDDEN": 5})
    stock_services.set_metadata(items["BUNDLE"], {"code_replace": "B,C,C"})
    stock_services.set_metadata(items["HIDDEN"], {"skip_push": "1"})
    for sku in ("B", "C", "BUNDLE", "HIDDEN"):
        shopify.add_product(sku, 0)
    services.push(cart)
    assert (shopify.level("BUNDLE"), shopify.level("HIDDEN")) == (3, 0)


def test_stale_cart_value_is_corrected(store, make_items, cart, shopify):
    item = make_items(store, {"A-1": 5})["A-1"]
    shopify.add_product("A-1", 0)
    services.push(cart)
    shopify.set_level("A-1", 2)  # someone changed the cart
    stock_services.set_item_stock(item, 6, source="admin")
    run = services.push(cart)
    assert shopify.level("A-1") == 6
    assert run.counts["drift"] == 1


def test_reconcile_finds_and_corrects_drift(store, make_items, cart, shopify):
    make_items(store, {"A-1": 5, "B-2": 4})
    shopify.add_product("A-1", 0)
    shopify.add_product("B-2", 0)
    services.push(cart)
    shopify.set_level("B-2", 40)
    run = services.reconcile(cart)
    assert run.counts == {"checked": 2, "corrected": 1, "to_retry": 0}
    assert run.details == [{"sku": "B-2", "we_confirmed": 4, "cart_held": 40}]
    services.push(cart)
    assert shopify.level("B-2") == 4


def test_webhook_echo_causes_nothing_other_change_marks_reconcile(
    store, make_items, cart, shopify, monkeypatch
):
    make_items(store, {"A-1": 5})
    shopify.add_product("A-1", 0)
    services.push(cart)
    requested = []
    monkeypatch.setattr(
        services, "request_push", lambda store_ids, trigger="change": requested.append(store_ids)
    )
    headers, body = shopify.webhook("A-1", "whsec-test")
    assert services.handle_webhook(cart, headers, body) == {"changes": 1, "echoes": 1, "marked": 0}
    assert requested == []
    shopify.set_level("A-1", 9)
    headers, body = shopify.webhook("A-1", "whsec-test")
    assert services.handle_webhook(cart, headers, body)["marked"] == 1
    assert requested == [[store.pk]]
    assert states(cart)["A-1"].needs_reconcile is True
    with pytest.raises(services.WebhookRejected):
        services.handle_webhook(cart, headers, body.replace(b"9", b"8"))


def test_webhook_view_verifies_signature(client_django, store, make_items, cart, shopify):
    make_items(store, {"A-1": 5})
    shopify.add_product("A-1", 0)
    services.push(cart)
    headers, body = shopify.webhook("A-1", "whsec-test")
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
    url = f"/integrations/webhooks/{cart.pk}/"
    response = client_django.post(url, body, content_type="application/json", **extra)
    assert response.status_code == 200 and response.json()["echoes"] == 1
    extra["HTTP_X_SHOPIFY_HMAC_SHA256"] = "forged"
    assert client_django.post(url, body, content_type="application/json", **extra).status_code == 401


def test_a_signed_webhook_with_a_malformed_count_is_400_not_a_server_error(client_django, cart):
    import base64
    import hashlib
    import hmac

    body = b'{"inventory_item_id": "abc", "available": "x"}'
    signature = base64.b64encode(hmac.new(b"whsec-test", body, hashlib.sha256).digest()).decode()
    response = client_django.post(
        f"/integrations/webhooks/{cart.pk}/", body, content_type="application/json",
        HTTP_X_SHOPIFY_HMAC_SHA256=signature, HTTP_X_SHOPIFY_TOPIC="inventory_levels/update",
    )
    assert response.status_code == 400
    assert response.content.decode() == "Shopify webhook: the count 'x' is not a whole number"


@pytest.mark.parametrize("value, expected", [(None, None), (3, 3), ("7", 7), (2.0, 2)])
def test_webhook_quantities_read_whole_numbers(value, expected):
    from integrations.adapters.base import webhook_quantity

    assert webhook_quantity(value, "X") == expected


@pytest.mark.parametrize("value", ["x", 2.5, True, [], ""])
def test_webhook_quantities_refuse_anything_else(value):
    from integrations.adapters.base import AdapterError, webhook_quantity

    with pytest.raises(AdapterError, match="is not a whole number"):
        webhook_quantity(value, "X")


@pytest.fixture
def client_django(client):
    from django.test import Client

    return Client()


def test_burst_of_changes_makes_one_push_request(
    store, make_items, cart, monkeypatch, django_capture_on_commit_callbacks
):
    items = make_items(store, {f"S{n}": n for n in range(50)})
    queued = []
    monkeypatch.setattr("inventory.tasks.async_task", lambda *a, **k: queued.append(a))
    Integration.objects.filter(pk=cart.pk).update(push_pending=False)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(20):
            for item in items.values():
                stock_services.adjust_item_stock(item, 1, source="api")
    pushes = [call for call in queued if call[0] == "integrations.tasks.run_pending_push"]
    assert pushes == [("integrations.tasks.run_pending_push", cart.pk)]
    assert Integration.objects.get(pk=cart.pk).push_pending is True


def test_lease_allows_one_run_at_a_time(store, cart):
    with services.lease(cart) as first, services.lease(cart) as second:
        assert (first, second) == (True, False)
        assert services.sync(cart) == []
    with services.lease(cart) as again:
        assert again is True


def test_schedule_follows_settings(cart):
    schedule = Schedule.objects.get(name=f"integration-sync-{cart.pk}")
    assert (schedule.func, schedule.minutes) == ("integrations.tasks.scheduled_sync", 15)
    cart.schedule_minutes = 5
    cart.save()
    cart.save()
    assert Schedule.objects.filter(name=f"integration-sync-{cart.pk}").count() == 1
    assert Schedule.objects.get(name=f"integration-sync-{cart.pk}").minutes == 5
    cart.inventory_sync = False
    cart.save()
    assert not Schedule.objects.filter(name=f"integration-sync-{cart.pk}").exists()


def test_paused_store_does_not_sync(store, cart):
    store.sync_paused = True
    store.save()
    assert services.sync(cart) == []


def test_credentials_encrypted_and_masked(cart):
    raw = Integration.objects.filter(pk=cart.pk).values_list("credentials_encrypted", flat=True).get()
    assert SHOPIFY_TOKEN not in raw
    assert Integration.objects.get(pk=cart.pk).credentials == {"access_token": SHOPIFY_TOKEN}
    assert cart.masked_credentials() == {"access_token": "••••" + SHOPIFY_TOKEN[-4:]}


def test_credentials_are_checked_against_the_keys_the_service_takes():
    from django.core.exceptions import ValidationError

    assert services.check_credentials("woocommerce", {"consumer_key": "ck_1", "consumer_secret": "cs_1"}) == {
        "consumer_key": "ck_1", "consumer_secret": "cs_1",
    }
    with pytest.raises(ValidationError) as refused:
        services.check_credentials("shopify", {"access_token": "SUPERSECRET", "extra_key": "LEAKME"})
    assert refused.value.messages == ["Shopify does not take extra_key. Shopify takes: access_token."]
    with pytest.raises(ValidationError) as missing:
        services.check_credentials("bigcommerce", {"access_token": "t", "store_hash": " "})
    assert missing.value.messages == ["BigCommerce needs: store_hash. BigCommerce takes: store_hash, access_token."]


def test_masked_credentials_mask_every_value(cart):
    cart.credentials = {"access_token": SHOPIFY_TOKEN, "extra_key": "LEAKME", "shop": "my-very-own-shop"}
    assert cart.masked_credentials() == {
        "access_token": "••••" + SHOPIFY_TOKEN[-4:], "extra_key": "••••", "shop": "••••shop",
    }


# --- pull -----------------------------------------------------------------------


@pytest.fixture
def shipbob():
    with ShipBobFake(time_scale=SCALE) as fake:
        yield fake


@pytest.fixture
def warehouse(store, shipbob):
    integration = Integration(
        store=store,
        kind="shipbob",
        role=Integration.FULFILLMENT,
        name="ShipBob",
        slug="shipbob",
        base_url=shipbob.url,
        inventory_sync=True,
    )
    integration.credentials = {"token": shipbob.token}
    integration.save()
    return integration


def test_pull_applies_counts_and_reports(store, make_items, warehouse, shipbob):
    items = make_items(store, {"A-1": 1, "B-2": 2, "KEEP": 3})
    stock_services.set_metadata(items["KEEP"], {"skip_pull@shipbob": "1"})
    shipbob.add_item("A-1", 40)
    shipbob.add_item("B-2", 2)
    shipbob.add_item("KEEP", 99)
    shipbob.add_item("STRANGER", 5)
    run = services.pull(warehouse)
    assert run.status == SyncRun.OK, run.message
    stock = dict(InventoryItem.objects.filter(store=store).values_list("code", "stock"))
    assert stock == {"A-1": 40, "B-2": 2, "KEEP": 3}
    assert {k: run.counts[k] for k in ("changed", "unchanged", "unknown", "skipped")} == {
        "changed": 1,
        "unchanged": 1,
        "unknown": 1,
        "skipped": 1,
    }
    entry = StockLedgerEntry.objects.get(item=items["A-1"], source="pull")
    assert entry.reference == run.reference and entry.delta == 39


def test_pull_failure_is_recorded_and_counted(store, warehouse, shipbob):
    warehouse.credentials = {"token": "wrong-secret-token"}
    warehouse.save()
    run = services.pull(warehouse)
    assert run.status == SyncRun.FAILED
    warehouse.refresh_from_db()
    assert warehouse.status == Integration.FAILING and warehouse.consecutive_failures == 1
    assert "wrong-secret-token" not in run.message + warehouse.last_error


def test_an_integration_without_an_address_is_refused_when_saved_and_says_what_to_fill_in(store):
    from django.core.exceptions import ValidationError

    integration = Integration(store=store, kind="shopify", role=Integration.CART, name="Shop", slug="s")
    with pytest.raises(ValidationError) as refused:
        integration.full_clean(exclude=["credentials_encrypted"])
    assert refused.value.message_dict["base_url"] == [
        "Enter the Shopify address, or set the option 'shop' (https://{shop}.myshopify.com)."
    ]
    integration.options = {"shop": "acme"}
    assert integration.service_address() == "https://acme.myshopify.com"
    integration.credentials = {"access_token": SHOPIFY_TOKEN}
    assert services.build_adapter(integration).base_url == "https://acme.myshopify.com"


def test_an_error_fixed_without_a_change_of_count_is_cleared(store, make_items, cart, shopify):
    """A bundle whose part was renamed away shows an error; renamed back, the cart already
    holds the right count, so nothing is sent, and the old error must not stay."""
    items = make_items(store, {"MUG": 4, "SET": 0})
    stock_services.set_metadata(items["SET"], {"code_replace": "MUG"})
    shopify.add_product("MUG", 0)
    shopify.add_product("SET", 0)
    services.push(cart)
    assert states(cart)["SET"].last_confirmed == 4 and states(cart)["SET"].last_error == ""
    mug = InventoryItem.objects.get(pk=items["MUG"].pk)
    InventoryItem.objects.filter(pk=mug.pk).update(code="MUG-X")  # the part renamed away
    services.push(cart)
    assert "MUG" in states(cart)["SET"].last_error
    InventoryItem.objects.filter(pk=mug.pk).update(code="MUG")  # and back
    run = services.push(cart)
    assert run.counts["planned"] == 0
    assert states(cart)["SET"].last_error == "" and states(cart)["SET"].error_at is None
