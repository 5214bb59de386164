"""/api/v1/: scoping, read-only keys, items with metadata, batch stock, told, ledger, imports."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Sum
from rest_framework.test import APIClient

from inventory import services
from inventory.api.tokens import create_token, hash_key
from inventory.models import ApiToken, InventoryItem, StockLedgerEntry, Store, StoreMembership


def ledger_sum(item):
    return StockLedgerEntry.objects.filter(item=item).aggregate(total=Sum("delta"))["total"] or 0


@pytest.fixture
def other_store(db):
    return Store.objects.create(name="Other shop", slug="other")


@pytest.fixture
def key(store):
    _token, key = create_token("script", [store])
    return key


@pytest.fixture
def api(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def read_only_api(store):
    _token, key = create_token("reader", [store], read_only=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def stock_of(store, code):
    return InventoryItem.objects.active().get(store=store, code=code).stock


# --- authentication and scoping --------------------------------------------------


def test_no_key_or_bad_key_is_401(db, store):
    assert APIClient().get("/api/v1/stores/").status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    response = client.get("/api/v1/stores/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_inactive_key_is_refused(store, key, api):
    ApiToken.objects.update(is_active=False)
    assert api.get("/api/v1/stores/").status_code == 401


def test_stores_lists_only_the_keys_stores(api, store, other_store):
    response = api.get("/api/v1/stores/")
    assert response.status_code == 200
    assert [row["slug"] for row in response.json()["results"]] == ["main"]
    assert api.get("/api/v1/stores/main/").json()["name"] == "Main shop"


def test_other_stores_objects_are_404_not_403(api, read_only_api, other_store, make_items):
    make_items(other_store, {"X-1": 4})
    for client in (api, read_only_api):
        assert client.get("/api/v1/stores/other/").status_code == 404
        assert client.get("/api/v1/stores/other/items/").status_code == 404
        assert client.get("/api/v1/stores/other/items/X-1/").status_code == 404
        assert client.get("/api/v1/stores/other/items/X-1/told/").status_code == 404
        assert client.get("/api/v1/stores/other/items/X-1/ledger/").status_code == 404
        assert client.delete("/api/v1/stores/other/items/X-1/").status_code == 404
        response = client.post("/api/v1/stores/other/stock/",
                               {"items": [{"code": "X-1", "quantity": 1}]}, format="json")
        assert response.status_code == 404
    assert stock_of(other_store, "X-1") == 4


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_paths_answer_json_404(api, client, settings, debug):
    settings.DEBUG = debug
    for response in (api.get("/api/v1/nosuch/"), client.get("/api/nosuch/")):
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"detail": f"No API endpoint at {response.wsgi_request.path}. See /api/docs/."}
    assert client.get("/api/v1/stores").status_code == 301  # a missing slash is still redirected
    page = client.get("/admin-nosuch/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_the_api_root_says_where_to_start(client):
    for path in ("/api/", "/api/v1/"):
        body = client.get(path).json()
        assert body["stores"] == "http://testserver/api/v1/stores/"
        assert body["docs"] == "http://testserver/api/docs/"


def test_import_jobs_of_another_store_are_404(api, store, other_store):
    from imports.services import create_job

    job = create_job(other_store, content=b"sku,qty\nX-1,1\n", filename="x.csv")
    assert api.get(f"/api/v1/stores/main/imports/{job.pk}/").status_code == 404
    assert api.get(f"/api/v1/stores/other/imports/{job.pk}/").status_code == 404
    assert api.post(f"/api/v1/stores/main/imports/{job.pk}/undo/").status_code == 404


def test_read_only_key_reads_but_cannot_write(read_only_api, store, make_items):
    make_items(store, {"A-1": 3})
    assert read_only_api.get("/api/v1/stores/main/items/").status_code == 200
    writes = [
        read_only_api.post("/api/v1/stores/main/items/", {"code": "NEW"}, format="json"),
        read_only_api.patch("/api/v1/stores/main/items/A-1/", {"name": "x"}, format="json"),
        read_only_api.put("/api/v1/stores/main/items/A-1/", {"code": "A-1"}, format="json"),
        read_only_api.delete("/api/v1/stores/main/items/A-1/"),
        read_only_api.post("/api/v1/stores/main/stock/", {"items": [{"code": "A-1", "quantity": 9}]},
                           format="json"),
        read_only_api.post("/api/v1/stores/main/imports/",
                           {"file": named(b"sku,qty\nA-1,9\n")}, format="multipart"),
    ]
    assert [response.status_code for response in writes] == [403] * len(writes)
    assert stock_of(store, "A-1") == 3
    assert not InventoryItem.objects.filter(code="NEW").exists()


def test_staff_session_sees_only_member_stores_and_viewers_cannot_write(store, other_store, make_items):
    make_items(store, {"A-1": 3})
    user = get_user_model().objects.create_user("sam", password="pw", is_staff=True)
    StoreMembership.objects.create(store=store, user=user, role=StoreMembership.VIEWER)
    client = APIClient()
    client.force_login(user)
    assert [row["slug"] for row in client.get("/api/v1/stores/").json()["results"]] == ["main"]
    assert client.get("/api/v1/stores/other/").status_code == 404
    response = client.post("/api/v1/stores/main/stock/", {"items": [{"code": "A-1", "quantity": 1}]},
                           format="json")
    assert response.status_code == 403
    StoreMembership.objects.filter(user=user).update(role=StoreMembership.EDITOR)
    response = client.post("/api/v1/stores/main/stock/", {"items": [{"code": "A-1", "quantity": 1}]},
                           format="json")
    assert response.status_code == 200
    entry = StockLedgerEntry.objects.filter(source="api").get()
    assert (entry.user, entry.reference) == (user, f"api:user:{user.pk}")


def test_non_staff_session_sees_nothing(store):
    user = get_user_model().objects.create_user("pat", password="pw")
    StoreMembership.objects.create(store=store, user=user)
    client = APIClient()
    client.force_login(user)
    assert client.get("/api/v1/stores/").json()["results"] == []
    assert client.get("/api/v1/stores/main/").status_code == 404


# --- items ---------------------------------------------------------------------


def test_item_list_filters(api, store, make_items):
    make_items(store, {"A-1": 3, "A-2": 0, "B-1": 12, "0017": 5})
    InventoryItem.objects.filter(code="B-1").update(name="Blue mug")

    def codes(query):
        response = api.get(f"/api/v1/stores/main/items/?{query}")
        assert response.status_code == 200, response.content
        return [row["code"] for row in response.json()["results"]]

    assert codes("") == ["0017", "A-1", "A-2", "B-1"]
    assert codes("code=A-1, B-1 ,17") == ["A-1", "B-1"]
    assert codes("code=A") == []
    assert codes("search=mug") == ["B-1"]
    assert codes("search=a-") == ["A-1", "A-2"]
    assert codes("stock_lt=4") == ["A-1", "A-2"]
    assert codes("stock_gt=4") == ["0017", "B-1"]
    assert codes("updated_since=2999-01-01T00:00:00Z") == []
    assert len(codes("updated_since=2000-01-01T00:00:00Z")) == 4
    page = api.get("/api/v1/stores/main/items/?limit=2&offset=1").json()
    assert page["count"] == 4
    assert [row["code"] for row in page["results"]] == ["A-1", "A-2"]
    assert api.get("/api/v1/stores/main/items/?stock_lt=abc").status_code == 400


def test_create_item_with_stock_and_metadata(api, store):
    response = api.post("/api/v1/stores/main/items/", {
        "code": "  MUG-1 ", "name": "Mug", "price": "9.50", "stock": 7,
        "metadata": {"max": 25, "skip_push": "no", "colour": "blue"},
    }, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["code"] == "MUG-1"
    assert body["stock"] == 7
    assert body["price"] == "9.5000"
    assert body["metadata"] == {"colour": "blue", "max": "25", "skip_push": "0"}
    item = InventoryItem.objects.get(code="MUG-1")
    entry = StockLedgerEntry.objects.get(item=item)
    assert (entry.source, entry.delta, entry.reference[:4]) == ("api", 7, "api:")
    duplicate = api.post("/api/v1/stores/main/items/", {"code": "MUG-1"}, format="json")
    assert duplicate.status_code == 400
    assert "already exists" in duplicate.json()["code"][0]


def test_metadata_problems_come_back_per_key(api, store, make_items):
    make_items(store, {"B": 1})
    response = api.post("/api/v1/stores/main/items/", {
        "code": "A",
        "metadata": {"max": "lots", "adjustment_percent": "150", "skip_pull": "maybe",
                     "code_replace": "NOPE", "min": "3"},
    }, format="json")
    assert response.status_code == 400
    problems = response.json()["metadata"]
    assert set(problems) == {"max", "adjustment_percent", "skip_pull", "code_replace"}
    assert "whole number" in problems["max"][0]
    assert "from 0 to 100" in problems["adjustment_percent"][0]
    assert "1, true, yes, on" in problems["skip_pull"][0]
    assert "NOPE" in problems["code_replace"][0] and "not a SKU" in problems["code_replace"][0]
    assert not InventoryItem.objects.filter(code="A").exists()
    response = api.post("/api/v1/stores/main/items/", {"code": "A", "metadata": {"min": "5", "max": "2"}},
                        format="json")
    assert response.status_code == 400
    assert "max may not be below min" in response.json()["metadata"]["max"][0]


def test_put_replaces_details_patch_changes_only_what_it_names(api, store, make_items):
    make_items(store, {"A-1": 3, "B": 0})
    api.patch("/api/v1/stores/main/items/A-1/", {
        "name": "Mug", "price": "2.5", "location": "Shelf 4", "metadata": {"max": "9", "colour": "red"},
    }, format="json")
    response = api.patch("/api/v1/stores/main/items/A-1/", {"metadata": {"colour": None}}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["location"], body["metadata"]) == ("Mug", "Shelf 4", {"max": "9"})
    response = api.put("/api/v1/stores/main/items/A-1/", {"code": "A-1", "name": "Big mug", "stock": 3},
                       format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["price"], body["location"], body["metadata"], body["stock"]) == (
        "Big mug", None, "", {}, 3)
    refused = api.patch("/api/v1/stores/main/items/A-1/", {"stock": 50}, format="json")
    assert refused.status_code == 400 and "stock" in refused.json()
    renamed = api.patch("/api/v1/stores/main/items/A-1/", {"code": "A-2"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["code"] == "A-2"
    assert api.patch("/api/v1/stores/main/items/A-2/", {"code": "B"}, format="json").status_code == 400


def test_delete_archives_and_keeps_the_ledger(api, store, make_items):
    item = make_items(store, {"A-1": 3})["A-1"]
    assert api.delete("/api/v1/stores/main/items/A-1/").status_code == 204
    item.refresh_from_db()
    assert item.archived_at is not None
    assert StockLedgerEntry.objects.filter(item=item).count() == 1
    assert api.get("/api/v1/stores/main/items/A-1/").status_code == 404


def test_skus_with_slashes_and_spaces_are_reachable(api, store, make_items):
    make_items(store, {"TEE/RED L": 2})
    assert api.get("/api/v1/stores/main/items/TEE/RED%20L/").json()["stock"] == 2
    assert api.get("/api/v1/stores/main/items/TEE/RED%20L/told/").json()["told"] == 2


# --- stock batches ------------------------------------------------------------------


def test_batch_set_is_one_write_with_ledger_entries_source_api(api, key, store, make_items):
    items = make_items(store, {"A-1": 3, "A-2": 8, "A-3": 1})
    response = api.post("/api/v1/stores/main/stock/", {
        "mode": "set", "items": [{"code": "A-1", "quantity": 10}, {"code": "A-2", "quantity": "8"},
                                 {"code": " A-3 ", "quantity": 0.0}],
    }, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["applied"] is True
    assert body["counts"] == {"received": 3, "changed": 2, "unchanged": 1, "failed": 0}
    assert body["results"] == [
        {"index": 0, "code": "A-1", "before": 3, "after": 10},
        {"index": 1, "code": "A-2", "before": 8, "after": 8},
        {"index": 2, "code": "A-3", "before": 1, "after": 0},
    ]
    entries = StockLedgerEntry.objects.filter(source="api")
    assert entries.count() == 2
    assert {entry.reference for entry in entries} == {f"api:{key[:8]}"}
    for item in items.values():
        item.refresh_from_db()
        assert ledger_sum(item) == item.stock


def test_batch_warns_when_carts_ignore_the_count_written(api, store, make_items):
    items = make_items(store, {"MUG": 4, "TOWEL": 9, "GIFT": 0})
    services.set_metadata(items["GIFT"], {"code_replace": "MUG,TOWEL,TOWEL"})
    body = api.post("/api/v1/stores/main/stock/", {"items": [{"code": "GIFT", "quantity": 5},
                                                             {"code": "MUG", "quantity": 6}]}, format="json").json()
    assert body["applied"] and body["errors"] == []
    assert body["warnings"] == [{
        "index": 0, "code": "GIFT", "field": "quantity",
        "message": "GIFT is sent to carts as MUG,TOWEL,TOWEL (code_replace): its own count is kept, but "
                   "carts are told the count of what replaces it.",
    }]


def test_batch_add_names_the_limit_it_would_cross(api, store, make_items):
    items = make_items(store, {"LOW": 0, "HIGH": 0})
    services.set_stock({items["LOW"].pk: -(2**31 - 1), items["HIGH"].pk: 2**31 - 1}, source="admin")
    body = api.post("/api/v1/stores/main/stock/", {"mode": "add", "on_error": "reject_failed", "items": [
        {"code": "LOW", "quantity": -5}, {"code": "HIGH", "quantity": 5}]}, format="json").json()
    assert [e["message"] for e in body["errors"]] == [
        "Adding -5 would take stock past -2147483647.", "Adding 5 would take stock past 2147483647."
    ]


def test_batch_add_mode(api, store, make_items):
    make_items(store, {"A-1": 3, "A-2": 0})
    response = api.post("/api/v1/stores/main/stock/", {
        "mode": "add", "items": [{"code": "A-1", "quantity": -5}, {"code": "A-2", "quantity": 4}],
    }, format="json")
    assert response.status_code == 200
    assert (stock_of(store, "A-1"), stock_of(store, "A-2")) == (-2, 4)


BAD_BATCH = [
    {"code": "A-1", "quantity": 10},       # 0 fine
    {"code": "NOPE", "quantity": 1},       # 1 unknown SKU
    {"code": "A-2", "quantity": 2.5},      # 2 not an integer
    {"code": "A-3", "quantity": 4},        # 3 duplicate of 5
    {"code": "A-4", "quantity": "five"},   # 4 not an integer
    {"code": "A-3", "quantity": 6},        # 5 duplicate of 3
    {"quantity": 1},                       # 6 no code
    "A-4",                                 # 7 not an object
]


def test_batch_reject_all_writes_nothing_and_names_every_index(api, store, make_items):
    make_items(store, {"A-1": 1, "A-2": 1, "A-3": 1, "A-4": 1})
    response = api.post("/api/v1/stores/main/stock/", {"items": BAD_BATCH}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["applied"] is False
    errors = body["errors"]
    assert [error["index"] for error in errors] == [1, 2, 3, 4, 5, 6, 7]
    by_index = {error["index"]: error for error in errors}
    assert "not in Main shop" in by_index[1]["message"]
    assert by_index[2]["field"] == "quantity" and "whole number" in by_index[2]["message"]
    assert "more than once" in by_index[3]["message"] and "3, 5" in by_index[3]["message"]
    assert by_index[4]["field"] == "quantity"
    assert by_index[6]["field"] == "code"
    assert all(stock_of(store, code) == 1 for code in ("A-1", "A-2", "A-3", "A-4"))
    assert not StockLedgerEntry.objects.filter(source="api").exists()


def test_batch_reject_failed_applies_the_good_lines(api, store, make_items):
    make_items(store, {"A-1": 1, "A-2": 1, "A-3": 1, "A-4": 1})
    response = api.post("/api/v1/stores/main/stock/", {"on_error": "reject_failed", "items": BAD_BATCH},
                        format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["applied"] is True
    assert body["counts"] == {"received": 8, "changed": 1, "unchanged": 0, "failed": 7}
    assert [row["index"] for row in body["results"]] == [0]
    assert stock_of(store, "A-1") == 10
    assert stock_of(store, "A-3") == 1  # duplicated: which count was meant is unknown


def test_batch_shape_errors(api, store):
    assert api.post("/api/v1/stores/main/stock/", {"items": []}, format="json").status_code == 400
    response = api.post("/api/v1/stores/main/stock/", {"mode": "multiply", "items": [{}]}, format="json")
    assert response.status_code == 400 and "mode" in response.json()


def test_large_batch_is_one_set_based_write(api, store, django_assert_max_num_queries):
    from inventory import services

    services.create_items(store, [{"code": f"S{n:05d}", "stock": 0} for n in range(3000)], source="admin")
    lines = [{"code": f"S{n:05d}", "quantity": n} for n in range(3000)]
    with django_assert_max_num_queries(30):
        response = api.post("/api/v1/stores/main/stock/", {"items": lines}, format="json")
    assert response.status_code == 200
    assert response.json()["counts"]["changed"] == 2999
    assert StockLedgerEntry.objects.filter(source="api").count() == 2999


# --- told and ledger -------------------------------------------------------------------


def test_told_shows_the_steps(api, store, make_items):
    make_items(store, {"A-1": 40})
    api.patch("/api/v1/stores/main/items/A-1/", {"metadata": {"adjustment_percent": "50", "max": "25"}},
              format="json")
    body = api.get("/api/v1/stores/main/items/A-1/told/").json()
    assert body["code"] == "A-1" and body["stock"] == 40 and body["told"] == 20
    assert [step["rule"] for step in body["steps"]] == ["stock", "adjustment_percent", "max"]
    assert set(body["steps"][0]) == {"rule", "before", "after", "note"}
    api.patch("/api/v1/stores/main/items/A-1/", {"metadata": {"skip_push": "yes"}}, format="json")
    assert api.get("/api/v1/stores/main/items/A-1/told/").json()["told"] is None


def test_ledger_is_paginated_newest_first(api, store, make_items):
    make_items(store, {"A-1": 1})
    for quantity in (2, 3, 4):
        api.post("/api/v1/stores/main/stock/", {"items": [{"code": "A-1", "quantity": quantity}]},
                 format="json")
    page = api.get("/api/v1/stores/main/items/A-1/ledger/?limit=2").json()
    assert page["count"] == 4
    assert [(row["delta"], row["stock_after"], row["source"]) for row in page["results"]] == [
        (1, 4, "api"), (1, 3, "api")]
    assert api.post("/api/v1/stores/main/items/A-1/ledger/", {}).status_code == 405


def test_store_settings_are_not_changed_through_the_api_and_it_says_so(api, store):
    """A read-write key is not "read only": the store endpoint simply takes no writes."""
    answer = api.patch("/api/v1/stores/main/", {"reduce_stock_on_order_import": True}, format="json")
    assert answer.status_code == 405 and "read only" not in answer.content.decode()


# --- imports -----------------------------------------------------------------------------


def named(content: bytes, name: str = "stock.csv"):
    handle = io.BytesIO(content)
    handle.name = name
    return handle


def upload(api, content: bytes, **fields):
    return api.post("/api/v1/stores/main/imports/", {"file": named(content), **fields}, format="multipart")


def test_import_dry_run_then_apply_then_undo(api, store, make_items):
    make_items(store, {"A-1": 3, "A-2": 5})
    csv = b"sku,qty\nA-1,10\nA-2,x\nZZZ,4\n"
    response = upload(api, csv, dry_run="true")
    assert response.status_code == 201, response.content
    job = response.json()
    assert job["status"] == "previewed" and job["dry_run"] is True and job["origin"] == "api"
    assert job["counts"]["changed"] == 1 and job["counts"]["unknown"] == 1
    assert job["progress"]["percent"] == 100
    assert stock_of(store, "A-1") == 3
    preview = api.get(f"/api/v1/stores/main/imports/{job['id']}/preview/").json()
    assert preview["results"] == [{"code": "A-1", "old": 3, "new": 10}]
    errors = api.get(f"/api/v1/stores/main/imports/{job['id']}/errors/").json()["results"]
    assert {error["row"] for error in errors} == {3, 4}
    assert all(set(error) == {"row", "column", "value", "message"} for error in errors)
    assert api.post(f"/api/v1/stores/main/imports/{job['id']}/undo/").status_code == 409

    response = upload(api, csv)
    assert response.status_code == 201
    job = response.json()
    assert job["status"] == "applied"
    assert response["Location"].endswith(f"/api/v1/stores/main/imports/{job['id']}/")
    assert stock_of(store, "A-1") == 10
    assert api.get(f"/api/v1/stores/main/imports/{job['id']}/").json()["status"] == "applied"
    listed = api.get("/api/v1/stores/main/imports/").json()
    assert listed["count"] == 2

    undone = api.post(f"/api/v1/stores/main/imports/{job['id']}/undo/")
    assert undone.status_code == 200
    assert undone.json()["status"] == "undone"
    assert stock_of(store, "A-1") == 3
    assert api.post(f"/api/v1/stores/main/imports/{job['id']}/undo/").status_code == 409


def test_import_preview_then_apply_checks_stock_again(api, store, make_items):
    make_items(store, {"A-1": 3, "A-2": 5})
    response = upload(api, b"sku,qty\nA-1,10\nA-2,5\n", preview="true")
    assert response.status_code == 201, response.content
    job = response.json()
    assert (job["status"], job["dry_run"]) == ("previewed", False)
    assert stock_of(store, "A-1") == 3
    services.adjust_stock({InventoryItem.objects.get(store=store, code="A-2").pk: -1}, source="order")
    applied = api.post(f"/api/v1/stores/main/imports/{job['id']}/apply/")
    assert applied.status_code == 200, applied.content
    assert applied.json()["status"] == "applied"
    assert (stock_of(store, "A-1"), stock_of(store, "A-2")) == (10, 5)  # A-2 read again: 4 -> 5
    assert api.post(f"/api/v1/stores/main/imports/{job['id']}/apply/").status_code == 200  # twice: no-op
    dry = upload(api, b"sku,qty\nA-1,1\n", dry_run="true").json()
    refused = api.post(f"/api/v1/stores/main/imports/{dry['id']}/apply/")
    assert refused.status_code == 409 and "dry run" in refused.json()["detail"]
    assert stock_of(store, "A-1") == 10
    both = upload(api, b"sku,qty\nA-1,1\n", dry_run="true", preview="true")
    assert both.status_code == 400 and "not both" in both.json()["preview"][0]


def test_import_add_mode_and_options(api, store, make_items):
    make_items(store, {"A-1": 3})
    response = upload(api, b"Item;Count\nA-1;2\n", mode="add", options='{"sku_column": "Item", '
                                                                       '"qty_columns": ["Count"]}')
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "applied"
    assert stock_of(store, "A-1") == 5
    assert upload(api, b"sku,qty\nA-1,1\n", options='{"bogus": 1}').status_code == 400
    assert upload(api, b"sku,qty\nA-1,1\n", options="not json").status_code == 400


def test_large_import_goes_to_the_cluster_with_202(api, store, make_items, settings):
    settings.IMPORT_BACKGROUND_BYTES = 10
    make_items(store, {"A-1": 3})
    response = upload(api, b"sku,qty\nA-1,10\n")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"


# --- secrets --------------------------------------------------------------------------------


def test_secrets_never_appear_in_responses(api, key, store, make_items):
    make_items(store, {"A-1": 3})
    token = ApiToken.objects.get()
    bodies = [
        api.get(path).content.decode()
        for path in ("/api/v1/stores/", "/api/v1/stores/main/", "/api/v1/stores/main/items/",
                     "/api/v1/stores/main/items/A-1/ledger/", "/api/schema/")
    ]
    bodies.append(api.post("/api/v1/stores/main/stock/", {"items": [{"code": "A-1", "quantity": 4}]},
                           format="json").content.decode())
    for body in bodies:
        assert key not in body
        assert token.key_hash not in body


def test_keys_are_stored_only_as_hashes(store):
    token, key = create_token("x", [store])
    token.refresh_from_db()
    assert token.key_hash == hash_key(key) and key not in (token.key_hash, token.prefix)
    assert token.prefix == key[:8]


def test_create_api_token_command_prints_the_key_once(store, other_store):
    out = io.StringIO()
    call_command("create_api_token", "warehouse", "--store", "main", "--store", "other", "--read-only",
                 stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    token = ApiToken.objects.get(key_hash=hash_key(key))
    assert token.read_only and sorted(token.stores.values_list("slug", flat=True)) == ["main", "other"]
    assert f"store id {store.pk}" in out.getvalue()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/stores/").json()["count"] == 2


# --- the API key admin ----------------------------------------------------------------------------


def test_admin_shows_a_new_key_once_and_lists_keys_by_prefix(admin_client, store):
    response = admin_client.post("/admin/inventory/apitoken/add/", {
        "name": "warehouse", "stores": [store.pk], "is_active": "on",
    })
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    html = response.content.decode()
    key = html.split('id="api-key"')[1].split(">", 1)[1].split("<", 1)[0]
    assert token.key_hash == hash_key(key) and token.prefix == key[:8]
    assert f"{store.name} = {store.pk}" in html
    for path in ("/admin/inventory/apitoken/", f"/admin/inventory/apitoken/{token.pk}/change/"):
        page = admin_client.get(path).content.decode()
        assert key not in page and token.key_hash not in page
    assert f"{token.prefix}…" in admin_client.get("/admin/inventory/apitoken/").content.decode()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/stores/main/").status_code == 200


def test_admin_staff_grant_only_their_stores_and_viewers_only_read_only_keys(client, store, other_store):
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("vic", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__endswith="apitoken"))
    StoreMembership.objects.create(store=store, user=user, role=StoreMembership.VIEWER)
    hidden = create_token("theirs", [other_store])[0]
    client.force_login(user)
    form = client.get("/admin/inventory/apitoken/add/").content.decode()
    assert "Main shop" in form and "Other shop" not in form
    assert "theirs" not in client.get("/admin/inventory/apitoken/").content.decode()
    assert client.get(f"/admin/inventory/apitoken/{hidden.pk}/change/").status_code == 302
    add = "/admin/inventory/apitoken/add/"
    refused = client.post(add, {"name": "w", "stores": [store.pk], "is_active": "on"})
    assert "read-only keys" in refused.content.decode()
    foreign = client.post(add, {"name": "x", "stores": [other_store.pk], "read_only": "on",
                                "is_active": "on"})
    assert foreign.status_code == 200
    assert not ApiToken.objects.filter(name="x").exists()
    created = client.post(add, {"name": "r", "stores": [store.pk], "read_only": "on", "is_active": "on"})
    assert 'id="api-key"' in created.content.decode()
    assert ApiToken.objects.get(name="r").created_by == user
