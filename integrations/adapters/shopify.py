"""Shopify, through the GraphQL Admin API.

Why GraphQL: REST has no SKU filter and no batch write; GraphQL finds variants
by SKU and ``inventorySetQuantities`` sets up to 250 levels in one atomic call.

Correctness rules this adapter keeps (design.md §6 "Push correctness"):

* SKU search is loose, so every hit is re-checked for an exact SKU; none or
  several hits is an error for that SKU, never a guess.
* Every write carries ``changeFromQuantity`` = what the cart last confirmed
  (read first when unknown). ``CHANGE_FROM_QUANTITY_STALE`` means someone changed
  the cart: the level is re-read, the drift reported, and the row resent alone.
* Every write carries an ``@idempotent`` key, fixed across HTTP retries of the
  same call, so a timed-out write that did land is replayed, not re-applied.
* The mutation is atomic: one bad row rejects the call, so bad rows are
  reported with Shopify's reason and the rest resent without them.
* Throttling arrives as HTTP 200 with ``THROTTLED``; the wait is computed from
  the cost bucket, and calls are paced so they rarely get throttled at all.

Orders (``fetch_orders``): ``orders(query: "updated_at:>='…'", sortKey:
UPDATED_AT)`` paged by cursor. Shopify commits stock when an order is created,
paid or not, so every order that is not cancelled takes stock (pending and
authorized payments included); ``cancelledAt`` makes it cancelled (what goes
back then follows the store's ``restock_on_cancel``). A line's ordered quantity
is ``currentQuantity`` (after edits) plus its refunded units; its restocked
units are the refund line items whose ``restockType`` puts stock back
(RETURN, CANCEL, LEGACY_RESTOCK), never NO_RESTOCK. The version is
``updatedAt`` in epoch milliseconds. Orders with refunds, or with more lines
than the list query carries, are read once more by id for the rest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from .base import (
    Adapter,
    AdapterError,
    AuthError,
    Capabilities,
    Level,
    Location,
    PermanentError,
    PushLine,
    PushResult,
    RemoteOrder,
    RemoteOrderLine,
    RemoteProduct,
    WebhookChange,
    chunked,
    header,
    webhook_quantity,
)

DEFAULT_API_VERSION = "2026-04"
MAX_BATCH = 250
STALE_RETRIES = 3

_LOOKUP = """
query HubLookup($q: String!, $first: Int!, $after: String, $loc: ID!) {
  productVariants(first: $first, after: $after, query: $q) {
    nodes {
      id
      sku
      inventoryItem {
        id
        tracked
        inventoryLevel(locationId: $loc) { quantities(names: ["available"]) { name quantity } }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

_CATALOG = """
query HubCatalog($first: Int!, $after: String, $loc: ID!) {
  productVariants(first: $first, after: $after) {
    nodes {
      id
      sku
      displayName
      price
      inventoryItem {
        id
        tracked
        inventoryLevel(locationId: $loc) { quantities(names: ["available"]) { name quantity } }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

_READ = """
query HubRead($ids: [ID!]!, $loc: ID!) {
  nodes(ids: $ids) {
    ... on InventoryItem {
      id
      inventoryLevel(locationId: $loc) { quantities(names: ["available"]) { name quantity } }
    }
  }
}
"""

_LOCATIONS = """
query HubLocations($after: String) {
  shop { name }
  locations(first: 250, after: $after) { nodes { id name isActive } pageInfo { hasNextPage endCursor } }
}
"""

_SET = """
mutation HubSet($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { changes { name delta quantityAfterChange } }
    userErrors { code field message }
  }
}
"""


_ORDER_FIELDS = """
      id
      legacyResourceId
      name
      updatedAt
      cancelledAt
      closed
      displayFinancialStatus
      displayFulfillmentStatus
"""

_ORDERS = (
    """
query HubOrders($first: Int!, $after: String, $q: String!, $lines: Int!) {
  orders(first: $first, after: $after, query: $q, sortKey: UPDATED_AT) {
    nodes {"""
    + _ORDER_FIELDS
    + """      lineItems(first: $lines) { nodes { id sku quantity currentQuantity } pageInfo { hasNextPage } }
      refunds { id }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
)

_ORDER_DETAIL = """
query HubOrderDetail($id: ID!, $after: String) {
  order(id: $id) {
    lineItems(first: 100, after: $after) {
      nodes { id sku quantity currentQuantity }
      pageInfo { hasNextPage endCursor }
    }
    refunds {
      id
      refundLineItems(first: 100) { nodes { quantity restockType lineItem { id } } }
    }
  }
}
"""

RESTOCKING = frozenset({"RETURN", "CANCEL", "LEGACY_RESTOCK"})


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _order_status(node: Mapping[str, Any]) -> str:
    """Shopify's order state as one of the hub's statuses (cancelled wins, then refunds, shipping, payment)."""
    if node.get("cancelledAt"):
        return "cancelled"
    financial = node.get("displayFinancialStatus") or ""
    if financial == "REFUNDED":
        return "refunded"
    if node.get("closed"):
        return "completed"
    if node.get("displayFulfillmentStatus") == "FULFILLED":
        return "shipped"
    if financial in ("PAID", "PARTIALLY_PAID", "PARTIALLY_REFUNDED"):
        return "paid"
    return "open"


def item_gid(value: str | int) -> str:
    """Accept a gid or a numeric id (REST and webhooks use numbers)."""
    text = str(value)
    return text if text.startswith("gid://") else f"gid://shopify/InventoryItem/{text}"


def location_gid(value: str | int) -> str:
    text = str(value)
    return text if text.startswith("gid://") else f"gid://shopify/Location/{text}"


def _search_value(sku: str) -> str:
    escaped = sku.replace("\\", "\\\\").replace('"', '\\"')
    return f'sku:"{escaped}"'


def _available(item: Mapping[str, Any] | None) -> int | None:
    level = (item or {}).get("inventoryLevel")
    if not level:
        return None
    for quantity in level.get("quantities") or []:
        if quantity.get("name") == "available":
            return quantity.get("quantity")
    return None


class ShopifyAdapter(Adapter):
    kind = "shopify"
    role = "cart"
    display_name = "Shopify"
    capabilities = Capabilities(
        pull=False,
        push=True,
        replaced_skus=True,
        batch_limit=MAX_BATCH,
        rate_limit="GraphQL cost bucket: 2,000 points restoring 100/s (standard plan), 1,000 per query",
        webhooks=True,
        orders=True,
        product_import=True,
    )
    credential_fields = ("access_token",)
    secret_fields = ("access_token",)
    default_base_url = "https://{shop}.myshopify.com"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.api_version = str(self.options.get("api_version") or DEFAULT_API_VERSION)
        self.batch_size = max(1, min(MAX_BATCH, int(self.options.get("batch_size") or MAX_BATCH)))
        self.lookup_chunk = max(1, int(self.options.get("lookup_chunk") or 50))
        self.page_size = max(1, min(250, int(self.options.get("page_size") or 100)))
        self.reason = str(self.options.get("reason") or "correction")
        self.reference_uri = str(self.options.get("reference_uri") or "inventory-hub://push")
        self._throttle: dict[str, float] | None = None
        self._throttle_at = 0.0

    # -- transport --------------------------------------------------------------------

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/admin/api/{self.api_version}/graphql.json"

    def _note_cost(self, body: Any) -> dict[str, Any]:
        cost = ((body or {}).get("extensions") or {}).get("cost") or {} if isinstance(body, dict) else {}
        status = cost.get("throttleStatus")
        if status:
            self._throttle = {
                "max": float(status.get("maximumAvailable") or 0),
                "available": float(status.get("currentlyAvailable") or 0),
                "rate": float(status.get("restoreRate") or 0) or 1.0,
            }
            self._throttle_at = self.client.clock()
        return cost

    def _throttled(self, response: requests.Response) -> float | None:
        """HTTP 200 + THROTTLED: wait until the bucket holds the requested cost."""
        try:
            body = response.json()
        except ValueError:
            return None
        errors = body.get("errors") if isinstance(body, dict) else None
        if not isinstance(errors, list) or not any(
            isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors
        ):
            return None
        cost = self._note_cost(body)
        status = self._throttle or {"available": 0.0, "rate": 50.0}
        requested = float(cost.get("requestedQueryCost") or 0)
        return max(0.05, (requested - status["available"]) / status["rate"])

    def _pace(self, cost: float) -> None:
        """Wait before a call the bucket can't afford yet, instead of being throttled."""
        if not self._throttle:
            return
        elapsed = max(0.0, self.client.clock() - self._throttle_at)
        status = self._throttle
        available = min(status["max"], status["available"] + elapsed * status["rate"])
        if cost > available:
            self.client.wait_before_next((cost - available) / status["rate"])

    def _graphql(self, query: str, variables: Mapping[str, Any], cost: float, label: str) -> dict[str, Any]:
        self._pace(cost)
        response = self.client.request(
            "POST",
            self.graphql_url,
            headers={"X-Shopify-Access-Token": self.credential("access_token")},
            json={"query": query, "variables": dict(variables)},
            expect=(200,),
            throttle=self._throttled,
            secrets=self.secret_values,
            label=f"Shopify {label}",
        )
        try:
            body = response.json()
        except ValueError:
            raise PermanentError(f"Shopify {label}: the answer was not JSON") from None
        self._note_cost(body)
        errors = body.get("errors")
        if errors:
            messages = "; ".join(
                str(e.get("message")) if isinstance(e, dict) else str(e)
                for e in (errors if isinstance(errors, list) else [errors])
            )
            first = errors[0] if isinstance(errors, list) and errors else {}
            code = (first.get("extensions") or {}).get("code") if isinstance(first, dict) else None
            if code == "ACCESS_DENIED":
                raise AuthError(f"Shopify {label}: {messages}", code=code)
            raise PermanentError(f"Shopify {label}: {messages}", code=code)
        return body.get("data") or {}

    def _location(self) -> str:
        if not self.location_id:
            raise AdapterError("Shopify: choose the location to write to (test the connection to list them)")
        return location_gid(self.location_id)

    # -- the contract -----------------------------------------------------------------

    def test_connection(self) -> list[Location]:
        out, after = [], None
        while True:
            data = self._graphql(_LOCATIONS, {"after": after}, cost=5, label="locations")
            conn = data.get("locations") or {}
            out += [
                Location(id=n["id"], name=n["name"]) for n in conn.get("nodes") or [] if n.get("isActive")
            ]
            page = conn.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return out
            after = page.get("endCursor")

    def _find(self, skus: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Every variant whose SKU equals one of ``skus`` exactly (search is loose)."""
        wanted = {s for s in skus if s and s.strip()}
        found: dict[str, list[dict[str, Any]]] = {s: [] for s in wanted}
        loc = self._location()
        for chunk in chunked(sorted(wanted), self.lookup_chunk):
            query = " OR ".join(_search_value(s) for s in chunk)
            after = None
            while True:
                data = self._graphql(
                    _LOOKUP,
                    {"q": query, "first": self.page_size, "after": after, "loc": loc},
                    cost=2 + 4 * self.page_size,
                    label="SKU lookup",
                )
                conn = data.get("productVariants") or {}
                for node in conn.get("nodes") or []:
                    sku = node.get("sku")
                    if sku in found and node.get("inventoryItem") and node not in found[sku]:
                        found[sku].append(node)  # prefix hits of other chunks come back more than once
                page = conn.get("pageInfo") or {}
                if not page.get("hasNextPage"):
                    break
                after = page.get("endCursor")
        return found

    @staticmethod
    def _one(sku: str, hits: list[dict[str, Any]] | None) -> dict[str, Any] | AdapterError:
        if not sku or not sku.strip():
            return AdapterError("blank SKU: Shopify can't match it")
        if not hits:
            return AdapterError(f"SKU {sku!r} not found in Shopify")
        if len(hits) > 1:
            return AdapterError(
                f"SKU {sku!r} is on {len(hits)} Shopify variants; make it unique in Shopify to sync it"
            )
        return hits[0]

    def lookup(self, skus: Sequence[str]) -> dict[str, str | AdapterError]:
        found = self._find(skus)
        out: dict[str, str | AdapterError] = {}
        for sku in skus:
            hit = self._one(sku, found.get(sku))
            out[sku] = hit if isinstance(hit, AdapterError) else hit["inventoryItem"]["id"]
        return out

    def _read_ids(self, gids: Sequence[str]) -> dict[str, int | None]:
        loc = self._location()
        out: dict[str, int | None] = {}
        for chunk in chunked(list(dict.fromkeys(gids)), 100):
            data = self._graphql(_READ, {"ids": chunk, "loc": loc}, cost=3 * len(chunk), label="read levels")
            for wanted, node in zip(chunk, data.get("nodes") or [], strict=False):
                out[wanted] = _available(node) if node else None
        return out

    def read_levels(self, lines: Sequence[PushLine]) -> dict[str, int | None]:
        ids: dict[str, str] = {}
        missing = [ln.sku for ln in lines if not ln.remote_id]
        found = self._find(missing) if missing else {}
        out: dict[str, int | None] = {}
        for ln in lines:
            if ln.remote_id:
                ids[ln.sku] = item_gid(ln.remote_id)
                continue
            hit = self._one(ln.sku, found.get(ln.sku))
            out[ln.sku] = None if isinstance(hit, AdapterError) else _available(hit["inventoryItem"])
        levels = self._read_ids(list(ids.values())) if ids else {}
        for sku, remote in ids.items():
            out[sku] = levels.get(remote)
        return out

    def push(self, lines: Sequence[PushLine]) -> list[PushResult]:
        results: dict[int, PushResult] = {}
        loc = self._location()
        missing = [ln.sku for ln in lines if not ln.remote_id and ln.sku and ln.sku.strip()]
        try:
            found = self._find(missing) if missing else {}
            # (index, line, inventory item gid, changeFromQuantity)
            rows: list[tuple[int, PushLine, str, int | None]] = []
            unread: list[tuple[int, PushLine, str]] = []
            for index, ln in enumerate(lines):
                if ln.remote_id:
                    remote = item_gid(ln.remote_id)
                    if ln.last_confirmed is None:
                        unread.append((index, ln, remote))
                    else:
                        rows.append((index, ln, remote, ln.last_confirmed))
                    continue
                hit = self._one(ln.sku, found.get(ln.sku))
                if isinstance(hit, AdapterError):
                    results[index] = PushResult(ln.sku, False, error=str(hit))
                    continue
                remote = hit["inventoryItem"]["id"]
                # Without a confirmation on record, the level the lookup just read stands in.
                change_from = ln.last_confirmed
                if change_from is None:
                    change_from = _available(hit["inventoryItem"])
                rows.append((index, ln, remote, change_from))
            if unread:
                levels = self._read_ids([remote for _, _, remote in unread])
                rows += [(i, ln, remote, levels.get(remote)) for i, ln, remote in unread]
            rows.sort(key=lambda row: row[0])
            for batch in chunked(rows, self.batch_size):
                self._send(batch, loc, results)
        except AdapterError as exc:  # refused, down or broken: report it without losing results so far
            for index, ln in enumerate(lines):  # not a verdict on the items: the next push sends them again
                results.setdefault(
                    index, PushResult(ln.sku, False, remote_id=ln.remote_id, error=str(exc), transient=True)
                )
        return [results[i] for i in range(len(lines))]

    def _send(
        self,
        batch,
        loc: str,
        results: dict[int, PushResult],
        drift: dict[int, int] | None = None,
        attempt: int = 0,
    ) -> None:
        """One atomic call; bad rows are reported, stale rows re-read and resent alone."""
        drift = drift or {}
        payload = {
            "name": "available",
            "reason": self.reason,
            "referenceDocumentUri": self.reference_uri,
            "quantities": [
                {
                    "inventoryItemId": remote,
                    "locationId": loc,
                    "quantity": ln.quantity,
                    "changeFromQuantity": change_from,
                }
                for _, ln, remote, change_from in batch
            ],
        }
        try:
            data = self._graphql(
                _SET, {"input": payload, "key": str(uuid.uuid4())}, cost=10, label="set quantities"
            )
        except PermanentError as exc:
            for index, ln, remote, _ in batch:
                results[index] = PushResult(ln.sku, False, remote_id=remote, error=str(exc))
            return
        outcome = data.get("inventorySetQuantities") or {}
        errors = outcome.get("userErrors") or []
        if not errors:
            for index, ln, remote, _ in batch:
                results[index] = PushResult(
                    ln.sku, True, confirmed=ln.quantity, remote_id=remote, drift=drift.get(index)
                )
            return
        by_row: dict[int, dict[str, Any]] = {}
        general = []
        for error in errors:
            path = error.get("field") or []
            if len(path) >= 3 and path[:2] == ["input", "quantities"] and str(path[2]).isdigit():
                by_row.setdefault(int(path[2]), error)
            else:
                general.append(error)
        if general or not by_row:
            reason = "; ".join(f"{e.get('message')} ({e.get('code')})" for e in general or errors)
            for index, ln, remote, _ in batch:
                results[index] = PushResult(ln.sku, False, remote_id=remote, error=reason)
            return
        stale, rest = [], []
        for position, row in enumerate(batch):
            error = by_row.get(position)
            index, ln, remote, _ = row
            if error is None:
                rest.append(row)
            elif error.get("code") in ("CHANGE_FROM_QUANTITY_STALE", "COMPARE_QUANTITY_STALE"):
                stale.append(row)
            else:
                results[index] = PushResult(
                    ln.sku, False, remote_id=remote, error=f"{error.get('message')} ({error.get('code')})"
                )
        if rest:
            self._send(rest, loc, results, drift, attempt)
        if stale:
            current = self._read_ids([remote for _, _, remote, _ in stale])
            for index, ln, remote, _ in stale:
                now = current.get(remote)
                if now is None:
                    results[index] = PushResult(
                        ln.sku,
                        False,
                        remote_id=remote,
                        error="the item is no longer stocked at this Shopify location",
                    )
                elif attempt >= STALE_RETRIES:
                    results[index] = PushResult(
                        ln.sku,
                        False,
                        remote_id=remote,
                        drift=now,
                        error="the level kept changing in Shopify while we wrote it",
                        transient=True,  # busy, not refused: the next push tries again
                    )
                else:
                    first_drift = drift.get(index, now)
                    self._send(
                        [(index, ln, remote, now)], loc, results, {**drift, index: first_drift}, attempt + 1
                    )

    def _catalog(self) -> Iterator[dict[str, Any]]:
        loc = self._location()
        after = None
        while True:
            data = self._graphql(
                _CATALOG,
                {"first": self.page_size, "after": after, "loc": loc},
                cost=2 + 4 * self.page_size,
                label="catalog",
            )
            conn = data.get("productVariants") or {}
            yield from conn.get("nodes") or []
            page = conn.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return
            after = page.get("endCursor")

    def fetch_levels(self) -> Iterator[Level]:
        for node in self._catalog():
            sku, item = node.get("sku"), node.get("inventoryItem") or {}
            if not sku:
                continue
            qty = _available(item) if item.get("tracked") else None
            yield Level(sku=sku, quantity=qty, name=node.get("displayName"), remote_id=item.get("id"))

    def fetch_products(self) -> Iterator[RemoteProduct]:
        for node in self._catalog():
            sku, item = node.get("sku"), node.get("inventoryItem") or {}
            if not sku:
                continue
            try:
                price = Decimal(str(node["price"])) if node.get("price") is not None else None
            except InvalidOperation:
                price = None
            yield RemoteProduct(
                sku=sku,
                name=node.get("displayName") or sku,
                price=price,
                quantity=_available(item) if item.get("tracked") else None,
                remote_id=item.get("id") or node["id"],
            )

    # -- orders -----------------------------------------------------------------------

    def fetch_orders(self, since: datetime) -> Iterator[list[RemoteOrder]]:
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        query = f"updated_at:>='{stamp}'"
        first = max(1, min(250, int(self.options.get("orders_page_size") or 10)))
        lines = 50
        after = None
        while True:
            data = self._graphql(
                _ORDERS,
                {"first": first, "after": after, "q": query, "lines": lines},
                cost=2 + first * (4 + lines),
                label="orders",
            )
            conn = data.get("orders") or {}
            yield [self._order(node) for node in conn.get("nodes") or []]
            page = conn.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return
            after = page.get("endCursor")

    def _order(self, node: Mapping[str, Any]) -> RemoteOrder:
        items = list((node.get("lineItems") or {}).get("nodes") or [])
        refunds: list[dict[str, Any]] = []
        if node.get("refunds") or ((node.get("lineItems") or {}).get("pageInfo") or {}).get("hasNextPage"):
            items, refunds = self._order_detail(node["id"])
        refunded: dict[str, int] = {}
        restocked: dict[str, int] = {}
        for refund in refunds:
            for row in (refund.get("refundLineItems") or {}).get("nodes") or []:
                line_id = (row.get("lineItem") or {}).get("id")
                refunded[line_id] = refunded.get(line_id, 0) + int(row.get("quantity") or 0)
                if row.get("restockType") in RESTOCKING:
                    restocked[line_id] = restocked.get(line_id, 0) + int(row.get("quantity") or 0)
        lines = []
        for item in items:
            if not item.get("sku"):
                continue  # custom items, tips and gift cards hold no stock
            current = item.get("currentQuantity")
            if current is None:
                current = item.get("quantity") or 0
            lines.append(
                RemoteOrderLine(
                    sku=item["sku"],
                    quantity=int(current) + refunded.get(item["id"], 0),
                    restocked=restocked.get(item["id"], 0),
                )
            )
        updated = _instant(node["updatedAt"])
        status = _order_status(node)
        return RemoteOrder(
            external_id=str(node.get("legacyResourceId") or node["id"].rsplit("/", 1)[-1]),
            version=int(updated.timestamp() * 1000),
            updated_at=updated,
            status=status,
            takes_stock=True,
            lines=tuple(lines),
            cart_status=f"{node.get('displayFinancialStatus')}/{node.get('displayFulfillmentStatus')}",
        )

    def _order_detail(self, order_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        items: list[dict[str, Any]] = []
        refunds: list[dict[str, Any]] = []
        after = None
        while True:
            data = self._graphql(
                _ORDER_DETAIL, {"id": order_id, "after": after}, cost=420, label="order detail"
            )
            order = data.get("order") or {}
            conn = order.get("lineItems") or {}
            items += conn.get("nodes") or []
            if after is None:
                refunds = order.get("refunds") or []
            page = conn.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return items, refunds
            after = page.get("endCursor")

    # -- webhooks ---------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """``X-Shopify-Hmac-Sha256`` is base64(HMAC-SHA256(app secret, raw body))."""
        given = header(headers, "X-Shopify-Hmac-Sha256")
        if not given or not secret:
            return False
        expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        return hmac.compare_digest(expected, given.strip())

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[WebhookChange]:
        topic = (header(headers, "X-Shopify-Topic") or "inventory_levels/update").strip()
        if topic != "inventory_levels/update":
            return []
        try:
            data = json.loads(body)
        except ValueError:
            raise PermanentError("Shopify webhook: the body is not JSON") from None
        if not isinstance(data, dict) or data.get("inventory_item_id") is None:
            return []
        if self.location_id and data.get("location_id") is not None:
            ours = re.sub(r"\D", "", str(self.location_id).rsplit("/", 1)[-1])
            if str(data["location_id"]) != ours:
                return []  # another location's level: not what we push
        available = data.get("available")
        return [
            WebhookChange(
                sku=None,
                remote_id=item_gid(data["inventory_item_id"]),
                quantity=webhook_quantity(available, "Shopify"),
            )
        ]
