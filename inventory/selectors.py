"""Read-side queries: effective stock, metadata and what each cart is told.

Everything here works on many items with a fixed number of queries, so a push
of 100,000 items or a stock report costs the same few round trips as one item.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.db import connection

from . import rules
from .models import InventoryItem, ItemMetadata, Store

BULK_CHUNK = 5000


def _chunks(values: Sequence, size: int = BULK_CHUNK):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def metadata_by_item(item_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    result: dict[int, dict[str, str]] = defaultdict(dict)
    ids = list(item_ids)
    for chunk in _chunks(ids):
        for item_id, key, value in ItemMetadata.objects.filter(item_id__in=chunk).values_list(
            "item_id", "key", "value"
        ):
            result[item_id][key] = value
    return result


def codes_with_stock(store: Store) -> dict[str, tuple[int, int]]:
    """``{code: (item_id, stock)}`` for every active item: one plain query.

    Imports match whole files against this; going through model instances or
    ``values_list`` costs several times more on 100,000 items.
    """
    table = InventoryItem._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT code, id, stock FROM {table} WHERE store_id = %s AND archived_at IS NULL", [store.pk]
        )
        return {code: (item_id, stock) for code, item_id, stock in cursor.fetchall()}


def details_by_id(store: Store) -> dict[int, dict]:
    """``{item_id: {"name", "price", "cost", "weight"}}`` for every active item: one plain query."""
    table = InventoryItem._meta.db_table
    fields = ("name", "price", "cost", "weight")
    converters = {name: InventoryItem._meta.get_field(name) for name in fields}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, name, price, cost, weight FROM {table} WHERE store_id = %s AND archived_at IS NULL",
            [store.pk],
        )
        rows = cursor.fetchall()
    decimal = converters["price"]
    result = {}
    for item_id, name, price, cost, weight in rows:
        result[item_id] = {
            "name": name,
            "price": _to_decimal(decimal, price),
            "cost": _to_decimal(decimal, cost),
            "weight": _to_decimal(decimal, weight),
        }
    return result


def _to_decimal(field, value):
    """Raw column values as the Decimals an import compares against (SQLite gives floats or text)."""
    if value is None:
        return None
    from decimal import Decimal

    return field.to_python(value) if not isinstance(value, Decimal) else value


def stock_by_code(store: Store, codes: Iterable[str]) -> dict[str, int]:
    """The stock carts see for each SKU of ``store`` (design §7).

    SKUs that the store's ``inventory_source`` has use the source's stock (and
    its source's, down the chain); the others use the store's own.  SKUs in
    neither are absent.
    """
    wanted = list(dict.fromkeys(codes))
    result = _own_stock_by_code(store, wanted)
    if store.inventory_source_id:
        result.update(stock_by_code(store.inventory_source, wanted))
    return result


def _own_stock_by_code(store: Store, codes: Iterable[str]) -> dict[str, int]:
    """The store's own items' stock by SKU, its inventory source aside."""
    result: dict[str, int] = {}
    for chunk in _chunks(list(dict.fromkeys(codes))):
        result.update(
            InventoryItem.objects.active().filter(store=store, code__in=chunk).values_list("code", "stock")
        )
    return result


def stock_holders(store: Store, codes: Iterable[str]) -> dict[str, InventoryItem]:
    """The item whose stock moves when ``store`` sells each SKU (design §7)."""
    wanted = list(dict.fromkeys(codes))
    result: dict[str, InventoryItem] = {}
    for chunk in _chunks(wanted):
        result.update(
            (item.code, item) for item in InventoryItem.objects.active().filter(store=store, code__in=chunk)
        )
    if store.inventory_source_id:
        result.update(stock_holders(store.inventory_source, wanted))
    return result


def replacing_items(store: Store, code: str) -> list[str]:
    """SKUs of active items whose ``code_replace`` names ``code`` (renaming or deleting
    ``code`` would silently cost them their count)."""
    rows = ItemMetadata.objects.filter(
        item__store=store, item__archived_at__isnull=True, key="code_replace"
    ).values_list("item__code", "value")
    return sorted(other for other, value in rows if code in rules.parse_code_replace(value))


def code_in_use(store: Store, code: str, *, until: str = "first") -> str | None:
    """Why ``code`` may not be renamed or deleted now (other items take its count), or None.

    One wording for the admin and the APIs; ``until`` ends it ("first", "before deleting X").
    """
    users = replacing_items(store, code)
    if not users:
        return None
    one = len(users) == 1
    return (
        f"{', '.join(users)} take{'s' if one else ''} {code}'s count (code_replace); "
        f"change {'it' if one else 'them'} {until}."
    )


def counts_carts_ignore(store: Store, items: Sequence[tuple[int, str]]) -> dict[int, str]:
    """For the ``(item_id, code)`` given whose own count carts are not told, why (design §5,
    §7): the item takes its count from what replaces it (``code_replace``), or the store's
    inventory source holds the SKU.  A count written to such an item is kept, but writing it
    changes nothing a cart sees, so the admin and the APIs say so."""
    ids = [item_id for item_id, _code in items]
    replaced: dict[int, str] = {}
    for chunk in _chunks(ids):
        replaced.update(
            ItemMetadata.objects.filter(item_id__in=chunk, key="code_replace").values_list("item_id", "value")
        )
    held: set[str] = set()
    if store.inventory_source_id:
        held = set(stock_by_code(store.inventory_source, [code for _id, code in items]))
    why: dict[int, str] = {}
    for item_id, code in items:
        if code in held:
            source = store.inventory_source.name
            why[item_id] = (
                f"{code}'s stock is held by this store's inventory source, {source}: its own count is kept, "
                f"but carts are told {source}'s. Change it there."
            )
        elif item_id in replaced:
            why[item_id] = (
                f"{code} is sent to carts as {replaced[item_id]} (code_replace): its own count is kept, "
                "but carts are told the count of what replaces it."
            )
    return why


def replacing_codes(store: Store, codes: Iterable[str]) -> set[str]:
    """Which of ``codes`` carry ``code_replace`` in ``store`` (a chain if named)."""
    found: set[str] = set()
    for chunk in _chunks(list(codes)):
        found.update(
            ItemMetadata.objects.filter(
                item__store=store, item__archived_at__isnull=True, item__code__in=chunk, key="code_replace"
            ).values_list("item__code", flat=True)
        )
    return found


def told_quantities(store: Store, items: Sequence[InventoryItem], cart: rules.Cart) -> dict[int, rules.Told]:
    """What ``cart`` is told for each of ``items``, with the steps that led there."""
    metadata = metadata_by_item(item.pk for item in items)
    codes = [item.code for item in items]
    component_codes = _component_codes(metadata)
    wanted = [*codes, *component_codes]
    stocks = _own_stock_by_code(store, wanted)
    from_source: set[str] = set()
    if store.inventory_source_id:
        held = stock_by_code(store.inventory_source, wanted)
        from_source = {code for code in codes if code in held}
        stocks.update(held)
    return _tell(
        [(item.pk, item.code, item.stock) for item in items], metadata, stocks, store, cart, component_codes,
        from_source,
    )


def told_for_store(
    store: Store, cart: rules.Cart
) -> tuple[list[tuple[int, str, int]], dict[int, rules.Told]]:
    """Every active item of ``store`` as (id, code, stock) and what ``cart`` is told for it.

    The whole-store path pushes use: three plain queries whatever the size
    (items, metadata, and the source store's stock when there is one), no
    model instances.
    """
    items_table, meta_table = InventoryItem._meta.db_table, ItemMetadata._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, code, stock FROM {items_table} WHERE store_id = %s AND archived_at IS NULL ORDER BY code",
            [store.pk],
        )
        rows = cursor.fetchall()
        cursor.execute(
            f"SELECT m.item_id, m.key, m.value FROM {meta_table} m JOIN {items_table} i ON i.id = m.item_id "
            f"WHERE i.store_id = %s AND i.archived_at IS NULL",
            [store.pk],
        )
        metadata: dict[int, dict[str, str]] = defaultdict(dict)
        for item_id, key, value in cursor.fetchall():
            metadata[item_id][key] = value
    stocks = {code: stock for _item_id, code, stock in rows}
    component_codes = _component_codes(metadata)
    from_source: set[str] = set()
    if store.inventory_source_id:
        held = stock_by_code(store.inventory_source, [*stocks, *component_codes])
        from_source = {code for _item_id, code, _stock in rows if code in held}
        stocks.update(held)
    return rows, _tell(rows, metadata, stocks, store, cart, component_codes, from_source)


def _component_codes(metadata: dict[int, dict[str, str]]) -> set[str]:
    codes: set[str] = set()
    for item_metadata in metadata.values():
        replace = item_metadata.get("code_replace")
        if replace:
            try:
                codes.update(rules.parse_code_replace(replace))
            except rules.MetadataError:
                continue
    return codes


def _tell(rows, metadata, stocks, store, cart, component_codes, from_source=frozenset()) -> dict[int, rules.Told]:
    chained = replacing_codes(store, component_codes) if component_codes else set()
    told = {}
    no_metadata: dict = {}
    for item_id, code, stock in rows:
        item_metadata = metadata.get(item_id, no_metadata)
        components = {}
        replace = item_metadata.get("code_replace")
        if replace:
            try:
                wanted = rules.parse_code_replace(replace)
            except rules.MetadataError:
                wanted = {}
            for component in wanted:
                components[component] = (
                    rules.Component(stock=stocks[component], replaces=component in chained)
                    if component in stocks
                    else None
                )
        result = rules.told_quantity(stocks.get(code, stock), item_metadata, cart, components)
        if code in from_source:
            result = _held_by_source(result, store, stock)
        told[item_id] = result
    return told


def _held_by_source(told: rules.Told, store: Store, own_stock: int) -> rules.Told:
    """Say where the stock step's count comes from when the store's inventory source holds
    the SKU (design §7): the item's own count is not what carts are told."""
    steps = list(told.steps)
    for index, step in enumerate(steps):
        if step.rule == "stock":
            steps[index] = dataclasses.replace(
                step,
                note=f"{step.note} It is held by this store's inventory source, {store.inventory_source.name}; "
                f"{store.name}'s own count ({own_stock}) is not used.",
            )
            return dataclasses.replace(told, steps=tuple(steps))
    return told


def told_rows(store: Store, cart: rules.Cart, items: Sequence[InventoryItem] | None = None) -> list[dict]:
    """The stock report: one dict per item, ``told`` None when not sent."""
    if items is None:
        items = list(InventoryItem.objects.active().filter(store=store).order_by("code"))
    told = told_quantities(store, items, cart)
    return [told_as_dict(item, told[item.pk]) for item in items]


def told_as_dict(item: InventoryItem, told: rules.Told) -> dict:
    return {
        "code": item.code,
        "stock": item.stock,
        "told": told.quantity,
        "error": told.error,
        "steps": [
            {"rule": step.rule, "before": step.before, "after": step.after, "note": step.note}
            for step in told.steps
        ],
    }


def visible_stores(user):
    """Stores a user may see: all for superusers, their memberships otherwise."""
    if user.is_superuser:
        return Store.objects.all()
    return Store.objects.filter(memberships__user=user).distinct()


def editable_stores(user):
    if user.is_superuser:
        return Store.objects.all()
    return Store.objects.filter(memberships__user=user, memberships__role="editor").distinct()
