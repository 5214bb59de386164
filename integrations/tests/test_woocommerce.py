"""The WooCommerce adapter against the WooCommerce fake, over real HTTP."""

from __future__ import annotations

import logging
import time

import pytest
import requests

from integrations.adapters import get_adapter_class
from integrations.adapters.base import AdapterError, AuthError, PushLine
from integrations.adapters.woocommerce import WooCommerceAdapter
from integrations.fakes.woocommerce import WooCommerceFake

from .conftest import SCALE, delay_beyond_timeout, virtual_client

KEY, SECRET = "ck_fake_key", "cs_fake_secret"


def make(fake, client, **options):
    return WooCommerceAdapter(
        base_url=fake.url,
        credentials={"consumer_key": KEY, "consumer_secret": SECRET},
        options=options,
        client=client,
    )


def writes(fake):
    return fake.requests("POST", r"/batch$")


def test_registry_and_capabilities():
    assert get_adapter_class("woocommerce") is WooCommerceAdapter
    assert WooCommerceAdapter.capabilities.batch_limit == 100
    assert WooCommerceAdapter.capabilities.replaced_skus is True


def test_connection_with_oauth1_over_http(woo_fake, client):
    assert [loc.id for loc in make(woo_fake, client).test_connection()] == ["default"]
    sent = woo_fake.requests()[0]
    assert "oauth_signature" in sent.query and sent.query["oauth_signature"] == ["***"]


def test_refused_credentials(woo_fake, client, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "cs_wrong_secret_value"
    adapter = WooCommerceAdapter(
        base_url=woo_fake.url, credentials={"consumer_key": KEY, "consumer_secret": wrong}, client=client
    )
    with pytest.raises(AuthError) as info:
        adapter.test_connection()
    assert "signature does not match" in str(info.value)
    assert wrong not in str(info.value) and wrong not in caplog.text and wrong not in repr(adapter)
    bad_key = WooCommerceAdapter(
        base_url=woo_fake.url,
        credentials={"consumer_key": "ck_nope", "consumer_secret": SECRET},
        client=client,
    )
    with pytest.raises(AuthError, match="Consumer key is invalid"):
        bad_key.test_connection()
    assert len(woo_fake.requests()) == 2  # never retried


def test_basic_auth_refused_over_plain_http_and_accepted_over_https(client):
    with WooCommerceFake(time_scale=SCALE) as fake, pytest.raises(AuthError, match="cannot list resources"):
        make(fake, client, auth="basic").test_connection()
    with WooCommerceFake(time_scale=SCALE, https=True) as fake:
        make(fake, client, auth="basic").test_connection()
        assert fake.requests()[0].headers["Authorization"] == "***"


def test_fake_rejects_replayed_nonce_and_old_timestamp(woo_fake, client):
    adapter = make(woo_fake, client)
    prepared = requests.Request("GET", f"{woo_fake.url}/wp-json/wc/v3/products").prepare()
    signed = adapter._auth(prepared)
    assert requests.get(signed.url, timeout=5).status_code == 200
    again = requests.get(signed.url, timeout=5)
    assert again.status_code == 401 and "nonce" in again.json()["message"]
    stale = WooCommerceFake(time_scale=SCALE, wall_clock=lambda: time.time() + 3600)
    with stale:
        signed = adapter._auth(requests.Request("GET", f"{stale.url}/wp-json/wc/v3/products").prepare())
        answer = requests.get(signed.url, timeout=5)
        assert answer.status_code == 401 and answer.json()["message"] == "Invalid timestamp."


def test_lookup_exact_with_variations(woo_fake, client):
    woo_fake.add_product("A-1", 5)
    woo_fake.add_product("A-10", 5)
    parent = woo_fake.add_product("TEE", None, manage_stock=False)
    small = woo_fake.add_variation(parent, "TEE-S", 2)
    woo_fake.add_product("DUP", 1)
    woo_fake.add_product("DUP", 1)
    woo_fake.add_product("", 1)
    found = make(woo_fake, client).lookup(["A-1", "TEE-S", "TEE", "DUP", "A", "", "X,Y"])
    assert found["A-1"] == str(woo_fake.by_sku("A-1")["id"])
    assert found["TEE-S"] == f"{parent}/{small}"
    for sku in ("TEE", "DUP", "A", "", "X,Y"):
        assert isinstance(found[sku], AdapterError), sku
    assert "variable product" in str(found["TEE"])


def test_push_end_to_end_products_and_variations(woo_fake, client):
    woo_fake.add_product("A", 1)
    parent = woo_fake.add_product("TEE", None, manage_stock=False)
    woo_fake.add_variation(parent, "TEE-S", 0)
    woo_fake.add_variation(parent, "TEE-M", 0, manage_stock="parent")
    results = make(woo_fake, client).push([PushLine("A", 7), PushLine("TEE-S", 3), PushLine("TEE-M", 4)])
    assert [(r.ok, r.confirmed) for r in results] == [(True, 7), (True, 3), (True, 4)]
    assert woo_fake.stock("A") == 7 and woo_fake.stock("TEE-S") == 3 and woo_fake.stock("TEE-M") == 4
    paths = {r.path for r in writes(woo_fake)}
    assert paths == {"/wp-json/wc/v3/products/batch", f"/wp-json/wc/v3/products/{parent}/variations/batch"}
    assert all(item["manage_stock"] is True for w in writes(woo_fake) for item in w.json()["update"])


def test_batches_respect_the_limit(woo_fake, client):
    lines = [PushLine(f"S-{n}", n, remote_id=str(woo_fake.add_product(f"S-{n}", 0))) for n in range(250)]
    results = make(woo_fake, client, check_drift=False).push(lines)
    assert all(r.ok for r in results)
    assert [len(w.json()["update"]) for w in writes(woo_fake)] == [100, 100, 50]
    assert woo_fake.stock("S-249") == 249


def test_host_lowered_batch_cap_413_is_split(client):
    with WooCommerceFake(time_scale=SCALE, batch_limit=30) as fake:
        lines = [PushLine(f"S-{n}", 2, remote_id=str(fake.add_product(f"S-{n}", 0))) for n in range(50)]
        assert all(r.ok for r in make(fake, client).push(lines))
        statuses = [w.status for w in writes(fake)]
        assert statuses[0] == 413 and statuses.count(200) == 2


def test_429_storm_all_land():
    vt, client = virtual_client()
    with WooCommerceFake(clock=vt.monotonic, host_rate_limit=2) as fake:
        for n in range(500):
            fake.add_product(f"T-{n}", 0)
        results = make(fake, client).push([PushLine(f"T-{n}", 1 + n % 5) for n in range(500)])
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
        assert all(fake.stock(f"T-{n}") == 1 + n % 5 for n in range(500))
        assert sum(1 for r in fake.requests() if r.status == 429) > 5
        assert len(writes(fake)) - sum(1 for r in writes(fake) if r.status == 429) == 5
        assert vt.slept >= 1.0


def test_5xx_then_success(woo_fake, client):
    pid = woo_fake.add_product("A", 0)
    woo_fake.inject(r"/batch$", 503, times=2, body="<html>Service Unavailable</html>")
    assert make(woo_fake, client).push([PushLine("A", 5, remote_id=str(pid))])[0].ok
    assert woo_fake.stock("A") == 5
    assert [w.status for w in writes(woo_fake)] == [503, 503, 200]


def test_timeout_then_success(woo_fake, client):
    pid = woo_fake.add_product("A", 0)
    woo_fake.delay(r"/batch$", delay_beyond_timeout(), times=1)
    assert make(woo_fake, client, check_drift=False).push([PushLine("A", 5, remote_id=str(pid))])[0].ok
    assert woo_fake.stock("A") == 5


def test_one_bad_item_does_not_sink_the_batch(woo_fake, client):
    ids = {sku: woo_fake.add_product(sku, 0) for sku in ("A", "B", "C")}
    woo_fake.delete(ids["C"])
    lines = [PushLine(sku, qty, remote_id=str(ids[sku])) for sku, qty in (("A", 5), ("B", 3), ("C", 1))]
    results = make(woo_fake, client).push(lines)
    assert [r.ok for r in results] == [True, True, False]
    assert "Invalid ID." in results[2].error
    assert woo_fake.stock("A") == 5 and woo_fake.stock("B") == 3
    assert len(writes(woo_fake)) == 1  # per-item error inside a 200: nothing to resend


def test_unknown_sku_is_an_error(woo_fake, client):
    results = make(woo_fake, client).push([PushLine("NOPE", 5)])
    assert not results[0].ok and "not found" in results[0].error
    assert writes(woo_fake) == []


def test_unmanaged_stock_is_detected(client):
    with WooCommerceFake(time_scale=SCALE, store_manage_stock=False) as fake:
        fake.add_product("A", 0)
        result = make(fake, client).push([PushLine("A", 5)])[0]
        assert not result.ok and "stock management is off" in result.error
    with WooCommerceFake(time_scale=SCALE) as fake:
        fake.add_product("G", None, type="grouped", manage_stock=False)
        pid = fake.by_sku("G")["id"]
        result = make(fake, client).push([PushLine("G", 5, remote_id=str(pid))])[0]
        assert not result.ok and "stock management is off" in result.error


def test_drift_is_reported_and_the_count_still_sent(woo_fake, client):
    pid = woo_fake.add_product("A", 5)
    woo_fake.set_stock("A", 8)
    result = make(woo_fake, client).push([PushLine("A", 10, remote_id=str(pid), last_confirmed=5)])[0]
    assert result.ok and result.drift == 8 and woo_fake.stock("A") == 10


def test_read_levels_and_catalog(woo_fake, client):
    woo_fake.add_product("A", 5, name="Alpha", price="12.50")
    woo_fake.add_product("U", 9, manage_stock=False)
    parent = woo_fake.add_product("TEE", None, manage_stock=False)
    small = woo_fake.add_variation(parent, "TEE-S", 2)
    adapter = make(woo_fake, client)
    assert adapter.read_levels(
        [
            PushLine("A", 0),
            PushLine("U", 0),
            PushLine("TEE-S", 0, remote_id=f"{parent}/{small}"),
            PushLine("Z", 0),
        ]
    ) == {"A": 5, "U": None, "TEE-S": 2, "Z": None}
    assert {lv.sku: lv.quantity for lv in adapter.fetch_levels()} == {"A": 5, "U": None, "TEE-S": 2}
    products = {p.sku: p for p in adapter.fetch_products()}
    assert str(products["A"].price) == "12.50" and products["A"].name == "Alpha"


def test_fake_paging_headers(woo_fake):
    for n in range(25):
        woo_fake.add_product(f"P-{n}", 1)
    adapter = WooCommerceAdapter(
        base_url=woo_fake.url,
        credentials={"consumer_key": KEY, "consumer_secret": SECRET},
        options={"auth": "oauth1"},
    )
    url = f"{woo_fake.url}/wp-json/wc/v3/products"
    answer = requests.get(url, params={"per_page": 10, "page": 3}, auth=adapter._auth, timeout=5)
    assert answer.headers["X-WP-Total"] == "25" and answer.headers["X-WP-TotalPages"] == "3"
    assert len(answer.json()) == 5 and 'rel="prev"' in answer.headers["Link"]
    too_big = requests.get(url, params={"per_page": 101}, auth=adapter._auth, timeout=5)
    assert too_big.status_code == 400 and too_big.json()["code"] == "rest_invalid_param"
    body = {"update": [{"id": 1, "stock_quantity": 1}] * 101}
    too_many = requests.post(f"{url}/batch", json=body, auth=adapter._auth, timeout=5)
    assert too_many.status_code == 413
    assert too_many.json()["code"] == "woocommerce_rest_request_entity_too_large"


def test_webhook_verify_and_parse(woo_fake, client):
    parent = woo_fake.add_product("TEE", None, manage_stock=False)
    small = woo_fake.add_variation(parent, "TEE-S", 4)
    adapter = make(woo_fake, client)
    headers, body = woo_fake.webhook("TEE-S", secret="whsec")
    assert adapter.verify_webhook(headers, body, "whsec")
    assert not adapter.verify_webhook(headers, body + b" ", "whsec")
    assert not adapter.verify_webhook(headers, body, "nope")
    [change] = adapter.parse_webhook(headers, body)
    assert (change.sku, change.remote_id, change.quantity) == ("TEE-S", f"{parent}/{small}", 4)
    assert adapter.parse_webhook({"X-WC-Webhook-Topic": "action.woocommerce_x"}, b"webhook_id=1") == []
    assert adapter.parse_webhook({}, b"webhook_id=1") == []
