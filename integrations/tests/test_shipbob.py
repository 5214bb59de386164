"""The ShipBob adapter against the ShipBob fake, over real HTTP."""

from __future__ import annotations

import logging

import pytest
import requests

from integrations.adapters import get_adapter_class
from integrations.adapters.base import AdapterError, AuthError, PushLine
from integrations.adapters.http import HttpClient
from integrations.adapters.shipbob import ShipBobAdapter
from integrations.fakes.shipbob import ShipBobFake

from .conftest import READ_TIMEOUT, SCALE, delay_beyond_timeout

TOKEN = "sb-pat-0123456789abcdef"


@pytest.fixture
def fake():
    with ShipBobFake(token=TOKEN, time_scale=SCALE) as server:
        yield server


def make(fake, client, token=TOKEN, **options):
    return ShipBobAdapter(base_url=fake.url, credentials={"token": token}, options=options, client=client)


class VirtualClock:
    """Service time that moves only when the client sleeps.

    Fake and client share it, so rate-limit windows, buckets and waits are exact
    whatever the machine's load, and no test sleeps real seconds for them.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.sleeps.append(round(seconds, 6))
            self.now += seconds

    def client(self) -> HttpClient:
        return HttpClient(timeout=(2, READ_TIMEOUT), max_attempts=8, sleep=self.sleep, clock=self)


def seed(fake) -> dict[str, int]:
    ids = {}
    for n in range(1, 8):
        ids[f"SB-{n}"] = fake.add_item(f"SB-{n}", on_hand=10 * n, committed=n)
    ids["OLD"] = fake.add_item("OLD", on_hand=40, active=False)
    ids["EBOOK"] = fake.add_item("EBOOK", on_hand=0, digital=True)
    return ids


EXPECTED = {**{f"SB-{n}": 9 * n for n in range(1, 8)}, "OLD": 0}


def test_registry_and_capabilities():
    assert get_adapter_class("shipbob") is ShipBobAdapter
    caps = ShipBobAdapter.capabilities
    assert (ShipBobAdapter.role, caps.pull, caps.push) == ("fulfillment", True, False)


def test_connection_lists_fulfillment_centers_and_sends_the_channel(fake, client):
    locations = make(fake, client, channel_id="4242").test_connection()
    assert [loc.name for loc in locations] == ["Cicero (IL)", "Moreno Valley (CA)"]
    sent = fake.requests()[0]
    assert sent.path == "/2026-01/location"
    assert sent.headers["shipbob_channel_id"] == "4242"
    assert sent.headers["Authorization"] == "***"


def test_refused_token_raises_auth_error_without_leaking(fake, client, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "sb-pat-wrong-but-secret"
    with pytest.raises(AuthError) as info:
        make(fake, client, token=wrong).test_connection()
    assert info.value.status == 401
    assert wrong not in str(info.value) and wrong not in caplog.text
    assert len(fake.requests()) == 1  # never retried


def test_pull_follows_next_across_pages(fake, client):
    ids = seed(fake)
    levels = {lv.sku: lv for lv in make(fake, client, page_size=3).fetch_levels()}
    assert {sku: lv.quantity for sku, lv in levels.items()} == EXPECTED  # fulfillable = on hand - committed
    assert "EBOOK" not in levels  # digital: skipped
    assert levels["SB-2"].remote_id == str(ids["SB-2"])
    calls = fake.requests("GET", r"/inventory-level$")
    assert len(calls) == 4  # three pages of active items, one of inactive ones
    assert calls[0].query["PageSize"] == ["3"] and "Cursor" in calls[1].query
    assert [r.query.get("IsActive", [None])[0] for r in calls[:1]] == ["true"]


def test_dated_rows_use_on_hand_and_legacy_rows_onhand(fake):
    fake.add_item("F-1", on_hand=5)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    dated = requests.get(f"{fake.url}/2026-01/inventory-level", headers=headers, timeout=5).json()["items"][0]
    legacy = requests.get(f"{fake.url}/1.0/inventory", headers=headers, timeout=5).json()[0]
    assert "total_on_hand_quantity" in dated and dated["sku"] == "F-1"
    assert "total_onhand_quantity" in legacy and "sku" not in legacy
    assert requests.get(f"{fake.url}/2.0/inventory", headers=headers, timeout=5).status_code == 404


def test_legacy_pull_maps_skus_through_products(fake, client):
    ids = seed(fake)
    fake.add_product_alias("SB-1-AMAZON", ids["SB-1"])  # a second listing of the same stock
    fake.add_bundle("GIFT-BOX", [(ids["SB-1"], 1), (ids["SB-2"], 2)])
    levels = {lv.sku: lv.quantity for lv in make(fake, client, api_version="1.0", page_size=4).fetch_levels()}
    assert levels == {**EXPECTED, "SB-1-AMAZON": 9}  # bundle and digital item skipped
    pages = fake.requests("GET", r"^/1\.0/inventory$")
    assert len(pages) == 3  # 9 inventory items, 4 a page, through Next-Page
    assert pages[1].query["Page"] == ["2"]
    assert len(fake.requests("GET", r"^/1\.0/product$")) == 3


def test_exact_sku_over_partial_search(fake, client):
    wanted = fake.add_item("ABC-1", on_hand=3)
    fake.add_item("ABC-10", on_hand=7)
    fake.add_item("XABC-1", on_hand=8)
    fake.add_item("other", on_hand=1, name="abc-1 lookalike")
    adapter = make(fake, client)
    assert adapter.lookup(["ABC-1"]) == {"ABC-1": str(wanted)}
    assert adapter.read_levels([PushLine("ABC-1", 0), PushLine("ABC", 0)]) == {"ABC-1": 3, "ABC": None}
    assert isinstance(adapter.lookup(["ABC"])["ABC"], AdapterError)
    searched = fake.requests("GET", r"/inventory-level$")[0]
    assert searched.query["SearchBy"] == ["ABC-1"]


def test_429_storm_waits_as_told():
    clock = VirtualClock()
    with ShipBobFake(token=TOKEN, clock=clock, rate_limit=2) as fake:
        seed(fake)
        levels = {lv.sku: lv.quantity for lv in make(fake, clock.client(), page_size=2).fetch_levels()}
        statuses = [r.status for r in fake.requests()]
    assert levels == EXPECTED
    assert statuses == [200, 200, 429, 200, 200, 429, 200]  # four active pages, one inactive
    assert clock.sleeps == [60, 60]  # x-retry-after: until the window's oldest call ages out


def test_server_error_then_success(fake):
    clock = VirtualClock()
    seed(fake)
    fake.inject(r"/inventory-level$", 503, times=2)
    assert {lv.sku: lv.quantity for lv in make(fake, clock.client()).fetch_levels()} == EXPECTED
    assert len(clock.sleeps) == 2  # two backoffs


def test_timeout_then_success(fake, client):
    seed(fake)
    fake.delay(r"/inventory-level$", delay_beyond_timeout())
    assert {lv.sku: lv.quantity for lv in make(fake, client).fetch_levels()} == EXPECTED
    assert client.calls == 3  # the slow first page timed out once, then two pages
