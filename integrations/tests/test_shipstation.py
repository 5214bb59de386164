"""The ShipStation v2 adapter against the ShipStation fake, over real HTTP."""

from __future__ import annotations

import logging

import pytest
import requests

from integrations.adapters import get_adapter_class
from integrations.adapters.base import AdapterError, AuthError, PermanentError, PushLine
from integrations.adapters.shipstation import ShipStationAdapter
from integrations.fakes.shipstation import ShipStationFake

from .conftest import SCALE, delay_beyond_timeout
from .test_shipbob import VirtualClock

KEY = "ss-api-key-0123456789"


@pytest.fixture
def fake():
    with ShipStationFake(api_key=KEY, time_scale=SCALE) as server:
        yield server


def make(fake, client, key=KEY, location_id=None, **options):
    return ShipStationAdapter(
        base_url=fake.url,
        credentials={"api_key": key},
        location_id=location_id,
        options=options,
        client=client,
    )


def seed(fake) -> dict[str, str]:
    east, west = fake.add_warehouse("East"), fake.add_warehouse("West")
    a1, a2, b1 = (
        fake.add_location(east, "A-1"),
        fake.add_location(east, "A-2"),
        fake.add_location(west, "B-1"),
    )
    for n in range(1, 5):
        fake.set_stock(f"SS-{n}", a1, 10 * n, allocated=n)  # available 9n
        fake.set_stock(f"SS-{n}", a2, 5)
        fake.set_stock(f"SS-{n}", b1, 100, allocated=1)
    fake.set_stock("WEST-ONLY", b1, 7)
    return {"east": east, "west": west}


EXPECTED = {**{f"SS-{n}": 9 * n + 5 + 99 for n in range(1, 5)}, "WEST-ONLY": 7}


def test_registry_and_capabilities():
    assert get_adapter_class("shipstation") is ShipStationAdapter
    assert (ShipStationAdapter.role, ShipStationAdapter.capabilities.push) == ("fulfillment", False)


def test_connection_lists_warehouses(fake, client):
    ids = seed(fake)
    locations = make(fake, client).test_connection()
    assert [(loc.id, loc.name) for loc in locations] == [(ids["east"], "East"), (ids["west"], "West")]
    assert fake.requests()[0].headers["API-Key"] == "***"


def test_refused_key_raises_auth_error_without_leaking(fake, client, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "ss-wrong-but-secret-key"
    with pytest.raises(AuthError) as info:
        make(fake, client, key=wrong).test_connection()
    assert "unauthorized" in str(info.value)
    assert wrong not in str(info.value) and wrong not in caplog.text
    assert len(fake.requests()) == 1


def test_disabled_inventory_add_on_is_a_clear_permanent_error(client):
    with ShipStationFake(api_key=KEY, time_scale=SCALE, inventory_enabled=False) as fake:
        with pytest.raises(PermanentError) as info:
            list(make(fake, client).fetch_levels())
        raw = requests.get(f"{fake.url}/v2/inventory", headers={"API-Key": KEY}, timeout=5)
    assert not isinstance(info.value, AuthError)
    assert "Inventory add-on" in str(info.value) and info.value.status == 403
    body = raw.json()
    assert set(body) == {"request_id", "errors"}
    assert set(body["errors"][0]) == {"error_source", "error_type", "error_code", "message"}


def test_pull_sums_locations_across_pages(fake, client):
    seed(fake)
    levels = list(make(fake, client, page_size=4).fetch_levels())
    assert {lv.sku: lv.quantity for lv in levels} == EXPECTED
    assert len(levels) == len(EXPECTED)  # one level per SKU, not per location
    pages = fake.requests("GET", r"/v2/inventory$")
    assert len(pages) == 4  # 13 rows, 4 a page, through links.next.href
    assert pages[1].query["page"] == ["2"]


def test_pull_of_one_warehouse(fake, client):
    ids = seed(fake)
    levels = {lv.sku: lv.quantity for lv in make(fake, client, location_id=ids["east"]).fetch_levels()}
    assert levels == {f"SS-{n}": 9 * n + 5 for n in range(1, 5)}


def test_read_levels_and_lookup_are_exact(fake, client):
    seed(fake)
    adapter = make(fake, client)
    assert adapter.read_levels([PushLine("SS-1", 0), PushLine("NOPE", 0)]) == {
        "SS-1": EXPECTED["SS-1"],
        "NOPE": None,
    }
    found = adapter.lookup(["SS-2", "NOPE"])
    assert found["SS-2"] == "SS-2" and isinstance(found["NOPE"], AdapterError)


def test_429_storm_honours_retry_after():
    clock = VirtualClock()
    with ShipStationFake(api_key=KEY, clock=clock, rate_limit=2) as fake:
        seed(fake)
        levels = {lv.sku: lv.quantity for lv in make(fake, clock.client(), page_size=4).fetch_levels()}
        statuses = [r.status for r in fake.requests()]
    assert levels == EXPECTED
    assert statuses == [200, 200, 429, 200, 200]
    assert clock.sleeps == [60]  # Retry-After: the rest of the minute


def test_server_error_then_success(fake):
    clock = VirtualClock()
    seed(fake)
    fake.inject(r"/v2/inventory$", 502, times=2)
    assert {lv.sku: lv.quantity for lv in make(fake, clock.client()).fetch_levels()} == EXPECTED
    assert len(clock.sleeps) == 2


def test_timeout_then_success(fake, client):
    seed(fake)
    fake.delay(r"/v2/inventory$", delay_beyond_timeout())
    assert {lv.sku: lv.quantity for lv in make(fake, client).fetch_levels()} == EXPECTED
    assert client.calls == 2
