"""The remote-store adapter (design.md §9 inventory-items API) against its fake, over real HTTP."""

from __future__ import annotations

import logging
import re
from decimal import Decimal

import pytest
import requests

from integrations.adapters import get_adapter_class
from integrations.adapters.base import AuthError, PushLine
from integrations.adapters.orderdesk import OrderDeskAdapter
from integrations.fakes.orderdesk import OrderDeskFake

from .conftest import SCALE, delay_beyond_timeout
from .test_shipbob import VirtualClock

STORE = "10001"
KEY = "od-secret-key-0123456789"


@pytest.fixture
def fake():
    with OrderDeskFake(store_id=STORE, api_key=KEY, time_scale=SCALE) as server:
        yield server


def make(fake, client, key=KEY, **options):
    return OrderDeskAdapter(
        base_url=f"{fake.url}/api/v2",
        credentials={"store_id": STORE, "api_key": key},
        options=options,
        client=client,
    )


def test_registry_and_capabilities():
    cls = get_adapter_class("orderdesk")
    assert cls is OrderDeskAdapter
    assert cls.role == "cart"
    caps = cls.capabilities
    assert (caps.pull, caps.push, caps.replaced_skus, caps.batch_limit) == (True, True, False, 500)


def test_connection_good(fake, client):
    locations = make(fake, client).test_connection()
    assert [(loc.id, loc.name) for loc in locations] == [(STORE, f"Store {STORE}")]
    sent = fake.requests("GET", r"/api/v2/test$")[0]
    assert sent.headers["ORDERDESK-STORE-ID"] == STORE
    assert sent.headers["ORDERDESK-API-KEY"] == "***"  # redacted in the fake's log


def test_refused_credentials_raise_auth_error_without_leaking(fake, client, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "od-wrong-but-secret-value"
    with pytest.raises(AuthError) as info:
        make(fake, client, key=wrong).test_connection()
    assert "Invalid store ID or API key" in str(info.value)
    assert wrong not in str(info.value) and wrong not in caplog.text
    assert len(fake.requests()) == 1  # never retried


def test_every_answer_carries_tokens_remaining(fake):
    answer = requests.get(f"{fake.url}/api/v2/test", headers={"ORDERDESK-STORE-ID": STORE}, timeout=5)
    assert answer.status_code == 401
    assert answer.json()["status"] == "error"
    assert answer.headers["X-Tokens-Remaining"] == "19"


def test_pull_pages_by_total_records(fake, client):
    for n in range(1, 8):
        fake.add_item(f"SKU-{n}", n * 10, name=f"Item {n}", price="12.50")
    fake.add_item("NEG", -3, name="Oversold")
    adapter = make(fake, client, page_size=3)
    levels = {lv.sku: lv for lv in adapter.fetch_levels()}
    assert {sku: lv.quantity for sku, lv in levels.items()} == {
        **{f"SKU-{n}": n * 10 for n in range(1, 8)},
        "NEG": -3,
    }
    assert levels["SKU-2"].name == "Item 2"
    assert levels["SKU-2"].remote_id == str(fake.item("SKU-2").id)
    offsets = [r.query["offset"][0] for r in fake.requests("GET", r"/inventory-items$")]
    assert offsets == ["0", "3", "6"]
    products = {p.sku: p for p in adapter.fetch_products()}
    assert products["SKU-1"].price == Decimal("12.5") and products["SKU-1"].quantity == 10


def test_lookup_uses_the_comma_code_filter_exactly(fake, client):
    ids = {code: fake.add_item(code, 1) for code in ("A-1", "A-10", "B,2", "C")}
    found = make(fake, client).lookup(["A-1", " C ", "MISSING", "B,2"])
    assert found["A-1"] == str(ids["A-1"])  # never A-10
    assert found[" C "] == str(ids["C"])
    assert "no inventory item" in str(found["MISSING"])
    assert found["B,2"] == str(ids["B,2"])  # a comma in the SKU goes through search
    filtered = fake.requests("GET", r"/inventory-items$")
    assert filtered[0].query["code"] == ["A-1,C,MISSING"]
    assert filtered[1].query["search"] == ["B,2"]


def test_push_in_batches_with_per_item_errors(fake, client):
    codes = [f"P-{n:04d}" for n in range(1100)]
    ids = {code: fake.add_item(code, 0, name=f"Name {code}", price="3.00") for code in codes}
    gone = fake.add_item("GONE", 0)
    lines = [PushLine(code, n % 50, remote_id=str(ids[code])) for n, code in enumerate(codes)]
    lines[10] = PushLine("UNKNOWN", 5)  # not in the remote store at all
    lines[700] = PushLine("GONE", 7, remote_id=str(gone))
    with fake.lock:
        del fake.stores[STORE].items[gone]  # deleted remotely after we cached its id
    results = make(fake, client).push(lines)

    assert [r.sku for r in results] == [line.sku for line in lines]
    bad = {r.sku: r for r in results if not r.ok}
    assert set(bad) == {"UNKNOWN", "GONE"}
    assert "no inventory item" in bad["UNKNOWN"].error
    assert "no inventory item" in bad["GONE"].error
    for line, result in zip(lines, results, strict=True):
        if result.ok:
            assert result.confirmed == line.quantity == fake.stock(line.sku)
    # Only id and stock were sent: names and prices survive the batch update.
    assert fake.item("P-0001").name == "Name P-0001" and fake.item("P-0001").price == Decimal("3.00")
    batches = [r.json() for r in fake.requests("PUT", r"/batch-inventory-items$")]
    assert all(len(b) <= 500 for b in batches)
    assert set(batches[0][0]) == {"id", "stock"}
    assert batches[0][0]["id"] == ids["P-0000"]


def test_rejected_batch_is_split_so_the_others_land(fake, client):
    ids = {code: fake.add_item(code, 1) for code in ("A", "B", "C", "D")}
    lines = [PushLine(code, 9, remote_id=str(ids[code])) for code in ("A", "B", "C", "D")]
    lines[2] = PushLine("C", 9, remote_id="999999")  # stale id, and its code is still there
    results = make(fake, client).push(lines)
    assert all(r.ok for r in results), results
    assert results[2].remote_id == str(ids["C"])  # re-looked-up
    assert [fake.stock(c) for c in "ABCD"] == [9, 9, 9, 9]
    rejected = [r for r in fake.requests("PUT", r"/batch-inventory-items$") if r.status == 400]
    assert len(rejected) >= 2  # the whole batch, then the half holding the bad id


def test_pushed_only_when_the_store_confirms(fake, client):
    a, b = fake.add_item("A", 1), fake.add_item("B", 1)
    answer = {"status": "success", "message": "ok", "execution_time": "0.1 seconds"}
    fake.inject(r"/batch-inventory-items$", 200, body={**answer, "inventory_items": [{"id": a, "stock": 3}]})
    results = make(fake, client).push(
        [PushLine("A", 9, remote_id=str(a)), PushLine("B", 9, remote_id=str(b))]
    )
    assert [(r.ok, r.confirmed) for r in results] == [(False, 3), (False, None)]
    assert "confirmed 3, not 9" in results[0].error and "did not confirm" in results[1].error


def test_read_levels(fake, client):
    fake.add_item("R-1", 4)
    got = make(fake, client).read_levels([PushLine("R-1", 0), PushLine("R-2", 0)])
    assert got == {"R-1": 4, "R-2": None}


def test_empty_bucket_waits_as_x_retry_after_says():
    clock = VirtualClock()
    with OrderDeskFake(store_id=STORE, api_key=KEY, clock=clock) as fake:
        fake.add_item("T-1", 2)
        with fake.lock:
            fake._bucket(STORE).try_take(20)  # other scripts of this store spent every token
        got = make(fake, clock.client()).read_levels([PushLine("T-1", 0)])
        statuses = [r.status for r in fake.requests()]
    assert got == {"T-1": 2}
    assert statuses == [429, 200]
    assert fake.retry_afters == ["0.334"]  # one token at 3 per second, rounded up
    assert clock.sleeps == [0.334]  # waited exactly as told


def test_pacing_spends_the_bucket_without_429s():
    clock = VirtualClock()
    with OrderDeskFake(store_id=STORE, api_key=KEY, clock=clock) as fake:
        fake.add_item("Q", 1)
        adapter = make(fake, clock.client())
        for _ in range(30):
            adapter.read_levels([PushLine("Q", 0)])
        statuses = [r.status for r in fake.requests()]
    assert statuses == [200] * 30  # X-Tokens-Remaining: 0 paced the next call instead of a 429
    assert clock.sleeps == [0.34] * 10


def test_server_error_then_success(fake):
    clock = VirtualClock()
    fake.add_item("S", 1)
    fake.inject(r"/batch-inventory-items$", 503, times=2)
    results = make(fake, clock.client()).push([PushLine("S", 6)])
    assert results[0].ok and fake.stock("S") == 6
    assert len(clock.sleeps) == 2


def test_timeout_then_success(fake, client):
    fake.add_item("S", 1)
    fake.delay(r"/inventory-items$", delay_beyond_timeout())
    assert {lv.sku: lv.quantity for lv in make(fake, client).fetch_levels()} == {"S": 1}
    assert client.calls == 2  # the slow call timed out and was sent again


# -- the fake keeps to design.md §9 (our own /api/v2 must answer the same way) ----------


def call(fake, method, path, **kwargs):
    headers = {"ORDERDESK-STORE-ID": STORE, "ORDERDESK-API-KEY": KEY}
    return requests.request(method, f"{fake.url}/api/v2{path}", headers=headers, timeout=5, **kwargs)


def test_envelope_fields_and_dates(fake):
    fake.add_item("E-1", 3, name="Envelope", metadata={"max": "5"})
    body = call(fake, "GET", "/inventory-items", params={"limit": 9999}).json()
    assert {
        "status",
        "message",
        "execution_time",
        "records_returned",
        "total_records",
        "inventory_items",
    } <= set(body)
    item = body["inventory_items"][0]
    assert set(item) == {
        "id", "name", "code", "price", "cost", "weight", "stock", "location", "metadata",
        "update_source", "date_added", "date_updated",
    }  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", item["date_added"])
    one = call(fake, "GET", f"/inventory-items/{item['id']}").json()
    assert one["inventory_item"]["metadata"] == {"max": "5"}


def test_single_put_replaces_but_batch_put_updates(fake):
    item_id = fake.add_item("K-1", 3, name="Keep me", price="9.99")
    call(fake, "PUT", "/batch-inventory-items", json=[{"id": item_id, "stock": 4}])
    assert (fake.item("K-1").name, fake.item("K-1").stock) == ("Keep me", 4)
    call(fake, "PUT", f"/inventory-items/{item_id}", json={"code": "K-1", "stock": 5})
    assert (fake.item("K-1").name, fake.item("K-1").price, fake.item("K-1").stock) == ("", Decimal("0"), 5)


def test_batch_is_atomic_and_capped(fake):
    good = fake.add_item("G", 1)
    answer = call(
        fake, "PUT", "/batch-inventory-items", json=[{"id": good, "stock": 2}, {"id": good, "stock": "x"}]
    )
    assert answer.status_code == 400 and "item 2" in answer.json()["message"]
    assert fake.stock("G") == 1
    too_many = call(fake, "PUT", "/batch-inventory-items", json=[{"id": good, "stock": 1}] * 501)
    assert too_many.status_code == 400
