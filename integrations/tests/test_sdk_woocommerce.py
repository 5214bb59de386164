"""The WooCommerce fake driven by WooCommerce's own Python client, a test-only dependency.

Pointed at the fake's plain-http URL, the client signs with OAuth 1.0a exactly as
it would against a real store without TLS, so the fake's signature check is
proven against an independent implementation.
"""

from __future__ import annotations

import pytest

woocommerce = pytest.importorskip("woocommerce", reason="the woocommerce client is a test-only dependency")

KEY, SECRET = "ck_fake_key", "cs_fake_secret"


def api(fake, secret=SECRET):
    return woocommerce.API(url=fake.url, consumer_key=KEY, consumer_secret=secret, version="wc/v3", timeout=5)


def test_sdk_reads_and_batch_writes(woo_fake):
    pid = woo_fake.add_product("SDK-1", 2)
    parent = woo_fake.add_product("SDK-TEE", None, manage_stock=False)
    vid = woo_fake.add_variation(parent, "SDK-TEE-S", 1)
    client = api(woo_fake)
    found = client.get("products", params={"sku": "SDK-1,SDK-TEE-S"})
    assert found.status_code == 200, found.text
    assert sorted((p["sku"], p["type"]) for p in found.json()) == [
        ("SDK-1", "simple"),
        ("SDK-TEE-S", "variation"),
    ]
    assert found.headers["X-WP-Total"] == "2"
    answer = client.post(
        "products/batch", {"update": [{"id": pid, "manage_stock": True, "stock_quantity": 9}]}
    )
    assert answer.status_code == 200 and answer.json()["update"][0]["stock_quantity"] == 9
    answer = client.post(
        f"products/{parent}/variations/batch", {"update": [{"id": vid, "stock_quantity": 4}]}
    )
    assert answer.status_code == 200 and answer.json()["update"][0]["stock_quantity"] == 4
    assert woo_fake.stock("SDK-1") == 9 and woo_fake.stock("SDK-TEE-S") == 4


def test_sdk_wrong_secret_is_refused(woo_fake):
    answer = api(woo_fake, secret="cs_wrong").get("products")
    assert answer.status_code == 401
    assert answer.json()["code"] == "woocommerce_rest_authentication_error"
