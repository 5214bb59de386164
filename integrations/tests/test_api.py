"""Integrations and sync runs over /api/v1/: scoped, secrets masked, same engine."""

import pytest
from rest_framework.test import APIClient

from integrations.fakes.shipbob import ShipBobFake
from integrations.models import Integration, SyncRun
from inventory import services as stock_services
from inventory.api.tokens import create_token
from inventory.models import InventoryItem, Store

from .conftest import SCALE

SECRET = "shipbob-secret-token-123456"


@pytest.fixture
def shipbob():
    with ShipBobFake(time_scale=SCALE, token=SECRET) as fake:
        yield fake


@pytest.fixture
def warehouse(store, shipbob):
    integration = Integration(store=store, kind="shipbob", role=Integration.FULFILLMENT, name="Warehouse",
                              slug="wh", base_url=shipbob.url, inventory_sync=True)
    integration.credentials = {"token": SECRET}
    integration.save()
    return integration


def api(store):
    client = APIClient()
    _token, key = create_token("script", [store])
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_integrations_list_masks_secrets(store, warehouse):
    response = api(store).get("/api/v1/stores/main/integrations/")
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["slug"] == "wh" and row["credentials"] == {"token": "••••3456"}
    assert SECRET not in response.content.decode()


def test_every_credential_value_is_masked_whatever_its_key(store, warehouse):
    """Keys the service does not take are refused on the way in; any that are stored anyway
    (saved before that check) are masked like secrets, and so is every other value."""
    warehouse.credentials = {"token": SECRET, "extra_key": "LEAKME", "account": "acme-warehouse-7"}
    warehouse.save()
    client = api(store)
    for url in ("/api/v1/stores/main/integrations/", "/api/v1/stores/main/integrations/wh/"):
        response = client.get(url)
        assert response.status_code == 200
        body = response.content.decode()
        assert "LEAKME" not in body and SECRET not in body and "acme-warehouse-7" not in body
    row = client.get("/api/v1/stores/main/integrations/wh/").json()
    assert row["credentials"] == {"token": "••••3456", "extra_key": "••••", "account": "••••se-7"}


def test_other_stores_integrations_are_404(store, warehouse):
    other = Store.objects.create(name="Other", slug="other")
    assert api(other).get("/api/v1/stores/main/integrations/").status_code == 404
    assert api(other).get("/api/v1/stores/main/integrations/wh/").status_code == 404


def test_sync_now_and_runs(store, make_items, warehouse, shipbob):
    make_items(store, {"A-1": 1})
    shipbob.add_item("A-1", 9)
    client = api(store)
    response = client.post("/api/v1/stores/main/integrations/wh/sync/")
    assert response.status_code == 200, response.content
    assert response.json()[0]["kind"] == "pull" and response.json()[0]["status"] == "ok"
    assert InventoryItem.objects.get(code="A-1").stock == 9
    runs = client.get("/api/v1/stores/main/integrations/wh/runs/").json()["results"]
    assert [run["kind"] for run in runs] == ["pull"]
    assert client.get("/api/v1/stores/main/sync-runs/").json()["count"] == SyncRun.objects.count()


def test_told_for_a_named_cart(store, make_items, warehouse):
    item = make_items(store, {"A-1": 100})["A-1"]
    stock_services.set_metadata(item, {"max": "25", "max@shop": "10"})
    cart = Integration(store=store, kind="square", role=Integration.CART, name="Shop", slug="shop")
    cart.credentials = {"access_token": "sq"}
    cart.save()
    client = api(store)
    assert client.get("/api/v1/stores/main/items/A-1/told/").json()["told"] == 25
    assert client.get("/api/v1/stores/main/items/A-1/told/?integration=shop").json()["told"] == 10
    assert client.get("/api/v1/stores/main/items/A-1/told/?integration=nope").status_code == 404


def test_credentials_stored_under_an_older_key_say_so(store, warehouse, settings, admin_client):
    settings.CREDENTIALS_KEY = "a-new-key-after-rotation"
    row = api(store).get("/api/v1/stores/main/integrations/wh/").json()
    assert row["credentials"] == {
        "unreadable": "Stored credentials cannot be read with the current key; enter them again."
    }
    page = admin_client.get(f"/admin/integrations/integration/{warehouse.pk}/change/")
    assert page.status_code == 200
    assert "cannot be read with the current key" in page.content.decode()
