"""The Square adapter against the Square fake, over real HTTP."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from integrations.adapters import get_adapter_class
from integrations.adapters.base import AdapterError, AuthError, PushLine
from integrations.adapters.square import SquareAdapter
from integrations.fakes.square import SquareFake

from .conftest import delay_beyond_timeout, virtual_client

TOKEN = "sq_fake_token"


def make(fake, client, token=TOKEN, **options):
    return SquareAdapter(
        base_url=fake.url,
        credentials={"access_token": token},
        location_id=fake.default_location,
        options=options,
        client=client,
    )


def writes(fake):
    return fake.requests("POST", r"/batch-create$")


def test_registry_and_capabilities():
    assert get_adapter_class("square") is SquareAdapter
    assert SquareAdapter.capabilities.batch_limit == 100 and SquareAdapter.capabilities.replaced_skus


def test_connection_lists_locations(square_fake, client):
    square_fake.add_location("Pop-up")
    locations = make(square_fake, client).test_connection()
    assert [loc.name for loc in locations] == ["Main store", "Pop-up"]
    sent = square_fake.requests()[0]
    assert sent.headers["Authorization"] == "***" and sent.headers["Square-Version"]


def test_refused_credentials(square_fake, client, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "EAAA_wrong_but_secret"
    adapter = make(square_fake, client, token=secret)
    with pytest.raises(AuthError) as info:
        adapter.test_connection()
    assert "could not be authorized" in str(info.value)
    assert secret not in str(info.value) and secret not in caplog.text and secret not in repr(adapter)
    assert len(square_fake.requests()) == 1


def test_lookup_exact(square_fake, client):
    a = square_fake.add_item("A-1", 5)
    square_fake.add_item("a-1", 5)  # Square's search ignores case: the adapter must not
    square_fake.add_item("DUP", 1)
    square_fake.add_item("DUP", 1)
    square_fake.add_item(None, 1)
    found = make(square_fake, client).lookup(["A-1", "DUP", "MISSING", ""])
    assert found["A-1"] == a["variation_id"]
    for sku in ("DUP", "MISSING", ""):
        assert isinstance(found[sku], AdapterError), sku


def test_push_end_to_end(square_fake, client):
    a = square_fake.add_item("A", 1)
    b = square_fake.add_item("B", None)  # never counted
    results = make(square_fake, client).push([PushLine("A", 7), PushLine("B", 4)])
    assert [(r.ok, r.confirmed) for r in results] == [(True, 7), (True, 4)]
    assert square_fake.quantity(a["variation_id"]) == 7 and square_fake.quantity(b["variation_id"]) == 4
    change = writes(square_fake)[0].json()
    count = change["changes"][0]["physical_count"]
    assert count["quantity"] == "7" and count["state"] == "IN_STOCK" and change["idempotency_key"]


def test_batches_respect_the_limit(square_fake, client):
    lines = [
        PushLine(f"S-{n}", n, remote_id=square_fake.add_item(f"S-{n}", 0)["variation_id"]) for n in range(250)
    ]
    assert all(r.ok for r in make(square_fake, client).push(lines))
    assert [len(w.json()["changes"]) for w in writes(square_fake)] == [100, 100, 50]


def test_rate_limited_storm_all_land():
    vt, client = virtual_client()
    with SquareFake(clock=vt.monotonic, rate_per_second=2, burst=2) as fake:
        lines = [
            PushLine(
                f"T-{n}", 1 + n % 3, remote_id=fake.add_item(f"T-{n}", 0)["variation_id"], last_confirmed=0
            )
            for n in range(500)
        ]
        results = make(fake, client).push(lines)
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
        assert all(fake.quantity(ln.remote_id) == ln.quantity for ln in lines)
        assert any(r.status == 429 for r in fake.requests())
        assert len([w for w in writes(fake) if w.status == 200]) == 5


def test_5xx_then_success(square_fake, client):
    vid = square_fake.add_item("A", 0)["variation_id"]
    square_fake.inject(r"/batch-create$", 500, times=2)
    assert make(square_fake, client).push([PushLine("A", 5, remote_id=vid)])[0].ok
    assert square_fake.quantity(vid) == 5
    keys = {w.json()["idempotency_key"] for w in writes(square_fake)}
    assert len(keys) == 1  # retries carry the same key


def test_timeout_then_success_replays(square_fake, client):
    vid = square_fake.add_item("A", 0)["variation_id"]
    square_fake.delay(r"/batch-create$", delay_beyond_timeout(), times=1)
    assert make(square_fake, client).push([PushLine("A", 5, remote_id=vid)])[0].ok
    deadline = time.monotonic() + 5
    while len(writes(square_fake)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert square_fake.quantity(vid) == 5 and square_fake.applied_batches == 1


def test_batch_rejected_for_one_item_is_split(square_fake, client):
    ids = {sku: square_fake.add_item(sku, 0)["variation_id"] for sku in ("A", "B", "C")}
    square_fake.delete_variation(ids["C"])
    lines = [PushLine(sku, qty, remote_id=ids[sku]) for sku, qty in (("A", 5), ("B", 3), ("C", 1))]
    results = make(square_fake, client).push(lines)
    assert [r.ok for r in results] == [True, True, False]
    assert "not found" in results[2].error and "NOT_FOUND" in results[2].error
    assert [len(w.json()["changes"]) for w in writes(square_fake)] == [3, 2]
    assert square_fake.quantity(ids["A"]) == 5 and square_fake.quantity(ids["B"]) == 3


def test_item_id_instead_of_variation_is_refused(square_fake, client):
    ids = square_fake.add_item("A", 0)
    result = make(square_fake, client).push([PushLine("A", 5, remote_id=ids["item_id"])])[0]
    assert not result.ok and "Item variation with catalog object ID" in result.error


def test_unknown_sku_is_an_error(square_fake, client):
    result = make(square_fake, client).push([PushLine("NOPE", 5)])[0]
    assert not result.ok and "not found" in result.error and writes(square_fake) == []


def test_drift_is_reported(square_fake, client):
    vid = square_fake.add_item("A", 5)["variation_id"]
    square_fake.set_quantity(vid, 8)
    result = make(square_fake, client).push([PushLine("A", 10, remote_id=vid, last_confirmed=5)])[0]
    assert result.ok and result.drift == 8 and square_fake.quantity(vid) == 10


def test_read_levels_and_catalog(square_fake, client):
    square_fake.add_item("A", 5, name="Alpha", price_cents=1250)
    square_fake.add_item("N", None)
    adapter = make(square_fake, client)
    assert adapter.read_levels([PushLine("A", 0), PushLine("N", 0), PushLine("Z", 0)]) == {
        "A": 5,
        "N": 0,
        "Z": None,
    }
    assert {lv.sku: lv.quantity for lv in adapter.fetch_levels()} == {"A": 5, "N": 0}
    products = {p.sku: p for p in adapter.fetch_products()}
    assert str(products["A"].price) == "12.5" and products["A"].name == "Alpha"


def test_webhook_verify_and_parse(square_fake, client):
    vid = square_fake.add_item("A", 6)["variation_id"]
    url = "https://hub.example/webhooks/square/1"
    adapter = make(square_fake, client, webhook_url=url)
    headers, body = square_fake.webhook(vid, "sig-key", url)
    assert adapter.verify_webhook(headers, body, "sig-key")
    assert not adapter.verify_webhook(headers, body + b"x", "sig-key")
    assert not make(square_fake, client, webhook_url=url + "x").verify_webhook(headers, body, "sig-key")
    [change] = adapter.parse_webhook(headers, body)
    assert change.remote_id == vid and change.quantity == 6


def _batch(fake, changes, key="k1"):
    return requests.post(
        f"{fake.url}/v2/inventory/changes/batch-create",
        timeout=5,
        headers={"Authorization": f"Bearer {TOKEN}", "Square-Version": "2025-10-16"},
        json={"idempotency_key": key, "changes": changes},
    )


def _change(vid, location, quantity, when=None):
    when = when or datetime.now(UTC)
    return {
        "type": "PHYSICAL_COUNT",
        "physical_count": {
            "catalog_object_id": vid,
            "location_id": location,
            "state": "IN_STOCK",
            "quantity": quantity,
            "occurred_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }


def test_fake_idempotency_strings_and_time_window(square_fake):
    vid = square_fake.add_item("A", 0)["variation_id"]
    loc = square_fake.default_location
    first = _batch(square_fake, [_change(vid, loc, "3")])
    assert first.status_code == 200
    assert _batch(square_fake, [_change(vid, loc, "3")]).json() == first.json()
    other = _batch(square_fake, [_change(vid, loc, "4")])
    assert other.status_code == 400 and other.json()["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    number = _batch(square_fake, [_change(vid, loc, 3)], key="k2")
    assert number.json()["errors"][0]["code"] == "EXPECTED_STRING"
    old = _batch(square_fake, [_change(vid, loc, "3", datetime.now(UTC) - timedelta(hours=25))], key="k3")
    future = _batch(square_fake, [_change(vid, loc, "3", datetime.now(UTC) + timedelta(hours=1))], key="k4")
    assert old.status_code == 400 and future.status_code == 400
    too_many = _batch(square_fake, [_change(vid, loc, "1")] * 101, key="k5")
    assert too_many.json()["errors"][0]["code"] == "ARRAY_LENGTH_TOO_LONG"
    assert square_fake.quantity(vid) == 3 and square_fake.applied_batches == 1


def test_fake_cursor_paging(square_fake):
    ids = [square_fake.add_item(f"P-{n}", n)["variation_id"] for n in range(5)]
    seen, cursor = [], None
    while True:
        body = {"catalog_object_ids": ids, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = requests.post(
            f"{square_fake.url}/v2/inventory/counts/batch-retrieve",
            json=body,
            timeout=5,
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).json()
        seen += [c["quantity"] for c in page["counts"]]
        cursor = page.get("cursor")
        if not cursor:
            break
    assert sorted(seen) == ["0", "1", "2", "3", "4"]
