"""The Shopify adapter against the Shopify fake, over real HTTP."""

from __future__ import annotations

import json
import logging
import time

import pytest
import requests

from integrations.adapters import get_adapter_class
from integrations.adapters.base import AdapterError, AuthError, PushLine
from integrations.adapters.shopify import ShopifyAdapter
from integrations.fakes.shopify import ShopifyFake

from .conftest import delay_beyond_timeout, virtual_client

TOKEN = "shpat_fake_token"


def make(fake, client, **options):
    return ShopifyAdapter(
        base_url=fake.url,
        credentials={"access_token": TOKEN},
        location_id=f"gid://shopify/Location/{fake.default_location}",
        options=options,
        client=client,
    )


def writes(fake):
    return [r for r in fake.requests("POST", r"graphql\.json$") if b"inventorySetQuantities" in r.body]


def test_registry_knows_shopify():
    assert get_adapter_class("shopify") is ShopifyAdapter
    assert ShopifyAdapter.capabilities.replaced_skus is True
    assert ShopifyAdapter.capabilities.batch_limit == 250
    with pytest.raises(AdapterError):
        get_adapter_class("nope")


def test_connection_lists_locations(shopify_fake, client):
    second = shopify_fake.add_location("Warehouse")
    locations = make(shopify_fake, client).test_connection()
    assert [loc.name for loc in locations] == ["Shop location", "Warehouse"]
    assert locations[1].id == f"gid://shopify/Location/{second}"


def test_refused_credentials_raise_auth_error_without_leaking(shopify_fake, client, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "shpat_wrong_but_secret_value"
    adapter = ShopifyAdapter(base_url=shopify_fake.url, credentials={"access_token": secret}, client=client)
    with pytest.raises(AuthError) as info:
        adapter.test_connection()
    assert "Invalid API key" in str(info.value)
    assert secret not in str(info.value)
    assert secret not in caplog.text
    assert secret not in repr(adapter) and secret not in repr(client)
    assert len(shopify_fake.requests()) == 1  # never retried
    assert shopify_fake.requests()[0].headers["X-Shopify-Access-Token"] == "***"


def test_unknown_api_version_is_not_found(shopify_fake, client):
    adapter = make(shopify_fake, client, api_version="2031-02")
    with pytest.raises(AdapterError) as info:
        adapter.test_connection()
    assert info.value.status == 404


def test_lookup_is_exact(shopify_fake, client):
    shopify_fake.add_product("A-1", 5)
    shopify_fake.add_product("A-10", 2)  # the loose search also finds this for "A-1"
    shopify_fake.add_product("DUP", 1)
    shopify_fake.add_product("DUP", 1)
    shopify_fake.add_product("", 3)
    shopify_fake.add_product("a-1", 3)
    found = make(shopify_fake, client).lookup(["A-1", "A", "DUP", "MISSING", ""])
    assert found["A-1"] == f"gid://shopify/InventoryItem/{shopify_fake.item_id('A-1')}"
    for sku in ("A", "DUP", "MISSING", ""):
        assert isinstance(found[sku], AdapterError), sku
    assert "2 Shopify variants" in str(found["DUP"])
    assert "not found" in str(found["A"])


def test_push_end_to_end(shopify_fake, client):
    shopify_fake.add_product("A", 1)
    shopify_fake.add_product("B", 0)
    results = make(shopify_fake, client).push([PushLine("A", 7), PushLine("B", 4)])
    assert [(r.sku, r.ok, r.confirmed) for r in results] == [("A", True, 7), ("B", True, 4)]
    assert results[0].remote_id == f"gid://shopify/InventoryItem/{shopify_fake.item_id('A')}"
    assert shopify_fake.level("A") == 7 and shopify_fake.level("B") == 4
    assert len(writes(shopify_fake)) == 1
    sent = writes(shopify_fake)[0].json()["variables"]
    assert sent["key"]  # @idempotent key
    assert [q["changeFromQuantity"] for q in sent["input"]["quantities"]] == [1, 0]


def test_batches_respect_the_limit(shopify_fake, client):
    lines = []
    for n in range(600):
        ids = shopify_fake.add_product(f"S-{n}", 0)
        lines.append(PushLine(f"S-{n}", n, remote_id=str(ids["inventory_item_id"]), last_confirmed=0))
    results = make(shopify_fake, client).push(lines)
    assert all(r.ok for r in results)
    calls = writes(shopify_fake)
    assert len(calls) == 3  # ceil(600 / 250)
    assert max(len(c.json()["variables"]["input"]["quantities"]) for c in calls) == 250
    assert shopify_fake.level("S-599") == 599


def test_unknown_last_confirmed_reads_the_level_first(shopify_fake, client):
    ids = shopify_fake.add_product("A", 9)
    result = make(shopify_fake, client).push([PushLine("A", 3, remote_id=str(ids["inventory_item_id"]))])[0]
    assert result.ok and result.drift is None
    assert writes(shopify_fake)[0].json()["variables"]["input"]["quantities"][0]["changeFromQuantity"] == 9
    assert shopify_fake.level("A") == 3


@pytest.mark.parametrize("as_429", [False, True])
def test_throttle_storm_all_land(as_429):
    # A tiny bucket: every lookup page (402 points) must wait for the bucket to refill.
    vt, client = virtual_client()
    with ShopifyFake(
        clock=vt.monotonic, graphql_bucket=450, graphql_restore=50, throttle_as_429=as_429
    ) as fake:
        for n in range(500):
            fake.add_product(f"T-{n}", 0)
        adapter = make(fake, client)
        adapter._pace = lambda cost: None  # no proactive pacing: provoke the throttle
        results = adapter.push([PushLine(f"T-{n}", 1 + n % 7) for n in range(500)])
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
        assert all(fake.level(f"T-{n}") == 1 + n % 7 for n in range(500))
        assert fake.throttled > 0
        if as_429:
            assert any(r.status == 429 for r in fake.requests())
        assert vt.slept >= 8 * (402 - 48) / 50  # roughly: each later lookup page waited for a refill


def test_pacing_avoids_the_throttle():
    vt, client = virtual_client()
    with ShopifyFake(clock=vt.monotonic, graphql_bucket=450, graphql_restore=50) as fake:
        for n in range(200):
            fake.add_product(f"T-{n}", 0)
        results = make(fake, client).push([PushLine(f"T-{n}", 2) for n in range(200)])
        assert all(r.ok for r in results)
        assert fake.throttled == 0 and vt.slept > 0


def test_5xx_then_success(shopify_fake, client):
    ids = shopify_fake.add_product("A", 0)
    shopify_fake.inject(r"graphql\.json$", 503, times=2)
    result = make(shopify_fake, client).push(
        [PushLine("A", 5, remote_id=str(ids["inventory_item_id"]), last_confirmed=0)]
    )[0]
    assert result.ok and shopify_fake.level("A") == 5
    assert [r.status for r in shopify_fake.requests()] == [503, 503, 200]


def test_timeout_then_success_applies_once(shopify_fake, client):
    ids = shopify_fake.add_product("A", 0)
    shopify_fake.delay(r"graphql\.json$", delay_beyond_timeout(), times=1)
    result = make(shopify_fake, client).push(
        [PushLine("A", 5, remote_id=str(ids["inventory_item_id"]), last_confirmed=0)]
    )[0]
    assert result.ok and shopify_fake.level("A") == 5
    deadline = time.monotonic() + 5
    while len(writes(shopify_fake)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # the held request is served late, after the retry
    assert len(writes(shopify_fake)) == 2
    keys = {w.json()["variables"]["key"] for w in writes(shopify_fake)}
    assert len(keys) == 1  # the retry reused the idempotency key...
    assert shopify_fake.applied_writes == 1  # ...so the late copy was a replay


def test_batch_rejected_for_one_item(shopify_fake, client):
    lines = []
    for sku, qty in (("A", 5), ("B", 3), ("C", 1)):
        ids = shopify_fake.add_product(sku, 0)
        lines.append(PushLine(sku, qty, remote_id=str(ids["inventory_item_id"]), last_confirmed=0))
    shopify_fake.delete_variant("C")
    results = make(shopify_fake, client).push(lines)
    assert [r.ok for r in results] == [True, True, False]
    assert "could not be found" in results[2].error
    assert shopify_fake.level("A") == 5 and shopify_fake.level("B") == 3
    assert len(writes(shopify_fake)) == 2  # the rejected call, then A and B alone; C not retried


def test_unknown_sku_is_an_error_never_synced(shopify_fake, client):
    shopify_fake.add_product("A", 0)
    results = make(shopify_fake, client).push([PushLine("NOPE", 5), PushLine("A", 2)])
    assert results[0].ok is False and "not found" in results[0].error
    assert results[1].ok is True
    assert all(b"NOPE" not in w.body for w in writes(shopify_fake))


def test_stale_last_confirmed_reports_drift_and_resends(shopify_fake, client):
    ids = shopify_fake.add_product("A", 5)
    shopify_fake.set_level("A", 8)  # someone sold or recounted in Shopify
    result = make(shopify_fake, client).push(
        [PushLine("A", 10, remote_id=str(ids["inventory_item_id"]), last_confirmed=5)]
    )[0]
    assert result.ok and result.confirmed == 10 and result.drift == 8
    assert shopify_fake.level("A") == 10
    sent = [
        w.json()["variables"]["input"]["quantities"][0]["changeFromQuantity"] for w in writes(shopify_fake)
    ]
    assert sent == [5, 8]


def test_untracked_item_is_reported(shopify_fake, client):
    shopify_fake.add_product("U", 0, tracked=False)
    result = make(shopify_fake, client).push([PushLine("U", 4)])[0]
    assert not result.ok and "tracking is off" in result.error


def test_read_levels_and_fetch(shopify_fake, client):
    shopify_fake.add_product("A", 5, title="Alpha", price="12.50")
    shopify_fake.add_product("B", 2)
    adapter = make(shopify_fake, client)
    assert adapter.read_levels([PushLine("A", 0), PushLine("B", 0), PushLine("Z", 0)]) == {
        "A": 5,
        "B": 2,
        "Z": None,
    }
    levels = {lv.sku: lv.quantity for lv in adapter.fetch_levels()}
    assert levels == {"A": 5, "B": 2}
    products = {p.sku: p for p in adapter.fetch_products()}
    assert str(products["A"].price) == "12.50" and products["A"].name == "Alpha"


def test_webhook_verify_and_parse(shopify_fake, client):
    shopify_fake.add_product("A", 6)
    adapter = make(shopify_fake, client)
    headers, body = shopify_fake.webhook("A", secret="whsec")
    assert adapter.verify_webhook(headers, body, "whsec")
    assert not adapter.verify_webhook(headers, body.replace(b'"available": 6', b'"available": 7'), "whsec")
    assert not adapter.verify_webhook(headers, body, "other-secret")
    assert not adapter.verify_webhook({}, body, "whsec")
    changes = adapter.parse_webhook(headers, body)
    assert len(changes) == 1 and changes[0].quantity == 6
    assert changes[0].remote_id == f"gid://shopify/InventoryItem/{shopify_fake.item_id('A')}"
    elsewhere = shopify_fake.add_location("Elsewhere")
    shopify_fake.add_product("E", 1, location_id=elsewhere)
    headers, body = shopify_fake.webhook("E", secret="whsec", location_id=elsewhere)
    assert adapter.parse_webhook(headers, body) == []


# -- the fake itself ------------------------------------------------------------------------


def _post(fake, query, variables=None, version="2026-04"):
    return requests.post(
        f"{fake.url}/admin/api/{version}/graphql.json",
        json={"query": query, "variables": variables or {}},
        headers={"X-Shopify-Access-Token": TOKEN},
        timeout=5,
    ).json()


def _set_input(fake, sku, qty, change_from, **extra):
    row = {
        "inventoryItemId": f"gid://shopify/InventoryItem/{fake.item_id(sku)}",
        "locationId": f"gid://shopify/Location/{fake.default_location}",
        "quantity": qty,
        **extra,
    }
    if change_from != "omit":
        row["changeFromQuantity"] = change_from
    return {"name": "available", "reason": "correction", "quantities": [row]}


MUTATION = """mutation($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) { userErrors { code field message } }
}"""


def test_fake_requires_idempotency_key_and_detects_mismatch(shopify_fake):
    shopify_fake.add_product("A", 1)
    no_key = (
        "mutation($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) "
        "{ userErrors { code } } }"
    )
    body = _post(shopify_fake, no_key, {"input": _set_input(shopify_fake, "A", 2, 1)})
    assert body["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    first = _post(shopify_fake, MUTATION, {"input": _set_input(shopify_fake, "A", 2, 1), "key": "k"})
    assert first["data"]["inventorySetQuantities"]["userErrors"] == []
    again = _post(shopify_fake, MUTATION, {"input": _set_input(shopify_fake, "A", 2, 1), "key": "k"})
    assert again["data"] == first["data"] and shopify_fake.applied_writes == 1
    other = _post(shopify_fake, MUTATION, {"input": _set_input(shopify_fake, "A", 3, 2), "key": "k"})
    assert other["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"


def test_fake_gates_compare_and_swap_by_version(shopify_fake):
    shopify_fake.add_product("A", 1)
    missing = _post(shopify_fake, MUTATION, {"input": _set_input(shopify_fake, "A", 2, "omit"), "key": "a"})
    assert (
        missing["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "CHANGE_FROM_QUANTITY_REQUIRED"
    )
    old = _post(
        shopify_fake,
        MUTATION,
        {"input": _set_input(shopify_fake, "A", 2, "omit", compareQuantity=7), "key": "b"},
        version="2025-10",
    )
    assert old["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "COMPARE_QUANTITY_STALE"
    removed = _post(
        shopify_fake, MUTATION, {"input": _set_input(shopify_fake, "A", 2, 1, compareQuantity=1), "key": "c"}
    )
    assert removed["errors"][0]["extensions"]["code"] == "argumentNotAccepted"
    assert shopify_fake.level("A") == 1


def test_fake_rejects_bad_rows_atomically(shopify_fake):
    shopify_fake.add_product("A", 1)
    shopify_fake.add_product("B", 1)
    data = _set_input(shopify_fake, "A", 5, 1)
    data["quantities"] += _set_input(shopify_fake, "B", -1, 1)["quantities"]
    data["quantities"].append({**data["quantities"][0], "quantity": 2_000_000_000})
    body = _post(shopify_fake, MUTATION, {"input": data, "key": "x"})
    codes = {e["code"] for e in body["data"]["inventorySetQuantities"]["userErrors"]}
    assert {"INVALID_QUANTITY_NEGATIVE", "NO_DUPLICATE_INVENTORY_ITEM_LOCATION"} <= codes
    assert shopify_fake.level("A") == 1
    data = _set_input(shopify_fake, "A", 5, 1)
    data["quantities"] = data["quantities"] * 251
    body = _post(shopify_fake, MUTATION, {"input": data, "key": "y"})
    assert body["errors"][0]["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"


def test_fake_rest_bucket_and_paging():
    with ShopifyFake() as fake:  # real time: the REST bucket leaks 2 requests per real second
        _rest_bucket_and_paging(fake)


def _rest_bucket_and_paging(shopify_fake):
    for n in range(5):
        shopify_fake.add_product(f"R-{n}", n)
    url = f"{shopify_fake.url}/admin/api/2026-04/inventory_levels.json"
    headers = {"X-Shopify-Access-Token": TOKEN}
    page = requests.get(
        url, params={"location_ids": shopify_fake.default_location, "limit": 2}, headers=headers, timeout=5
    )
    assert page.headers["X-Shopify-Shop-Api-Call-Limit"].endswith("/40")
    seen = [row["available"] for row in page.json()["inventory_levels"]]
    while "next" in page.links:
        page = requests.get(page.links["next"]["url"], headers=headers, timeout=5)
        seen += [row["available"] for row in page.json()["inventory_levels"]]
    assert seen == [0, 1, 2, 3, 4]
    statuses = [
        requests.get(url, params={"location_ids": 1}, headers=headers, timeout=5).status_code
        for _ in range(45)
    ]
    assert 429 in statuses
    limited = requests.get(url, params={"location_ids": 1}, headers=headers, timeout=5)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2.0"
    assert "Exceeded 2 calls per second" in json.dumps(limited.json())
