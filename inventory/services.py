"""The only code that writes ``InventoryItem.stock``.

Every change goes through :func:`set_stock` (absolute counts: pulls, imports,
admin edits) or :func:`adjust_stock` (relative changes: orders, refunds,
receipts).  Both take many items at once and do the same set-based work
whatever the size:

1. lock the rows in primary-key order (PostgreSQL), so concurrent callers queue
   instead of deadlocking (SQLite's write lock, taken when the transaction
   begins, serialises writers instead);
2. ``UPDATE … FROM`` the staged values, changed rows only;
3. write one ledger entry per changed item, with the delta computed from the
   stock *under the lock*, so no concurrent update is lost.

On PostgreSQL the three are one statement (data-modifying CTEs), one round
trip however many items change.

Small batches are staged in a ``VALUES`` list, large ones in a temporary table
(filled with ``COPY`` on PostgreSQL).  After the transaction commits,
:data:`inventory.signals.stock_changed` tells listeners (integrations) which
items to push, and which of them the low-stock check must look at (found in
the same statement, so most changes need no query for it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from . import rules
from .alerts import possibly_watched_sql
from .models import InventoryItem, ItemMetadata, StockLedgerEntry, Store
from .signals import metadata_changed, stock_changed
from .sql import repeated_statement_cursor

# Up to this many rows are staged as a VALUES list (no DDL); more go to a temp table.
VALUES_STAGE_LIMIT = 500

ITEM_TABLE = InventoryItem._meta.db_table
LEDGER_TABLE = StockLedgerEntry._meta.db_table
STORE_TABLE = Store._meta.db_table


@dataclass(frozen=True, slots=True)
class StockChange:
    item_id: int
    before: int
    after: int

    @property
    def delta(self) -> int:
        return self.after - self.before


def set_stock(
    counts: Mapping[int, int],
    *,
    source: str,
    reference: str = "",
    user=None,
    note: str = "",
    update_source: str | None = None,
) -> list[StockChange]:
    """Set absolute counts ``{item_id: stock}``; unchanged items write nothing."""
    return _write(
        counts,
        relative=False,
        source=source,
        reference=reference,
        user=user,
        note=note,
        update_source=update_source,
    )


def adjust_stock(
    deltas: Mapping[int, int],
    *,
    source: str,
    reference: str = "",
    user=None,
    note: str = "",
    update_source: str | None = None,
) -> list[StockChange]:
    """Add ``{item_id: delta}`` to stock (negative takes off); stock may go below zero."""
    return _write(
        deltas,
        relative=True,
        source=source,
        reference=reference,
        user=user,
        note=note,
        update_source=update_source,
    )


def set_item_stock(item: InventoryItem, stock: int, **kwargs) -> StockChange | None:
    changes = set_stock({item.pk: stock}, **kwargs)
    item.refresh_from_db(fields=["stock", "update_source", "updated_at"])
    return changes[0] if changes else None


def adjust_item_stock(item: InventoryItem, delta: int, **kwargs) -> StockChange | None:
    changes = adjust_stock({item.pk: delta}, **kwargs)
    item.refresh_from_db(fields=["stock", "update_source", "updated_at"])
    return changes[0] if changes else None


def _write(values, *, relative, source, reference, user, note, update_source):
    _check_source(source)
    rows = []
    for item_id, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"Stock values are whole numbers; got {value!r} for item {item_id}.")
        if relative and value == 0:
            continue
        rows.append((int(item_id), value))
    if not rows:
        return []
    rows.sort()
    # No savepoint of its own: a failure here fails the caller's transaction
    # too (PostgreSQL aborts it anyway), and orders save two round trips each.
    with (
        transaction.atomic(savepoint=False),
        repeated_statement_cursor() as cursor,
        _staged(cursor, rows) as staged,
    ):
        changes, store_ids, watched_ids = _write_staged(
            cursor, staged, _changes, relative=relative, source=source, reference=reference, user=user,
            note=note, update_source=update_source,
        )
        _announce(store_ids, [change.item_id for change in changes], watched_ids, source)
    changes.sort(key=lambda change: change.item_id)
    return changes


def write_stock_from_query(
    query: str,
    params: list,
    *,
    relative: bool,
    source: str,
    reference: str = "",
    user=None,
    note: str = "",
    update_source: str | None = None,
) -> int:
    """Set (``relative`` False) or add counts given by ``query``, rows of ``(item_id, value)``,
    without the rows ever leaving the database; returns how many items changed.

    For writes too large to pass through Python, such as a 100,000-row import
    whose lines are already in a table: the same lock, update and ledger as
    :func:`set_stock` and :func:`adjust_stock`, in one pass instead of one per
    chunk.  Each item may appear once in ``query``.
    """
    _check_source(source)
    materialized = "MATERIALIZED " if connection.vendor == "postgresql" else ""
    staged = (f"WITH stage (item_id, qty) AS {materialized}({query})", "stage", list(params))
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        item_ids, store_ids, watched_ids = _write_staged(
            cursor, staged, _changed_ids, relative=relative, source=source, reference=reference, user=user,
            note=note, update_source=update_source,
        )
        _announce(store_ids, item_ids, watched_ids, source)
    return len(item_ids)


def _write_staged(cursor, staged, collect, *, relative, source, reference, user, note, update_source):
    """Write the staged ``(item_id, qty)`` relation; ``collect`` reads the changed rows
    ``(id, store_id, before, after, watched)`` off the cursor and returns a triple
    whose last two members are the store ids and the watched item ids."""
    db_now = connection.ops.adapt_datetimefield_value(timezone.now())
    user_id = getattr(user, "pk", None)
    label = (update_source or source)[:64]
    ledger = [source, reference[:100], user_id, note[:255], db_now]
    write = _write_postgresql if connection.vendor == "postgresql" else _write_sqlite
    prefix, stage, params = staged
    return write(
        cursor, prefix, stage, params, collect, relative=relative, label=label, db_now=db_now, ledger=ledger
    )


def _check_source(source: str) -> None:
    if source not in {choice for choice, _ in StockLedgerEntry.SOURCES}:
        raise ValueError(f"Unknown stock change source {source!r}.")


def _announce(store_ids, item_ids, watched_ids, source) -> None:
    """Tell listeners (pushes, the low-stock check) once the change has committed."""
    if item_ids:
        transaction.on_commit(
            lambda: stock_changed.send(
                sender=InventoryItem,
                store_ids=store_ids,
                item_ids=item_ids,
                watched_item_ids=watched_ids,
                source=source,
            )
        )


LEDGER_COLUMNS = "(item_id, delta, stock_after, source, reference, user_id, note, created_at)"


def _write_postgresql(cursor, prefix, stage, params, collect, *, relative, label, db_now, ledger):
    """Lock, update and write the ledger in one statement (one round trip, whatever the size).

    ``locked`` takes the row locks in primary-key order and reads each row's
    stock under its lock (the latest committed value); the UPDATE changes only
    locked rows and the ledger is written from what the UPDATE returns, so the
    entries always add up to the stock, however many writers race.

    Returns what ``collect`` makes of the changed rows.
    """
    new_stock = "i.stock + l.qty" if relative else "l.qty"
    changed = "l.qty <> 0" if relative else "l.stock <> l.qty"
    with_clause = f"{prefix}," if prefix else "WITH"
    # ``locked`` carries the staged value along, so the UPDATE joins it to the items
    # by key alone: joining two CTEs (no index, guessed sizes) may plan a nested loop.
    cursor.execute(
        f"{with_clause} locked AS MATERIALIZED ("
        f"  SELECT i.id, i.stock, t.qty FROM {ITEM_TABLE} i JOIN {stage} t ON t.item_id = i.id"
        f"  ORDER BY i.id FOR UPDATE OF i"
        f"), written AS ("
        f"  UPDATE {ITEM_TABLE} i SET stock = {new_stock}, update_source = %s, updated_at = %s"
        f"  FROM locked l WHERE i.id = l.id AND {changed}"
        f"  RETURNING i.id, i.store_id, i.archived_at, l.stock AS before, i.stock AS after"
        f"), entries AS ("
        f"  INSERT INTO {LEDGER_TABLE} {LEDGER_COLUMNS}"
        f"  SELECT id, after - before, after, %s, %s, %s, %s, %s FROM written"
        f") SELECT w.id, w.store_id, w.before, w.after, {possibly_watched_sql('w', 's')}"
        f"  FROM written w JOIN {STORE_TABLE} s ON s.id = w.store_id ORDER BY w.id",
        [*params, label, db_now, *ledger],
    )
    return collect(cursor)


def _changes(cursor):
    """``(changes, store ids, watched item ids)`` from rows of (id, store_id, before, after, watched)."""
    rows = cursor.fetchall()
    return (
        [StockChange(item_id, before, after) for item_id, _store, before, after, _watched in rows],
        sorted({row[1] for row in rows}),
        [row[0] for row in rows if row[4]],
    )


def _changed_ids(cursor):
    """``(item ids, store ids, watched item ids)``, read a batch at a time: a write of
    100,000 items keeps their ids, not 100,000 rows."""
    item_ids, store_ids, watched_ids = [], set(), []
    while rows := cursor.fetchmany(5000):
        for item_id, store_id, _before, _after, watched in rows:
            item_ids.append(item_id)
            store_ids.add(store_id)
            if watched:
                watched_ids.append(item_id)
    return item_ids, sorted(store_ids), watched_ids


def _write_sqlite(cursor, prefix, stage, params, collect, *, relative, label, db_now, ledger):
    """The same in three statements: SQLite has no data-modifying CTEs, and its
    write lock (taken when the transaction began) already serialises writers."""
    ledger_delta, ledger_after, new_stock, changed = (
        ("t.qty", "i.stock + t.qty", "stock + t.qty", "t.qty <> 0")
        if relative
        else ("t.qty - i.stock", "t.qty", "t.qty", "i.stock <> t.qty")
    )
    # CROSS JOIN makes SQLite walk the staged rows and look each item up by key;
    # left to choose, it may scan the whole item table instead.
    cursor.execute(
        f"{prefix} SELECT i.id, i.store_id, i.stock, {ledger_after}, {possibly_watched_sql('i', 's')} "
        f"FROM {stage} t CROSS JOIN {ITEM_TABLE} i ON i.id = t.item_id JOIN {STORE_TABLE} s ON s.id = i.store_id "
        f"WHERE {changed}",
        params,
    )
    result = collect(cursor)
    if not result[0]:
        return result
    cursor.execute(
        f"{prefix} INSERT INTO {LEDGER_TABLE} {LEDGER_COLUMNS} "
        f"SELECT i.id, {ledger_delta}, {ledger_after}, %s, %s, %s, %s, %s "
        f"FROM {stage} t CROSS JOIN {ITEM_TABLE} i ON i.id = t.item_id WHERE {changed}",
        [*params, *ledger],
    )
    cursor.execute(
        f"{prefix} UPDATE {ITEM_TABLE} SET stock = {new_stock}, update_source = %s, "
        f"updated_at = %s FROM {stage} t WHERE t.item_id = {ITEM_TABLE}.id "
        f"AND {changed.replace('i.stock', ITEM_TABLE + '.stock')}",
        [*params, label, db_now],
    )
    return result


@contextmanager
def _staged(cursor, rows, value_type="BIGINT"):
    """Make ``rows`` of (item_id, value) available to SQL as a relation.

    Yields ``(prefix, relation, params)``: the prefix (a ``WITH`` clause or
    nothing) goes before each statement and ``params`` after its own.  Small
    batches use a ``VALUES`` list (no DDL), large ones a temporary table filled
    with ``COPY`` on PostgreSQL.
    """
    if len(rows) <= VALUES_STAGE_LIMIT:
        values = ", ".join([f"(CAST(%s AS BIGINT), CAST(%s AS {value_type}))"] * len(rows))
        yield (
            f"WITH stage (item_id, qty) AS (VALUES {values})",
            "stage",
            [value for row in rows for value in row],
        )
        return
    if connection.vendor == "postgresql":
        cursor.execute(f"CREATE TEMP TABLE stock_stage (item_id bigint PRIMARY KEY, qty {value_type})")
        with cursor.copy("COPY stock_stage (item_id, qty) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute("ANALYZE stock_stage")
    else:
        cursor.execute(f"CREATE TEMP TABLE stock_stage (item_id INTEGER PRIMARY KEY, qty {value_type})")
        cursor.executemany("INSERT INTO stock_stage (item_id, qty) VALUES (%s, %s)", rows)
    # On failure the rollback removes the table with everything else; dropping
    # it on success lets one transaction stage twice.
    yield "", "stock_stage", []
    cursor.execute("DROP TABLE stock_stage")


# Item fields that imports and the API may set in bulk, with their SQL type.
DETAIL_TYPES = {
    "name": "TEXT",
    "location": "TEXT",
    "price": "NUMERIC",
    "cost": "NUMERIC",
    "weight": "NUMERIC",
}


def update_details(values: Mapping[int, Mapping[str, object]]) -> int:
    """Set item details ``{item_id: {field: value}}`` in bulk; returns rows written.

    One ``UPDATE … FROM`` per field, touching only items whose value differs,
    so re-importing a full listing report with unchanged names writes nothing.
    """
    by_field: dict[str, list] = {}
    for item_id, fields in values.items():
        for name, value in fields.items():
            if name not in DETAIL_TYPES:
                raise ValueError(f"{name} is not an item detail.")
            if value is not None:
                by_field.setdefault(name, []).append((int(item_id), str(value)))
    if not by_field:
        return 0
    written = 0
    db_now = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        for name, rows in by_field.items():
            rows.sort()
            with _staged(cursor, rows, DETAIL_TYPES[name]) as (prefix, stage, params):
                column = f"{ITEM_TABLE}.{name}"
                cursor.execute(
                    f"{prefix} UPDATE {ITEM_TABLE} SET {name} = t.qty, updated_at = %s FROM {stage} t "
                    f"WHERE t.item_id = {ITEM_TABLE}.id AND ({column} IS NULL OR {column} <> t.qty)",
                    [*params, db_now],
                )
                written += cursor.rowcount
    return written


# --- items -----------------------------------------------------------------


def create_items(
    store: Store, rows: Iterable[Mapping], *, source: str, reference: str = "", user=None
) -> dict[str, int]:
    """Create items from ``{"code", "name", ..., "stock"}`` mappings in bulk.

    Items start at 0 and get their stock through :func:`set_stock`, so even a
    new item's first count has its ledger entry.  Returns ``{code: item_id}``.
    """
    detail_fields = ("name", "price", "cost", "weight", "location")
    new_items, counts = [], {}
    for row in rows:
        code = str(row["code"]).strip()
        if not code:
            raise ValidationError("A SKU cannot be empty.")
        new_items.append(
            InventoryItem(
                store=store,
                code=code,
                update_source=source,
                **{field: row[field] for field in detail_fields if row.get(field) not in (None, "")},
            )
        )
        if row.get("stock") is not None:
            counts[code] = row["stock"]
    with transaction.atomic():
        InventoryItem.objects.bulk_create(new_items, batch_size=2000)
        ids = {item.code: item.pk for item in new_items}
        set_stock(
            {ids[code]: stock for code, stock in counts.items()},
            source=source,
            reference=reference,
            user=user,
        )
    return ids


def archive_item(item: InventoryItem) -> None:
    """Deleting an item archives it: its ledger stays, its SKU becomes free."""
    item.archived_at = timezone.now()
    item.save(update_fields=["archived_at", "updated_at"])


# --- metadata --------------------------------------------------------------


def validate_metadata(
    store: Store, code: str, metadata: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Validate an item's whole metadata; return it normalised and the problems.

    Beyond each key's own rule (:mod:`inventory.rules`), ``code_replace`` must
    name SKUs that exist in the store and do not themselves replace (no
    chains, so no cycles), and an item that others replace cannot replace.
    """
    normalised, problems = {}, []
    for key, value in metadata.items():
        try:
            norm_key, norm_value = rules.validate_metadata(key, value, own_code=code)
        except rules.MetadataError as exc:
            problems.append(str(exc))
            continue
        normalised[norm_key] = norm_value
    problems.extend(str(exc) for exc in rules.validate_metadata_set(normalised))
    replace = normalised.get("code_replace")
    if replace:
        components = list(rules.parse_code_replace(replace))
        found = dict(
            InventoryItem.objects.active().filter(store=store, code__in=components).values_list("code", "id")
        )
        missing = [sku for sku in components if sku not in found]
        if missing:
            problems.append(
                f"code_replace names {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                f"not a SKU in {store}."
            )
        chained = sorted(
            ItemMetadata.objects.filter(item_id__in=found.values(), key="code_replace").values_list(
                "item__code", flat=True
            )
        )
        if chained:
            problems.append(
                f"code_replace cannot name {', '.join(chained)}: it replaces other SKUs itself "
                f"(chains are not allowed)."
            )
        replaced_by = sorted(
            ItemMetadata.objects.filter(item__store=store, item__archived_at__isnull=True, key="code_replace")
            .exclude(item__code=code)
            .values_list("item__code", "value")
        )
        users = [other for other, value in replaced_by if code in rules.parse_code_replace(value)]
        if users:
            problems.append(
                f"{code} cannot use code_replace: {', '.join(users)} already "
                f"replace{'s' if len(users) == 1 else ''} it (chains are not allowed)."
            )
    return normalised, problems


def set_metadata(
    item: InventoryItem, metadata: Mapping[str, str], *, replace: bool = False
) -> dict[str, str]:
    """Validate and save metadata on one item (``replace`` drops keys not given).

    An empty value removes the key.  Raises ``ValidationError`` listing every
    problem; nothing is saved then.
    """
    current = dict(item.metadata.values_list("key", "value"))
    wanted = {} if replace else dict(current)
    for key, value in metadata.items():
        key = key.strip().lower()
        if value is None or str(value).strip() == "":
            wanted.pop(key, None)
        else:
            wanted[key] = str(value)
    normalised, problems = validate_metadata(item.store, item.code, wanted)
    if problems:
        raise ValidationError(problems)
    if normalised == current:
        return normalised  # nothing to write, nothing for carts to hear about
    with transaction.atomic():
        item.metadata.exclude(key__in=list(normalised)).delete()
        for key, value in normalised.items():
            if current.get(key) != value:
                ItemMetadata.objects.update_or_create(item=item, key=key, defaults={"value": value})
        # Metadata is part of the item as staff and API clients see it ("changed since").
        InventoryItem.objects.filter(pk=item.pk).update(updated_at=timezone.now())
        transaction.on_commit(
            lambda: metadata_changed.send(sender=InventoryItem, store_ids=[item.store_id], item_ids=[item.pk])
        )
    return normalised
