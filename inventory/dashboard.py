"""What the admin's front page shows for each store, in a fixed number of queries.

Staff open the admin to answer a few questions at a glance: how many items,
how many oversold or running low, whether each connection to a cart or a
warehouse is healthy, which items a cart refused, and how the latest imports
went.  This module gathers those answers as plain records; the admin only
renders them.

Low stock follows the mail's rule (design §8): an item's ``low_stock``
metadata wins over the store's ``low_stock_threshold``, and only items that
hold stock count (an item with ``code_replace``, or one whose SKU the store's
``inventory_source`` has, holds none).  It is written as one SQL condition so
the counts and the item list's "Low stock" filter agree and cost one query.

``inventory`` imports neither ``integrations`` nor ``imports`` (design §10):
their models are looked up through the app registry, and their sections are
left out when the app is not installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.apps import apps
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
)
from django.db.models.functions import Cast, Coalesce

from .models import InventoryItem, ItemMetadata, Store

# Shown per store; the full lists are one click away.
FAILED_ITEMS_SHOWN = 5
# The order counts are read in: what came in or was planned, what happened, what went wrong.
# (Stored counts are JSON objects, whose key order PostgreSQL does not keep.)
COUNT_ORDER = (
    "rows", "received", "planned", "orders", "confirmed", "changed", "created", "updated", "stock_changed",
    "unchanged", "corrected", "drift", "to_retry", "unknown", "no_count", "skipped", "stale", "failed",
    "still_failing", "errors",
    "warnings", "item_errors",
)
IMPORTS_SHOWN = 5
# Whole numbers only: anything else in ``low_stock`` (validation refuses it on
# the way in) is ignored rather than breaking the cast on PostgreSQL.
_WHOLE_NUMBER = r"^[0-9]+$"


# --- stock -----------------------------------------------------------------------


def low_stock_threshold():
    """The threshold of the item in the outer query: its ``low_stock``, else its store's."""
    own = ItemMetadata.objects.filter(
        item=OuterRef("pk"), key="low_stock", value__regex=_WHOLE_NUMBER
    ).values("value")[:1]
    return Coalesce(Cast(Subquery(own), IntegerField()), F("store__low_stock_threshold"))


def holds_no_stock() -> Q:
    """Items whose stock lives elsewhere: replaced SKUs and SKUs a source store provides."""
    replaced = ItemMetadata.objects.filter(item=OuterRef("pk"), key="code_replace").exclude(value="")
    provided = InventoryItem.objects.filter(
        store=OuterRef("store__inventory_source"), code=OuterRef("code"), archived_at__isnull=True
    )
    return Q(Exists(replaced)) | Q(Exists(provided))


def low_stock_q() -> Q:
    """Items at or below their threshold (oversold ones included), as one condition."""
    return Q(stock__lte=low_stock_threshold()) & ~holds_no_stock()


@dataclass(frozen=True)
class StockCounts:
    items: int = 0
    oversold: int = 0
    low_stock: int = 0


def counts_text(counts: dict | None, skip: tuple[str, ...] = ()) -> str:
    """A run's or an import's counts as words, in reading order, zeros left out:
    "changed 3, unknown 1, errors 1"; "" when all are zero."""
    known = {key: index for index, key in enumerate(COUNT_ORDER)}
    keys = sorted((counts or {}), key=lambda key: (known.get(key, len(known)), key))
    return ", ".join(
        f"{key.replace('_', ' ')} {counts[key]}" for key in keys if counts[key] and key not in skip
    )


def stock_counts(store_ids) -> dict[int, StockCounts]:
    """Active items, oversold (below zero) and low-stock items per store: one query."""
    rows = (
        InventoryItem.objects.active()
        .filter(store_id__in=list(store_ids))
        .values("store_id")
        .annotate(
            items=Count("pk"),
            oversold=Count("pk", filter=Q(stock__lt=0)),
            low_stock=Count("pk", filter=low_stock_q()),
        )
        .order_by()
    )
    return {row["store_id"]: StockCounts(row["items"], row["oversold"], row["low_stock"]) for row in rows}


# --- other apps' models ------------------------------------------------------------


def _model(app_label: str, name: str):
    """A model of an optional app, or None when the app is not installed."""
    if not apps.is_installed(app_label):
        return None
    try:
        return apps.get_model(app_label, name)
    except LookupError:
        return None


@dataclass(frozen=True)
class RunSummary:
    id: int
    kind: str
    status: str
    status_display: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict
    item_error_count: int
    message: str


@dataclass(frozen=True)
class IntegrationHealth:
    id: int
    name: str
    kind: str
    role: str
    role_display: str
    status: str
    status_display: str
    inventory_sync: bool
    last_error: str
    last_pull: RunSummary | None
    last_push: RunSummary | None

    @property
    def pulls(self) -> bool:
        return self.role == "fulfillment"

    @property
    def pushes(self) -> bool:
        return self.role == "cart"


@dataclass(frozen=True)
class FailedItem:
    item_id: int
    code: str
    integration_id: int
    integration: str
    error: str
    error_at: datetime | None


@dataclass(frozen=True)
class ImportSummary:
    id: int
    name: str
    origin_display: str
    status: str
    status_display: str
    counts: dict
    message: str
    created_at: datetime
    dry_run: bool


def _run_summary(run) -> RunSummary:
    return RunSummary(
        id=run.pk,
        kind=run.kind,
        status=run.status,
        status_display=run.get_status_display(),
        started_at=run.started_at,
        finished_at=run.finished_at,
        # The item errors are shown as their own line, not among the counts.
        counts={key: value for key, value in (run.counts or {}).items() if key != "item_errors"},
        item_error_count=(run.counts or {}).get("item_errors", 0),
        message=run.message,
    )


def integration_health(store_ids) -> dict[int, list[IntegrationHealth]]:
    """Each store's integrations with their latest pull and push run: two queries."""
    Integration = _model("integrations", "Integration")
    SyncRun = _model("integrations", "SyncRun")
    if Integration is None or SyncRun is None:
        return {}

    def latest(kind):
        return Subquery(
            SyncRun.objects.filter(integration=OuterRef("pk"), kind=kind)
            .order_by("-started_at", "-id")
            .values("pk")[:1]
        )

    integrations = list(
        Integration.objects.filter(store_id__in=list(store_ids))
        .annotate(_last_pull=latest("pull"), _last_push=latest("push"))
        .order_by("store_id", "name")
    )
    run_ids = {run_id for i in integrations for run_id in (i._last_pull, i._last_push) if run_id}
    runs = (
        {
            run.pk: _run_summary(run)
            for run in SyncRun.objects.filter(pk__in=run_ids).only(
                "id", "kind", "status", "started_at", "finished_at", "counts", "message", "integration_id"
            )
        }
        if run_ids
        else {}
    )
    result: dict[int, list[IntegrationHealth]] = {}
    for integration in integrations:
        result.setdefault(integration.store_id, []).append(
            IntegrationHealth(
                id=integration.pk,
                name=integration.name,
                kind=integration.get_kind_display(),
                role=integration.role,
                role_display="cart" if integration.role == "cart" else "fulfillment",
                status=integration.status,
                status_display=integration.get_status_display(),
                inventory_sync=integration.inventory_sync,
                last_error=integration.last_error,
                last_pull=runs.get(integration._last_pull),
                last_push=runs.get(integration._last_push),
            )
        )
    return result


def failed_item_counts(store_ids) -> dict[int, int]:
    """How many (item, cart) pairs carry an error, per store: one query."""
    PushState = _model("integrations", "PushState")
    if PushState is None:
        return {}
    rows = (
        # Archived items are no longer pushed: an error left on them is history.
        PushState.objects.filter(integration__store_id__in=list(store_ids), item__archived_at__isnull=True)
        .exclude(last_error="")
        .values("integration__store_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["integration__store_id"]: row["n"] for row in rows}


def failed_items(store: Store, limit: int = FAILED_ITEMS_SHOWN) -> list[FailedItem]:
    """The latest item errors of a store's integrations: one query."""
    PushState = _model("integrations", "PushState")
    if PushState is None:
        return []
    rows = (
        PushState.objects.filter(integration__store=store, item__archived_at__isnull=True)
        .exclude(last_error="")
        .order_by(F("error_at").desc(nulls_last=True), "-id")
        .values_list("item_id", "item__code", "integration_id", "integration__name", "last_error", "error_at")
    )[:limit]
    return [FailedItem(*row) for row in rows]


def recent_imports(store: Store, limit: int = IMPORTS_SHOWN) -> list[ImportSummary]:
    """The store's latest import jobs without their (possibly large) reports: one query."""
    ImportJob = _model("imports", "ImportJob")
    if ImportJob is None:
        return []
    jobs = (
        ImportJob.objects.filter(store=store)
        .only(
            "id",
            "store_id",
            "original_name",
            "origin",
            "status",
            "counts",
            "message",
            "created_at",
            "dry_run",
        )
        .order_by("-created_at", "-id")[:limit]
    )
    return [
        ImportSummary(
            id=job.pk,
            name=job.original_name,
            origin_display=job.get_origin_display(),
            status=job.status,
            status_display=job.get_status_display(),
            counts=job.counts or {},
            message=job.message,
            created_at=job.created_at,
            dry_run=job.dry_run,
        )
        for job in jobs
    ]


# --- the page ----------------------------------------------------------------------


@dataclass
class StoreDashboard:
    store: Store
    counts: StockCounts
    integrations: list[IntegrationHealth] = field(default_factory=list)
    failed_item_count: int = 0
    failed_items: list[FailedItem] = field(default_factory=list)
    imports: list[ImportSummary] = field(default_factory=list)

    @property
    def failing_integrations(self) -> list[IntegrationHealth]:
        return [i for i in self.integrations if i.status == "failing"]

    @property
    def needs_attention(self) -> bool:
        return bool(
            self.counts.oversold
            or self.failed_item_count
            or self.failing_integrations
            or self.store.sync_paused
        )


def store_dashboards(
    stores, *, with_integrations: bool = True, with_imports: bool = True
) -> list[StoreDashboard]:
    """One record per store: 1 + 3 queries in all, plus 2 per store (failed items, imports)."""
    stores = list(stores)
    ids = [store.pk for store in stores]
    if not ids:
        return []
    counts = stock_counts(ids)
    health = integration_health(ids) if with_integrations else {}
    failed = failed_item_counts(ids) if with_integrations else {}
    boards = []
    for store in stores:
        board = StoreDashboard(store=store, counts=counts.get(store.pk, StockCounts()))
        if with_integrations:
            board.integrations = health.get(store.pk, [])
            board.failed_item_count = failed.get(store.pk, 0)
            if board.failed_item_count:
                board.failed_items = failed_items(store)
        if with_imports:
            board.imports = recent_imports(store)
        boards.append(board)
    return boards
