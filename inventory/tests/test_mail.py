"""Low-stock and sync-trouble mail (design §8), delivered to a real SMTP server.

Each test starts aiosmtpd on 127.0.0.1 (the ``inbox`` fixture of the root
conftest) and points Django's SMTP backend at it,
so what is checked is what a mail server receives: envelope recipients,
subject and body.  Mail tasks run inline (django-q2's sync mode) so a stock
change's whole path, from the commit to the SMTP conversation, runs here.
"""

import smtplib
import threading
from datetime import UTC, datetime

import pytest
from django.db import connections
from django_q.models import Schedule

from inventory import mail, order_tasks, services
from inventory.alerts import LowStockState, SyncIncident
from inventory.models import Store
from inventory.order_services import LineIn, record_order


@pytest.fixture
def shop(store):
    store.reduce_stock_on_order_import = True
    store.low_stock_recipients = "buyer@example.com\n  stock-room@example.com \n\n"
    store.low_stock_threshold = 5
    store.save()
    return store


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a stock change and everything its commit sets off (the check, the mail task)."""

    def run(function, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(*args, **kwargs)

    return run


def sell(store, external_id, lines):
    return record_order(
        store, origin="shop", external_id=external_id, lines=[LineIn(code, qty) for code, qty in lines]
    )


def test_one_mail_when_an_item_falls_to_its_threshold(inbox, shop, make_items, committed):
    make_items(shop, {"A": 10, "B": 50})
    committed(sell, shop, "1", [("A", 4), ("B", 1)])
    assert inbox.take() == []  # 6 is above 5
    committed(sell, shop, "2", [("A", 1)])
    [message] = inbox.take()
    assert message["to"] == ["buyer@example.com", "stock-room@example.com"]
    assert message["from"] == "hub@example.com"
    assert message["subject"] == "[Inventory hub] Low stock in Main shop: A (5 left)"
    assert "A" in message["body"] and "OVERSOLD" not in message["body"]
    assert " 5          5" in message["body"]  # stock 5, threshold 5
    assert message["headers"]["Auto-Submitted"] == "auto-generated"


def test_no_mail_while_staying_low_and_a_new_one_after_rising_above(inbox, shop, make_items, committed):
    items = make_items(shop, {"A": 6})
    committed(sell, shop, "1", [("A", 2)])
    assert len(inbox.take()) == 1
    committed(sell, shop, "2", [("A", 1)])
    committed(sell, shop, "3", [("A", 1)])
    assert inbox.take() == []
    # Back to the threshold is not above it: still no mail.
    committed(services.adjust_stock, {items["A"].pk: 3}, source="admin")
    committed(sell, shop, "4", [("A", 1)])
    assert inbox.take() == []
    committed(services.set_stock, {items["A"].pk: 20}, source="pull")
    assert LowStockState.objects.get(item=items["A"]).low is False
    committed(sell, shop, "5", [("A", 16)])
    [message] = inbox.take()
    assert "A (4 left)" in message["subject"]


def test_item_metadata_wins_over_the_store_threshold(inbox, shop, make_items, committed):
    items = make_items(shop, {"A": 10, "B": 10})
    services.set_metadata(items["B"], {"low_stock": "2"})
    committed(sell, shop, "1", [("A", 6), ("B", 6)])
    [message] = inbox.take()
    assert "A (4 left)" in message["subject"] and "B" not in message["body"].split("name", 1)[1]
    committed(sell, shop, "2", [("B", 2)])
    [message] = inbox.take()
    assert "B (2 left)" in message["subject"]


def test_several_falls_in_one_change_are_one_mail_with_oversold_called_out(
    inbox, shop, make_items, committed
):
    make_items(shop, {"A": 6, "B": 1, "C": 30})
    committed(sell, shop, "1", [("A", 2), ("B", 3), ("C", 1)])
    [message] = inbox.take()
    assert message["subject"] == "[Inventory hub] Low stock in Main shop: 2 items, 1 oversold"
    body = message["body"]
    assert "OVERSOLD by 2" in body and "B went below zero" in body
    assert "\nA " in body and "\nC " not in body


def test_replaced_skus_are_not_watched_their_components_are(inbox, shop, make_items, committed):
    items = make_items(shop, {"KIT": 0, "CUP": 12})
    services.set_metadata(items["KIT"], {"code_replace": "CUP,CUP", "low_stock": "100"})
    committed(sell, shop, "1", [("KIT", 1)])  # CUP 10: fine; KIT holds nothing and is not judged
    assert inbox.take() == []
    committed(sell, shop, "2", [("KIT", 3)])
    [message] = inbox.take()
    assert "CUP (4 left)" in message["subject"] and "KIT" not in message["body"]


def test_shared_stock_is_watched_where_it_is_held(inbox, make_items, committed):
    warehouse = Store.objects.create(
        name="Warehouse", slug="warehouse", low_stock_threshold=3, low_stock_recipients="wh@example.com",
    )
    outlet = Store.objects.create(
        name="Outlet", slug="outlet", inventory_source=warehouse, reduce_stock_on_order_import=True,
        low_stock_threshold=50, low_stock_recipients="outlet@example.com",
    )
    make_items(warehouse, {"SHIRT": 10})
    outlet_items = make_items(outlet, {"SHIRT": 0, "POSTER": 60})
    committed(sell, outlet, "1", [("SHIRT", 7), ("POSTER", 20)])
    messages = {message["to"][0]: message for message in inbox.take()}
    assert set(messages) == {"wh@example.com", "outlet@example.com"}
    assert "SHIRT (3 left)" in messages["wh@example.com"]["subject"]
    assert "POSTER (40 left)" in messages["outlet@example.com"]["subject"]
    # The outlet's own SHIRT row is shadowed by the warehouse's: a count on it is not judged.
    committed(services.set_stock, {outlet_items["SHIRT"].pk: 1}, source="admin")
    assert inbox.take() == []


def test_no_recipients_no_mail(inbox, shop, make_items, committed):
    shop.low_stock_recipients = ""
    shop.save()
    make_items(shop, {"A": 6})
    committed(sell, shop, "1", [("A", 3)])
    assert inbox.take() == []
    assert not LowStockState.objects.filter(pending=True).exists()


def test_a_refused_mail_stays_pending_and_goes_out_later_once(inbox, shop, make_items, committed):
    make_items(shop, {"A": 6})
    inbox.refuse = True
    with pytest.raises(smtplib.SMTPException):  # the mail task fails (inline here)
        committed(sell, shop, "1", [("A", 3)])
    assert inbox.take() == []
    assert LowStockState.objects.get().pending
    inbox.refuse = False
    assert mail.send_pending_alerts() == 1
    [message] = inbox.take()
    assert "A (3 left)" in message["subject"]
    assert mail.send_pending_alerts() == 0 and inbox.take() == []


def test_a_fall_that_recovered_before_its_mail_went_out_is_not_mailed(inbox, shop, make_items, committed):
    items = make_items(shop, {"A": 6})
    inbox.refuse = True
    with pytest.raises(smtplib.SMTPException):
        committed(sell, shop, "1", [("A", 3)])
    inbox.refuse = False
    committed(services.set_stock, {items["A"].pk: 40}, source="pull")
    mail.send_pending_alerts()
    assert inbox.take() == []


# --- the daily digest -----------------------------------------------------------------


def at(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def digest_store(shop, make_items):
    shop.time_zone = "America/New_York"
    shop.low_stock_digest_hour = 9
    shop.save()
    items = make_items(shop, {"LOW": 10, "GONE": 10, "FINE": 10})
    # Stock set directly (no order, so no crossing mail) to what the digest reports.
    services.set_stock({items["LOW"].pk: 2, items["GONE"].pk: -3}, source="admin")
    return shop


def test_digest_goes_out_once_at_the_stores_local_hour(inbox, digest_store):
    assert mail.send_due_digests(at("2025-01-15 13:59")) == []  # 08:59 in New York (EST)
    assert mail.send_due_digests(at("2025-01-15 14:00")) == [digest_store.pk]  # 09:00 EST
    [message] = inbox.take()
    assert message["to"] == ["buyer@example.com", "stock-room@example.com"]
    assert message["subject"] == (
        "[Inventory hub] Low-stock digest for Main shop, 2025-01-15: 2 items, 1 oversold"
    )
    body = message["body"]
    assert body.index("OVERSOLD") < body.index("GONE") < body.index("Low:") < body.index("LOW")
    assert "FINE" not in body and "09:00 EST" in body
    assert mail.send_due_digests(at("2025-01-15 14:15")) == []
    assert mail.send_due_digests(at("2025-01-15 23:00")) == []
    assert inbox.take() == []
    # The next local day, at the hour again.
    assert mail.send_due_digests(at("2025-01-16 13:10")) == []
    assert mail.send_due_digests(at("2025-01-16 14:10")) == [digest_store.pk]
    assert len(inbox.take()) == 1


def test_digest_follows_daylight_saving_time(inbox, digest_store):
    # In July New York is on EDT (UTC-4): 09:00 local is 13:00 UTC.
    assert mail.send_due_digests(at("2025-07-01 12:59")) == []
    assert mail.send_due_digests(at("2025-07-01 13:00")) == [digest_store.pk]
    # The day the clocks go forward (9 March 2025) the hour is 13:00 UTC too.
    assert mail.send_due_digests(at("2025-03-09 12:30")) == []
    assert mail.send_due_digests(at("2025-03-09 13:05")) == [digest_store.pk]
    assert len(inbox.take()) == 2


def test_digest_in_a_half_hour_time_zone_and_late_runs(inbox, digest_store):
    digest_store.time_zone = "Asia/Kolkata"  # UTC+5:30: 09:00 local is 03:30 UTC
    digest_store.save()
    assert mail.send_due_digests(at("2025-05-02 03:15")) == []
    # The cluster was down at the hour: a later run that day still sends it, once.
    assert mail.send_due_digests(at("2025-05-02 06:45")) == [digest_store.pk]
    assert mail.send_due_digests(at("2025-05-02 07:00")) == []
    assert len(inbox.take()) == 1


def test_no_digest_when_nothing_is_low_or_none_is_set(inbox, shop, make_items):
    make_items(shop, {"FINE": 10})
    shop.low_stock_digest_hour = 0
    shop.save()
    assert mail.send_due_digests(at("2025-01-15 12:00")) == []
    shop.low_stock_digest_hour = None
    shop.save()
    make_items(shop, {"LOW": 1})
    assert mail.send_due_digests(at("2025-01-16 12:00")) == []
    assert inbox.take() == []


def test_the_mail_schedule_is_created_once(db):
    order_tasks.ensure_schedules()
    order_tasks.ensure_schedules()
    [schedule] = Schedule.objects.filter(name=order_tasks.DIGEST_SCHEDULE_NAME)
    assert schedule.func == "inventory.order_tasks.low_stock_mail_run"
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (Schedule.MINUTES, 15, -1)
    Schedule.objects.filter(pk=schedule.pk).update(minutes=60)
    order_tasks.ensure_schedules()
    assert Schedule.objects.get(pk=schedule.pk).minutes == 15


def test_the_scheduled_run_sends_due_digests_and_pending_alerts(inbox, digest_store, monkeypatch):
    monkeypatch.setattr(mail.timezone, "now", lambda: at("2025-01-15 15:00"))
    assert order_tasks.low_stock_mail_run() == {"alerts": 0, "digests": [digest_store.pk]}
    assert len(inbox.take()) == 1


# --- sync trouble -------------------------------------------------------------------------


def test_sync_trouble_is_mailed_once_per_incident(inbox, shop):
    assert mail.notify_sync_trouble(shop, "Shopify main", "integration-1-failing", "HTTP 503 three times")
    assert not mail.notify_sync_trouble(shop, "Shopify main", "integration-1-failing", "HTTP 503 again")
    [message] = inbox.take()
    assert message["to"] == ["buyer@example.com", "stock-room@example.com"]
    assert message["subject"] == "[Inventory hub] Sync trouble in Main shop: Shopify main"
    assert "HTTP 503 three times" in message["body"]
    incident = SyncIncident.objects.get()
    assert incident.occurrences == 2 and incident.message == "HTTP 503 again"
    # Another kind of trouble is another incident.
    assert mail.notify_sync_trouble(shop, "Shopify main", "integration-1-credentials", "401: key refused")
    assert "401: key refused" in inbox.take()[0]["body"]
    # Resolved, then failing again: a new incident, a new mail.
    assert mail.resolve_sync_trouble(shop, "integration-1-failing")
    assert not mail.resolve_sync_trouble(shop, "integration-1-failing")
    assert mail.notify_sync_trouble(shop, "Shopify main", "integration-1-failing", "timeouts")
    assert "timeouts" in inbox.take()[0]["body"]
    assert SyncIncident.objects.get(incident_key="integration-1-failing").occurrences == 1


def test_sync_trouble_mail_that_fails_is_retried_by_the_next_report(inbox, shop):
    inbox.refuse = True
    assert not mail.notify_sync_trouble(shop, "Square", "k", "down")
    inbox.refuse = False
    assert mail.notify_sync_trouble(shop, "Square", "k", "still down")
    assert not mail.notify_sync_trouble(shop, "Square", "k", "still down")
    assert [message["body"].count("still down") for message in inbox.take()] == [1]


def test_sync_trouble_incidents_are_per_store(inbox, shop):
    other = Store.objects.create(name="Other", slug="other", low_stock_recipients="other@example.com")
    mail.notify_sync_trouble(shop, "Square", "k", "down")
    mail.notify_sync_trouble(other, "Square", "k", "down")
    assert sorted(message["to"][0] for message in inbox.take()) == ["buyer@example.com", "other@example.com"]


def test_recipients_are_one_per_line_and_bad_ones_skipped(db):
    store = Store(name="S", slug="s",
                  low_stock_recipients="a@example.com\r\nnot an address\n b@example.com;\n")
    assert mail.recipients(store) == ["a@example.com", "b@example.com"]


# --- crossings checked by several processes at once -------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_checks_of_one_fall_send_one_mail(inbox):
    shop = Store.objects.create(name="Race", slug="race", low_stock_threshold=5,
                                low_stock_recipients="buyer@example.com")
    ids = services.create_items(shop, [{"code": "A", "stock": 10}], source="admin")
    services.adjust_stock({ids["A"]: -8}, source="order")
    inbox.take()  # the change's own check already ran after its commit
    LowStockState.objects.all().delete()
    start = threading.Barrier(4)
    errors = []

    def check():
        try:
            start.wait()
            mail.check_low_stock([ids["A"]])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(inbox.take()) == 1


# --- which changes the check looks at ------------------------------------------------------


def test_the_stock_writer_names_the_items_the_low_stock_check_must_see(
    store, make_items, django_capture_on_commit_callbacks, django_assert_num_queries
):
    """The writer finds them in its own statement, so an unwatched change costs the check no query."""
    from inventory.models import ItemMetadata
    from inventory.signals import stock_changed

    other = Store.objects.create(name="Other", slug="other", low_stock_threshold=2)
    items = make_items(store, {"plain": 10, "meta": 10, "was-low": 1, "archived": 10})
    shared = make_items(other, {"store-default": 10})
    ItemMetadata.objects.create(item=items["meta"], key="low_stock", value="3")
    LowStockState.objects.create(item=items["was-low"], low=True)
    items["archived"].archived_at = datetime(2026, 1, 1, tzinfo=UTC)
    items["archived"].save()
    sent = []

    def listener(sender, **kwargs):
        sent.append(kwargs)

    stock_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.adjust_stock({item.pk: -1 for item in [*items.values(), *shared.values()]}, source="order")
        with django_capture_on_commit_callbacks(execute=True):
            services.set_stock({items["plain"].pk: 4}, source="pull")
    finally:
        stock_changed.disconnect(listener)
    assert sorted(sent[0]["watched_item_ids"]) == sorted(
        [items["meta"].pk, items["was-low"].pk, shared["store-default"].pk]
    )
    assert sent[1]["watched_item_ids"] == []
    # Nothing watched and no state: the check after that commit needs no query at all.
    with django_assert_num_queries(0):
        assert mail.check_low_stock([items["plain"].pk], watched=[]) == {}
