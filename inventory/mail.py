"""Low-stock and sync-trouble mail (design §8), sent with Django's mail settings.

Low stock is judged on the items that hold stock: an item whose stock another
store provides (``inventory_source``) or that only replaces other SKUs
(``code_replace``) holds none, so the holders are watched instead, with the
holding store's threshold, metadata and recipients.  An item's ``low_stock``
metadata wins over the store's default threshold.

Each fall to or below the threshold is mailed once: :func:`check_low_stock`
(run after every committed stock change) flips the item's persisted state and
queues the mail; nothing more is sent until the item has risen above its
threshold and fallen again.  Mail goes out from the task cluster through an
outbox (``LowStockState.pending``), so a lost task or a refused SMTP
connection delays a mail instead of losing it.
"""

from __future__ import annotations

import logging
import re
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from . import rules, selectors
from .alerts import LowStockDigest, LowStockState, SyncIncident, possibly_watched_sql
from .models import InventoryItem, ItemMetadata, Store
from .tasks import offload

logger = logging.getLogger(__name__)

SUBJECT_PREFIX = "[Inventory hub] "
# Headers that tell mail servers and auto-responders this is machine mail.
AUTOMATIC_HEADERS = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}
CHUNK = 5000
_ADDRESS_SEPARATORS = re.compile(r"[\n\r,;]+")


def recipients(store: Store) -> list[str]:
    """The store's addresses, one per line (commas and semicolons also separate them)."""
    found = []
    for part in _ADDRESS_SEPARATORS.split(store.low_stock_recipients or ""):
        address = part.strip()
        if not address:
            continue
        try:
            validate_email(address)
        except ValidationError:
            logger.warning("Skipping %r in the mail recipients of %s: not an e-mail address.", address, store)
            continue
        if address not in found:
            found.append(address)
    return found


def _send(store: Store, subject: str, body: str) -> bool:
    to = recipients(store)
    if not to:
        return False
    message = EmailMessage(SUBJECT_PREFIX + subject, body, to=to, headers=AUTOMATIC_HEADERS)
    message.send(fail_silently=False)
    return True


# --- which items are watched, against what ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Watched:
    item_id: int
    code: str
    name: str
    stock: int
    threshold: int


def _parse_threshold(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        _key, normalised = rules.validate_metadata("low_stock", value)
    except rules.MetadataError:
        return None
    return int(normalised)


def _watched(items: list[InventoryItem]) -> tuple[dict[int, int], set[int]]:
    """``({item_id: threshold}, {ids of items that hold no stock})`` for ``items``.

    Items without any threshold are left out of the first; items holding no
    stock (replacing SKUs, SKUs a source store provides) are in the second.
    """
    metadata = defaultdict(dict)
    for item_id, key, value in ItemMetadata.objects.filter(
        item_id__in=[item.pk for item in items], key__in=["low_stock", "code_replace"]
    ).values_list("item_id", "key", "value"):
        metadata[item_id][key] = value
    not_holding = {item.pk for item in items if metadata[item.pk].get("code_replace")}
    by_store: dict[int, list[InventoryItem]] = defaultdict(list)
    for item in items:
        if item.pk not in not_holding:
            by_store[item.store_id].append(item)
    for store_items in by_store.values():
        store = store_items[0].store
        if store.inventory_source_id:
            holders = selectors.stock_holders(store, [item.code for item in store_items])
            not_holding.update(item.pk for item in store_items if holders[item.code].pk != item.pk)
    thresholds = {}
    for item in items:
        if item.pk in not_holding:
            continue
        threshold = _parse_threshold(metadata[item.pk].get("low_stock"))
        if threshold is None:
            threshold = item.store.low_stock_threshold
        if threshold is not None:
            thresholds[item.pk] = threshold
    return thresholds, not_holding


# --- crossings ------------------------------------------------------------------------------


def on_stock_changed(sender, store_ids=(), item_ids=(), watched_item_ids=None, **kwargs):
    """``stock_changed`` receiver: the stock change has committed, so a failure here
    must not reach the caller (an order or import that did succeed)."""
    try:
        check_low_stock(item_ids, watched=watched_item_ids)
    except Exception:
        logger.exception("The low-stock check after a stock change failed; the daily run catches up.")


def check_low_stock(item_ids: Iterable[int], *, watched: Iterable[int] | None = None) -> dict[int, list[int]]:
    """Update the low-stock state of these items; queue one mail per store for new falls.

    Returns ``{store_id: [item ids that fell]}``.  The state rows are locked in
    key order and stock is read under those locks, so two processes checking
    the same item agree on one crossing.  ``watched``, when the caller already
    knows it (the stock writer does), names the items that may be watched, and
    saves the query that finds them.
    """
    ids = sorted(set(item_ids) if watched is None else set(watched))
    fell: dict[int, list[int]] = defaultdict(list)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for store_id, fallen in _check_chunk(chunk if watched is not None else _possibly_watched(chunk)).items():
            fell[store_id].extend(fallen)
    return dict(fell)


def _check_chunk(watched_ids: list[int]) -> dict[int, list[int]]:
    if not watched_ids:
        return {}
    candidates = list(InventoryItem.objects.filter(pk__in=watched_ids).select_related("store"))
    thresholds, _ = _watched(candidates)
    candidate_ids = sorted(item.pk for item in candidates)
    stores = {item.store_id: item.store for item in candidates}
    store_of = {item.pk: item.store_id for item in candidates}
    fell: dict[int, list[int]] = defaultdict(list)
    now = timezone.now()
    with transaction.atomic():
        LowStockState.objects.bulk_create(
            [LowStockState(item_id=item_id) for item_id in candidate_ids if item_id in thresholds],
            ignore_conflicts=True,
        )
        states = list(
            LowStockState.objects.select_for_update().filter(item_id__in=candidate_ids).order_by("item_id")
        )
        stock = dict(InventoryItem.objects.filter(pk__in=candidate_ids).values_list("pk", "stock"))
        changed = []
        for state in states:
            threshold = thresholds.get(state.item_id)
            is_low = threshold is not None and stock[state.item_id] <= threshold
            if is_low == state.low:
                continue
            state.low, state.changed_at = is_low, now
            if is_low:
                state.pending = bool(recipients(stores[store_of[state.item_id]]))
                if state.pending:
                    fell[store_of[state.item_id]].append(state.item_id)
            else:
                state.pending = False
            changed.append(state)
        LowStockState.objects.bulk_update(changed, ["low", "pending", "changed_at"])
        for store_id in fell:
            offload(
                "inventory.order_tasks.send_low_stock_alerts", store_id, task_name=f"low-stock-{store_id}"
            )
    return fell


def _possibly_watched(ids: list[int]) -> list[int]:
    """Which of these items have a threshold (or a low state to clear): one plain query."""
    sql = (
        f"SELECT i.id FROM {InventoryItem._meta.db_table} i "
        f"JOIN {Store._meta.db_table} s ON s.id = i.store_id "
        f"WHERE i.id IN ({', '.join(['%s'] * len(ids))}) AND {possibly_watched_sql('i', 's')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, ids)
        return [row[0] for row in cursor.fetchall()]


def send_low_stock_alerts(store_id: int) -> int:
    """Mail the store's pending falls in one message; returns how many items it named.

    Items that rose above their threshold before the mail went out are dropped
    from it.  If sending fails the transaction rolls back and the falls stay
    pending for the next run.
    """
    with transaction.atomic():
        states = list(
            LowStockState.objects.select_for_update(of=("self",))
            .filter(pending=True, item__store_id=store_id)
            .select_related("item", "item__store")
            .order_by("item_id")
        )
        if not states:
            return 0
        store = states[0].item.store
        items = [state.item for state in states if state.low and state.item.archived_at is None]
        thresholds, _ = _watched(items)
        watched = [
            Watched(item.pk, item.code, item.name, item.stock, thresholds[item.pk])
            for item in items
            if item.pk in thresholds and item.stock <= thresholds[item.pk]
        ]
        now = timezone.now()
        if watched:
            _send(store, *_crossing_mail(store, watched))
        for state in states:
            state.pending = False
            if any(entry.item_id == state.item_id for entry in watched):
                state.mailed_at = now
        LowStockState.objects.bulk_update(states, ["pending", "mailed_at"])
    return len(watched)


def send_pending_alerts() -> int:
    """Mail every store's falls still pending (a lost task or a refused send)."""
    store_ids = (
        LowStockState.objects.filter(pending=True).values_list("item__store_id", flat=True).distinct()
    )
    sent = 0
    for store_id in sorted(set(store_ids)):
        try:
            sent += send_low_stock_alerts(store_id)
        except Exception:
            logger.exception("Low-stock mail for store %s failed; it stays pending.", store_id)
    return sent


def _local(store: Store, moment: datetime) -> datetime:
    return moment.astimezone(zoneinfo.ZoneInfo(store.time_zone))


def _table(entries: list[Watched]) -> list[str]:
    width = max([len("SKU"), *(len(entry.code) for entry in entries)])
    lines = [f"{'SKU':<{width}}  {'stock':>7}  {'threshold':>9}  name"]
    for entry in entries:
        flag = f"  OVERSOLD by {-entry.stock}" if entry.stock < 0 else ""
        lines.append(f"{entry.code:<{width}}  {entry.stock:>7}  {entry.threshold:>9}  {entry.name}{flag}")
    return lines


def _crossing_mail(store: Store, watched: list[Watched]) -> tuple[str, str]:
    oversold = [entry for entry in watched if entry.stock < 0]
    if len(watched) == 1:
        entry = watched[0]
        state = f"oversold by {-entry.stock}" if entry.stock < 0 else f"{entry.stock} left"
        subject = f"Low stock in {store.name}: {entry.code} ({state})"
    else:
        subject = f"Low stock in {store.name}: {len(watched)} items"
        if oversold:
            subject += f", {len(oversold)} oversold"
    when = _local(store, timezone.now()).strftime("%Y-%m-%d %H:%M %Z")
    body = [
        f"These items of {store.name} fell to or below their low-stock threshold ({when}):",
        "",
        *_table(watched),
        "",
    ]
    if oversold:
        body += [
            "OVERSOLD: " + ", ".join(entry.code for entry in oversold) + " went below zero: more was "
            "sold than was in stock. Those orders still stand; restock or contact the buyers.",
            "",
        ]
    body += [
        "You will not hear about these items again until their stock has risen above the threshold "
        "and fallen again.",
        "Thresholds: the item's low_stock metadata, else the store's default threshold.",
    ]
    return subject, "\n".join(body) + "\n"


# --- the daily digest -------------------------------------------------------------------------


def low_items(store: Store) -> list[Watched]:
    """Every item ``store`` holds stock of that is at or below its threshold, lowest first."""
    items = InventoryItem.objects.active().filter(store=store)
    with_metadata = Exists(ItemMetadata.objects.filter(item=OuterRef("pk"), key="low_stock"))
    if store.low_stock_threshold is not None:
        items = items.filter(Q(stock__lte=store.low_stock_threshold) | with_metadata)
    else:
        items = items.filter(with_metadata)
    candidates = list(items.select_related("store"))
    watched = []
    for start in range(0, len(candidates), CHUNK):
        chunk = candidates[start : start + CHUNK]
        thresholds, _ = _watched(chunk)
        watched.extend(
            Watched(item.pk, item.code, item.name, item.stock, thresholds[item.pk])
            for item in chunk
            if item.pk in thresholds and item.stock <= thresholds[item.pk]
        )
    return sorted(watched, key=lambda entry: (entry.stock, entry.code))


def _digest_mail(store: Store, watched: list[Watched], local_now: datetime) -> tuple[str, str]:
    oversold = [entry for entry in watched if entry.stock < 0]
    low = [entry for entry in watched if entry.stock >= 0]
    subject = f"Low-stock digest for {store.name}, {local_now:%Y-%m-%d}: {len(watched)} items"
    if oversold:
        subject += f", {len(oversold)} oversold"
    body = [
        f"Items of {store.name} at or below their low-stock threshold at {local_now:%Y-%m-%d %H:%M %Z}.",
        "",
    ]
    if oversold:
        body += ["OVERSOLD (below zero: more sold than in stock):", *_table(oversold), ""]
    if low:
        body += ["Low:", *_table(low), ""]
    body.append("Thresholds: the item's low_stock metadata, else the store's default threshold.")
    return subject, "\n".join(body) + "\n"


def send_due_digests(now: datetime | None = None) -> list[int]:
    """Send each store's daily digest once it is due; returns the ids of stores mailed.

    A digest is due at or after the store's digest hour on the store-local date
    it was not yet sent, so a run delayed past the hour (or a digest hour that
    does not exist on a daylight-saving day) still sends it that day, once.
    """
    now = now or timezone.now()
    mailed = []
    for store in Store.objects.filter(low_stock_digest_hour__isnull=False).order_by("pk"):
        try:
            if send_digest_if_due(store, now):
                mailed.append(store.pk)
        except Exception:
            logger.exception("The low-stock digest of %s failed; the next run tries again.", store)
    return mailed


def send_digest_if_due(store: Store, now: datetime) -> bool:
    local_now = _local(store, now)
    if store.low_stock_digest_hour is None or local_now.hour < store.low_stock_digest_hour:
        return False
    today = local_now.date()
    with transaction.atomic():
        try:
            with transaction.atomic():
                LowStockDigest.objects.get_or_create(store=store)
        except IntegrityError:
            pass
        digest = LowStockDigest.objects.select_for_update().get(store=store)
        if digest.last_sent_on == today:
            return False
        watched = low_items(store)
        sent = bool(watched) and _send(store, *_digest_mail(store, watched, local_now))
        digest.last_sent_on, digest.sent_at = today, now
        digest.save()
    return sent


# --- sync trouble ---------------------------------------------------------------------------------


def notify_sync_trouble(store: Store, integration_name: str, incident_key: str, message: str) -> bool:
    """Mail the store's recipients about an incident, once until it is resolved.

    Called on every failure; only the first call of an incident mails (and a
    call after :func:`resolve_sync_trouble` opens a new incident).  If the mail
    cannot be sent the incident stays unmailed and the next call tries again;
    the failure is logged, never raised into the sync run that reported it.
    Returns whether a mail went out.
    """
    now = timezone.now()
    incident_key = str(incident_key)[:200]
    with transaction.atomic():
        try:
            with transaction.atomic():
                SyncIncident.objects.get_or_create(
                    store=store, incident_key=incident_key, defaults={"opened_at": now, "last_seen_at": now}
                )
        except IntegrityError:
            pass
        incident = SyncIncident.objects.select_for_update().get(store=store, incident_key=incident_key)
        if incident.resolved_at is not None:
            incident.resolved_at, incident.mailed_at = None, None
            incident.opened_at, incident.occurrences = now, 0
        incident.integration_name = str(integration_name)[:200]
        incident.message = str(message)
        incident.last_seen_at = now
        incident.occurrences += 1
        mailed = False
        if incident.mailed_at is None:
            try:
                mailed = _send(store, *_sync_trouble_mail(store, incident))
            except Exception:
                logger.exception("Could not mail sync trouble %s of %s; the next report tries again.",
                                 incident_key, store)
            if mailed:
                incident.mailed_at = now
        incident.save()
    return mailed


def resolve_sync_trouble(store: Store, incident_key: str) -> bool:
    """Close the incident, so the next trouble of this kind is mailed again; cheap when none is open."""
    return bool(
        SyncIncident.objects.filter(
            store=store, incident_key=str(incident_key)[:200], resolved_at__isnull=True
        ).update(resolved_at=timezone.now())
    )


def _sync_trouble_mail(store: Store, incident: SyncIncident) -> tuple[str, str]:
    name = incident.integration_name or "An integration"
    when = _local(store, incident.opened_at).strftime("%Y-%m-%d %H:%M %Z")
    subject = f"Sync trouble in {store.name}: {name}"
    body = "\n".join([
        f"{name} of {store.name} is in trouble since {when}:",
        "",
        incident.message,
        "",
        "Stock changes are kept and will be sent once it works again. You will not be mailed about "
        "this again until it has worked once and then fails anew.",
    ])
    return subject, body + "\n"
