"""Orders take stock off exactly once, whatever route or retry brings them.

:func:`record_order` is the single entry point for every way an order arrives
(the API, a cart pull, a script).  It never replays an order: it locks the
order's row and reconciles each line, taking off what the order should have
taken by now minus what it already took.  So a re-send, the same order through
two routes, reordered or split lines, and two copies racing each other all end
with the stock taken off once; a send older than the stored version changes
nothing.

What moved is remembered per line (``taken``, ``restocked`` and the items one
unit takes off), in the same transaction as the stock change, so a step that
fails after the commit can be retried without taking anything off twice, and
cancels and refunds put back at most what went out.

Orders are facts from a cart: never refused for lack of stock.  Stock may go
below zero; the order and the result say oversold.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from . import rules, selectors, services
from .models import InventoryItem, ItemMetadata, StockLedgerEntry, Store
from .orders import Order, OrderLine
from .sql import repeated_statement_cursor

STATUS_CODES = frozenset(code for code, _ in Order.STATUSES)
ORIGIN_LENGTH = Order._meta.get_field("origin").max_length
EXTERNAL_ID_LENGTH = Order._meta.get_field("external_id").max_length
CODE_LENGTH = OrderLine._meta.get_field("code").max_length
# Far beyond any real order, well inside the database's integer columns.
QUANTITY_LIMIT = 1_000_000
VERSION_LIMIT = 2**63 - 1
UNKNOWN_SKU = "unknown SKU"
ORDER_STATE_FIELDS = ("status", "version", "oversold", "cancelled_at")
ORDER_TABLE = Order._meta.db_table
LINE_TABLE = OrderLine._meta.db_table
ITEM_TABLE = InventoryItem._meta.db_table
METADATA_TABLE = ItemMetadata._meta.db_table


@dataclass(frozen=True, slots=True)
class LineIn:
    """One line as sent: ``restocked`` is the cart's running total of units put back."""

    code: str
    quantity: int
    restocked: int | None = None


@dataclass(frozen=True, slots=True)
class StockMove:
    item_id: int
    code: str
    store_slug: str
    delta: int
    stock_after: int
    source: str


@dataclass
class OrderResult:
    """What one call did; ``moves`` is empty when nothing needed to change."""

    order: Order
    created: bool = False
    stale: bool = False
    moves: list[StockMove] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    # Why the order as sent was not (wholly) taken as it came: said, never silently ignored.
    notes: list[str] = field(default_factory=list)

    @property
    def unknown_codes(self) -> list[str]:
        return [code for code, problem in self.problems.items() if problem == UNKNOWN_SKU]

    @property
    def oversold(self) -> list[str]:
        """SKUs this call took below zero (or further below)."""
        return sorted({move.code for move in self.moves if move.delta < 0 and move.stock_after < 0})

    @property
    def taken_off(self) -> dict[str, int]:
        """Units this call took off per stock SKU (negative: put back)."""
        result: dict[str, int] = defaultdict(int)
        for move in self.moves:
            result[move.code] -= move.delta
        return {code: units for code, units in sorted(result.items()) if units}

    def as_dict(self) -> dict:
        order = self.order
        return {
            "id": order.pk,
            "origin": order.origin,
            "external_id": order.external_id,
            "version": order.version,
            "status": order.status,
            "created": self.created,
            "stale": self.stale,
            "takes_stock": order.takes_stock,
            "reference": order.reference,
            "lines": [
                {
                    "code": line.code,
                    "quantity": line.quantity,
                    "taken": line.taken,
                    "restocked": line.restocked,
                    "problem": line.problem,
                }
                for line in order_lines(order)
            ],
            "taken_off": self.taken_off,
            "stock_changes": [
                {
                    "code": move.code,
                    "store": move.store_slug,
                    "delta": move.delta,
                    "stock_after": move.stock_after,
                    "source": move.source,
                }
                for move in self.moves
            ],
            "unknown_codes": self.unknown_codes,
            "problems": self.problems,
            "oversold": self.oversold,
            "note": " ".join(
                self.notes
                + (
                    []
                    if order.takes_stock
                    else [
                        "Recorded only: this store does not take stock off for orders "
                        "(store setting 'Take stock off as orders are imported')."
                    ]
                )
            ),
        }


def order_lines(order: Order) -> list[OrderLine]:
    lines = getattr(order, "_current_lines", None)
    if lines is None:
        lines = list(order.lines.all())
    return sorted(lines, key=lambda line: (line.position, line.code))


# --- the entry points ------------------------------------------------------------


def record_order(
    store: Store,
    *,
    origin: str,
    external_id: str,
    status: str = Order.OPEN,
    lines: Iterable[LineIn | Mapping] | None = None,
    version: int | None = None,
    user=None,
) -> OrderResult:
    """Record an order as sent now and bring its stock effect in line with it.

    The one entry point for every route (the API, cart pulls, scripts): a
    cart's order keeps the cart's integration slug as ``origin`` whichever way
    it arrives, so it is one order.  Call it once per order and not inside a
    transaction of your own (a batch in one transaction would hold many
    orders' locks at once and could deadlock with other importers).

    ``lines`` is the whole order: a SKU missing from a re-send is no longer
    ordered and its units go back; ``None`` keeps the stored lines (a status
    update).  The same SKU on several lines counts as one line with the sum.
    A line's ``quantity`` is what was ordered (not lowered by refunds); its
    optional ``restocked`` is the cart's running total of units put back by
    refunds.  ``version`` orders sends: larger is newer.

    Raises ``ValidationError`` (keyed by field) for malformed input only:
    unknown SKUs are recorded on their line and reported, never refused.
    """
    origin, external_id, status, wanted, version = _clean(origin, external_id, status, lines, version)
    # Which items each SKU takes stock from does not depend on the order, so it
    # is found before any lock is taken (and a new order needs no other read).
    names: dict[int, tuple[str, str]] = {}
    resolved = _resolve_wanted(store, wanted, names)
    with transaction.atomic():
        result = _record_new(store, origin, external_id, status, version, wanted, resolved, names, user)
        if result is not None:
            return result
        order = Order.objects.select_for_update().get(store=store, origin=origin, external_id=external_id)
        result = OrderResult(order)
        if version is not None and order.version is not None and version < order.version:
            result.stale = True
            result.notes.append(
                f"Version {version} is older than the stored version {order.version}: nothing changed."
            )
            return result
        if order.cancelled_at is not None:
            # Cancelled is final: what went back stays back, and nothing is taken again.
            if status != Order.CANCELLED:
                result.notes.append(
                    f"This order was cancelled on {order.cancelled_at:%Y-%m-%d %H:%M} UTC and stays cancelled: "
                    "its status and lines were not changed and no stock was taken. "
                    "Send a sale made after all as a new order (a new external id)."
                )
            if version is not None:
                order.version = version
                order.save(update_fields=["version", "updated_at"])
            return result
        plan = _Plan(store, order, list(order.lines.all()), resolved=resolved, names=names)
        _reconcile(plan, status, wanted)
        order.status = status
        if version is not None:
            order.version = version
        plan.apply(result, user=user)
    return result


def _reconcile(plan: _Plan, status: str, wanted) -> None:
    """Bring the plan's lines in line with the order as sent now."""
    plan.update_lines(wanted)
    if status == Order.CANCELLED:
        plan.record_quantities_only()
        plan.cancel()
    else:
        plan.take()
        plan.restock_as_sent(wanted)


def _record_new(store, origin, external_id, status, version, wanted, resolved, names, user) -> OrderResult | None:
    """Store the order as new and take its stock off; None when it exists already.

    The order and its lines go in with one insert that also serves as the
    lock: two sends of a new order race on the unique constraint, and the
    loser (on PostgreSQL it waits for the winner's commit) inserts nothing and
    goes on to reconcile against what the winner took.  No savepoint and no
    IntegrityError to recover from; on SQLite the write lock taken when the
    transaction starts already queues them.
    """
    now = timezone.now()
    order = Order(
        store=store, origin=origin, external_id=external_id, version=version, status=status,
        takes_stock=store.reduce_stock_on_order_import, oversold=False, created_at=now, updated_at=now,
    )
    plan = _Plan(store, order, [], created=True, resolved=resolved, names=names)
    _reconcile(plan, status, wanted)
    if not _insert_order(order, plan.new_lines):
        return None
    result = OrderResult(order, created=True)
    plan.apply(result, user=user)
    return result


def cancel(order: Order, *, user=None) -> OrderResult:
    """Cancel an order; with the store's ``restock_on_cancel``, put back what is still out."""
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("store").get(pk=order.pk)
        result = OrderResult(order)
        if order.cancelled_at is not None:
            return result
        plan = _Plan(order.store, order, list(order.lines.all()))
        plan.cancel()
        order.status = Order.CANCELLED
        plan.apply(result, user=user)
    return result


def refund(
    order: Order, units: Mapping[str, int] | None = None, *, restock: bool = True, user=None
) -> OrderResult:
    """Refund ``{code: units}`` (``None``: the whole order), putting the units back when ``restock``.

    At most what is still off stock goes back per line, so refunds and a later
    cancel together never return more than the order took.  A whole-order
    refund sets the status to refunded.
    """
    cleaned = None
    if units is not None:
        cleaned = {}
        for code, count in units.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValidationError({"units": [f"{code}: refunded units are a whole number ≥ 0."]})
            cleaned[str(code).strip()] = cleaned.get(str(code).strip(), 0) + count
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("store").get(pk=order.pk)
        result = OrderResult(order)
        plan = _Plan(order.store, order, list(order.lines.all()))
        if restock and order.takes_stock:
            for line in plan.lines.values():
                wanted = line.off_stock if cleaned is None else min(cleaned.get(line.code, 0), line.off_stock)
                plan.put_back(line, wanted, StockLedgerEntry.REFUND)
        unknown = sorted(set(cleaned or ()) - set(plan.lines))
        for code in unknown:
            result.problems[code] = "not a line of this order"
        if cleaned is None and order.status != Order.CANCELLED:
            order.status = Order.REFUNDED
        plan.apply(result, user=user)
    return result


# --- input -------------------------------------------------------------------------


def _clean(origin, external_id, status, lines, version):
    errors: dict[str, list[str]] = {}
    origin = str(origin or "").strip()
    external_id = str(external_id or "").strip()
    if not origin:
        errors["origin"] = ["Name where the order comes from (a cart's slug, or your client's name)."]
    elif len(origin) > ORIGIN_LENGTH or "\x00" in origin:
        errors["origin"] = [f"At most {ORIGIN_LENGTH} characters, without NUL characters."]
    if not external_id:
        errors["external_id"] = ["The order's id at its origin is required."]
    elif len(external_id) > EXTERNAL_ID_LENGTH or "\x00" in external_id:
        errors["external_id"] = [f"At most {EXTERNAL_ID_LENGTH} characters, without NUL characters."]
    if status not in STATUS_CODES:
        errors["status"] = [f"{status!r} is not one of {', '.join(sorted(STATUS_CODES))}."]
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                or not 0 <= version <= VERSION_LIMIT):
        errors["version"] = ["A version is a whole number ≥ 0 (larger is newer)."]
    wanted = None
    if lines is not None:
        wanted = {}
        line_errors = []
        for index, line in enumerate(lines):
            if isinstance(line, Mapping):
                line = LineIn(line.get("code"), line.get("quantity"), line.get("restocked"))
            code = str(line.code if line.code is not None else "").strip()
            problem = None
            if not code:
                problem = "a SKU is required"
            elif len(code) > CODE_LENGTH or "\x00" in code:
                problem = f"a SKU is at most {CODE_LENGTH} characters, without NUL characters"
            elif not _whole(line.quantity):
                problem = "quantity must be a whole number ≥ 0"
            elif line.restocked is not None and not _whole(line.restocked):
                problem = "restocked must be a whole number ≥ 0"
            if problem:
                line_errors.append(f"line {index + 1}: {problem}")
                continue
            quantity, restocked = wanted.get(code, (0, None))
            if line.restocked is not None:
                restocked = (restocked or 0) + line.restocked
            if quantity + line.quantity > QUANTITY_LIMIT:
                line_errors.append(f"line {index + 1}: {code} adds up to more than {QUANTITY_LIMIT} units")
                continue
            wanted[code] = (quantity + line.quantity, restocked)
        if line_errors:
            errors["lines"] = line_errors
    if errors:
        raise ValidationError(errors)
    return origin, external_id, status, wanted, version


def _resolve_wanted(store: Store, wanted, names: dict) -> dict[str, list[list[int]] | str]:
    """:func:`resolve_stock_items` for the SKUs sent with units (none for a status update)."""
    codes = [code for code, (quantity, _restocked) in (wanted or {}).items() if quantity > 0]
    return resolve_stock_items(store, codes, names=names) if codes else {}


def _whole(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and 0 <= value <= QUANTITY_LIMIT


# --- the order row -------------------------------------------------------------------


def _insert_order(order: Order, lines: list[OrderLine]) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING`` the order, then its lines; False if it exists.

    On PostgreSQL the order and its lines are one statement (a data-modifying
    ``WITH``): a new order costs one round trip here.  Sets ``order``'s key.
    """
    fields = (order.store_id, order.origin, order.external_id, order.version, order.status, order.takes_stock,
              order.oversold, order.cancelled_at, order.created_at, order.updated_at)
    params = [connection.ops.adapt_datetimefield_value(value) if isinstance(value, datetime) else value
              for value in fields]
    insert = (
        f"INSERT INTO {ORDER_TABLE} (store_id, origin, external_id, version, status, takes_stock, oversold, "
        f"cancelled_at, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        f"ON CONFLICT (store_id, origin, external_id) DO NOTHING RETURNING id"
    )
    with repeated_statement_cursor() as cursor:
        if connection.vendor == "postgresql" and lines:
            values, line_params = _line_values(lines, order_id="o.id")
            cursor.execute(
                f"WITH o AS ({insert}), lines AS (INSERT INTO {LINE_TABLE} {LINE_COLUMNS} "
                f"SELECT v.* FROM o CROSS JOIN LATERAL (VALUES {values}) AS v) SELECT id FROM o",
                [*params, *line_params],
            )
            row = cursor.fetchone()
        else:
            cursor.execute(insert, params)
            row = cursor.fetchone()
            if row is not None and lines:
                for line in lines:
                    line.order_id = row[0]
                _insert_lines(lines)
    if row is None:
        return False
    order.pk = row[0]
    order._state.adding = False
    order._state.db = connection.alias
    for line in lines:
        line.order_id = order.pk
    return True


# --- reconciling ----------------------------------------------------------------------


class _Plan:
    """The line changes and stock deltas of one call, applied together in :meth:`apply`."""

    def __init__(
        self,
        store: Store,
        order: Order,
        lines: list[OrderLine],
        *,
        created: bool = False,
        resolved: dict | None = None,
        names: dict | None = None,
    ):
        self.store = store
        # A new order: it and its lines are inserted before apply() (by _insert_order).
        self.created = created
        # SKU -> items (or the reason there are none), found before the order was locked.
        self.resolved = resolved or {}
        self.order = order
        self.lines: dict[str, OrderLine] = {line.code: line for line in lines}
        self.new_lines: list[OrderLine] = []
        self.changed: set[str] = set()
        self.deltas: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        # {item_id: (code, store slug)} of the items resolved here, to report moves without a query.
        self.names: dict[int, tuple[str, str]] = {} if names is None else names
        self.original = {name: getattr(order, name) for name in ORDER_STATE_FIELDS}

    def update_lines(self, wanted: dict[str, tuple[int, int | None]] | None) -> None:
        if wanted is None:
            return
        for code, line in self.lines.items():
            if code not in wanted and line.quantity != 0:
                line.quantity = 0
                self.changed.add(code)
        for position, (code, (quantity, _restocked)) in enumerate(wanted.items()):
            line = self.lines.get(code)
            if line is None:
                line = OrderLine(order=self.order, code=code, quantity=quantity, position=position)
                self.lines[code] = line
                self.new_lines.append(line)
                continue
            if (line.quantity, line.position) != (quantity, position):
                line.quantity, line.position = quantity, position
                self.changed.add(code)

    def record_quantities_only(self) -> None:
        """A line first seen on a cancelled order took nothing; say why not."""
        self._resolve([line for line in self.lines.values() if line.taken == 0 and line.quantity > 0])

    def take(self) -> None:
        """Move every line's ``taken`` to its target: the quantity, never below what went back."""
        needing_items = [
            line for line in self.lines.values() if line.taken == 0 and line.quantity > 0
        ]
        self._resolve(needing_items)
        if not self.order.takes_stock:
            return
        for line in self.lines.values():
            target = max(line.quantity, line.restocked)
            if target == line.taken or not line.stock_items:
                continue
            self._move(line, line.taken - target, StockLedgerEntry.ORDER)
            line.taken = target

    def restock_as_sent(self, wanted) -> None:
        """Apply the cart's running total of restocked units (it only ever grows)."""
        if wanted is None or not self.order.takes_stock:
            return
        for code, (_quantity, restocked) in wanted.items():
            line = self.lines[code]
            if restocked is None or restocked <= line.restocked:
                continue
            self.put_back(line, min(restocked, line.taken) - line.restocked, StockLedgerEntry.REFUND)

    def cancel(self) -> None:
        self.order.cancelled_at = timezone.now()
        if not (self.order.takes_stock and self.store.restock_on_cancel):
            return
        for line in self.lines.values():
            self.put_back(line, line.off_stock, StockLedgerEntry.CANCEL)

    def put_back(self, line: OrderLine, units: int, source: str) -> None:
        units = min(units, line.off_stock)
        if units <= 0:
            return
        self._move(line, units, source)
        line.restocked += units

    def _move(self, line: OrderLine, units: int, source: str) -> None:
        """Stock changes by ``units`` of this line (negative: taken off) on each item it uses."""
        for item_id, per_unit in line.stock_items:
            self.deltas[source][item_id] += units * per_unit
        self.changed.add(line.code)

    def _resolve(self, lines: list[OrderLine]) -> None:
        """Fix which items each line's units come from; lines that cannot say why."""
        if not lines:
            return
        missing = [line.code for line in lines if line.code not in self.resolved]
        if missing:
            self.resolved.update(resolve_stock_items(self.store, missing, names=self.names))
        for line in lines:
            resolved = self.resolved[line.code]
            if isinstance(resolved, str):
                line.stock_items, line.problem = [], resolved
            else:
                line.stock_items, line.problem = resolved, ""
            self.changed.add(line.code)

    def apply(self, result: OrderResult, *, user) -> None:
        order = self.order
        batches = [(source, deltas) for source, deltas in self.deltas.items() if any(deltas.values())]
        if len(batches) > 1:
            _lock_items(sorted({item_id for _, deltas in batches for item_id in deltas}))
        changes = []
        note = f"{order.origin} order {order.external_id}"
        for source, deltas in batches:
            for change in services.adjust_stock(
                dict(deltas), source=source, reference=order.reference, user=user, note=note
            ):
                changes.append((change, source))
        if changes:
            missing = {change.item_id for change, _ in changes} - set(self.names)
            if missing:
                self.names.update(
                    (item_id, (code, slug))
                    for item_id, code, slug in InventoryItem.objects.filter(pk__in=missing).values_list(
                        "id", "code", "store__slug"
                    )
                )
            result.moves = [
                StockMove(change.item_id, *self.names[change.item_id], change.delta, change.after, source)
                for change, source in changes
            ]
            if result.oversold:
                order.oversold = True
        if self.created:
            # The order and its lines went in with the insert that locked the order.
            if order.oversold:
                order.save(update_fields=["oversold", "updated_at"])
        else:
            self._save_lines()
        order._current_lines = list(self.lines.values())
        result.problems = {
            line.code: line.problem for line in self.lines.values() if line.problem and line.quantity > 0
        } | result.problems

    def _save_lines(self) -> None:
        order = self.order
        new_codes = {line.code for line in self.new_lines}
        existing = [
            line for code, line in self.lines.items() if code in self.changed and code not in new_codes
        ]
        if self.new_lines:
            _insert_lines(self.new_lines)
        if existing:
            OrderLine.objects.bulk_update(
                existing, ["quantity", "taken", "restocked", "stock_items", "problem", "position"]
            )
        dirty = [name for name, value in self.original.items() if getattr(order, name) != value]
        if dirty or self.changed or self.new_lines:
            order.save(update_fields=[*dirty, "updated_at"])


LINE_COLUMNS = "(order_id, code, quantity, taken, restocked, stock_items, problem, position)"


def _line_values(lines: list[OrderLine], order_id: str = "%s") -> tuple[str, list]:
    """A ``VALUES`` list of the lines and its parameters; ``order_id`` is SQL for the key."""
    stock_items = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    row = f"({order_id}, %s, CAST(%s AS INTEGER), CAST(%s AS INTEGER), CAST(%s AS INTEGER), {stock_items}, %s, " \
          f"CAST(%s AS INTEGER))"
    params = []
    for line in lines:
        if order_id == "%s":
            params.append(line.order_id)
        params += [line.code, line.quantity, line.taken, line.restocked, json.dumps(line.stock_items),
                   line.problem, line.position]
    return ", ".join([row] * len(lines)), params


def _insert_lines(lines: list[OrderLine]) -> None:
    """One multi-row ``INSERT`` for lines new to a stored order."""
    values, params = _line_values(lines)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {LINE_TABLE} {LINE_COLUMNS} VALUES {values}", params)


def _lock_items(item_ids: list[int]) -> None:
    """Lock every item one call changes, in key order, before its first write.

    A call that both takes off and puts back writes twice; locking all its rows
    up front keeps it from holding some while waiting for others (a deadlock
    with a caller locking the same rows in another grouping).
    """
    if connection.vendor != "postgresql" or not item_ids:
        return
    list(InventoryItem.objects.select_for_update().filter(pk__in=item_ids).order_by("pk").values_list("pk"))


@dataclass(frozen=True, slots=True)
class Holder:
    """The item whose stock moves for a SKU, and its ``code_replace`` ("" when none)."""

    item_id: int
    code: str
    store: Store
    code_replace: str


def source_chain(store: Store) -> list[Store]:
    """``store``, its ``inventory_source``, that store's source, and so on."""
    chain, seen = [], set()
    while store is not None and store.pk not in seen:  # loops are refused when saved
        chain.append(store)
        seen.add(store.pk)
        store = store.inventory_source
    return chain


def stock_holders(store: Store, codes: Iterable[str]) -> dict[str, Holder]:
    """:func:`inventory.selectors.stock_holders` with each holder's ``code_replace``, in one query.

    Same rule: of the stores in the source chain, the deepest that has the SKU
    holds its stock.  Orders resolve their lines here on every first send, so
    the whole chain and the metadata come back in one plain statement.
    """
    chain = source_chain(store)
    depth = {member.pk: index for index, member in enumerate(chain)}
    wanted = list(dict.fromkeys(codes))
    rows = []
    with repeated_statement_cursor() as cursor:
        for start in range(0, len(wanted), selectors.BULK_CHUNK):
            chunk = wanted[start : start + selectors.BULK_CHUNK]
            cursor.execute(
                f"SELECT i.id, i.code, i.store_id, m.value FROM {ITEM_TABLE} i "
                f"LEFT JOIN {METADATA_TABLE} m ON m.item_id = i.id AND m.key = %s "
                f"WHERE i.store_id IN ({', '.join(['%s'] * len(chain))}) AND i.archived_at IS NULL "
                f"AND i.code IN ({', '.join(['%s'] * len(chunk))})",
                ["code_replace", *depth, *chunk],
            )
            rows.extend(cursor.fetchall())
    rows.sort(key=lambda row: depth[row[2]])
    stores = {member.pk: member for member in chain}
    return {
        code: Holder(item_id, code, stores[store_id], value or "") for item_id, code, store_id, value in rows
    }


def resolve_stock_items(
    store: Store, codes: Iterable[str], *, names: dict | None = None
) -> dict[str, list[list[int]] | str]:
    """For each SKU ``store`` sells, the items one unit takes off: ``[[item_id, units], ...]``.

    The stock holder comes from the store's ``inventory_source`` chain (design
    §7); its ``code_replace``, read where the stock is held, sends the units to
    the components (``B,C,C``: one B and two C per unit).  A SKU that cannot be
    resolved maps to the reason, which is recorded on the order line.
    ``names``, if given, receives ``{item_id: (code, store slug)}`` of the items found.
    """
    wanted = list(dict.fromkeys(codes))
    holders = stock_holders(store, wanted)
    found_items = list(holders.values())
    result: dict[str, list[list[int]] | str] = {}
    components: dict[str, dict[str, int]] = {}
    component_codes: dict[int, set[str]] = defaultdict(set)
    for code in wanted:
        holder = holders.get(code)
        if holder is None:
            result[code] = UNKNOWN_SKU
        elif not holder.code_replace:
            result[code] = [[holder.item_id, 1]]
        else:
            try:
                components[code] = rules.parse_code_replace(holder.code_replace)
            except rules.MetadataError as exc:
                result[code] = f"code_replace cannot be read: {exc}"[:255]
                continue
            component_codes[holder.store.pk].update(components[code])
    component_holders = {}
    for code, units in components.items():
        holder_store = holders[code].store
        if holder_store.pk not in component_holders:
            component_holders[holder_store.pk] = stock_holders(
                holder_store, sorted(component_codes[holder_store.pk])
            )
            found_items.extend(component_holders[holder_store.pk].values())
        found = component_holders[holder_store.pk]
        missing = [sku for sku in units if sku not in found]
        if missing:
            result[code] = (
                f"code_replace names {', '.join(missing)}, which "
                f"{'is' if len(missing) == 1 else 'are'} not a SKU of {holder_store}"
            )[:255]
        else:
            result[code] = [[found[sku].item_id, count] for sku, count in units.items()]
    if names is not None:
        names.update((item.item_id, (item.code, item.store.slug)) for item in found_items)
    return result
