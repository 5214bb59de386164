"""/api/v2/: the Order Desk-compatible inventory-items API, replayed as scripts call it.

Covers the headers, the exact envelope, dates, full-replace PUT, batch PUT, the
method override, store isolation, and the per-store token bucket (database and
Redis; refilled with an injected clock, drained from two connections and two
processes).
"""

import datetime as dt
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from conftest import need
from inventory import services
from inventory.api import throttling
from inventory.api.tokens import create_token
from inventory.models import InventoryItem, RateBucket, StockLedgerEntry, Store

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
ITEM_FIELDS = ["id", "name", "code", "price", "cost", "weight", "stock", "location", "metadata",
               "update_source", "date_added", "date_updated"]


class FakeClock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture(autouse=True)
def db_bucket(clock):
    limiter = throttling.DatabaseBucket(clock=clock)
    throttling.set_limiter(limiter)
    yield limiter
    throttling.set_limiter(None)


@pytest.fixture
def other_store(db):
    return Store.objects.create(name="Other shop", slug="other")


@pytest.fixture
def key(store):
    return create_token("od script", [store])[1]


class Desk:
    """A client that sends what Order Desk scripts send."""

    def __init__(self, store, key):
        self.client = Client()
        self.headers = {"ORDERDESK-STORE-ID": str(store.pk), "ORDERDESK-API-KEY": key}

    def call(self, method, path, body=None, headers=None):
        kwargs = {"headers": {**self.headers, **(headers or {})}}
        if method != "get":
            kwargs.update(data=json.dumps(body) if body is not None else "", content_type="application/json")
        return getattr(self.client, method)("/api/v2/" + path, **kwargs)

    def get(self, path, **kwargs):
        return self.call("get", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.call("post", path, body, **kwargs)

    def put(self, path, body=None, **kwargs):
        return self.call("put", path, body, **kwargs)

    def delete(self, path, **kwargs):
        return self.call("delete", path, **kwargs)


@pytest.fixture
def desk(store, key):
    return Desk(store, key)


def utc_text(value):
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


# --- connection and envelope -------------------------------------------------------


def test_test_endpoint_envelope(desk):
    response = desk.get("test")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["status", "message", "execution_time", "current_date_time"]
    assert body["status"] == "success"
    assert body["message"] == "Connection Successful"
    assert re.fullmatch(r"\d+\.\d{4} seconds", body["execution_time"])
    assert DATE.match(body["current_date_time"])
    assert response["X-Tokens-Remaining"] == "19"
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("headers", [
    {},
    {"ORDERDESK-STORE-ID": "1"},
    {"ORDERDESK-API-KEY": "whatever"},
    {"ORDERDESK-STORE-ID": "abc", "ORDERDESK-API-KEY": "whatever"},
])
def test_missing_or_malformed_headers_are_401_in_the_envelope(db, headers):
    response = Client().get("/api/v2/test", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "error" and body["message"]
    assert "X-Tokens-Remaining" in response


def test_a_store_slug_in_place_of_its_id_gets_a_hint(store, key):
    response = Client().get("/api/v2/test", headers={"ORDERDESK-STORE-ID": store.slug, "ORDERDESK-API-KEY": key})
    assert response.status_code == 401
    assert response.json()["message"] == (
        f"ORDERDESK-STORE-ID is the store's number (\"store id (API v2)\" in the admin), not {store.slug!r}."
    )


def test_bad_key_is_401(store, desk):
    response = desk.get("inventory-items", headers={"ORDERDESK-API-KEY": "wrong"})
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid store id or API key."


def test_a_key_for_one_store_cannot_see_another(store, other_store, key, make_items):
    theirs = make_items(other_store, {"X-1": 9})["X-1"]
    mine = Desk(store, key)
    assert mine.get(f"inventory-items/{theirs.pk}").status_code == 404
    assert mine.put(f"inventory-items/{theirs.pk}", {"code": "X-1", "stock": 0}).status_code == 404
    assert mine.delete(f"inventory-items/{theirs.pk}").status_code == 404
    assert mine.get("inventory-items?code=X-1").json()["inventory_items"] == []
    batch = mine.put("batch-inventory-items", [{"id": theirs.pk, "stock": 0}])
    assert batch.status_code == 400
    # Their store id with my key: refused like a wrong key, without saying the store exists.
    posing = Desk(other_store, key)
    assert posing.get("inventory-items").status_code == 401
    theirs.refresh_from_db()
    assert theirs.stock == 9 and theirs.archived_at is None


def test_read_only_key_cannot_write(store, make_items):
    item = make_items(store, {"A-1": 1})["A-1"]
    reader = Desk(store, create_token("reader", [store], read_only=True)[1])
    assert reader.get(f"inventory-items/{item.pk}").status_code == 200
    response = reader.put(f"inventory-items/{item.pk}", {"code": "A-1", "stock": 5})
    assert response.status_code == 403 and response.json()["status"] == "error"
    assert reader.post("inventory-items", {"code": "NEW"}).status_code == 403
    assert reader.delete(f"inventory-items/{item.pk}").status_code == 403
    assert reader.put("batch-inventory-items", [{"id": item.pk, "stock": 5}]).status_code == 403
    item.refresh_from_db()
    assert item.stock == 1


# --- reading ----------------------------------------------------------------------------


def test_item_fields_and_date_format(desk, store, make_items):
    item = make_items(store, {"MUG-1": 12}, name="Mug", price="9.99", location="A3")["MUG-1"]
    services.set_metadata(item, {"max": "25"})
    response = desk.get(f"inventory-items/{item.pk}")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["status", "message", "execution_time", "inventory_item"]
    record = body["inventory_item"]
    assert list(record) == ITEM_FIELDS
    item.refresh_from_db()
    assert record == {
        "id": item.pk, "name": "Mug", "code": "MUG-1", "price": 9.99, "cost": 0.0, "weight": 0.0,
        "stock": 12, "location": "A3", "metadata": {"max": "25"}, "update_source": "admin",
        "date_added": utc_text(item.created_at), "date_updated": utc_text(item.updated_at),
    }
    assert DATE.match(record["date_added"]) and DATE.match(record["date_updated"])


def test_list_with_comma_separated_code_filter_and_search(desk, store, make_items):
    make_items(store, {"A-1": 1, "A-2": 2, "B-1": 3, "C-1": 4})
    InventoryItem.objects.filter(code="C-1").update(name="Green cup")
    response = desk.get("inventory-items?code=A-1,B-1,NOPE")
    body = response.json()
    assert list(body) == ["status", "message", "execution_time", "records_returned", "total_records",
                          "inventory_items"]
    assert (body["status"], body["records_returned"], body["total_records"]) == ("success", 2, 2)
    assert [row["code"] for row in body["inventory_items"]] == ["A-1", "B-1"]
    found = desk.get("inventory-items?search=cup").json()["inventory_items"]
    assert [row["code"] for row in found] == ["C-1"]
    assert desk.get("inventory-items?search=zzz").json()["inventory_items"] == []


def test_limit_defaults_to_50_and_stops_at_500(desk, store):
    services.create_items(store, [{"code": f"S{n:04d}", "stock": n} for n in range(520)], source="admin")
    body = desk.get("inventory-items").json()
    assert (body["records_returned"], body["total_records"]) == (50, 520)
    body = desk.get("inventory-items?limit=1000").json()
    assert body["records_returned"] == 500
    body = desk.get("inventory-items?limit=10&offset=515").json()
    assert [row["code"] for row in body["inventory_items"]] == [f"S{n:04d}" for n in range(515, 520)]
    bad = desk.get("inventory-items?limit=ten")
    assert bad.status_code == 400 and "limit" in bad.json()["message"]


def test_unknown_id_and_unknown_path_are_404_in_the_envelope(desk):
    for path in ("inventory-items/999999", "inventory-items/abc", "no-such-thing"):
        response = desk.get(path)
        assert response.status_code == 404
        assert response.json()["status"] == "error"


# --- writing ------------------------------------------------------------------------------


def test_post_creates_an_item_with_its_first_count_in_the_ledger(desk, key, store):
    response = desk.post("inventory-items", {"name": "Mug", "code": "MUG-1", "price": 9.5, "stock": 7,
                                             "metadata": {"max": "5"}})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "success"
    record = body["inventory_item"]
    assert (record["code"], record["stock"], record["price"], record["metadata"]) == ("MUG-1", 7, 9.5,
                                                                                      {"max": "5"})
    assert record["update_source"] == "api"
    entry = StockLedgerEntry.objects.get(item_id=record["id"])
    assert (entry.source, entry.delta, entry.reference) == ("api", 7, f"api:{key[:8]}")
    again = desk.post("inventory-items", {"code": "MUG-1"})
    assert again.status_code == 400 and "code" in again.json()["message"]


def test_put_replaces_the_whole_record_but_leaves_stock_alone_when_omitted(desk, store, make_items):
    item = make_items(store, {"A-1": 8}, name="Mug", price="3", cost="1", weight="0.5", location="B2")["A-1"]
    services.set_metadata(item, {"max": "10", "colour": "red"})
    response = desk.put(f"inventory-items/{item.pk}", {"code": "A-1", "name": "Big mug"})
    assert response.status_code == 200, response.content
    record = response.json()["inventory_item"]
    assert record["name"] == "Big mug"
    assert (record["price"], record["cost"], record["weight"], record["location"], record["metadata"]) == (
        0.0, 0.0, 0.0, "", {})
    assert record["stock"] == 8
    item.refresh_from_db()
    assert (item.price, item.cost, item.weight, item.location) == (None, None, None, "")
    assert not item.metadata.exists()
    response = desk.put(f"inventory-items/{item.pk}", {**record, "stock": 3, "price": "4.25"})
    assert response.json()["inventory_item"]["stock"] == 3
    assert response.json()["inventory_item"]["price"] == 4.25
    assert StockLedgerEntry.objects.filter(item=item, source="api", delta=-5).exists()


def test_post_with_method_override_put_updates(desk, store, make_items):
    item = make_items(store, {"A-1": 8})["A-1"]
    response = desk.post(f"inventory-items/{item.pk}", {"code": "A-1", "name": "Via POST", "stock": 2},
                         headers={"X-HTTP-Method-Override": "PUT"})
    assert response.status_code == 200, response.content
    assert response.json()["inventory_item"]["name"] == "Via POST"
    item.refresh_from_db()
    assert item.stock == 2
    response = desk.post("batch-inventory-items", [{"id": item.pk, "stock": 6}],
                         headers={"X-HTTP-Method-Override": "PUT"})
    assert response.status_code == 200
    item.refresh_from_db()
    assert item.stock == 6
    # Without the override, POST on an item is not an update.
    assert desk.post(f"inventory-items/{item.pk}", {"code": "A-1"}).status_code == 405


def test_validation_errors_name_the_field(desk, store, make_items):
    item = make_items(store, {"A-1": 8})["A-1"]
    cases = [
        ({"code": "A-1", "price": "abc"}, "price"),
        ({"code": "A-1", "stock": 2.5}, "stock"),
        ({"code": "A-1", "metadata": {"max": "lots"}}, "metadata.max"),
        ({"code": ""}, "code"),
        ({"code": "A-1", "weight": 1e12}, "weight"),
        ({"code": "A-1", "weight": -3}, "weight"),
        ({"code": "A-1", "price": "-0.5"}, "price"),
    ]
    for body, field in cases:
        response = desk.put(f"inventory-items/{item.pk}", body)
        assert response.status_code == 400, body
        assert response.json()["status"] == "error"
        assert response.json()["message"].startswith(f"{field}:"), response.json()["message"]
    bad_json = desk.client.put(f"/api/v2/inventory-items/{item.pk}", data="{nope",
                               content_type="application/json", headers=desk.headers)
    assert bad_json.status_code == 400
    item.refresh_from_db()
    assert item.stock == 8


def test_delete_archives(desk, store, make_items):
    item = make_items(store, {"A-1": 8})["A-1"]
    response = desk.delete(f"inventory-items/{item.pk}")
    assert response.status_code == 200
    assert response.json()["status"] == "success"
    item.refresh_from_db()
    assert item.archived_at is not None
    assert desk.get(f"inventory-items/{item.pk}").status_code == 404


def test_batch_put_array_of_id_name_code_price_stock(desk, key, store, make_items):
    items = make_items(store, {"A-1": 1, "A-2": 2}, location="Shelf")
    services.set_metadata(items["A-1"], {"max": "10"})
    payload = [
        {"id": items["A-1"].pk, "name": "First", "code": "A-1", "price": 1.5, "stock": 11},
        {"id": items["A-2"].pk, "name": "Second", "code": "A-2", "price": "2.50", "stock": 22},
        {"name": "Third", "code": "A-3", "price": 3, "stock": 33},
    ]
    response = desk.put("batch-inventory-items", payload)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "success"
    assert [(row["code"], row["name"], row["price"], row["stock"]) for row in body["inventory_items"]] == [
        ("A-1", "First", 1.5, 11), ("A-2", "Second", 2.5, 22), ("A-3", "Third", 3.0, 33)]
    first = body["inventory_items"][0]
    # A batch line changes only what it sends: location and safety metadata stay.
    assert (first["location"], first["metadata"]) == ("Shelf", {"max": "10"})
    entries = StockLedgerEntry.objects.filter(source="api", reference=f"api:{key[:8]}")
    assert entries.count() == 3


def test_an_empty_batch_says_it_is_empty(desk):
    response = desk.put("batch-inventory-items", [])
    assert response.status_code == 400
    assert response.json()["message"] == "The array is empty: send at least one inventory item."
    assert desk.put("batch-inventory-items", {"name": "x"}).json()["message"] == (
        "Send a JSON array of inventory items."
    )


def test_batch_is_all_or_nothing_with_errors_by_index(desk, store, make_items):
    items = make_items(store, {"A-1": 1, "A-2": 2})
    payload = [
        {"id": items["A-1"].pk, "stock": 5},
        {"id": 99999999, "stock": 1},
        {"id": items["A-2"].pk, "stock": "many"},
        {"code": "A-1", "stock": 7},
        {"name": "no id, no code"},
    ]
    response = desk.put("batch-inventory-items", payload)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error"
    assert [error["index"] for error in body["errors"]] == [1, 2, 3, 4]
    assert "stock" in body["errors"][1]["message"]
    items["A-1"].refresh_from_db()
    assert items["A-1"].stock == 1
    assert desk.put("batch-inventory-items", {"not": "a list"}).status_code == 400
    too_many = [{"code": f"S{n}", "stock": 1} for n in range(501)]
    assert desk.put("batch-inventory-items", too_many).status_code == 400


# --- the token bucket -----------------------------------------------------------------------


def test_21st_request_in_a_burst_is_429_then_refills(desk, clock):
    remaining = [desk.get("test")["X-Tokens-Remaining"] for _ in range(20)]
    assert remaining == [str(n) for n in range(19, -1, -1)]
    response = desk.get("test")
    assert response.status_code == 429
    assert response["X-Retry-After"] == "1"
    assert response["X-Tokens-Remaining"] == "0"
    assert response.json()["status"] == "error"
    clock.advance(1)  # +3 tokens
    assert [desk.get("test").status_code for _ in range(4)] == [200, 200, 200, 429]
    clock.advance(60)  # never more than 20
    assert desk.get("test")["X-Tokens-Remaining"] == "19"


def test_buckets_are_per_store(store, other_store, key):
    both = create_token("both", [store, other_store])[1]
    first, second = Desk(store, both), Desk(other_store, both)
    for _ in range(20):
        first.get("test")
    assert first.get("test").status_code == 429
    assert second.get("test").status_code == 200


def test_failed_logins_use_the_callers_bucket_not_the_stores(desk, store):
    for _ in range(25):
        Client().get("/api/v2/test", headers={"ORDERDESK-STORE-ID": str(store.pk), "ORDERDESK-API-KEY": "x"})
    assert desk.get("test").status_code == 200
    response = Client().get("/api/v2/test", headers={"ORDERDESK-STORE-ID": str(store.pk),
                                                     "ORDERDESK-API-KEY": "x"})
    assert response.status_code == 429


def test_bucket_refill_arithmetic(db, clock):
    bucket = throttling.DatabaseBucket(clock=clock)
    for _ in range(20):
        assert bucket.take("k").allowed
    denied = bucket.take("k")
    assert (denied.allowed, denied.remaining, denied.retry_after) == (False, 0, 1)
    clock.advance(0.2)  # 0.6 tokens: still not one
    assert not bucket.take("k").allowed
    clock.advance(0.2)  # 1.2 tokens
    assert bucket.take("k").allowed
    clock.advance(-30)  # a clock stepping back mints nothing
    assert not bucket.take("k").allowed
    assert RateBucket.objects.filter(key="k").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_database_connections_drain_one_bucket(store):
    """Each thread has its own connection; the row lock keeps the total at 20."""
    bucket = throttling.DatabaseBucket(clock=lambda: 5_000_000.0)
    allowed = []
    start = threading.Barrier(2)

    def drain():
        try:
            start.wait()
            allowed.append(sum(bucket.take("shared").allowed for _ in range(15)))
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(allowed)[0] >= 0 and sum(allowed) == 20


def _database_url() -> str:
    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    auth = config["USER"] + (f":{config['PASSWORD']}" if config.get("PASSWORD") else "")
    return f"postgres://{auth}@{config['HOST'] or '127.0.0.1'}:{config['PORT'] or 5432}/{config['NAME']}"


DRAIN_SCRIPT = """
import os, sys, django
django.setup()
from inventory.api.throttling import DatabaseBucket
bucket = DatabaseBucket(clock=lambda: 7_000_000.0)
print("ready", flush=True)
sys.stdin.readline()
print(sum(bucket.take(sys.argv[1]).allowed for _ in range(15)), flush=True)
"""


@pytest.mark.django_db(transaction=True)
def test_two_processes_drain_one_bucket(store):
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"] in ("", ":memory:"):
        pytest.skip("an in-memory database is private to one process")
    env = {**os.environ, "DATABASE_URL": _database_url(),
           "DJANGO_SETTINGS_MODULE": "inventory_project.settings"}
    env.pop("REDIS_URL", None)
    key = f"proc-{uuid.uuid4().hex}"
    processes = [
        subprocess.Popen([sys.executable, "-c", DRAIN_SCRIPT, key], cwd=PROJECT_ROOT, env=env, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    try:
        for process in processes:
            assert process.stdout.readline().strip() == "ready", process.stderr.read()
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        counts = []
        for process in processes:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
            counts.append(int(out.strip()))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    assert sum(counts) == 20


# --- the Redis variant --------------------------------------------------------------------------


@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        client = None
    need(client is not None, "Redis is not reachable at 127.0.0.1:6379")
    prefix = f"test:hub:{uuid.uuid4().hex}:"
    yield client, prefix
    for name in client.scan_iter(match=prefix + "*"):
        client.delete(name)
    client.close()


def test_redis_bucket_exhausts_and_refills(redis_client, clock):
    client, prefix = redis_client
    bucket = throttling.RedisBucket(client, clock=clock, prefix=prefix)
    results = [bucket.take("store:1") for _ in range(21)]
    assert [r.allowed for r in results] == [True] * 20 + [False]
    assert [r.remaining for r in results[:3]] == [19, 18, 17]
    assert results[-1].retry_after == 1
    clock.advance(1)
    assert [bucket.take("store:1").allowed for _ in range(4)] == [True, True, True, False]
    assert 0 < client.ttl(prefix + "store:1") <= throttling.REDIS_TTL_SECONDS


def test_redis_bucket_shared_by_two_connections(redis_client):
    import redis

    client, prefix = redis_client
    second = redis.Redis(host="127.0.0.1", port=6379)
    try:
        # No clock given: the Redis server's own clock, as in production.
        buckets = [throttling.RedisBucket(connection_, prefix=prefix) for connection_ in (client, second)]
        allowed = []
        start = threading.Barrier(2)

        def drain(bucket):
            start.wait()
            allowed.append(sum(bucket.take("shared").allowed for _ in range(15)))

        threads = [threading.Thread(target=drain, args=(bucket,)) for bucket in buckets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        second.close()
    # Refill during the run is at most a token or two; never 30.
    assert 20 <= sum(allowed) <= 22


def test_the_api_uses_redis_when_redis_url_is_set(redis_client, desk, settings, monkeypatch):
    client, prefix = redis_client
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    monkeypatch.setattr(throttling, "REDIS_PREFIX", prefix)
    throttling.set_limiter(None)
    limiter = throttling.get_limiter()
    assert isinstance(limiter, throttling.RedisBucket)
    assert desk.get("test")["X-Tokens-Remaining"] == "19"
    assert client.exists(prefix + f"store:{desk.headers['ORDERDESK-STORE-ID']}")
    assert not RateBucket.objects.exists()


def test_redis_down_falls_back_to_the_database_bucket(db, clock):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    bucket = throttling.RedisBucket(dead, clock=clock)
    assert bucket.take("store:9").remaining == 19
    assert RateBucket.objects.filter(key="store:9").exists()
