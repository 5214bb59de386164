"""An applied import that sets off a push, with the database broker and nothing held
in a transaction by the test: what a seller's `make run` does.

Enqueueing through django-q2's database broker outside a transaction closes the
connection when it has reached its age (at once on SQLite); the import's staging
table lives on that connection, so enqueueing must never close it.
"""

import io
import json

import pytest
from django.core.management import call_command
from django_q.models import OrmQ

from integrations.models import Integration
from inventory.models import InventoryItem, StockLedgerEntry


@pytest.fixture
def syncing_cart(store):
    cart = Integration(
        store=store, kind="shopify", role=Integration.CART, name="Shop", slug="shop",
        base_url="http://127.0.0.1:9", location_id="gid://shopify/Location/1",
        inventory_sync=True, first_push_confirmed=True,
    )
    cart.credentials = {"access_token": "shpat_fake_token"}
    cart.save()
    return cart


@pytest.mark.django_db(transaction=True)
def test_an_import_that_sets_off_a_push_finishes_and_enqueues_it(store, make_items, syncing_cart, tmp_path):
    make_items(store, {"A-1": 1, "A-2": 2})
    Integration.objects.update(push_pending=False)  # as after the push of the items' creation
    OrmQ.objects.all().delete()
    path = tmp_path / "stock.csv"
    path.write_text("sku,qty\nA-1,5\nA-2,2\n")
    out = io.StringIO()
    call_command("import_stock", str(path), "--store", store.slug, "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert (report["applied"], report["changed"], report["unchanged"]) == (True, 1, 1)
    assert InventoryItem.objects.get(code="A-1").stock == 5
    assert StockLedgerEntry.objects.filter(item__code="A-1", source="import").count() == 1
    assert OrmQ.objects.count() == 1  # the push, enqueued after the commit
