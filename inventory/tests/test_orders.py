"""Orders take stock off exactly once: re-sends, versions, bundles, unknown SKUs,
cancels and refunds, the API endpoint and the admin pages (design §6 "Orders")."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client
from django.urls import include, path, reverse
from rest_framework.test import APIClient

import inventory_project.urls as project_urls
from inventory import order_services, services
from inventory.api.tokens import create_token
from inventory.models import InventoryItem, StockLedgerEntry, Store, StoreMembership
from inventory.order_services import LineIn, cancel, record_order, refund
from inventory.orders import Order, OrderLine
from inventory.signals import stock_changed

# The order routes ahead of the project's own, whether or not the project includes them yet.
urlpatterns = [
    path("api/", include("inventory.api.orders")),
    path("admin/", admin.site.urls),
    *project_urls.urlpatterns,
]
pytestmark = pytest.mark.urls(__name__)


@pytest.fixture
def shop(store):
    store.reduce_stock_on_order_import = True
    store.restock_on_cancel = True
    store.save()
    return store


def stock(store, code):
    return InventoryItem.objects.active().get(store=store, code=code).stock


def stocks(store):
    return dict(InventoryItem.objects.active().filter(store=store).values_list("code", "stock"))


def send(store, external_id="O-1", lines=(("A", 2),), origin="shopify", **kwargs):
    return record_order(
        store,
        origin=origin,
        external_id=external_id,
        lines=[LineIn(code, quantity) for code, quantity in lines] if lines is not None else None,
        **kwargs,
    )


def order_ledger(order):
    return list(
        StockLedgerEntry.objects.filter(reference=order.reference)
        .order_by("id")
        .values_list("item__code", "delta", "source")
    )


def assert_ledger_matches_stock():
    call_command("check_ledger")  # exits 1 (SystemExit) when any item's ledger is off


# --- taking off once -----------------------------------------------------------------


def test_a_new_order_takes_its_quantities_off_once(shop, make_items):
    make_items(shop, {"A": 10, "B": 5})
    result = send(shop, lines=[("A", 2), ("B", 1)])
    assert result.created and not result.stale
    assert stocks(shop) == {"A": 8, "B": 4}
    assert result.taken_off == {"A": 2, "B": 1}
    order = result.order
    assert order_ledger(order) == [("A", -2, "order"), ("B", -1, "order")]
    assert StockLedgerEntry.objects.filter(reference=f"order:{order.pk}").count() == 2
    lines = {(line.code, line.quantity, line.taken) for line in order.lines.all()}
    assert lines == {("A", 2, 2), ("B", 1, 1)}
    assert_ledger_matches_stock()


def test_the_same_order_sent_again_changes_nothing(shop, make_items):
    make_items(shop, {"A": 10, "B": 5})
    first = send(shop, lines=[("A", 2), ("B", 1)])
    for _ in range(3):
        again = send(shop, lines=[("A", 2), ("B", 1)])
        assert not again.created and again.moves == [] and again.taken_off == {}
        assert again.order.pk == first.order.pk
    assert stocks(shop) == {"A": 8, "B": 4}
    assert Order.objects.count() == 1 and OrderLine.objects.count() == 2


def test_reordered_and_split_lines_are_the_same_order(shop, make_items):
    make_items(shop, {"A": 10, "B": 5})
    send(shop, lines=[("A", 2), ("B", 1)])
    result = send(shop, lines=[("B", 1), ("A", 1), ("A", 1)])
    assert result.moves == []
    assert stocks(shop) == {"A": 8, "B": 4}


def test_a_resend_is_reconciled_per_sku(shop, make_items):
    make_items(shop, {"A": 10, "B": 5, "C": 7})
    send(shop, lines=[("A", 2), ("B", 1)], version=1)
    # A grew by one, B was removed from the order, C was added.
    result = send(shop, lines=[("A", 3), ("C", 2)], version=2)
    assert result.taken_off == {"A": 1, "B": -1, "C": 2}
    assert stocks(shop) == {"A": 7, "B": 5, "C": 5}
    lines = {line.code: (line.quantity, line.taken) for line in result.order.lines.all()}
    assert lines == {"A": (3, 3), "B": (0, 0), "C": (2, 2)}
    assert {source for _code, _delta, source in order_ledger(result.order)} == {"order"}
    assert_ledger_matches_stock()


def test_an_older_version_changes_nothing(shop, make_items):
    make_items(shop, {"A": 10})
    send(shop, lines=[("A", 3)], version=5)
    result = send(shop, lines=[("A", 1)], version=4, status=Order.CANCELLED)
    assert result.stale and result.moves == []
    order = Order.objects.get()
    assert (order.version, order.status) == (5, Order.OPEN)
    assert stock(shop, "A") == 7
    # The same version again is a plain re-send: reconciled, here to no change.
    assert send(shop, lines=[("A", 3)], version=5).moves == []
    # A send without a version cannot be judged older: it applies, the stored version stays.
    result = send(shop, lines=[("A", 4)])
    assert result.taken_off == {"A": 1} and result.order.version == 5


def test_lines_omitted_keep_the_stored_lines(shop, make_items):
    make_items(shop, {"A": 10})
    send(shop, lines=[("A", 2)])
    result = send(shop, lines=None, status=Order.SHIPPED)
    assert result.moves == [] and result.order.status == Order.SHIPPED
    assert stock(shop, "A") == 8
    assert [(line.code, line.quantity) for line in result.order.lines.all()] == [("A", 2)]


def test_orders_are_never_refused_for_lack_of_stock(shop, make_items):
    make_items(shop, {"A": 1})
    result = send(shop, lines=[("A", 3)])
    assert stock(shop, "A") == -2
    assert result.oversold == ["A"] and result.order.oversold
    assert Order.objects.get().oversold
    assert_ledger_matches_stock()


def test_identity_is_store_origin_and_external_id(shop, make_items):
    make_items(shop, {"A": 10})
    send(shop, external_id="1001", origin="shopify")
    send(shop, external_id="1001", origin="woocommerce")  # another cart's order 1001
    send(shop, external_id="1001", origin="shopify")
    assert stock(shop, "A") == 6 and Order.objects.count() == 2


def test_codes_are_trimmed_and_compared_exactly(shop, make_items):
    make_items(shop, {"A": 10, "a": 10})
    result = send(shop, lines=[(" A ", 1), ("a", 2)])
    assert stocks(shop) == {"A": 9, "a": 8}
    assert sorted(line.code for line in result.order.lines.all()) == ["A", "a"]


# --- replaced SKUs and unknown SKUs -------------------------------------------------


def test_a_bundle_takes_stock_off_its_components(shop, make_items):
    items = make_items(shop, {"KIT": 0, "B": 10, "C": 10})
    services.set_metadata(items["KIT"], {"code_replace": "B,C,C"})
    result = send(shop, lines=[("KIT", 2)])
    assert stocks(shop) == {"KIT": 0, "B": 8, "C": 6}
    assert result.taken_off == {"B": 2, "C": 4}
    line = result.order.lines.get()
    assert (line.taken, line.problem) == (2, "")
    assert sorted(line.stock_items) == sorted([[items["B"].pk, 1], [items["C"].pk, 2]])
    # A re-send with one unit less puts one B and two C back.
    assert send(shop, lines=[("KIT", 1)]).taken_off == {"B": -1, "C": -2}
    assert stocks(shop) == {"KIT": 0, "B": 9, "C": 8}


def test_a_bundle_and_its_component_on_one_order_add_up(shop, make_items):
    items = make_items(shop, {"KIT": 0, "B": 10, "C": 10})
    services.set_metadata(items["KIT"], {"code_replace": "B,C,C"})
    result = send(shop, lines=[("KIT", 1), ("C", 1)])
    assert result.taken_off == {"B": 1, "C": 3}
    # One adjust_stock call for the order: one ledger entry per item.
    assert sorted(order_ledger(result.order)) == [("B", -1, "order"), ("C", -3, "order")]


def test_put_back_goes_where_the_units_came_from(shop, make_items):
    """code_replace changed after the order took stock: the cancel returns B, not D."""
    items = make_items(shop, {"KIT": 0, "B": 10, "D": 10})
    services.set_metadata(items["KIT"], {"code_replace": "B"})
    order = send(shop, lines=[("KIT", 2)]).order
    services.set_metadata(items["KIT"], {"code_replace": "D"})
    cancel(order)
    assert stocks(shop) == {"KIT": 0, "B": 10, "D": 10}


def test_unknown_skus_are_recorded_and_reported_never_fatal(shop, make_items):
    make_items(shop, {"A": 10})
    result = send(shop, lines=[("A", 1), ("NOPE", 2)])
    assert result.unknown_codes == ["NOPE"]
    assert stock(shop, "A") == 9
    line = result.order.lines.get(code="NOPE")
    assert (line.quantity, line.taken, line.problem) == (2, 0, order_services.UNKNOWN_SKU)
    # Once the SKU exists, the next send of the order takes it off (once).
    make_items(shop, {"NOPE": 5})
    assert send(shop, lines=[("A", 1), ("NOPE", 2)]).taken_off == {"NOPE": 2}
    assert send(shop, lines=[("A", 1), ("NOPE", 2)]).moves == []
    assert stock(shop, "NOPE") == 3


def test_a_bundle_naming_a_missing_component_takes_nothing_and_says_why(shop, make_items):
    items = make_items(shop, {"KIT": 0, "B": 10, "C": 10})
    services.set_metadata(items["KIT"], {"code_replace": "B,C"})
    services.archive_item(items["C"])
    result = send(shop, lines=[("KIT", 1), ("B", 1)])
    assert stock(shop, "B") == 9
    assert "C" in result.problems["KIT"] and "not a SKU" in result.problems["KIT"]


def test_without_reduce_stock_orders_are_recorded_only(store, make_items):
    make_items(store, {"A": 10})
    result = send(store, lines=[("A", 2)])
    assert not result.order.takes_stock and result.moves == []
    assert "Take stock off as orders are imported" in result.as_dict()["note"]
    assert stock(store, "A") == 10
    # Turning the setting on later does not make old orders take stock when re-sent:
    # the stock counted meanwhile already reflects them.
    store.reduce_stock_on_order_import = True
    store.save()
    assert send(store, lines=[("A", 3)]).moves == []
    assert stock(store, "A") == 10
    assert send(store, external_id="O-2", lines=[("A", 3)]).taken_off == {"A": 3}


# --- cancels and refunds ------------------------------------------------------------


def test_cancel_puts_back_what_went_out_once(shop, make_items):
    make_items(shop, {"A": 10, "B": 5})
    send(shop, lines=[("A", 2), ("B", 1)], version=1)
    result = send(shop, lines=[("A", 2), ("B", 1)], version=2, status=Order.CANCELLED)
    assert result.taken_off == {"A": -2, "B": -1}
    assert stocks(shop) == {"A": 10, "B": 5}
    assert {source for *_rest, source in order_ledger(result.order) if _rest[1] > 0} == {"cancel"}
    # Cancelled is final: re-sends, newer versions and a second cancel do nothing.
    assert send(shop, lines=[("A", 2), ("B", 1)], version=3).moves == []
    assert send(shop, lines=[("A", 9)], version=4, status=Order.CANCELLED).moves == []
    assert cancel(result.order).moves == []
    assert stocks(shop) == {"A": 10, "B": 5}
    assert Order.objects.get().status == Order.CANCELLED
    assert_ledger_matches_stock()


def test_cancel_without_restock_on_cancel_leaves_stock_out(shop, make_items):
    shop.restock_on_cancel = False
    shop.save()
    make_items(shop, {"A": 10})
    order = send(shop, lines=[("A", 2)]).order
    assert cancel(order).moves == []
    assert stock(shop, "A") == 8
    assert Order.objects.get().status == Order.CANCELLED


def test_an_order_first_seen_cancelled_takes_nothing(shop, make_items):
    make_items(shop, {"A": 10})
    result = send(shop, lines=[("A", 2)], status=Order.CANCELLED)
    assert result.created and result.moves == []
    assert stock(shop, "A") == 10
    assert send(shop, lines=[("A", 2)]).moves == []


def test_refunds_and_a_later_cancel_never_put_back_more_than_went_out(shop, make_items):
    make_items(shop, {"A": 10, "B": 10})
    order = send(shop, lines=[("A", 3), ("B", 1)]).order
    assert refund(order, {"A": 1}).taken_off == {"A": -1}
    assert refund(order, {"A": 5}).taken_off == {"A": -2}  # only 2 were still out
    assert refund(order, {"A": 1}).moves == []
    assert stocks(shop) == {"A": 10, "B": 9}
    result = cancel(order)
    assert result.taken_off == {"B": -1}
    assert stocks(shop) == {"A": 10, "B": 10}
    sources = [source for _code, delta, source in order_ledger(order) if delta > 0]
    assert sorted(sources) == ["cancel", "refund", "refund"]
    line = OrderLine.objects.get(order=order, code="A")
    assert (line.taken, line.restocked) == (3, 3)


def test_refund_without_restock_changes_no_stock(shop, make_items):
    make_items(shop, {"A": 10})
    order = send(shop, lines=[("A", 3)]).order
    result = refund(order, restock=False)
    assert result.moves == [] and Order.objects.get().status == Order.REFUNDED
    assert stock(shop, "A") == 7


def test_a_carts_running_restock_total_applies_once(shop, make_items):
    make_items(shop, {"A": 10})
    send(shop, lines=[("A", 3)])
    lines = [LineIn("A", 3, restocked=2)]
    first = record_order(shop, origin="shopify", external_id="O-1", lines=lines, status=Order.REFUNDED)
    assert first.taken_off == {"A": -2} and {move.source for move in first.moves} == {"refund"}
    again = record_order(shop, origin="shopify", external_id="O-1", lines=lines)
    assert again.moves == []
    # A total lower than what was restocked never takes stock off again.
    lower = record_order(shop, origin="shopify", external_id="O-1", lines=[LineIn("A", 3, restocked=1)])
    assert lower.moves == []
    # More than the line ever took is capped at what went out.
    record_order(shop, origin="shopify", external_id="O-1", lines=[LineIn("A", 3, restocked=99)])
    assert stock(shop, "A") == 10


def test_a_smaller_quantity_after_a_restock_never_puts_back_twice(shop, make_items):
    make_items(shop, {"A": 10})
    order = send(shop, lines=[("A", 3)], version=1).order
    refund(order, {"A": 2})
    assert stock(shop, "A") == 9
    # The order is edited down to 1: the restocked 2 cover it; nothing more comes back.
    send(shop, lines=[("A", 1)], version=2)
    line = OrderLine.objects.get(order=order)
    assert stock(shop, "A") == 10 - line.taken + line.restocked
    assert line.off_stock == 0 and stock(shop, "A") == 10


# --- failures --------------------------------------------------------------------------


def test_a_failure_inside_the_transaction_applies_nothing(shop, make_items, monkeypatch):
    make_items(shop, {"A": 10})

    adjust_stock = services.adjust_stock

    def broken(*args, **kwargs):
        adjust_stock(*args, **kwargs)  # the order, its lines and the stock are written...
        raise RuntimeError("the database went away")  # ...and the transaction fails before its commit

    monkeypatch.setattr(order_services.services, "adjust_stock", broken)
    with pytest.raises(RuntimeError):
        send(shop, lines=[("A", 2)])
    monkeypatch.undo()
    assert stock(shop, "A") == 10 and Order.objects.count() == 0
    send(shop, lines=[("A", 2)])
    assert stock(shop, "A") == 8


@pytest.mark.django_db(transaction=True)
def test_a_later_step_that_fails_never_reapplies_the_decrement():
    """A listener failing after the commit makes the caller retry: the retry takes nothing."""
    shop = Store.objects.create(name="Shop", slug="shop", reduce_stock_on_order_import=True)
    services.create_items(shop, [{"code": "A", "stock": 10}], source="admin")
    calls = []

    def failing_listener(sender, **kwargs):
        calls.append(kwargs["item_ids"])
        raise ConnectionError("push queue unreachable")

    stock_changed.connect(failing_listener, dispatch_uid="test-failing-listener")
    try:
        with pytest.raises(ConnectionError):
            send(shop, lines=[("A", 2)])
        assert stock(shop, "A") == 8
        assert send(shop, lines=[("A", 2)]).moves == []
    finally:
        stock_changed.disconnect(dispatch_uid="test-failing-listener")
    assert stock(shop, "A") == 8 and len(calls) == 1
    assert_ledger_matches_stock()


# --- input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"origin": " "}, "origin"),
        ({"external_id": ""}, "external_id"),
        ({"status": "lost"}, "status"),
        ({"version": -1}, "version"),
        ({"version": "7"}, "version"),
        ({"lines": [LineIn("", 1)]}, "lines"),
        ({"lines": [LineIn("A", -1)]}, "lines"),
        ({"lines": [LineIn("A", 1.5)]}, "lines"),
        ({"lines": [LineIn("A\x00", 1)]}, "lines"),
        ({"lines": [LineIn("A", 1, restocked=-2)]}, "lines"),
    ],
)
def test_malformed_orders_are_refused_by_field(shop, kwargs, field):
    arguments = {"origin": "shopify", "external_id": "O-1", "lines": [LineIn("A", 1)], **kwargs}
    with pytest.raises(ValidationError) as error:
        record_order(shop, **arguments)
    assert field in error.value.message_dict
    assert Order.objects.count() == 0


def test_lines_may_be_mappings(shop, make_items):
    make_items(shop, {"A": 10})
    result = record_order(shop, origin="api", external_id="9", lines=[{"code": "A", "quantity": 4}])
    assert result.taken_off == {"A": 4}


# --- the API -------------------------------------------------------------------------------


@pytest.fixture
def api(shop):
    _token, key = create_token("orders", [shop])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


URL = "/api/v1/stores/main/orders/"


def test_api_records_an_order_then_reconciles_it(api, shop, make_items):
    make_items(shop, {"A": 10, "B": 5})
    body = {"origin": "shopify", "external_id": "1001", "version": 1, "status": "paid",
            "lines": [{"code": "A", "quantity": 2}, {"code": "X-404", "quantity": 1}]}
    response = api.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["created"] and data["taken_off"] == {"A": 2} and data["unknown_codes"] == ["X-404"]
    assert data["stock_changes"] == [
        {"code": "A", "store": "main", "delta": -2, "stock_after": 8, "source": "order"}
    ]
    assert {line["code"]: line["taken"] for line in data["lines"]} == {"A": 2, "X-404": 0}
    assert data["reference"] == f"order:{data['id']}"

    again = api.post(URL, body, format="json")
    assert again.status_code == 200 and again.json()["taken_off"] == {}
    body.update(version=2, lines=[{"code": "A", "quantity": 3}, {"code": "B", "quantity": 1}])
    newer = api.post(URL, body, format="json").json()
    assert newer["taken_off"] == {"A": 1, "B": 1}
    body.update(version=1, lines=[])
    stale = api.post(URL, body, format="json")
    assert stale.status_code == 200 and stale.json()["stale"]
    assert stocks(shop) == {"A": 7, "B": 4}


def test_api_and_a_cart_pull_of_the_same_order_count_once(api, shop, make_items):
    make_items(shop, {"A": 10})
    api.post(URL, {"origin": "shopify", "external_id": "77", "status": "paid",
                   "lines": [{"code": "A", "quantity": 2}]}, format="json")
    pulled = send(shop, origin="shopify", external_id="77", lines=[("A", 2)], status=Order.SHIPPED)
    assert not pulled.created and pulled.moves == []
    assert stock(shop, "A") == 8


def test_api_reports_oversold_and_cancels(api, shop, make_items):
    make_items(shop, {"A": 1})
    body = {"origin": "pos", "external_id": "5", "lines": [{"code": "A", "quantity": 2}]}
    assert api.post(URL, body, format="json").json()["oversold"] == ["A"]
    body["status"] = "cancelled"
    data = api.post(URL, body, format="json").json()
    assert data["taken_off"] == {"A": -2} and data["stock_changes"][0]["source"] == "cancel"
    assert data["note"] == ""


def test_api_says_why_a_resend_changed_nothing(api, shop, make_items):
    make_items(shop, {"A": 5})
    body = {"origin": "pos", "external_id": "6", "version": 3, "lines": [{"code": "A", "quantity": 1}]}
    api.post(URL, body, format="json")
    older = api.post(URL, {**body, "version": 2, "lines": [{"code": "A", "quantity": 4}]}, format="json").json()
    assert older["stale"] and older["note"] == "Version 2 is older than the stored version 3: nothing changed."
    api.post(URL, {**body, "version": 4, "status": "cancelled"}, format="json")
    reopened = api.post(URL, {**body, "version": 5, "status": "paid"}, format="json").json()
    assert reopened["status"] == "cancelled" and reopened["stock_changes"] == []
    assert "was cancelled on" in reopened["note"] and "stays cancelled" in reopened["note"]
    assert "a new external id" in reopened["note"]
    again = api.post(URL, {**body, "version": 6, "status": "cancelled"}, format="json").json()
    assert again["note"] == ""  # a cancel sent again is no surprise


@pytest.mark.parametrize(
    "body",
    [
        {"external_id": "1", "lines": []},
        {"origin": "x", "external_id": "1", "status": "lost", "lines": []},
        {"origin": "x", "external_id": "1", "lines": [{"code": "A", "quantity": -1}]},
        {"origin": "x", "external_id": "1", "lines": [{"code": "A"}]},
        {"origin": "x", "external_id": "1", "version": "new", "lines": []},
        {"origin": "x", "external_id": "1", "lines": "A,2"},
    ],
)
def test_api_refuses_malformed_orders(api, shop, body):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert Order.objects.count() == 0


def test_api_scopes_to_the_keys_stores(api, shop, make_items):
    Store.objects.create(name="Other", slug="other", reduce_stock_on_order_import=True)
    body = {"origin": "x", "external_id": "1", "lines": []}
    assert api.post("/api/v1/stores/other/orders/", body, format="json").status_code == 404
    _token, key = create_token("reader", [shop], read_only=True)
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert reader.post(URL, body, format="json").status_code == 403
    assert APIClient().post(URL, body, format="json").status_code == 401
    assert Order.objects.count() == 0


def test_api_credits_a_staff_user_in_the_ledger(shop, make_items, django_user_model):
    make_items(shop, {"A": 10})
    user = django_user_model.objects.create_superuser("boss", "boss@example.com", None)
    client = APIClient()
    client.force_authenticate(user)
    body = {"origin": "phone", "external_id": "1", "lines": [{"code": "A", "quantity": 1}]}
    response = client.post(URL, body, format="json")
    assert response.status_code == 201
    entry = StockLedgerEntry.objects.get(source="order")
    assert entry.user == user and entry.note == "phone order 1"


# --- the admin -------------------------------------------------------------------------------


@pytest.fixture
def staff_client(db, django_user_model):
    def make(memberships, username="clerk"):
        user = django_user_model.objects.create_user(username, password=None, is_staff=True)
        user.user_permissions.set(Permission.objects.filter(content_type__app_label="inventory"))
        for store, role in memberships.items():
            StoreMembership.objects.create(store=store, user=user, role=role)
        client = Client()
        client.force_login(user)
        return client

    return make


def test_admin_shows_an_order_its_lines_and_its_stock_effect(shop, make_items, staff_client):
    items = make_items(shop, {"KIT": 0, "B": 10, "C": 10})
    services.set_metadata(items["KIT"], {"code_replace": "B,C,C"})
    order = send(shop, external_id="SO-1", lines=[("KIT", 1), ("ZZZ", 1)]).order
    client = staff_client({shop: "viewer"})
    listing = client.get(reverse("admin:inventory_order_changelist"))
    assert listing.status_code == 200 and "SO-1" in listing.content.decode()
    assert "SO-1" in client.get(reverse("admin:inventory_order_changelist"), {"q": "KIT"}).content.decode()
    page = client.get(reverse("admin:inventory_order_change", args=[order.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "unknown SKU" in html and "ZZZ" in html
    assert reverse("admin:inventory_inventoryitem_change", args=[items["C"].pk]) in html
    assert "×2" in html  # one KIT takes two C
    ledger_link = reverse("admin:inventory_stockledgerentry_changelist") + f"?reference=order%3A{order.pk}"
    assert ledger_link in html
    assert "Save" not in html and "Delete" not in html
    ledger = client.get(ledger_link)
    assert ledger.status_code == 200
    assert ledger.context["cl"].result_count == 2


def test_admin_hides_other_stores_orders(shop, make_items, staff_client):
    make_items(shop, {"A": 10})
    order = send(shop, external_id="SECRET-1", lines=[("A", 1)]).order
    other = Store.objects.create(name="Other", slug="other")
    client = staff_client({other: "editor"})
    listing = client.get(reverse("admin:inventory_order_changelist"))
    assert listing.status_code == 200 and "SECRET-1" not in listing.content.decode()
    assert client.get(reverse("admin:inventory_order_change", args=[order.pk])).status_code == 404
    assert client.get(reverse("admin:inventory_order_add")).status_code == 403


def test_ledger_totals_follow_each_order(shop, make_items):
    make_items(shop, {"A": 10})
    order = send(shop, lines=[("A", 4)]).order
    refund(order, {"A": 1})
    total = StockLedgerEntry.objects.filter(reference=order.reference).aggregate(total=Sum("delta"))["total"]
    line = OrderLine.objects.get(order=order)
    assert total == -line.off_stock == -3
