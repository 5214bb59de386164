"""The sync engine: pull counts in, push told quantities out, reconcile, webhooks.

Every entry point (admin buttons, the API, management commands, scheduled
tasks) calls these functions.  Three mechanisms keep it correct when several
workers and several machines run it:

* **a lease per integration** (a conditional ``UPDATE`` of ``lease_until``),
  so at most one run per integration happens at a time, and a run lost with a
  killed worker only blocks until the lease expires;
* **a dirty mark** (``push_pending``): stock changes set it, and only the
  change that flips it from false to true enqueues a push — a burst of 1,000
  changes makes one push run;
* **push state per item**: an item is pushed only when its told quantity
  differs from what the cart last *confirmed*, so every run is idempotent and
  the next run makes good whatever a lost one did not record.  An item the
  cart *refused* is held back while its told quantity is the one refused
  (see :func:`planned_lines`), so a second push with nothing changed makes no
  call for it either.

Carts that declare ``orders`` also have their orders pulled (:func:`pull_orders`),
through :func:`inventory.order_services.record_order` with the integration's
slug as the origin, so an order pulled here and the same order forwarded to the
API by a script count once.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from inventory import order_services, rules, selectors
from inventory import services as stock_services
from inventory.models import ItemMetadata, Store
from inventory.orders import Order
from inventory.sql import repeated_statement_cursor
from inventory.tasks import offload

from .adapters import get_adapter_class
from .adapters.base import AdapterError, AuthError, PushLine, RemoteOrder, TransientError, chunked
from .code_match import explain_old_code, parse_code_match
from .models import CartReturn, Integration, PushState, SyncRun

logger = logging.getLogger(__name__)

# A run holds its integration this long at most; a run lost with its worker
# blocks the next one only until then.
LEASE_SECONDS = getattr(settings, "INTEGRATION_LEASE_SECONDS", settings.Q_CLUSTER.get("timeout", 600) + 60)
# Changes arriving within this many seconds of the first one ride the same push.
COALESCE_SECONDS = 2.0
# Push state is recorded after each slice, so a killed worker loses at most one.
PUSH_SLICE = 2000
# Failures in a row before staff are mailed (credentials refused: at once).
FAILURES_BEFORE_MAIL = 3
DETAIL_LIMIT = 2000
# Order pulls ask for orders changed since the cursor less this: carts stamp
# changes to the second and may commit a change a moment after stamping it, so
# an order changed in the cursor's own second is read again (record_order makes
# reading an order twice harmless) rather than missed.
ORDERS_OVERLAP = timedelta(seconds=getattr(settings, "ORDER_PULL_OVERLAP_SECONDS", 5))


# --- adapters ------------------------------------------------------------------


def build_adapter(integration: Integration, client=None):
    cls = get_adapter_class(integration.kind)
    credentials = integration.credentials
    try:
        base_url = integration.service_address()
    except ValidationError as exc:
        raise AdapterError(" ".join(exc.message_dict["base_url"])) from None
    return cls(
        base_url=base_url,
        credentials=credentials,
        location_id=integration.location_id or None,
        options=integration.options,
        client=client,
    )


def check_credentials(kind: str, credentials: dict) -> dict:
    """The credentials to store for a ``kind`` of service; ValidationError if a key is missing
    or is one the service does not take.

    The one check every way in goes through (the admin's form; any writer to
    come). An unknown key is refused rather than kept: nothing would read it,
    and whatever was typed there (often a secret pasted on the wrong line)
    would sit in the database for no purpose.
    """
    cls = get_adapter_class(kind)
    cleaned = {str(key).strip(): str(value or "").strip() for key, value in credentials.items()}
    unknown = [key for key in cleaned if key not in cls.credential_fields]
    missing = [key for key in cls.credential_fields if not cleaned.get(key)]
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f"{cls.display_name} does not take {', '.join(unknown)}.")
        if missing:
            problems.append(f"{cls.display_name} needs: {', '.join(missing)}.")
        problems.append(f"{cls.display_name} takes: {', '.join(cls.credential_fields)}.")
        raise ValidationError(" ".join(problems), code="credentials")
    return cleaned


def cart_for(integration: Integration) -> rules.Cart:
    return rules.Cart(slug=integration.slug, supports_replaced_skus=integration.capabilities.replaced_skus)


def test_connection(integration: Integration) -> list:
    """Check the credentials; returns the locations a cart can write to."""
    locations = build_adapter(integration).test_connection()
    Integration.objects.filter(pk=integration.pk, status=Integration.FAILING).update(
        status=Integration.NEW, last_error=""
    )
    return locations


# --- exclusion -------------------------------------------------------------------


@contextmanager
def lease(integration: Integration):
    """Hold the integration's lease for the block; yields False if another run has it."""
    owner = uuid.uuid4().hex
    now = timezone.now()
    acquired = (
        Integration.objects.filter(pk=integration.pk)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + timedelta(seconds=LEASE_SECONDS), lease_owner=owner)
    ) == 1
    try:
        yield acquired
    finally:
        if acquired:
            Integration.objects.filter(pk=integration.pk, lease_owner=owner).update(
                lease_until=None, lease_owner=""
            )


# --- triggers ------------------------------------------------------------------


def request_push(store_ids: Iterable[int], trigger: str = "change") -> list[int]:
    """Mark for a push the syncing carts that show these stores' stock; enqueue one run
    per cart that was not marked yet.  Returns the ids of the carts enqueued.

    The carts are the stores' own and those of every store taking stock from them
    through ``inventory_source``, at any depth (design §7).  Finding and marking
    them is one statement, because it runs after every committed stock change;
    a cart already marked is left alone, so a burst of changes makes one run.
    """
    ids = sorted({int(store_id) for store_id in store_ids})
    if not ids:
        return []
    now = timezone.now()
    stores, integrations = Store._meta.db_table, Integration._meta.db_table
    with repeated_statement_cursor() as cursor:
        cursor.execute(
            f"UPDATE {integrations} SET push_pending = %s, push_pending_since = %s "
            f"WHERE NOT push_pending AND id IN ("
            f"  WITH RECURSIVE reach(id) AS (VALUES {', '.join(['(CAST(%s AS BIGINT))'] * len(ids))} "
            f"  UNION SELECT s.id FROM {stores} s JOIN reach r ON s.inventory_source_id = r.id) "
            f"  SELECT i.id FROM {integrations} i JOIN {stores} s ON s.id = i.store_id "
            f"  WHERE i.store_id IN (SELECT id FROM reach) AND i.role = %s AND i.inventory_sync "
            f"  AND NOT s.sync_paused"
            f") RETURNING id",
            [True, connection.ops.adapt_datetimefield_value(now), *ids, Integration.CART],
        )
        enqueued = sorted(row[0] for row in cursor.fetchall())
    for integration_id in enqueued:
        offload(
            "integrations.tasks.run_pending_push",
            integration_id,
            task_name=f"push-{integration_id}-{now.timestamp()}",
        )
    return enqueued


def run_pending_push(integration_id: int, *, sleep=time.sleep) -> SyncRun | None:
    """Push an integration marked by :func:`request_push`, once the burst has settled."""
    integration = Integration.objects.select_related("store").get(pk=integration_id)
    if not integration.push_pending:
        return None
    if integration.push_pending_since:
        waited = (timezone.now() - integration.push_pending_since).total_seconds()
        if waited < COALESCE_SECONDS:
            sleep(COALESCE_SECONDS - waited)
    runs = sync(integration, trigger="change", with_orders=False)
    return runs[-1] if runs else None


# --- the run -------------------------------------------------------------------


def sync(
    integration: Integration,
    *,
    trigger: str = "schedule",
    reconcile_due: bool | None = None,
    with_orders: bool | None = None,
) -> list[SyncRun]:
    """One scheduled or requested run: a pull for a fulfillment service; for a cart,
    its new orders (when it has them), then a reconcile when due, then a push.

    The schedule, the admin's "Sync now" and the API's sync all come here.
    Pushes requested by stock changes skip the order pull (``with_orders``
    defaults to False for ``trigger="change"``): they only send what changed.
    """
    integration.refresh_from_db()
    store = integration.store
    if store.sync_paused or not integration.inventory_sync:
        return []
    if with_orders is None:
        with_orders = trigger != "change"
    with lease(integration) as acquired:
        if not acquired:
            return []  # the run in progress will see the pending mark when it ends
        runs = []
        # Orders come first: the stock they take off is then already in the counts
        # the reconcile compares and the push sends in this same run. Pushed the
        # other way round, the cart would be sent counts that still include units
        # it has sold, and a second push would have to follow to correct them.
        # (Fulfillment services have no orders here: their counts are absolute
        # and already reflect what they shipped.)
        if with_orders and orders_enabled(integration):
            runs.append(_pull_orders(integration, trigger=trigger))
        if integration.role == Integration.FULFILLMENT:
            runs.append(pull(integration, trigger=trigger))
        else:
            Integration.objects.filter(pk=integration.pk).update(push_pending=False, push_pending_since=None)
            if reconcile_due is None:
                reconcile_due = _reconcile_due(integration)
            if reconcile_due and integration.first_push_confirmed:
                runs.append(reconcile(integration, trigger=trigger))
            runs.append(push(integration, trigger=trigger))
    # Changes that arrived while we held the lease were marked, not run: run them now.
    if Integration.objects.filter(pk=integration.pk, push_pending=True).exists():
        offload("integrations.tasks.run_pending_push", integration.pk)
    return runs


def _reconcile_due(integration: Integration) -> bool:
    if not integration.reconcile_hours or not integration.capabilities.push:
        return False
    last = integration.last_reconcile_at
    return last is None or timezone.now() - last >= timedelta(hours=integration.reconcile_hours)


def _start(integration: Integration, kind: str, trigger: str) -> SyncRun:
    return SyncRun.objects.create(integration=integration, kind=kind, trigger=trigger)


def _finish(run: SyncRun, *, status=None, message="", failed: AdapterError | None = None) -> SyncRun:
    run.finished_at = timezone.now()
    if failed is not None:
        run.status = SyncRun.FAILED
        run.message = str(failed)
    else:
        run.status = status or (SyncRun.PARTIAL if run.item_errors else SyncRun.OK)
        run.message = message
    run.save()
    _record_health(run, failed)
    return run


def _record_health(run: SyncRun, failed: AdapterError | None) -> None:
    integration = run.integration
    timestamp_field = {
        SyncRun.PULL: "last_pull_at",
        SyncRun.PUSH: "last_push_at",
        SyncRun.RECONCILE: "last_reconcile_at",
        SyncRun.ORDERS: "last_orders_at",
    }.get(run.kind)
    updates = {}
    if failed is None:
        if timestamp_field:
            updates[timestamp_field] = run.finished_at
        if not _another_kind_failing(run):
            updates.update(consecutive_failures=0, last_error="")
            if run.kind != SyncRun.PREVIEW:
                updates["status"] = Integration.OK
        Integration.objects.filter(pk=integration.pk).update(**updates)
        if "consecutive_failures" in updates:
            _sync_trouble_resolved(integration)
        return
    failures = integration.consecutive_failures + 1
    Integration.objects.filter(pk=integration.pk).update(
        status=Integration.FAILING, last_error=str(failed)[:2000], consecutive_failures=failures
    )
    logger.warning("%s %s failed: %s", integration, run.kind, failed)
    if isinstance(failed, AuthError) or failures >= FAILURES_BEFORE_MAIL:
        _sync_trouble(integration, failed, failures)


def _health_kinds(integration: Integration) -> set[str]:
    """The kinds of run that make up this integration's health as it is set up now."""
    if integration.role == Integration.FULFILLMENT:
        kinds = {SyncRun.PULL}
    else:
        kinds = {SyncRun.PUSH, SyncRun.RECONCILE}
        if orders_enabled(integration):
            kinds.add(SyncRun.ORDERS)
    return kinds


def _another_kind_failing(run: SyncRun) -> bool:
    """Whether the latest run of another kind this integration runs failed.

    One kind's success must not hide another's trouble: a cart whose pushes
    land while every order pull fails is failing, and its failures keep
    counting towards the sync-trouble mail until an order pull succeeds.
    """
    for kind in sorted(_health_kinds(run.integration) - {run.kind}):
        latest = (
            SyncRun.objects.filter(integration_id=run.integration_id, kind=kind, finished_at__isnull=False)
            .order_by("-started_at", "-id")
            .values_list("status", flat=True)
            .first()
        )
        if latest == SyncRun.FAILED:
            return True
    return False


def _sync_trouble(integration, failed, failures):
    try:
        from inventory.mail import notify_sync_trouble
    except ImportError:  # mail is optional for the engine
        return
    kind = "credentials" if isinstance(failed, AuthError) else "failing"
    notify_sync_trouble(
        integration.store,
        integration.name,
        f"integration-{integration.pk}-{kind}",
        f"{integration.name} has failed {failures} time(s) in a row: {failed}",
    )


def _sync_trouble_resolved(integration):
    try:
        from inventory.mail import resolve_sync_trouble
    except ImportError:
        return
    for kind in ("credentials", "failing"):
        resolve_sync_trouble(integration.store, f"integration-{integration.pk}-{kind}")


def _item_error(run: SyncRun, sku: str, message: str) -> None:
    if len(run.item_errors) < DETAIL_LIMIT:
        run.item_errors.append({"sku": sku, "error": message})
    run.counts["item_errors"] = run.counts.get("item_errors", 0) + 1


# --- orders --------------------------------------------------------------------


def orders_enabled(integration: Integration) -> bool:
    """Whether this integration's orders are pulled: a syncing cart whose adapter
    lists orders, of a store that takes orders off stock and is not paused."""
    store = integration.store
    return bool(
        integration.role == Integration.CART
        and integration.inventory_sync
        and integration.capabilities.orders
        and store.reduce_stock_on_order_import
        and not store.sync_paused
    )


def pull_orders(integration: Integration, *, trigger: str = "manual") -> SyncRun | None:
    """Record the cart's orders changed since the last pull; None when it does not apply or is busy.

    Takes the integration's lease like every other run (a :func:`sync` holding
    it runs the order pull itself). See :func:`_pull_orders` for the cursor.
    """
    integration.refresh_from_db()
    if not orders_enabled(integration):
        return None
    with lease(integration) as acquired:
        if not acquired:
            return None
        return _pull_orders(integration, trigger=trigger)


def _pull_orders(integration: Integration, *, trigger: str) -> SyncRun:
    """Pull orders page by page, recording each order with :func:`record_order`.

    The cursor (``Integration.orders_cursor``) is the newest change time the
    cart reported among orders already recorded; it moves only after a whole
    page is recorded, so a run that dies mid-way resumes at its last recorded
    page. Each run asks from the cursor less :data:`ORDERS_OVERLAP`.

    The very first pull has no cursor and starts from *now*: it records no
    orders and never replays the cart's history onto today's stock, which
    already reflects those orders (only orders changed in the overlap, the few
    seconds before, are read on the next pull). The cursor is cleared again when the cart's
    inventory sync or the store's ``reduce_stock_on_order_import`` is turned
    off (``integrations.signals``), so turning them back on also starts from
    then. A pause of the store keeps the cursor: orders placed while paused are
    taken off when syncing resumes.
    """
    run = _start(integration, SyncRun.ORDERS, trigger)
    run.counts = dict.fromkeys(
        ("seen", "new", "updated", "unchanged", "stale", "returns", "unknown_skus", "units_out", "units_back"), 0
    )
    cursor = integration.orders_cursor
    if cursor is None:
        Integration.objects.filter(pk=integration.pk).update(orders_cursor=timezone.now())
        return _finish(
            run,
            message="First order pull: orders changed from now on are taken off stock; earlier ones are not "
            "replayed (the stock counted today already reflects them).",
        )
    try:
        adapter = build_adapter(integration)
        for page in adapter.fetch_orders(cursor - ORDERS_OVERLAP):
            _record_orders(integration, page, run)
            newest = max((order.updated_at for order in page), default=None)
            if newest is not None and newest > cursor:
                cursor = newest
                Integration.objects.filter(pk=integration.pk).update(orders_cursor=cursor)
            run.save(update_fields=["counts", "item_errors", "details"])
    except AdapterError as exc:
        return _finish(run, failed=exc)
    except Exception as exc:  # a bug or the database: the run says so, the cursor stays at the last page
        _finish(run, failed=AdapterError(f"order pull stopped: {type(exc).__name__}: {exc}"[:500]))
        raise
    return _finish(run)


def _record_orders(integration: Integration, page: list[RemoteOrder], run: SyncRun) -> None:
    """Record one page of a cart's orders, each in its own :func:`record_order` call."""
    store, origin, counts = integration.store, integration.slug, run.counts
    # Returns first (they live on their own return orders at Square), so the
    # sales below are sent with every return seen so far.
    sources: set[str] = set()
    for order in page:
        for ret in order.returns:
            units: dict[str, int] = {}
            for line in ret.lines:
                units[line.sku] = units.get(line.sku, 0) + line.quantity
            CartReturn.objects.update_or_create(
                integration=integration,
                external_id=f"{order.external_id}:{ret.source_id}",
                defaults={"source_id": ret.source_id, "units": units, "version": order.version},
            )
            sources.add(ret.source_id)
            counts["returns"] += 1
    sales = [order for order in page if order.lines or not order.returns]
    returned = _returned_units(integration, {order.external_id for order in sales} | sources)
    ids = [order.external_id for order in sales]
    stored = dict(
        Order.objects.filter(store=store, origin=origin, external_id__in=ids).values_list("external_id", "version")
    )
    for order in sales:
        counts["seen"] += 1
        for problem in order.problems:
            _item_error(run, "", f"order {order.external_id}: {problem}")
        lines = _order_lines(order, returned.get(order.external_id, {}))
        result = _record(run, store, origin, order.external_id, order.status, order.version, lines)
        if result is None:
            continue
        if result.created:
            counts["new"] += 1
        elif result.stale:
            counts["stale"] += 1
        elif stored.get(order.external_id) == order.version and not result.moves:
            counts["unchanged"] += 1
        else:
            counts["updated"] += 1
        _note_result(run, result, order.cart_status)
    # A return whose sale was not on this page: resend the sale as recorded, with the returns.
    for source_id in sorted(sources - set(ids)):
        recorded = Order.objects.filter(store=store, origin=origin, external_id=source_id).first()
        if recorded is None:
            if len(run.details) < DETAIL_LIMIT:
                run.details.append({"order": source_id, "note": "a return of an order pulled before the first pull"})
            continue
        units = returned.get(source_id, {})
        lines = [
            order_services.LineIn(line.code, line.quantity, units.get(line.code, 0)) for line in recorded.lines.all()
        ]
        result = _record(run, store, origin, source_id, recorded.status, recorded.version, lines)
        if result is not None:
            _note_result(run, result, "return")


def _returned_units(integration: Integration, source_ids: set[str]) -> dict[str, dict[str, int]]:
    """{sale order id: {SKU: units returned}} over every return stored for those sales."""
    out: dict[str, dict[str, int]] = {}
    if not source_ids:
        return out
    for source_id, units in CartReturn.objects.filter(
        integration=integration, source_id__in=source_ids
    ).values_list("source_id", "units"):
        totals = out.setdefault(source_id, {})
        for sku, count in (units or {}).items():
            totals[sku] = totals.get(sku, 0) + int(count)
    return out


def _order_lines(order: RemoteOrder, returned: dict[str, int]) -> list[order_services.LineIn]:
    """The order's lines per SKU; an order the cart holds no stock for is sent with 0 units."""
    merged: dict[str, list[int]] = {}
    for line in order.lines:
        quantity, restocked = merged.setdefault(line.sku, [0, 0])
        merged[line.sku] = [quantity + line.quantity, restocked + line.restocked]
    return [
        order_services.LineIn(sku, quantity if order.takes_stock else 0, max(restocked, returned.get(sku, 0)))
        for sku, (quantity, restocked) in merged.items()
    ]


def _record(run, store, origin, external_id, status, version, lines):
    try:
        return order_services.record_order(
            store, origin=origin, external_id=external_id, status=status, version=version, lines=lines
        )
    except ValidationError as exc:
        _item_error(run, "", f"order {external_id}: {'; '.join(exc.messages)}")
        return None


def _note_result(run: SyncRun, result, cart_status: str) -> None:
    counts = run.counts
    for code in result.unknown_codes:
        counts["unknown_skus"] += 1
        _item_error(run, code, f"order {result.order.external_id}: unknown SKU (not taken off)")
    for units in result.taken_off.values():
        if units > 0:
            counts["units_out"] += units
        else:
            counts["units_back"] -= units
    if result.moves and len(run.details) < DETAIL_LIMIT:
        run.details.append(
            {
                "order": result.order.external_id,
                "status": result.order.status,
                "cart_status": cart_status,
                "taken_off": result.taken_off,
            }
        )


# --- pull ----------------------------------------------------------------------


def pull(integration: Integration, *, trigger: str = "manual") -> SyncRun:
    """Fetch every count from a fulfillment service and apply them as absolute sets."""
    run = _start(integration, SyncRun.PULL, trigger)
    counts = dict.fromkeys(("received", "changed", "unchanged", "unknown", "skipped", "no_count"), 0)
    run.counts = counts
    try:
        levels = list(build_adapter(integration).fetch_levels())
    except AdapterError as exc:
        return _finish(run, failed=exc)
    store = integration.store
    existing = selectors.codes_with_stock(store)
    protected = _skip_pull_items(store, integration.slug)
    targets: dict[int, int] = {}
    seen: dict[str, int] = {}
    for level in levels:
        counts["received"] += 1
        sku = (level.sku or "").strip()
        if not sku:
            _item_error(run, "", "The service sent a count with no SKU.")
            continue
        if level.quantity is None:
            counts["no_count"] += 1
            continue
        if sku in seen:
            _item_error(
                run, sku, f"The service sent {sku} twice ({seen[sku]} and {level.quantity}); left unchanged."
            )
            found = existing.get(sku)
            if found:
                targets.pop(found[0], None)
            continue
        seen[sku] = level.quantity
        found = existing.get(sku)
        if found is None:
            counts["unknown"] += 1
            if len(run.details) < DETAIL_LIMIT:
                run.details.append({"sku": sku, "quantity": level.quantity, "note": "not in this store"})
            continue
        item_id, stock = found
        if item_id in protected:
            counts["skipped"] += 1
            if len(run.details) < DETAIL_LIMIT:
                run.details.append(
                    {"sku": sku, "quantity": level.quantity, "note": "skip_pull: left unchanged"}
                )
            continue
        if stock == level.quantity:
            counts["unchanged"] += 1
        else:
            targets[item_id] = level.quantity
    with transaction.atomic():
        run.save()
        changes = stock_services.set_stock(
            targets, source="pull", reference=run.reference, update_source=f"pull:{integration.slug}"
        )
    counts["changed"] = len(changes)
    return _finish(run)


def _skip_pull_items(store: Store, integration_slug: str) -> set[int]:
    """Items whose effective skip_pull (plain, or @this-integration) is on."""
    rows = ItemMetadata.objects.filter(item__store=store, key__startswith="skip_pull").values_list(
        "item_id", "key", "value"
    )
    by_item: dict[int, dict[str, str]] = {}
    for item_id, key, value in rows:
        by_item.setdefault(item_id, {})[key] = value
    protected = set()
    for item_id, metadata in by_item.items():
        value = rules.effective_metadata(metadata, integration_slug).get("skip_pull", "")
        try:
            if rules.parse_bool(value):
                protected.add(item_id)
        except rules.MetadataError:
            continue
    return protected


# --- push ----------------------------------------------------------------------


# What a push reads of each item's push state, as a plain tuple in this order: a named
# tuple per item measured 0.16 s more per 100,000-item push (it stays tracked by the
# garbage collector), so the loops below unpack it into names instead.
SEEN_COLUMNS = ("remote_id", "last_confirmed", "needs_reconcile", "last_error", "refused_quantity")
_LAST_ERROR = SEEN_COLUMNS.index("last_error")


class PushPlan(NamedTuple):
    """What a push would do now (:func:`planned_lines`)."""

    lines: list[PushLine]
    not_sent: list[tuple]
    by_sku: dict[str, int]
    settled_with_error: list[int]


def planned_lines(integration: Integration, *, everything: bool = False) -> PushPlan:
    """What a push would send now; reads only.

    ``lines`` are PushLines of items whose told quantity differs from what the
    cart last confirmed.  ``not_sent`` are (item_id, code, told, seen) of items
    left out: those told nothing (``told.quantity`` is None) and those *held
    back* (:func:`is_held_back`): the cart refused this very quantity and
    nothing has changed since, so sending it again would only be refused
    again — on every push, forever.  ``settled_with_error`` are items the cart
    already holds right that still carry an error from an earlier run (the
    cause fixed since): no push will send them, so :func:`push` clears it.
    ``everything`` sends every told item.
    """
    rows, told = selectors.told_for_store(integration.store, cart_for(integration))
    # A plain query: a store's push states are read whole on every push.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT item_id, {', '.join(SEEN_COLUMNS)} FROM {PushState._meta.db_table} WHERE integration_id = %s",
            [integration.pk],
        )
        states = {row[0]: row[1:] for row in cursor.fetchall()}
    lines, not_sent, by_sku, settled_with_error = [], [], {}, []
    for item_id, code, _stock in rows:
        result = told[item_id]
        seen = states.get(item_id)
        if result.quantity is None:
            not_sent.append((item_id, code, result, seen))
            continue
        # Unpacked into names once: this loop runs for every item of the store on every push.
        remote_id, last_confirmed, needs_reconcile, last_error, refused = seen or ("", None, False, "", None)
        if seen is not None and not everything:
            if remote_id and last_confirmed == result.quantity and not needs_reconcile:
                if last_error and refused is None:
                    settled_with_error.append(item_id)
                continue
            if is_held_back(result.quantity, seen):
                not_sent.append((item_id, code, result, seen))
                continue
        lines.append(
            PushLine(sku=code, quantity=result.quantity, remote_id=remote_id or None, last_confirmed=last_confirmed)
        )
        by_sku[code] = item_id
    return PushPlan(lines, not_sent, by_sku, settled_with_error)


def is_held_back(quantity: int, seen: tuple | None) -> bool:
    """Whether an item told ``quantity`` is left out of pushes because the cart refused it.

    Held back: the cart's last answer for the item was a refusal (not a 429,
    5xx or timeout) of this same quantity, its error is still on record, and
    no webhook has marked the item since.
    What releases it is a change: of the told quantity; of the cart, seen by a
    reconcile or a webhook; of the item's SKU or of the integration's
    connection (both clear the refusal).  ``seen`` is a push state as
    :data:`SEEN_COLUMNS` lists.
    """
    if seen is None:
        return False
    _remote_id, _last_confirmed, needs_reconcile, last_error, refused = seen
    return refused == quantity and bool(last_error) and not needs_reconcile


def _clear_settled_errors(integration: Integration, item_ids: list[int]) -> None:
    for start in range(0, len(item_ids), 10_000):
        PushState.objects.filter(integration=integration, item_id__in=item_ids[start : start + 10_000]).update(
            last_error="", error_at=None
        )


def push(integration: Integration, *, trigger: str = "manual") -> SyncRun:
    """Send every item whose told quantity the cart has not confirmed yet
    (except those it refused at that quantity: :func:`is_held_back`)."""
    lines, not_sent, by_sku, settled_with_error = planned_lines(integration)
    _clear_settled_errors(integration, settled_with_error)
    if not integration.first_push_confirmed:
        return _preview(integration, trigger, lines, not_sent)
    run = _start(integration, SyncRun.PUSH, trigger)
    untold, held = _split_not_sent(not_sent)
    run.counts = {
        "planned": len(lines), "confirmed": 0, "failed": 0, "not_sent": len(untold), "still_failing": len(held),
        "drift": 0,
    }
    _record_not_sent(integration, not_sent, run)
    if not lines:
        return _finish(run)
    try:
        adapter = build_adapter(integration)
        for part in chunked(lines, PUSH_SLICE):
            part = _with_remote_ids(adapter, integration, part, by_sku, run)
            if not part:
                continue
            results = adapter.push(part)
            _record_results(integration, results, by_sku, {line.sku: line.quantity for line in part}, run)
            run.save(update_fields=["counts", "item_errors", "details"])
    except AdapterError as exc:
        return _finish(run, failed=exc)
    return _finish(run)


def _preview(integration, trigger, lines, not_sent) -> SyncRun:
    """Show the first push without sending it.

    The cart is still asked who we are (its locations), so wrong credentials
    or a wrong address show up now, not only after staff confirm the push.
    """
    run = _start(integration, SyncRun.PREVIEW, trigger)
    untold, held = _split_not_sent(not_sent)
    run.counts = {"would_send": len(lines), "not_sent": len(untold), "still_failing": len(held)}
    run.details = [
        {"sku": line.sku, "quantity": line.quantity, "cart_had": line.last_confirmed}
        for line in lines[:DETAIL_LIMIT]
    ]
    try:
        build_adapter(integration).test_connection()
    except AdapterError as exc:
        return _finish(run, failed=exc)
    Integration.objects.filter(pk=integration.pk).update(status=Integration.PREVIEW)
    return _finish(run, status=SyncRun.OK, message="First push not sent: confirm it in the admin to send.")


def confirm_first_push(integration: Integration, *, trigger: str = "manual") -> list[SyncRun]:
    Integration.objects.filter(pk=integration.pk).update(first_push_confirmed=True, status=Integration.NEW)
    integration.refresh_from_db()
    return sync(integration, trigger=trigger, reconcile_due=False)


def _with_remote_ids(adapter, integration, lines, by_sku, run):
    """Fill in the cart's id for lines that lack one (cached in push state).

    A SKU the cart does not have is a refusal of the item (held back until
    something changes); a lookup that failed for a passing reason is not.
    """
    missing = [line.sku for line in lines if not line.remote_id]
    if not missing:
        return lines
    found = adapter.lookup(missing)
    now = timezone.now()
    mapped, failures, ready = [], [], []
    for line in lines:
        if line.remote_id:
            ready.append(line)
            continue
        remote = found.get(line.sku)
        item_id = by_sku[line.sku]
        if remote is None or isinstance(remote, AdapterError):
            reason = str(remote) if remote is not None else f"{line.sku} is not in the cart."
            _item_error(run, line.sku, reason)
            run.counts["failed"] += 1
            transient = isinstance(remote, (TransientError, AuthError))
            failures.append(_failed_state(integration, item_id, reason, now, line.quantity, transient))
            continue
        mapped.append(StateRow(integration.pk, item_id, remote_id=str(remote)))
        ready.append(PushLine(line.sku, line.quantity, str(remote), line.last_confirmed))
    _upsert_states(mapped, ["remote_id", "last_error", "error_at", "refused_quantity"])
    _record_failures(failures, ["remote_id"])
    return ready


def _failed_state(integration, item_id, error, at, quantity, transient, remote_id="") -> StateRow:
    """The push state of an item that failed: a refusal records the quantity refused."""
    return StateRow(
        integration.pk,
        item_id,
        remote_id=remote_id,
        last_error=error,
        error_at=at,
        refused_quantity=None if transient else quantity,
    )


def _record_failures(states: list[StateRow], also: list[str]) -> None:
    """Record failed items: the error and the refused quantity (None after a transient failure).

    A refusal also consumes the item's reconcile mark: the mark asked for the
    item to be sent again, and it was; left set, it would release the hold on
    every push. A transient failure keeps the mark for the next push.
    """
    fields = [*also, "last_error", "error_at", "refused_quantity"]
    _upsert_states([s for s in states if s.refused_quantity is not None], [*fields, "needs_reconcile"])
    _upsert_states([s for s in states if s.refused_quantity is None], fields)


def _split_not_sent(not_sent) -> tuple[list, list]:
    """(told nothing, held back) of :func:`planned_lines`' ``not_sent``."""
    untold = [entry for entry in not_sent if entry[2].quantity is None]
    held = [entry for entry in not_sent if entry[2].quantity is not None]
    return untold, held


def release_refused(integration: Integration) -> int:
    """Send again, at the next push, every item the cart refused; returns how many.

    Called when what made the cart refuse may have changed without the hub
    seeing it: a reconcile (scheduled, or "Reconcile now" after fixing the
    cart) and a change of the integration's connection settings.
    """
    return PushState.objects.filter(integration=integration, refused_quantity__isnull=False).update(
        refused_quantity=None
    )


def _record_results(integration, results, by_sku, sent, run):
    now = timezone.now()
    states, failures = [], []
    for result in results:
        item_id = by_sku[result.sku]
        if result.drift is not None:
            run.counts["drift"] += 1
            if len(run.details) < DETAIL_LIMIT:
                run.details.append(
                    {"sku": result.sku, "note": f"the cart held {result.drift}, not what we last sent"}
                )
        if result.ok:
            run.counts["confirmed"] += 1
            states.append(
                StateRow(
                    integration.pk,
                    item_id,
                    remote_id=result.remote_id or "",
                    last_confirmed=result.confirmed if result.confirmed is not None else sent[result.sku],
                    confirmed_at=now,
                    last_error="",
                    needs_reconcile=False,
                )
            )
        else:
            run.counts["failed"] += 1
            _item_error(run, result.sku, result.error or "The cart did not confirm this item.")
            failures.append(
                _failed_state(
                    integration,
                    item_id,
                    result.error or "not confirmed",
                    now,
                    sent[result.sku],
                    result.transient,
                    remote_id=result.remote_id or "",
                )
            )
    _upsert_states(
        states,
        ["remote_id", "last_confirmed", "confirmed_at", "last_error", "needs_reconcile", "refused_quantity"],
    )
    _record_failures(failures, [])


def _record_not_sent(integration, not_sent, run):
    """Items not sent because of a data problem get the error on their push state;
    items held back after a refusal are listed again with the cart's reason, so
    every run still shows them failing."""
    now = timezone.now()
    states = []
    for item_id, code, told, seen in not_sent:
        if told.quantity is not None:
            _item_error(
                run,
                code,
                f"{seen[_LAST_ERROR]} (the cart refused {told.quantity}: sent again when that changes "
                f"or at the next reconcile)",
            )
        elif told.error:
            _item_error(run, code, told.error)
            if seen is None or seen[_LAST_ERROR] != told.error:
                states.append(StateRow(integration.pk, item_id, last_error=told.error, error_at=now))
    _upsert_states(states, ["last_error", "error_at", "refused_quantity"])


PUSH_STATE_COLUMNS = (
    "remote_id", "last_confirmed", "confirmed_at", "last_error", "error_at", "needs_reconcile", "refused_quantity",
)


class StateRow(NamedTuple):
    """A push state to write with :func:`_upsert_states`: the model's columns and defaults,
    without a model instance (a push records thousands, and building instances cost more
    than writing them)."""

    integration_id: int
    item_id: int
    remote_id: str = ""
    last_confirmed: int | None = None
    confirmed_at: datetime | None = None
    last_error: str = ""
    error_at: datetime | None = None
    needs_reconcile: bool = False
    refused_quantity: int | None = None


def _upsert_states(states: list[StateRow], fields: list[str]) -> None:
    """Insert these push states, or set ``fields`` on those that exist: one
    ``INSERT … ON CONFLICT DO UPDATE`` per chunk, in one transaction.

    A push records thousands of confirmations; Django's ``bulk_create`` spends
    more time preparing the objects than the database spends writing them.
    """
    if not states:
        return
    table = PushState._meta.db_table
    columns = ("integration_id", "item_id", *PUSH_STATE_COLUMNS)
    adapt = connection.ops.adapt_datetimefield_value
    rows = [
        (
            state.integration_id, state.item_id, state.remote_id, state.last_confirmed,
            adapt(state.confirmed_at), state.last_error, adapt(state.error_at), state.needs_reconcile,
            state.refused_quantity,
        )
        for state in states
    ]
    per_statement = max(1, min(1000, (connection.features.max_query_params or 32766) // len(columns)))
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    updates = ", ".join(f"{field} = excluded.{field}" for field in fields)
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row_sql] * len(chunk))} "
                f"ON CONFLICT (integration_id, item_id) DO UPDATE SET {updates}",
                [value for row in chunk for value in row],
            )


# --- reconcile -----------------------------------------------------------------


def reconcile(integration: Integration, *, trigger: str = "manual") -> SyncRun:
    """Read what the cart holds for every mapped item; where it differs from what
    we last confirmed, forget the confirmation so the next push corrects it.

    The items the cart refused are sent again by the next push too
    (:func:`release_refused`): the cart may have changed in ways the hub
    cannot see (the missing SKU added, a cap raised), and a reconcile is the
    hub's periodic look at the cart — so a refused item is tried once per
    reconcile, not on every push.
    """
    run = _start(integration, SyncRun.RECONCILE, trigger)
    states = list(
        PushState.objects.filter(integration=integration).exclude(remote_id="").select_related("item")
    )
    run.counts = {"checked": len(states), "corrected": 0, "to_retry": 0}
    try:
        adapter = build_adapter(integration)
        held = {}
        for part in chunked(states, PUSH_SLICE):
            held.update(
                adapter.read_levels(
                    [
                        PushLine(s.item.code, s.last_confirmed or 0, s.remote_id, s.last_confirmed)
                        for s in part
                    ]
                )
            )
    except AdapterError as exc:
        return _finish(run, failed=exc)
    corrected = []
    for state in states:
        actual = held.get(state.item.code)
        if actual != state.last_confirmed:
            run.counts["corrected"] += 1
            if len(run.details) < DETAIL_LIMIT:
                run.details.append(
                    {"sku": state.item.code, "we_confirmed": state.last_confirmed, "cart_held": actual}
                )
            state.last_confirmed = actual
            state.needs_reconcile = True
            corrected.append(state)
    PushState.objects.bulk_update(corrected, ["last_confirmed", "needs_reconcile"], batch_size=1000)
    run.counts["to_retry"] = release_refused(integration)
    return _finish(run)


# --- webhooks ------------------------------------------------------------------


class WebhookRejected(Exception):
    pass


def handle_webhook(integration: Integration, headers, body: bytes) -> dict:
    """Verify and act on a cart's inventory webhook.

    An echo of our own push (the cart reports what it last confirmed to us)
    causes nothing; anything else marks the item for reconcile and asks for a
    push, because the hub is the source of truth for carts.
    """
    adapter = build_adapter(integration)
    secret = integration.webhook_secret
    if not secret or not adapter.verify_webhook(headers, body, secret):
        raise WebhookRejected("signature does not verify")
    changes = adapter.parse_webhook(headers, body)
    states = PushState.objects.filter(integration=integration).select_related("item")
    by_remote = {s.remote_id: s for s in states if s.remote_id}
    by_sku = {s.item.code: s for s in states}
    echoes, marked = 0, []
    for change in changes:
        state = by_remote.get(change.remote_id or "") or by_sku.get(change.sku or "")
        if state is None:
            continue
        if change.quantity is not None and change.quantity == state.last_confirmed:
            echoes += 1
            continue
        state.needs_reconcile = True
        if change.quantity is not None:
            state.last_confirmed = change.quantity
        marked.append(state)
    if marked:
        PushState.objects.bulk_update(marked, ["needs_reconcile", "last_confirmed"])
        request_push([integration.store_id], trigger="webhook")
    return {"changes": len(changes), "echoes": echoes, "marked": len(marked)}


# --- explanation -----------------------------------------------------------------


def code_match_notes(store: Store, code: str) -> list[str]:
    """Explanation lines for an item named as OLD in a product code match."""
    notes = []
    for integration in Integration.objects.filter(store=store, role=Integration.FULFILLMENT).exclude(
        product_code_match=""
    ):
        for match in parse_code_match(integration.product_code_match):
            if match.old == code:
                notes.append(explain_old_code(match, integration.name))
    return notes


# --- product import ------------------------------------------------------------


def product_import_warning(integration: Integration) -> str | None:
    """Why importing stock from this cart deserves a second thought (design §6).

    Importing products from a cart we push to is allowed, but taking its counts
    overwrites the hub's — the source of truth for that very cart.
    """
    if integration.role == Integration.CART and integration.inventory_sync:
        return (
            f"{integration.name} receives counts from this hub. Importing its stock overwrites the hub's "
            f"counts with what the cart shows (which may already be adjusted by safety levels)."
        )
    return None


def import_products(
    integration: Integration, *, with_stock: bool = False, confirmed: bool = False, user=None
) -> SyncRun:
    """Create or update items from the cart's catalogue: SKU, name, price; stock only if asked.

    With ``with_stock`` on a cart we push to, ``confirmed`` must be set: the
    caller has shown :func:`product_import_warning` and the user agreed.
    """
    warning = product_import_warning(integration)
    if with_stock and warning and not confirmed:
        raise ValueError(warning)
    run = _start(integration, SyncRun.PRODUCTS, "manual")
    run.counts = {"received": 0, "created": 0, "updated": 0, "stock_changed": 0}
    try:
        products = list(build_adapter(integration).fetch_products())
    except AdapterError as exc:
        return _finish(run, failed=exc)
    store = integration.store
    existing = selectors.codes_with_stock(store)
    seen, new_rows, details, counts = set(), [], {}, {}
    for product in products:
        run.counts["received"] += 1
        sku = (product.sku or "").strip()
        if not sku or sku in seen:
            _item_error(run, sku, "no SKU" if not sku else "the cart lists this SKU more than once")
            continue
        seen.add(sku)
        fields = {"name": product.name[:500]}
        if product.price is not None:
            fields["price"] = product.price
        if sku in existing:
            details[existing[sku][0]] = fields
            if with_stock and product.quantity is not None:
                counts[existing[sku][0]] = product.quantity
        else:
            new_rows.append({"code": sku, **fields, "stock": product.quantity if with_stock else None})
    with transaction.atomic():
        run.save()
        created = stock_services.create_items(
            store, new_rows, source="pull", reference=run.reference, user=user
        )
        run.counts["created"] = len(created)
        run.counts["updated"] = stock_services.update_details(details)
        changes = stock_services.set_stock(
            counts,
            source="pull",
            reference=run.reference,
            user=user,
            update_source=f"products:{integration.slug}",
        )
        run.counts["stock_changed"] = len(changes)
    return _finish(run, message=warning if with_stock and warning else "")
