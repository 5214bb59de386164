"""Several storefronts on one physical stock (design §7): orders in a linked store
take stock off the source, each store tells its carts with its own safety levels,
and loops of sources are refused when saved."""

import pytest
from django import forms
from django.core.exceptions import ValidationError

from inventory import rules, selectors, services
from inventory.models import InventoryItem, Store
from inventory.order_services import LineIn, cancel, record_order
from inventory.signals import stock_changed


@pytest.fixture
def warehouse(db):
    return Store.objects.create(name="Warehouse", slug="warehouse", reduce_stock_on_order_import=True)


@pytest.fixture
def outlet(warehouse):
    return Store.objects.create(
        name="Outlet", slug="outlet", inventory_source=warehouse, reduce_stock_on_order_import=True
    )


def stock(store, code):
    return InventoryItem.objects.active().get(store=store, code=code).stock


def order(store, external_id, lines, **kwargs):
    return record_order(
        store, origin="cart", external_id=external_id, lines=[LineIn(c, q) for c, q in lines], **kwargs
    )


def test_an_order_in_a_linked_store_takes_off_the_sources_stock(warehouse, outlet, make_items):
    make_items(warehouse, {"SHIRT": 20})
    make_items(outlet, {"SHIRT": 0, "POSTER": 7})  # POSTER only the outlet has
    result = order(outlet, "O-1", [("SHIRT", 3), ("POSTER", 2)])
    assert stock(warehouse, "SHIRT") == 17
    assert stock(outlet, "SHIRT") == 0  # the outlet's own row holds nothing
    assert stock(outlet, "POSTER") == 5
    moves = {(move.store_slug, move.code): move.delta for move in result.moves}
    assert moves == {("warehouse", "SHIRT"): -3, ("outlet", "POSTER"): -2}


def test_a_linked_store_may_sell_a_sku_it_does_not_list(warehouse, outlet, make_items):
    make_items(warehouse, {"MUG": 4})
    result = order(outlet, "O-1", [("MUG", 1)])
    assert result.problems == {} and stock(warehouse, "MUG") == 3


def test_code_replace_is_resolved_where_the_stock_is_held(warehouse, outlet, make_items):
    items = make_items(warehouse, {"GIFTSET": 0, "CUP": 10, "SPOON": 10})
    services.set_metadata(items["GIFTSET"], {"code_replace": "CUP,SPOON,SPOON"})
    order(outlet, "O-1", [("GIFTSET", 2)])
    assert (stock(warehouse, "CUP"), stock(warehouse, "SPOON")) == (8, 6)


def test_orders_from_both_stores_share_one_stock(warehouse, outlet, make_items):
    make_items(warehouse, {"SHIRT": 10})
    order(warehouse, "W-1", [("SHIRT", 4)])
    order(outlet, "O-1", [("SHIRT", 4)])
    order(outlet, "O-1", [("SHIRT", 4)])  # a re-send changes nothing
    assert stock(warehouse, "SHIRT") == 2


def test_a_cancel_in_a_linked_store_puts_stock_back_in_the_source(warehouse, outlet, make_items):
    make_items(warehouse, {"SHIRT": 10})
    placed = order(outlet, "O-1", [("SHIRT", 4)]).order
    cancel(placed)
    assert stock(warehouse, "SHIRT") == 10


def test_a_chain_of_sources_resolves_to_the_store_that_holds_the_sku(warehouse, outlet, make_items):
    popup = Store.objects.create(name="Pop-up", slug="popup", inventory_source=outlet,
                                 reduce_stock_on_order_import=True)
    make_items(warehouse, {"SHIRT": 10})
    make_items(outlet, {"BAG": 5})
    order(popup, "P-1", [("SHIRT", 1), ("BAG", 1)])
    assert (stock(warehouse, "SHIRT"), stock(outlet, "BAG")) == (9, 4)


def test_order_resolution_agrees_with_the_stock_holders_selector(warehouse, outlet, make_items):
    """Orders resolve holders in one query of their own; it must follow the selector's rule."""
    from inventory import order_services

    popup = Store.objects.create(name="Pop-up", slug="popup", inventory_source=outlet)
    make_items(warehouse, {"A": 1, "B": 1, "C": 1})
    make_items(outlet, {"A": 1, "D": 1, "E": 1})
    make_items(popup, {"A": 1, "D": 1, "F": 1})
    archived = make_items(warehouse, {"G": 1})["G"]
    services.archive_item(archived)
    codes = ["A", "B", "C", "D", "E", "F", "G", "missing"]
    for store in (warehouse, outlet, popup):
        expected = {code: item.pk for code, item in selectors.stock_holders(store, codes).items()}
        got = {code: holder.item_id for code, holder in order_services.stock_holders(store, codes).items()}
        assert got == expected, store.slug


def test_each_store_tells_its_carts_with_its_own_safety_levels(warehouse, outlet, make_items):
    """One order; two stores on the same source SKU, each with its own max."""
    source_item = make_items(warehouse, {"SHIRT": 20})["SHIRT"]
    linked_item = make_items(outlet, {"SHIRT": 0})["SHIRT"]
    services.set_metadata(source_item, {"max": "15"})
    services.set_metadata(linked_item, {"max": "8"})
    cart = rules.Cart()

    def told():
        return (
            selectors.told_quantities(warehouse, [source_item], cart)[source_item.pk].quantity,
            selectors.told_quantities(outlet, [linked_item], cart)[linked_item.pk].quantity,
        )

    assert told() == (15, 8)
    order(outlet, "O-1", [("SHIRT", 9)])
    assert stock(warehouse, "SHIRT") == 11
    assert told() == (11, 8)
    order(warehouse, "W-1", [("SHIRT", 5)])
    assert told() == (6, 6)


def test_the_stock_change_names_the_source_so_linked_carts_can_be_reached(
    warehouse, outlet, make_items, django_capture_on_commit_callbacks
):
    """The push side fans a source's change out to every store linked to it."""
    source_item = make_items(warehouse, {"SHIRT": 20})["SHIRT"]
    seen = []

    def listener(sender, store_ids, item_ids, **kwargs):
        seen.append((list(store_ids), list(item_ids), kwargs["source"]))

    stock_changed.connect(listener, dispatch_uid="test-shared-stock-listener")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            order(outlet, "O-1", [("SHIRT", 1)])
    finally:
        stock_changed.disconnect(dispatch_uid="test-shared-stock-listener")
    assert seen == [([warehouse.pk], [source_item.pk], "order")]
    linked = set(Store.objects.filter(inventory_source_id__in=seen[0][0]).values_list("pk", flat=True))
    assert linked == {outlet.pk}


class StoreSourceForm(forms.ModelForm):
    class Meta:
        model = Store
        fields = ["name", "slug", "time_zone", "inventory_source"]


def form_data(store, source):
    return {"name": store.name, "slug": store.slug, "time_zone": store.time_zone,
            "inventory_source": source.pk if source else ""}


def test_a_loop_of_sources_is_refused_when_saved(warehouse, outlet):
    form = StoreSourceForm(form_data(warehouse, outlet), instance=warehouse)
    assert not form.is_valid()
    assert "loop" in form.errors["inventory_source"][0]
    warehouse.refresh_from_db()
    assert warehouse.inventory_source is None


def test_a_longer_loop_and_a_store_sourcing_itself_are_refused(warehouse, outlet):
    popup = Store.objects.create(name="Pop-up", slug="popup", inventory_source=outlet)
    warehouse.inventory_source = popup
    with pytest.raises(ValidationError) as error:
        warehouse.full_clean()
    assert "inventory_source" in error.value.message_dict
    form = StoreSourceForm(form_data(outlet, outlet), instance=outlet)
    assert not form.is_valid() and "inventory_source" in form.errors


def test_a_chain_without_a_loop_is_accepted(warehouse, outlet):
    popup = Store(name="Pop-up", slug="popup", inventory_source=outlet)
    popup.full_clean()
    form = StoreSourceForm(form_data(popup, outlet))
    assert form.is_valid(), form.errors


def test_a_linked_stores_explanation_names_the_store_holding_the_stock(warehouse, outlet, make_items):
    make_items(warehouse, {"SHIRT": 9})
    linked_item = make_items(outlet, {"SHIRT": 70, "OWN": 4})
    cart = rules.Cart()
    for told in (
        selectors.told_quantities(outlet, list(linked_item.values()), cart),
        selectors.told_for_store(outlet, cart)[1],
    ):
        shirt, own = told[linked_item["SHIRT"].pk], told[linked_item["OWN"].pk]
        assert shirt.quantity == 9
        assert shirt.steps[0].note == (
            "Stock is 9. It is held by this store's inventory source, Warehouse; Outlet's own count (70) is not used."
        )
        assert own.quantity == 4 and own.steps[0].note == "Stock is 4."


def test_a_stock_batch_on_a_linked_store_warns_where_the_stock_is_held(warehouse, outlet, make_items):
    from inventory.api.services import apply_stock_batch

    make_items(warehouse, {"SHIRT": 9})
    make_items(outlet, {"SHIRT": 0, "OWN": 4})
    result = apply_stock_batch(
        outlet, [{"code": "SHIRT", "quantity": 50}, {"code": "OWN", "quantity": 5}],
        mode="set", on_error="reject_all", reference="api:test",
    )
    assert result.applied and [w["code"] for w in result.warnings] == ["SHIRT"]
    assert result.warnings[0]["message"] == (
        "SHIRT's stock is held by this store's inventory source, Warehouse: its own count is kept, but carts "
        "are told Warehouse's. Change it there."
    )
