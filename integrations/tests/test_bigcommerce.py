"""The BigCommerce adapter against the BigCommerce fake, over real HTTP."""

from __future__ import annotations

import logging

import pytest
import requests

from integrations.adapters import get_adapter_class
from integrations.adapters.base import AdapterError, AuthError, PermanentError, PushLine
from integrations.adapters.bigcommerce import BigCommerceAdapter
from integrations.fakes.bigcommerce import BigCommerceFake

from .conftest import delay_beyond_timeout, virtual_client

TOKEN = "bc_fake_token"


def make(fake, client, token=TOKEN, store_hash="abc123", **options):
    return BigCommerceAdapter(
        base_url=fake.url,
        credentials={"store_hash": store_hash, "access_token": token},
        location_id="1",
        options=options,
        client=client,
    )


def writes(fake):
    return fake.requests("PUT", r"/inventory/adjustments/absolute$")


def test_registry_and_capabilities():
    assert get_adapter_class("bigcommerce") is BigCommerceAdapter
    assert (
        BigCommerceAdapter.capabilities.batch_limit == 2000 and BigCommerceAdapter.capabilities.replaced_skus
    )


def test_connection_lists_locations(bc_fake, client):
    bc_fake.add_location("Warehouse")
    assert [(loc.id, loc.name) for loc in make(bc_fake, client).test_connection()] == [
        ("1", "Default location"),
        ("2", "Warehouse"),
    ]


def test_refused_credentials(bc_fake, client, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "bc_wrong_secret_token"
    adapter = make(bc_fake, client, token=secret)
    with pytest.raises(AuthError) as info:
        adapter.test_connection()
    assert secret not in str(info.value) and secret not in caplog.text and secret not in repr(adapter)
    assert len(bc_fake.requests()) == 1
    with pytest.raises(PermanentError) as info:
        make(bc_fake, client, store_hash="other").test_connection()
    assert info.value.status == 404


def test_lookup_exact_and_tracking_modes(bc_fake, client):
    simple = bc_fake.add_product("A-1", 5)
    bc_fake.add_product("A-10", 5)
    shirt = bc_fake.add_product("SHIRT", tracking="variant", options=[("SHIRT-S", 1), ("SHIRT-M", 2)])
    bc_fake.add_product("DUP", 1)
    bc_fake.add_product("DUP", 1)
    bc_fake.add_product("OFF", 1, tracking="none")
    found = make(bc_fake, client).lookup(["A-1", "SHIRT-M", "DUP", "OFF", "A", ""])
    assert found["A-1"] == f"product:{simple['product_id']}"
    assert found["SHIRT-M"] == f"variant:{shirt['variants']['SHIRT-M']}"
    for sku in ("DUP", "OFF", "A", ""):
        assert isinstance(found[sku], AdapterError), sku
    assert "tracking is off" in str(found["OFF"])


def test_push_end_to_end_with_delayed_apply(bc_fake, client):
    bc_fake.apply_delay = 1e6  # however slow the machine, reads stay stale until settle()
    bc_fake.add_product("A", 1)
    bc_fake.add_product("SHIRT", tracking="variant", options=[("SHIRT-S", 0)])
    results = make(bc_fake, client).push([PushLine("A", 7), PushLine("SHIRT-S", 3)])
    assert [(r.ok, r.confirmed) for r in results] == [(True, 7), (True, 3)]
    assert bc_fake.transactions and len(writes(bc_fake)) == 1
    item_keys = [sorted(i) for i in writes(bc_fake)[0].json()["items"]]
    assert item_keys == [["location_id", "product_id", "quantity"], ["location_id", "quantity", "variant_id"]]
    assert bc_fake.level("A") == 1  # accepted, not applied yet: reads lag
    bc_fake.settle()
    assert bc_fake.level("A") == 7 and bc_fake.level("SHIRT-S") == 3


def test_batches_respect_the_limit(bc_fake, client):
    lines = []
    for n in range(2500):
        ids = bc_fake.add_product(f"S-{n}", 0)
        lines.append(PushLine(f"S-{n}", n % 9, remote_id=f"product:{ids['product_id']}"))
    results = make(bc_fake, client, check_drift=False).push(lines)
    assert all(r.ok for r in results)
    assert [len(w.json()["items"]) for w in writes(bc_fake)] == [2000, 500]


def test_quota_pacing_and_429_storm_all_land():
    vt, client = virtual_client()
    with BigCommerceFake(clock=vt.monotonic, quota=5, window=30) as fake:
        for n in range(500):
            fake.add_product(f"T-{n}", 0)
        fake.exhaust_quota()  # another app on the store spent the shared quota
        fake.inject(r"/catalog/variants$", 429, times=2)  # platform load: 429 without the headers
        adapter = make(fake, client, batch_size=100)
        results = adapter.push([PushLine(f"T-{n}", 1 + n % 4) for n in range(500)])
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
        fake.settle()
        assert all(fake.level(f"T-{n}") == 1 + n % 4 for n in range(500))
        statuses = [r.status for r in fake.requests()]
        assert statuses.count(429) >= 3
        assert len([w for w in writes(fake) if w.status == 200]) == 5
        log = fake.requests()
        assert log[-1].at - log[0].at >= 30 * 4  # ~25 calls at 5 per 30 s window
        assert vt.slept >= 30 * 4
        limited = [r for r in fake.requests() if r.status == 429]
        # after the first refusal, pacing spends the quota without hitting the wall again
        assert len(limited) <= 3


def test_5xx_then_success(bc_fake, client):
    ids = bc_fake.add_product("A", 0)
    bc_fake.inject(r"/absolute$", 502, times=2)
    assert make(bc_fake, client).push([PushLine("A", 5, remote_id=f"product:{ids['product_id']}")])[0].ok
    assert [w.status for w in writes(bc_fake)] == [502, 502, 200]


def test_timeout_then_success(bc_fake, client):
    ids = bc_fake.add_product("A", 0)
    bc_fake.delay(r"/absolute$", delay_beyond_timeout(), times=1)
    assert make(bc_fake, client).push([PushLine("A", 5, remote_id=f"product:{ids['product_id']}")])[0].ok
    bc_fake.settle()
    assert bc_fake.level("A") == 5


def test_batch_rejected_for_one_item_is_split(bc_fake, client):
    ids = {sku: bc_fake.add_product(sku, 0)["product_id"] for sku in ("A", "B", "C")}
    bc_fake.delete_product(ids["C"])
    lines = [
        PushLine(sku, qty, remote_id=f"product:{ids[sku]}") for sku, qty in (("A", 5), ("B", 3), ("C", 1))
    ]
    results = make(bc_fake, client).push(lines)
    assert [r.ok for r in results] == [True, True, False]
    assert results[2].error == f"Item with product_id {ids['C']} does not exist"
    assert [len(w.json()["items"]) for w in writes(bc_fake)] == [3, 2]
    bc_fake.settle()
    assert bc_fake.level("A") == 5 and bc_fake.level("B") == 3


def test_tracking_mode_mismatch_reported_with_the_carts_reason(bc_fake, client):
    ids = bc_fake.add_product("A", 0)
    stale_id = f"variant:{ids['variants']['A']}"  # cached before the merchant switched to product tracking
    result = make(bc_fake, client).push([PushLine("A", 4, remote_id=stale_id)])[0]
    assert not result.ok and "tracked by product, please update stock by product id" in result.error
    assert len(writes(bc_fake)) == 1


def test_unknown_sku_is_an_error(bc_fake, client):
    result = make(bc_fake, client).push([PushLine("NOPE", 5)])[0]
    assert not result.ok and "not found" in result.error and writes(bc_fake) == []


def test_drift_is_reported(bc_fake, client):
    ids = bc_fake.add_product("A", 5)
    bc_fake.set_level("A", 8)
    result = make(bc_fake, client).push(
        [PushLine("A", 10, remote_id=f"product:{ids['product_id']}", last_confirmed=5)]
    )[0]
    assert result.ok and result.drift == 8
    bc_fake.settle()
    assert bc_fake.level("A") == 10


def test_read_levels_and_catalog(bc_fake, client):
    bc_fake.add_product("A", 5, name="Alpha", price="12.50")
    bc_fake.add_product("SHIRT", tracking="variant", options=[("SHIRT-S", 2)])
    adapter = make(bc_fake, client)
    assert adapter.read_levels([PushLine("A", 0), PushLine("SHIRT-S", 0), PushLine("Z", 0)]) == {
        "A": 5,
        "SHIRT-S": 2,
        "Z": None,
    }
    assert {lv.sku: lv.quantity for lv in adapter.fetch_levels()} == {"A": 5, "SHIRT-S": 2}
    products = {p.sku: p for p in adapter.fetch_products()}
    assert str(products["A"].price) == "12.5" and products["A"].name == "Alpha"


def test_webhook_verify_and_parse(bc_fake, client):
    shirt = bc_fake.add_product("SHIRT", tracking="variant", options=[("SHIRT-S", 6)])
    adapter = make(bc_fake, client)
    headers, body = bc_fake.webhook("SHIRT-S", secret="hook-secret")
    assert adapter.verify_webhook(headers, body, "hook-secret")
    assert not adapter.verify_webhook({**headers, "X-Hub-Webhook-Secret": "guess"}, body, "hook-secret")
    assert not adapter.verify_webhook({}, body, "hook-secret")
    [change] = adapter.parse_webhook(headers, body)
    assert change.remote_id == f"variant:{shirt['variants']['SHIRT-S']}" and change.quantity == 6


def test_fake_limits_and_shapes(bc_fake):
    ids = bc_fake.add_product("A", 1)
    bc_fake.add_product("OFF", 1, tracking="none")
    headers = {"X-Auth-Token": TOKEN}
    base = f"{bc_fake.url}/stores/abc123/v3"
    answer = requests.get(f"{base}/inventory/locations", headers=headers, timeout=5)
    for name in ("Time-Window-Ms", "Time-Reset-Ms", "Requests-Quota", "Requests-Left"):
        assert f"X-Rate-Limit-{name}".lower() in {k.lower() for k in answer.headers}
    assert answer.json()["meta"]["pagination"]["total"] == 1
    two_ids = {"items": [{"location_id": 1, "sku": "A", "product_id": ids["product_id"], "quantity": 1}]}
    assert (
        requests.put(
            f"{base}/inventory/adjustments/absolute", json=two_ids, headers=headers, timeout=5
        ).status_code
        == 422
    )
    too_many = {"items": [{"location_id": 1, "sku": "A", "quantity": 1}] * 2001}
    refused = requests.put(
        f"{base}/inventory/adjustments/absolute", json=too_many, headers=headers, timeout=5
    )
    assert refused.status_code == 422 and refused.headers["Content-Type"] == "application/problem+json"
    legacy = [{"id": 1, "inventory_level": 1}] * 51
    assert (
        requests.put(f"{base}/catalog/variants", json=legacy, headers=headers, timeout=5).status_code == 413
    )
    off_variant = next(v for v in bc_fake.variants.values() if v["sku"] == "OFF")["id"]
    requests.put(
        f"{base}/catalog/variants",
        json=[{"id": off_variant, "inventory_level": 50}],
        headers=headers,
        timeout=5,
    )
    assert bc_fake.level("OFF") == 1  # tracking none: the level is ignored without an error
