"""The inventory admin: store scoping, stock changes through the services,
metadata validation on the page, the told column and explanation, archive."""

import html
import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inventory import services
from inventory.models import InventoryItem, ItemMetadata, StockLedgerEntry, Store, StoreMembership


@pytest.fixture
def admin_user(db, django_user_model):
    """A superuser without a password: hashing one per test costs more than the test."""
    return django_user_model.objects.create_superuser("boss", "boss@example.com", None)


@pytest.fixture
def other_store(db):
    return Store.objects.create(name="Other shop", slug="other")


@pytest.fixture
def staff_client(db, django_user_model):
    """A logged-in staff user with the inventory and imports model permissions and given roles."""

    def make(memberships, username="clerk"):
        user = django_user_model.objects.create_user(username, password=None, is_staff=True)
        user.user_permissions.set(
            Permission.objects.filter(content_type__app_label__in=["inventory", "imports"])
        )
        for store, role in memberships.items():
            StoreMembership.objects.create(store=store, user=user, role=role)
        client = Client()
        client.force_login(user)
        client.user = user
        return client

    return make


def change_url(item):
    return reverse("admin:inventory_inventoryitem_change", args=[item.pk])


def item_form(item, metadata=(), **fields):
    """POST data for an item's change page: its details, metadata rows and the given fields."""
    data = {
        "code": item.code, "name": item.name, "location": item.location,
        "price": "", "cost": "", "weight": "",
        "set_stock_to": "", "adjust_by": "", "stock_note": "",
        "metadata-TOTAL_FORMS": str(len(metadata)), "metadata-INITIAL_FORMS": "0",
        "metadata-MIN_NUM_FORMS": "0", "metadata-MAX_NUM_FORMS": "1000",
    }
    for index, (key, value) in enumerate(metadata):
        data[f"metadata-{index}-key"] = key
        data[f"metadata-{index}-value"] = value
        data[f"metadata-{index}-item"] = str(item.pk)
    data.update({name: str(value) for name, value in fields.items()})
    return data


def cell(content: bytes, field: str, row_code: str) -> str:
    """The text of one changelist cell, found by the row's SKU link."""
    html = content.decode()
    row = re.search(rf"<tr>(?:(?!</tr>).)*>{re.escape(row_code)}</a>(?:(?!</tr>).)*</tr>", html, re.S)
    assert row, f"no row for {row_code}"
    found = re.search(rf'<td class="field-{field}[^"]*">(.*?)</td>', row.group(0), re.S)
    assert found, f"no {field} cell"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


# --- scoping -------------------------------------------------------------------


def test_superuser_sees_every_store(admin_client, store, other_store, make_items):
    make_items(store, {"ALPHA-1": 3})
    make_items(other_store, {"BETA-SECRET": 4})
    page = admin_client.get(reverse("admin:inventory_inventoryitem_changelist"))
    assert b"ALPHA-1" in page.content and b"BETA-SECRET" in page.content
    stores = admin_client.get(reverse("admin:inventory_store_changelist"))
    assert b"Main shop" in stores.content and b"Other shop" in stores.content


def test_staff_see_only_their_stores(store, other_store, make_items, staff_client):
    mine = make_items(store, {"ALPHA-1": 3})["ALPHA-1"]
    theirs = make_items(other_store, {"BETA-SECRET": 4})["BETA-SECRET"]
    client = staff_client({store: StoreMembership.EDITOR})

    items = client.get(reverse("admin:inventory_inventoryitem_changelist"))
    assert items.status_code == 200
    assert b"ALPHA-1" in items.content and b"BETA-SECRET" not in items.content
    assert b"Other shop" not in items.content  # not even in the store filter

    assert client.get(change_url(mine)).status_code == 200
    assert client.get(change_url(theirs)).status_code == 404
    assert client.post(change_url(theirs), item_form(theirs, set_stock_to=0)).status_code == 404
    assert InventoryItem.objects.get(pk=theirs.pk).stock == 4
    assert client.get(reverse("admin:inventory_store_change", args=[other_store.pk])).status_code == 404
    entry = StockLedgerEntry.objects.get(item=theirs)
    assert client.get(reverse("admin:inventory_stockledgerentry_change", args=[entry.pk])).status_code == 404

    ledger = client.get(reverse("admin:inventory_stockledgerentry_changelist"))
    assert b"ALPHA-1" in ledger.content and b"BETA-SECRET" not in ledger.content
    stores = client.get(reverse("admin:inventory_store_changelist"))
    assert b"Main shop" in stores.content and b"Other shop" not in stores.content

    add = client.get(reverse("admin:inventory_inventoryitem_add"))
    choices = add.context["adminform"].form.fields["store"].queryset
    assert list(choices) == [store]
    # Posting another store's id anyway is refused by the form.
    response = client.post(reverse("admin:inventory_inventoryitem_add"), {
        **item_form(InventoryItem(code="NEW-1")), "store": str(other_store.pk), "set_stock_to": "2",
    })
    assert response.status_code == 200 and "store" in response.context["adminform"].form.errors
    assert not InventoryItem.objects.filter(code="NEW-1").exists()


def test_staff_without_a_store_see_no_items_and_a_membership_opens_its_store(
    store, make_items, django_user_model
):
    """Being staff opens nothing: the store role (``StoreRoleBackend``) grants the
    permissions, and only on the stores it names."""
    make_items(store, {"A-1": 8})
    user = django_user_model.objects.create_user("member", password=None, is_staff=True)
    client = Client()
    client.force_login(user)
    assert client.get(reverse("admin:inventory_inventoryitem_changelist")).status_code == 403
    StoreMembership.objects.create(store=store, user=user, role=StoreMembership.VIEWER)
    client.force_login(django_user_model.objects.get(pk=user.pk))  # permissions are cached per user object
    page = client.get(reverse("admin:inventory_inventoryitem_changelist"))
    assert page.status_code == 200 and b"A-1" in page.content
    item = InventoryItem.objects.get(code="A-1")
    assert b'name="set_stock_to"' not in client.get(change_url(item)).content


def test_viewer_cannot_change_stock_and_editor_can(store, make_items, staff_client):
    item = make_items(store, {"A-1": 8})["A-1"]
    viewer = staff_client({store: StoreMembership.VIEWER}, username="viewer")
    page = viewer.get(change_url(item))
    assert page.status_code == 200
    assert b'name="set_stock_to"' not in page.content and b'name="adjust_by"' not in page.content
    assert viewer.post(change_url(item), item_form(item, set_stock_to=1)).status_code == 403
    assert InventoryItem.objects.get(pk=item.pk).stock == 8
    assert viewer.get(reverse("admin:inventory_inventoryitem_add")).status_code == 403

    editor = staff_client({store: StoreMembership.EDITOR}, username="editor")
    assert b'name="set_stock_to"' in editor.get(change_url(item)).content
    response = editor.post(change_url(item), item_form(item, set_stock_to=1))
    assert response.status_code == 302
    assert InventoryItem.objects.get(pk=item.pk).stock == 1
    assert StockLedgerEntry.objects.filter(item=item, source="admin", user=editor.user).count() == 1


# --- stock and metadata --------------------------------------------------------


def test_renaming_a_part_a_bundle_takes_from_is_refused_as_in_the_api(admin_client, store, make_items):
    items = make_items(store, {"MUG": 4, "SET": 0})
    services.set_metadata(items["SET"], {"code_replace": "MUG,MUG"})
    form = item_form(items["MUG"])
    form["code"] = "MUG-X"
    page = admin_client.post(change_url(items["MUG"]), form)
    assert page.status_code == 200
    assert "SET takes MUG's count (code_replace); change it first." in html.unescape(page.content.decode())
    assert InventoryItem.objects.get(pk=items["MUG"].pk).code == "MUG"


def test_setting_a_bundles_own_stock_warns_that_carts_ignore_it(admin_client, store, make_items):
    items = make_items(store, {"MUG": 4, "SET": 0})
    services.set_metadata(items["SET"], {"code_replace": "MUG,MUG"})
    page = admin_client.post(change_url(items["SET"]), item_form(items["SET"], set_stock_to=3), follow=True)
    assert "SET is sent to carts as MUG,MUG (code_replace): its own count is kept" in html.unescape(
        page.content.decode()
    )


def test_set_and_adjust_stock_write_ledger_entries(admin_client, admin_user, store, make_items):
    item = make_items(store, {"A-1": 8})["A-1"]
    response = admin_client.post(change_url(item), item_form(item, set_stock_to=5, stock_note="Counted"),
                                 follow=True)
    assert "Stock of A-1: 8 → 5 (−3)" in response.content.decode()
    response = admin_client.post(change_url(item), item_form(item, adjust_by=-2))
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.stock, item.update_source) == (3, "admin")
    entries = list(StockLedgerEntry.objects.filter(item=item, source="admin", user=admin_user)
                   .order_by("id").values_list("delta", "stock_after", "note"))
    assert entries == [(-3, 5, "Counted"), (-2, 3, "")]

    both = admin_client.post(change_url(item), item_form(item, set_stock_to=1, adjust_by=1))
    assert both.status_code == 200
    assert "not both" in both.content.decode()
    assert InventoryItem.objects.get(pk=item.pk).stock == 3


def test_details_save_never_overwrites_stock(admin_client, store, make_items, monkeypatch):
    """An order taking stock off while the page is being saved is kept, not written back over."""
    from inventory.admin import InventoryItemAdmin

    item = make_items(store, {"A-1": 8})["A-1"]
    original = InventoryItemAdmin.save_form

    def save_form_during_a_sale(self, request, form, change):
        obj = original(self, request, form, change)
        services.adjust_item_stock(InventoryItem.objects.get(pk=obj.pk), -3, source="order")
        return obj

    monkeypatch.setattr(InventoryItemAdmin, "save_form", save_form_during_a_sale)
    assert admin_client.post(change_url(item), item_form(item, name="Renamed")).status_code == 302
    item.refresh_from_db()
    assert (item.name, item.stock) == ("Renamed", 5)


def test_add_item_with_starting_stock(admin_client, admin_user, store):
    data = {**item_form(InventoryItem(code=" NEW-1 ", name="Mug")), "store": str(store.pk),
            "set_stock_to": "12"}
    response = admin_client.post(reverse("admin:inventory_inventoryitem_add"), data)
    assert response.status_code == 302
    item = InventoryItem.objects.get(store=store, code="NEW-1")
    assert item.stock == 12
    entry = StockLedgerEntry.objects.get(item=item)
    assert (entry.delta, entry.source, entry.user) == (12, "admin", admin_user)
    duplicate = admin_client.post(reverse("admin:inventory_inventoryitem_add"), data)
    assert duplicate.status_code == 200
    assert "already has an item with the SKU NEW-1" in duplicate.content.decode()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("min", "5"), ("max", "3")], "max may not be below min"),
        ([("skip_push", "maybe")], "skip_push must be one of 1, true, yes, on"),
        ([("code_replace", "NOPE")], "code_replace names NOPE, which is not a SKU in Main shop"),
        ([("@amazon-us", "3")], "has nothing before"),
    ],
)
def test_invalid_metadata_is_shown_on_its_row_and_nothing_is_saved(admin_client, store, make_items, rows,
                                                                   message):
    item = make_items(store, {"A-1": 8})["A-1"]
    response = admin_client.post(change_url(item), item_form(item, metadata=rows, set_stock_to=2,
                                                             name="Changed"))
    assert response.status_code == 200
    html = response.content.decode()
    formset = response.context["inline_admin_formsets"][0].formset
    row_errors = [str(error) for form in formset.forms for errors in form.errors.values() for error in errors]
    assert any(message in error for error in row_errors), row_errors
    assert message.replace("'", "&#x27;").split(",")[0] in html
    assert not ItemMetadata.objects.filter(item=item).exists()
    item.refresh_from_db()
    assert (item.stock, item.name) == (8, "")


def test_metadata_is_saved_through_the_service(admin_client, store, make_items):
    items = make_items(store, {"A-1": 8, "B-1": 4})
    item = items["A-1"]
    rows = [("Adjustment_Percent", "50.0"), ("code_replace", "B-1"), ("colour", "blue")]
    assert admin_client.post(change_url(item), item_form(item, metadata=rows)).status_code == 302
    assert dict(item.metadata.values_list("key", "value")) == {
        "adjustment_percent": "50", "code_replace": "B-1", "colour": "blue",
    }
    # Keys differing only in case are one key: refused instead of one silently winning.
    response = admin_client.post(change_url(item), item_form(item, metadata=[("max", "5"), ("MAX", "6")]))
    assert response.status_code == 200 and "already set in another row" in response.content.decode()


# --- what carts are told ---------------------------------------------------------


def test_told_column_and_explanation(admin_client, store, make_items):
    items = make_items(store, {"HALF": 70, "HIDDEN": 9, "PLAIN": 4})
    services.set_metadata(items["HALF"], {"adjustment_percent": "50", "max@amazon-us": "10"})
    services.set_metadata(items["HIDDEN"], {"skip_push": "yes"})
    page = admin_client.get(reverse("admin:inventory_inventoryitem_changelist"))
    assert cell(page.content, "told_column", "HALF") == "35"
    assert cell(page.content, "stock_column", "HALF") == "70"
    assert cell(page.content, "told_column", "HIDDEN") == "not sent"
    assert cell(page.content, "told_column", "PLAIN") == "4"

    html = admin_client.get(change_url(items["HALF"])).content.decode()
    steps = re.search(r'<ol class="hub-steps">(.*?)</ol>', html, re.S).group(1)
    assert re.findall(r"<li>(.*?)</li>", steps) == ["Stock is 70.", "50% of 70 is 35."]
    assert "Carts are told <strong class=\"hub-told-number\">35</strong>" in html
    assert "<strong>amazon-us</strong> is told <strong>10</strong>" in html


def test_told_column_is_computed_for_the_page_not_per_row(admin_client, store, make_items):
    def queries_for():
        with CaptureQueriesContext(connection) as captured:
            response = admin_client.get(reverse("admin:inventory_inventoryitem_changelist"))
        assert response.status_code == 200
        return len(captured)

    make_items(store, {f"S{n:02d}": n for n in range(2)})
    few = queries_for()
    make_items(store, {f"T{n:02d}": n for n in range(20)})
    assert queries_for() == few


def test_missing_replacement_shows_the_error(admin_client, store, make_items):
    items = make_items(store, {"A": 0, "B": 5})
    services.set_metadata(items["A"], {"code_replace": "B"})
    InventoryItem.objects.filter(pk=items["B"].pk).update(code="B-RENAMED")
    html = admin_client.get(change_url(items["A"])).content.decode()
    assert "hub-banner-error" in html and "which is not an item in this store" in html
    page = admin_client.get(reverse("admin:inventory_inventoryitem_changelist"))
    assert cell(page.content, "told_column", "A") == "not sent"


def test_item_page_lists_recent_ledger(admin_client, admin_user, store, make_items):
    item = make_items(store, {"A-1": 8})["A-1"]
    services.adjust_item_stock(item, -3, source="order", reference="order:81", user=admin_user)
    html = admin_client.get(change_url(item)).content.decode()
    table = re.search(r'<table class="hub-table hub-ledger">(.*?)</table>', html, re.S).group(1)
    first_row = re.sub(r"<[^>]+>", "|", table.split("<tbody>")[1].split("</tr>")[0])
    cells = [part.strip() for part in first_row.split("|") if part.strip()]
    assert cells[1:6] == ["−3", "5", "Order", "order:81", "boss"]


# --- archive ---------------------------------------------------------------------


def test_delete_archives_and_keeps_the_ledger(admin_client, store, make_items):
    item = make_items(store, {"GONE-1": 8, "STAYS-1": 1})["GONE-1"]
    url = reverse("admin:inventory_inventoryitem_delete", args=[item.pk])
    confirm = admin_client.get(url).content.decode()
    assert "Archive the item" in confirm and "stock history is kept" in confirm
    response = admin_client.post(url, {"post": "yes"}, follow=True)
    assert "GONE-1 was archived" in response.content.decode()
    item.refresh_from_db()
    assert item.archived_at is not None and item.stock == 8
    assert StockLedgerEntry.objects.filter(item=item).count() == 1
    changelist = reverse("admin:inventory_inventoryitem_changelist")
    default = admin_client.get(changelist).content
    assert b"GONE-1" not in default and b"STAYS-1" in default
    archived = admin_client.get(changelist + "?archived=yes").content
    assert b"GONE-1" in archived and b"STAYS-1" not in archived
    page = admin_client.get(change_url(item))
    assert page.status_code == 200 and b'name="set_stock_to"' not in page.content
    assert b"was archived on" in page.content


# --- ledger ----------------------------------------------------------------------


def test_ledger_is_read_only(admin_client, store, make_items):
    item = make_items(store, {"A-1": 8})["A-1"]
    services.adjust_item_stock(item, 2, source="api", reference="batch:7")
    entry = StockLedgerEntry.objects.filter(item=item).first()
    changelist = reverse("admin:inventory_stockledgerentry_changelist")
    assert admin_client.get(reverse("admin:inventory_stockledgerentry_add")).status_code == 403
    view = admin_client.get(reverse("admin:inventory_stockledgerentry_change", args=[entry.pk]))
    assert view.status_code == 200 and b'name="_save"' not in view.content
    assert admin_client.post(reverse("admin:inventory_stockledgerentry_change", args=[entry.pk]),
                             {"delta": "99"}).status_code == 403
    assert admin_client.post(reverse("admin:inventory_stockledgerentry_delete", args=[entry.pk]),
                             {"post": "yes"}).status_code == 403
    filtered = admin_client.get(changelist + "?source__exact=api")
    assert filtered.context["cl"].result_count == 1
    searched = admin_client.get(changelist + "?q=batch:7")
    assert searched.context["cl"].result_count == 1
    by_item = admin_client.get(changelist + f"?item__id__exact={item.pk}")
    assert by_item.context["cl"].result_count == 2


# --- stores ----------------------------------------------------------------------


def store_form(store, **fields):
    data = {
        "name": store.name, "slug": store.slug, "time_zone": store.time_zone,
        "restock_on_cancel": "on", "inventory_source": "", "low_stock_recipients": "",
        "low_stock_threshold": "", "low_stock_digest_hour": "",
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
    }
    data.update({name: str(value) for name, value in fields.items()})
    return data


def test_store_source_loop_is_refused_and_members_are_added(admin_client, store, other_store,
                                                           django_user_model):
    other_store.inventory_source = store
    other_store.save()
    url = reverse("admin:inventory_store_change", args=[store.pk])
    response = admin_client.post(url, store_form(store, inventory_source=other_store.pk))
    assert response.status_code == 200
    assert "would take stock from each other in a loop" in response.content.decode()
    assert Store.objects.get(pk=store.pk).inventory_source is None

    clerk = django_user_model.objects.create_user("clerk", password=None, is_staff=True)
    data = store_form(store, **{"memberships-TOTAL_FORMS": "1", "memberships-0-user": clerk.pk,
                                "memberships-0-role": "viewer", "memberships-0-store": store.pk})
    assert admin_client.post(url, data).status_code == 302
    assert StoreMembership.objects.get(store=store, user=clerk).role == "viewer"


def test_editor_keeps_a_source_store_they_only_view(store, other_store, staff_client):
    store.inventory_source = other_store
    store.save()
    client = staff_client({store: StoreMembership.EDITOR, other_store: StoreMembership.VIEWER})
    url = reverse("admin:inventory_store_change", args=[store.pk])
    choices = client.get(url).context["adminform"].form.fields["inventory_source"].queryset
    assert list(choices) == [other_store]
    response = client.post(url, store_form(store, name="Renamed", inventory_source=other_store.pk))
    assert response.status_code == 302
    store.refresh_from_db()
    assert (store.name, store.inventory_source) == ("Renamed", other_store)


def test_viewer_cannot_change_the_store(store, staff_client):
    viewer = staff_client({store: StoreMembership.VIEWER})
    url = reverse("admin:inventory_store_change", args=[store.pk])
    assert viewer.get(url).status_code == 200
    assert viewer.post(url, store_form(store, name="Hijacked")).status_code == 403
    assert Store.objects.get(pk=store.pk).name == "Main shop"


# --- bulk actions ------------------------------------------------------------------


def test_bulk_set_metadata_reports_refusals(admin_client, store, make_items):
    items = make_items(store, {"A-1": 5, "B-1": 5})
    services.set_metadata(items["B-1"], {"min": "10"})
    changelist = reverse("admin:inventory_inventoryitem_changelist")
    selected = [str(item.pk) for item in items.values()]
    ask = admin_client.post(changelist, {"action": "set_metadata_action", "_selected_action": selected})
    assert ask.status_code == 200 and b'name="apply"' in ask.content
    response = admin_client.post(changelist, {
        "action": "set_metadata_action", "_selected_action": selected, "apply": "1",
        "key": "max", "value": "5",
    }, follow=True)
    html = response.content.decode()
    assert "Set max = 5 on 1 item." in html
    assert "B-1: max may not be below min" in html
    assert dict(items["A-1"].metadata.values_list("key", "value")) == {"max": "5"}
    assert dict(items["B-1"].metadata.values_list("key", "value")) == {"min": "10"}


def test_bulk_actions_leave_viewer_stores_alone(store, other_store, make_items, staff_client):
    mine = make_items(store, {"A-1": 5})["A-1"]
    viewed = make_items(other_store, {"B-1": 5})["B-1"]
    client = staff_client({store: StoreMembership.EDITOR, other_store: StoreMembership.VIEWER})
    changelist = reverse("admin:inventory_inventoryitem_changelist")
    response = client.post(changelist, {
        "action": "set_metadata_action", "_selected_action": [mine.pk, viewed.pk], "apply": "1",
        "key": "max", "value": "3",
    }, follow=True)
    assert "you may only view their store" in response.content.decode()
    assert mine.metadata.filter(key="max").exists() and not viewed.metadata.exists()


def test_setup_demo_prints_the_admin_password_only_while_it_still_works(db, settings, tmp_path):
    """Run on every start: a password staff changed since is never printed as if it worked."""
    from io import StringIO

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    settings.DATA_DIR = tmp_path
    out = StringIO()
    call_command("setup_demo", stdout=out)
    password = (tmp_path / "admin-password").read_text().strip()
    assert f"admin / {password}" in out.getvalue()
    assert Store.objects.get(slug="demo").items.count() > 10
    # The README's examples change these; the demo warehouse's pulls leave them alone.
    for code in ("STO-01SA", "LIN-02SA"):
        assert Store.objects.get(slug="demo").items.get(code=code).metadata.get(key="skip_pull").value == "1"
    admin_user = get_user_model().objects.get(username="admin")
    admin_user.set_password("changed-by-staff")
    admin_user.save()
    out = StringIO()
    call_command("setup_demo", stdout=out)
    assert password not in out.getvalue()
    assert "changepassword admin" in out.getvalue()
