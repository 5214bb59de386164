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
  the next run makes good whatever a lost one did not record.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from inventory import rules, selectors
from inventory import services as stock_services
from inventory.models import ItemMetadata, Store
from inventory.tasks import offload

from .adapters import get_adapter_class
from .adapters.base import AdapterError, AuthError, PushLine, chunked
from .code_match import explain_old_code, parse_code_match
from .models import Integration, PushState, SyncRun

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


# --- adapters ------------------------------------------------------------------


def build_adapter(integration: Integration, client=None):
    cls = get_adapter_class(integration.kind)
    credentials = integration.credentials
    base_url = integration.base_url or cls.default_base_url.format(**{**integration.options, **credentials})
    return cls(
        base_url=base_url,
        credentials=credentials,
        location_id=integration.location_id or None,
        options=integration.options,
        client=client,
    )


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


def affected_stores(store_ids: Iterable[int]) -> set[int]:
    """The stores whose carts see these stores' stock: themselves and every store
    that takes stock from them through ``inventory_source`` (design §7)."""
    result = set(store_ids)
    frontier = set(result)
    while frontier:
        linked = set(Store.objects.filter(inventory_source_id__in=frontier).values_list("id", flat=True))
        frontier = linked - result
        result |= linked
    return result


def request_push(store_ids: Iterable[int], trigger: str = "change") -> list[int]:
    """Mark the stores' syncing carts for a push; enqueue one run per cart that was clean."""
    now = timezone.now()
    carts = Integration.objects.filter(
        store_id__in=affected_stores(store_ids),
        role=Integration.CART,
        inventory_sync=True,
        store__sync_paused=False,
    ).values_list("id", flat=True)
    enqueued = []
    for integration_id in carts:
        flipped = Integration.objects.filter(pk=integration_id, push_pending=False).update(
            push_pending=True, push_pending_since=now
        )
        if flipped:
            offload(
                "integrations.tasks.run_pending_push",
                integration_id,
                task_name=f"push-{integration_id}-{now.timestamp()}",
            )
            enqueued.append(integration_id)
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
    runs = sync(integration, trigger="change")
    return runs[-1] if runs else None


# --- the run -------------------------------------------------------------------


def sync(
    integration: Integration, *, trigger: str = "schedule", reconcile_due: bool | None = None
) -> list[SyncRun]:
    """One scheduled or requested run: a pull for a fulfillment service, a push
    (with a reconcile when due) for a cart."""
    integration.refresh_from_db()
    store = integration.store
    if store.sync_paused or not integration.inventory_sync:
        return []
    with lease(integration) as acquired:
        if not acquired:
            return []  # the run in progress will see the pending mark when it ends
        runs = []
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
    }.get(run.kind)
    updates = {}
    if failed is None:
        updates.update(consecutive_failures=0, last_error="")
        if run.kind != SyncRun.PREVIEW:
            updates["status"] = Integration.OK
        if timestamp_field:
            updates[timestamp_field] = run.finished_at
        Integration.objects.filter(pk=integration.pk).update(**updates)
        _sync_trouble_resolved(integration)
        return
    failures = integration.consecutive_failures + 1
    Integration.objects.filter(pk=integration.pk).update(
        status=Integration.FAILING, last_error=str(failed)[:2000], consecutive_failures=failures
    )
    logger.warning("%s %s failed: %s", integration, run.kind, failed)
    if isinstance(failed, AuthError) or failures >= FAILURES_BEFORE_MAIL:
        _sync_trouble(integration, failed, failures)


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


def planned_lines(integration: Integration, *, everything: bool = False):
    """What a push would send now: (lines, not_sent) where lines are PushLines of
    items whose told quantity differs from what the cart last confirmed."""
    rows, told = selectors.told_for_store(integration.store, cart_for(integration))
    states = {
        item_id: (remote_id, last_confirmed, needs_reconcile, last_error)
        for item_id, remote_id, last_confirmed, needs_reconcile, last_error in PushState.objects.filter(
            integration=integration
        ).values_list("item_id", "remote_id", "last_confirmed", "needs_reconcile", "last_error")
    }
    lines, not_sent, by_sku = [], [], {}
    for item_id, code, _stock in rows:
        result = told[item_id]
        state = states.get(item_id)
        if result.quantity is None:
            not_sent.append((item_id, code, result, state))
            continue
        remote_id, last_confirmed = (state[0], state[1]) if state else ("", None)
        if (
            not everything
            and state is not None
            and remote_id
            and last_confirmed == result.quantity
            and not state[2]
        ):
            continue
        lines.append(
            PushLine(
                sku=code, quantity=result.quantity, remote_id=remote_id or None, last_confirmed=last_confirmed
            )
        )
        by_sku[code] = item_id
    return lines, not_sent, by_sku


def push(integration: Integration, *, trigger: str = "manual") -> SyncRun:
    """Send every item whose told quantity the cart has not confirmed yet."""
    lines, not_sent, by_sku = planned_lines(integration)
    if not integration.first_push_confirmed:
        return _preview(integration, trigger, lines, not_sent)
    run = _start(integration, SyncRun.PUSH, trigger)
    run.counts = {"planned": len(lines), "confirmed": 0, "failed": 0, "not_sent": len(not_sent), "drift": 0}
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
    run = _start(integration, SyncRun.PREVIEW, trigger)
    run.counts = {"would_send": len(lines), "not_sent": len(not_sent)}
    run.details = [
        {"sku": line.sku, "quantity": line.quantity, "cart_had": line.last_confirmed}
        for line in lines[:DETAIL_LIMIT]
    ]
    Integration.objects.filter(pk=integration.pk).update(status=Integration.PREVIEW)
    return _finish(run, status=SyncRun.OK, message="First push not sent: confirm it in the admin to send.")


def confirm_first_push(integration: Integration, *, trigger: str = "manual") -> list[SyncRun]:
    Integration.objects.filter(pk=integration.pk).update(first_push_confirmed=True, status=Integration.NEW)
    integration.refresh_from_db()
    return sync(integration, trigger=trigger, reconcile_due=False)


def _with_remote_ids(adapter, integration, lines, by_sku, run):
    """Fill in the cart's id for lines that lack one (cached in push state)."""
    missing = [line.sku for line in lines if not line.remote_id]
    if not missing:
        return lines
    found = adapter.lookup(missing)
    now = timezone.now()
    states, ready = [], []
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
            states.append(
                PushState(integration=integration, item_id=item_id, last_error=reason, error_at=now)
            )
            continue
        states.append(
            PushState(integration=integration, item_id=item_id, remote_id=str(remote), last_error="")
        )
        ready.append(PushLine(line.sku, line.quantity, str(remote), line.last_confirmed))
    _upsert_states(states, ["remote_id", "last_error", "error_at"])
    return ready


def _record_results(integration, results, by_sku, sent, run):
    now = timezone.now()
    states = []
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
                PushState(
                    integration=integration,
                    item_id=item_id,
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
            states.append(
                PushState(
                    integration=integration,
                    item_id=item_id,
                    remote_id=result.remote_id or "",
                    last_error=result.error or "not confirmed",
                    error_at=now,
                )
            )
    ok = [s for s in states if not s.last_error]
    bad = [s for s in states if s.last_error]
    _upsert_states(ok, ["remote_id", "last_confirmed", "confirmed_at", "last_error", "needs_reconcile"])
    _upsert_states(bad, ["last_error", "error_at"])


def _record_not_sent(integration, not_sent, run):
    """Items not sent because of a data problem get the error on their push state."""
    now = timezone.now()
    states = []
    for item_id, code, told, state in not_sent:
        if told.error:
            _item_error(run, code, told.error)
            if state is None or state[3] != told.error:
                states.append(
                    PushState(integration=integration, item_id=item_id, last_error=told.error, error_at=now)
                )
    _upsert_states(states, ["last_error", "error_at"])


def _upsert_states(states, fields):
    if states:
        PushState.objects.bulk_create(
            states,
            update_conflicts=True,
            unique_fields=["integration", "item"],
            update_fields=fields,
            batch_size=1000,
        )


# --- reconcile -----------------------------------------------------------------


def reconcile(integration: Integration, *, trigger: str = "manual") -> SyncRun:
    """Read what the cart holds for every mapped item; where it differs from what
    we last confirmed, forget the confirmation so the next push corrects it."""
    run = _start(integration, SyncRun.RECONCILE, trigger)
    states = list(
        PushState.objects.filter(integration=integration).exclude(remote_id="").select_related("item")
    )
    run.counts = {"checked": len(states), "corrected": 0}
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
