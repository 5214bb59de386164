"""A store membership is all a staff user needs (inventory.permissions): the
role's model grants, then per-store scoping by the admin."""

import pytest
from django.test import Client
from django.urls import reverse

from inventory.models import InventoryItem, Store, StoreMembership
from inventory.permissions import permissions_for_roles

EDITOR, VIEWER = StoreMembership.EDITOR, StoreMembership.VIEWER


@pytest.mark.parametrize(
    ("roles", "perm", "granted"),
    [
        (set(), "inventory.view_inventoryitem", False),
        ({VIEWER}, "inventory.view_inventoryitem", True),
        ({VIEWER}, "inventory.change_inventoryitem", False),
        ({VIEWER}, "imports.add_importjob", False),
        ({VIEWER}, "integrations.view_integration", True),
        ({EDITOR}, "inventory.change_inventoryitem", True),
        ({EDITOR}, "inventory.delete_itemmetadata", True),
        ({EDITOR}, "imports.add_importjob", True),
        ({EDITOR}, "integrations.change_integration", True),
        ({EDITOR}, "inventory.change_store", True),
        ({EDITOR}, "inventory.add_store", False),  # new stores: superusers
        ({EDITOR}, "inventory.change_stockledgerentry", False),  # the ledger is never edited
        ({EDITOR}, "inventory.change_order", False),  # orders change through their service only
        ({EDITOR}, "inventory.view_storemembership", False),  # who may see what: superusers
        ({EDITOR}, "inventory.view_apitoken", False),
        ({EDITOR}, "auth.view_user", False),
        ({EDITOR, VIEWER}, "inventory.change_inventoryitem", True),
    ],
)
def test_role_grants(roles, perm, granted):
    assert (perm in permissions_for_roles(roles)) is granted


@pytest.fixture
def stores(db, make_items):
    mine = Store.objects.create(name="Mine", slug="mine")
    theirs = Store.objects.create(name="Theirs", slug="theirs")
    make_items(mine, {"MY-1": 5})
    make_items(theirs, {"THEIR-1": 7})
    return mine, theirs


def member(django_user_model, store, role, **fields):
    """A staff user with a membership and no Django permissions of their own."""
    user = django_user_model.objects.create_user(f"{role}-user", password=None, is_staff=True, **fields)
    StoreMembership.objects.create(store=store, user=user, role=role)
    client = Client()
    client.force_login(user)
    return client


def item(code):
    return InventoryItem.objects.get(code=code)


def test_a_viewer_with_no_other_permission_sees_their_store_read_only(stores, django_user_model):
    mine, _theirs = stores
    client = member(django_user_model, mine, VIEWER)
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200 and b"Inventory items" in index.content
    listing = client.get(reverse("admin:inventory_inventoryitem_changelist"))
    assert listing.status_code == 200
    assert b"MY-1" in listing.content and b"THEIR-1" not in listing.content
    page = client.get(reverse("admin:inventory_inventoryitem_change", args=[item("MY-1").pk]))
    assert page.status_code == 200 and b'name="set_stock_to"' not in page.content
    posted = client.post(reverse("admin:inventory_inventoryitem_change", args=[item("MY-1").pk]),
                         {"code": "MY-1", "set_stock_to": "0"})
    assert posted.status_code == 403 and item("MY-1").stock == 5
    other = client.get(reverse("admin:inventory_inventoryitem_change", args=[item("THEIR-1").pk]))
    assert other.status_code in (302, 404)  # another store's item does not exist for them
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403


def test_an_editor_with_no_other_permission_changes_stock_in_their_store(stores, django_user_model):
    mine, _theirs = stores
    client = member(django_user_model, mine, EDITOR)
    url = reverse("admin:inventory_inventoryitem_change", args=[item("MY-1").pk])
    page = client.get(url)
    assert page.status_code == 200 and b'name="set_stock_to"' in page.content
    assert client.get(reverse("admin:imports_importjob_upload")).status_code == 200
    store_page = client.get(reverse("admin:inventory_store_change", args=[mine.pk]))
    assert store_page.status_code == 200
    assert b"memberships-TOTAL_FORMS" not in store_page.content  # who may see the store: superusers decide


def test_a_superuser_manages_the_members_on_the_store_page(stores, django_user_model):
    mine, _theirs = stores
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", None)
    client = Client()
    client.force_login(boss)
    page = client.get(reverse("admin:inventory_store_change", args=[mine.pk]))
    assert b"memberships-TOTAL_FORMS" in page.content


def test_memberships_grant_nothing_to_inactive_or_non_staff_users(stores, django_user_model):
    mine, _theirs = stores
    user = django_user_model.objects.create_user("former", password=None, is_staff=True, is_active=False)
    StoreMembership.objects.create(store=mine, user=user, role=EDITOR)
    assert not user.has_perm("inventory.view_inventoryitem")
    customer = django_user_model.objects.create_user("customer", password=None, is_staff=False)
    StoreMembership.objects.create(store=mine, user=customer, role=EDITOR)
    assert not customer.has_perm("inventory.view_inventoryitem")


def test_a_superuser_adding_a_membership_takes_effect_on_the_next_request(stores, django_user_model):
    mine, theirs = stores
    client = member(django_user_model, mine, VIEWER)
    user = django_user_model.objects.get(username="viewer-user")
    assert b"THEIR-1" not in client.get(reverse("admin:inventory_inventoryitem_changelist")).content
    StoreMembership.objects.create(store=theirs, user=user, role=VIEWER)
    assert b"THEIR-1" in client.get(reverse("admin:inventory_inventoryitem_changelist")).content
