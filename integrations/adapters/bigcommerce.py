"""BigCommerce, through the v3 Inventory and Catalog APIs.

Why it looks the way it does:

* Writes use ``PUT inventory/adjustments/absolute`` (up to 2,000 items, one
  location per call, one call at a time): absolute sets never fail for low
  stock and are safe to retry.
* An item must be named the way its product tracks stock: by ``product_id``
  when the product tracks stock itself, by ``variant_id`` when its variants do.
  Lookups read the product's ``inventory_tracking`` once, so the remote id says
  which (``product:12`` or ``variant:34``); a product with tracking off is an
  error at lookup, never a silent no-op.
* A 422 names the items it refuses; those are reported with BigCommerce's words
  and the rest resent without them. A 422 that names nothing is halved until
  the culprit stands alone.
* The store-wide quota (150 requests per 30 s on Standard/Plus, shared by every
  app) is paced from the four ``X-Rate-Limit-*`` headers: when
  ``Requests-Left`` hits 0 the next call waits ``Time-Reset-Ms``; a 429 waits the
  same, and a header-less 429 (platform load) backs off.
* Accepted writes apply asynchronously, so reads may lag; the confirmed count is
  what BigCommerce accepted. A drift reported right after an earlier push may
  be that lag rather than a change made in the store.
* Webhooks carry no signature: they carry the custom headers given when the
  hook was created. The hub registers one, ``X-Hub-Webhook-Secret``, holding a
  random shared secret, checked in constant time.

Orders (``fetch_orders``): the v2 Orders API, ``GET v2/orders?min_date_modified=
…&sort=date_modified:asc&page=&limit=250`` (``204 No Content`` when nothing
matches; a short page is the last), walked by :func:`~.base.walk_modified`, and
``GET v2/orders/{id}/products`` for each order's lines (``sku``, ``quantity``,
``quantity_refunded``). BigCommerce takes stock when an order is placed, paid
or not, so every status takes stock except 0 Incomplete (an abandoned checkout)
and 6 Declined (the payment failed), which hold none; 5 Cancelled is
cancelled. ``quantity_refunded`` counts as restocked (BigCommerce's "return
stock on refund" behaviour; the option ``refunds_restock: false`` turns that
off for stores that keep refunded goods out). The version is
``date_modified`` in epoch milliseconds.
"""

from __future__ import annotations

import email.utils
import hmac
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from .base import (
    Adapter,
    AdapterError,
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
    walk_modified,
    webhook_quantity,
)

MAX_BATCH = 2000
LOOKUP_CHUNK = 50
WEBHOOK_SECRET_HEADER = "X-Hub-Webhook-Secret"  # noqa: S105 - a header name, not a secret
_NAMED = re.compile(r"Item with (variant_id|product_id|sku) (\S+?)(?=\s|$)")


ORDER_PAGE = 250
# status_id -> (hub status, takes stock)
ORDER_STATUSES = {
    0: ("open", False),  # Incomplete
    1: ("open", True),  # Pending
    2: ("shipped", True),  # Shipped
    3: ("shipped", True),  # Partially Shipped
    4: ("refunded", True),  # Refunded
    5: ("cancelled", True),  # Cancelled
    6: ("open", False),  # Declined
    7: ("open", True),  # Awaiting Payment
    8: ("paid", True),  # Awaiting Pickup
    9: ("paid", True),  # Awaiting Shipment
    10: ("completed", True),  # Completed
    11: ("paid", True),  # Awaiting Fulfillment
    12: ("open", True),  # Manual Verification Required
    13: ("paid", True),  # Disputed
    14: ("paid", True),  # Partially Refunded
}


def _rfc2822(value: str) -> datetime:
    return email.utils.parsedate_to_datetime(value).astimezone(UTC)


def _pace(response: requests.Response) -> float | None:
    """Spend the quota, then wait for the window to reset instead of collecting 429s."""
    left = response.headers.get("X-Rate-Limit-Requests-Left")
    reset = response.headers.get("X-Rate-Limit-Time-Reset-Ms")
    try:
        if left is not None and int(left) <= 0 and reset is not None:
            return int(reset) / 1000
    except ValueError:
        return None
    return None


def _split(remote_id: str) -> tuple[str, int]:
    kind, _, num = str(remote_id).partition(":")
    if kind not in ("product", "variant") or not num.isdigit():
        raise AdapterError(f"not a BigCommerce inventory id: {remote_id!r}")
    return kind, int(num)


class BigCommerceAdapter(Adapter):
    kind = "bigcommerce"
    role = "cart"
    display_name = "BigCommerce"
    capabilities = Capabilities(
        pull=False,
        push=True,
        replaced_skus=True,
        batch_limit=MAX_BATCH,
        rate_limit="store-wide quota shared by all apps: 150 requests per 30 s (Pro 450)",
        webhooks=True,
        orders=True,
        product_import=True,
    )
    credential_fields = ("store_hash", "access_token")
    secret_fields = ("access_token",)
    default_base_url = "https://api.bigcommerce.com"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.batch_size = max(1, min(MAX_BATCH, int(self.options.get("batch_size") or MAX_BATCH)))
        self.check_drift = bool(self.options.get("check_drift", True))
        self.reason = str(self.options.get("reason") or "inventory hub sync")

    @property
    def _location(self) -> int:
        try:
            return int(self.location_id or 1)  # location 1 is every store's default
        except ValueError:
            raise AdapterError(f"BigCommerce location ids are numbers, not {self.location_id!r}") from None

    def _call(
        self, method: str, path: str, *, params=None, json_body=None, label: str, api: str = "v3"
    ) -> requests.Response:
        url = f"{self.base_url}/stores/{self.credential('store_hash')}/{api}/{path.lstrip('/')}"
        return self.client.request(
            method,
            url,
            params=params,
            json=json_body,
            headers={"X-Auth-Token": self.credential("access_token"), "Content-Type": "application/json"},
            expect=(200, 201, 204),
            retry_after_headers=[("X-Rate-Limit-Time-Reset-Ms", 0.001)],
            pace=_pace,
            secrets=self.secret_values,
            label=f"BigCommerce {label}",
        )

    def _pages(self, path: str, params: Mapping[str, Any], label: str) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            body = self._call("GET", path, params={**params, "page": page, "limit": 250}, label=label).json()
            yield from body.get("data") or []
            pagination = (body.get("meta") or {}).get("pagination") or {}
            if page >= int(pagination.get("total_pages") or 1):
                return
            page += 1

    # -- the contract -----------------------------------------------------------------

    def test_connection(self) -> list[Location]:
        return [
            Location(id=str(row["id"]), name=row.get("label") or str(row["id"]))
            for row in self._pages("inventory/locations", {}, "locations")
            if row.get("enabled", True)
        ]

    def _find(self, skus: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        wanted = {s for s in skus if s and s.strip() and "," not in s}
        found: dict[str, list[dict[str, Any]]] = {s: [] for s in wanted}
        for chunk in chunked(sorted(wanted), LOOKUP_CHUNK):
            variants = [
                v
                for v in self._pages("catalog/variants", {"sku:in": ",".join(chunk)}, "SKU lookup")
                if v.get("sku") in found
            ]
            product_ids = sorted({v["product_id"] for v in variants})
            tracking: dict[int, str] = {}
            for ids in chunked(product_ids, 250):
                for product in self._pages(
                    "catalog/products",
                    {"id:in": ",".join(map(str, ids)), "include_fields": "inventory_tracking"},
                    "products",
                ):
                    tracking[product["id"]] = product.get("inventory_tracking") or "none"
            for variant in variants:
                found[variant["sku"]].append(
                    {**variant, "inventory_tracking": tracking.get(variant["product_id"])}
                )
        return found

    @staticmethod
    def _one(sku: str, hits: list[dict[str, Any]] | None) -> str | AdapterError:
        if not sku or not sku.strip():
            return AdapterError("blank SKU: BigCommerce can't match it")
        if "," in sku:
            return AdapterError(f"SKU {sku!r} contains a comma, which BigCommerce's SKU filter can't match")
        if not hits:
            return AdapterError(f"SKU {sku!r} not found in BigCommerce")
        if len(hits) > 1:
            return AdapterError(
                f"SKU {sku!r} is on {len(hits)} BigCommerce variants; make it unique to sync it"
            )
        hit = hits[0]
        if hit["inventory_tracking"] == "product":
            return f"product:{hit['product_id']}"
        if hit["inventory_tracking"] == "variant":
            return f"variant:{hit['id']}"
        return AdapterError(f"SKU {sku!r}: inventory tracking is off for this product in BigCommerce")

    def lookup(self, skus: Sequence[str]) -> dict[str, str | AdapterError]:
        found = self._find(skus)
        return {sku: self._one(sku, found.get(sku)) for sku in skus}

    def _read_ids(self, remote_ids: Sequence[str]) -> dict[str, int | None]:
        out: dict[str, int | None] = dict.fromkeys(remote_ids)
        by_kind: dict[str, list[int]] = {"product": [], "variant": []}
        for remote in dict.fromkeys(remote_ids):
            kind, num = _split(remote)
            by_kind[kind].append(num)
        for kind, nums in by_kind.items():
            for chunk in chunked(nums, 100):
                rows = self._pages(
                    f"inventory/locations/{self._location}/items",
                    {f"{kind}_id:in": ",".join(map(str, chunk))},
                    "read levels",
                )
                for row in rows:
                    identity = row.get("identity") or {}
                    key = f"{kind}:{identity.get(f'{kind}_id')}"
                    if key in out and out[key] is None:
                        out[key] = int(row.get("total_inventory_onhand") or 0)
        return out

    def read_levels(self, lines: Sequence[PushLine]) -> dict[str, int | None]:
        missing = [ln.sku for ln in lines if not ln.remote_id]
        found = self._find(missing) if missing else {}
        remotes: dict[str, str] = {}
        for ln in lines:
            remote = ln.remote_id or self._one(ln.sku, found.get(ln.sku))
            if isinstance(remote, str):
                remotes[ln.sku] = remote
        levels = self._read_ids(list(remotes.values())) if remotes else {}
        return {ln.sku: levels.get(remotes[ln.sku]) if ln.sku in remotes else None for ln in lines}

    def push(self, lines: Sequence[PushLine]) -> list[PushResult]:
        results: dict[int, PushResult] = {}
        try:
            missing = [ln.sku for ln in lines if not ln.remote_id]
            found = self._find(missing) if missing else {}
            rows: list[tuple[int, PushLine, str]] = []
            for index, ln in enumerate(lines):
                remote = ln.remote_id or self._one(ln.sku, found.get(ln.sku))
                if isinstance(remote, AdapterError):
                    results[index] = PushResult(ln.sku, False, error=str(remote))
                else:
                    rows.append((index, ln, remote))
            current: dict[str, int | None] = {}
            if self.check_drift:
                known = [r for _, ln, r in rows if ln.last_confirmed is not None]
                if known:
                    current = self._read_ids(known)
            for batch in chunked(rows, self.batch_size):
                self._send(batch, current, results)
        except AdapterError as exc:  # refused, down or broken: report it without losing results so far
            for index, ln in enumerate(lines):  # not a verdict on the items: the next push sends them again
                results.setdefault(
                    index, PushResult(ln.sku, False, remote_id=ln.remote_id, error=str(exc), transient=True)
                )
        return [results[i] for i in range(len(lines))]

    def _send(self, batch, current: Mapping[str, int | None], results: dict[int, PushResult]) -> None:
        if not batch:
            return
        items = []
        for _, ln, remote in batch:
            kind, num = _split(remote)
            items.append({"location_id": self._location, f"{kind}_id": num, "quantity": ln.quantity})
        try:
            self._call(
                "PUT",
                "inventory/adjustments/absolute",
                json_body={"reason": self.reason, "items": items},
                label="absolute adjustment",
            )
        except PermanentError as exc:
            named = self._named(str(exc), batch)
            if named:
                for position, reason in named.items():
                    index, ln, remote = batch[position]
                    results[index] = PushResult(ln.sku, False, remote_id=remote, error=reason)
                self._send([row for pos, row in enumerate(batch) if pos not in named], current, results)
            elif len(batch) > 1:
                half = len(batch) // 2
                self._send(batch[:half], current, results)
                self._send(batch[half:], current, results)
            else:
                index, ln, remote = batch[0]
                results[index] = PushResult(ln.sku, False, remote_id=remote, error=str(exc))
            return
        for index, ln, remote in batch:
            before = current.get(remote)
            drift = (
                before
                if (ln.last_confirmed is not None and before is not None and before != ln.last_confirmed)
                else None
            )
            results[index] = PushResult(ln.sku, True, confirmed=ln.quantity, remote_id=remote, drift=drift)

    @staticmethod
    def _named(message: str, batch) -> dict[int, str]:
        """Batch positions a 422 names, with BigCommerce's reason for each.

        The title lists refusals as ``[Item with variant_id 106 is ..., Item with ...]``;
        a reason may itself contain commas, so it is split only before "Item with".
        """
        inner = message[message.find("[") + 1 : message.rfind("]")] if "[" in message else message
        named: dict[int, str] = {}
        for segment in re.split(r",\s*(?=Item with |Location with )", inner):
            match = _NAMED.match(segment.strip())
            if not match:
                continue
            kind, value = match.group(1), match.group(2)
            for position, (_, ln, remote) in enumerate(batch):
                rkind, num = _split(remote)
                if (kind == f"{rkind}_id" and value == str(num)) or (kind == "sku" and value == ln.sku):
                    named.setdefault(position, segment.strip())
        return named

    def _catalog(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        products = {p["id"]: p for p in self._pages("catalog/products", {}, "catalog")}
        for variant in self._pages("catalog/variants", {}, "catalog"):
            product = products.get(variant.get("product_id"))
            if product is not None:
                yield product, variant

    def _holdings(self) -> list[tuple[dict[str, Any], dict[str, Any], str | None, int | None]]:
        """(product, variant, remote id, level) for every variant with a SKU."""
        rows = [(p, v) for p, v in self._catalog() if v.get("sku")]
        remotes: dict[int, str | None] = {}
        for product, variant in rows:
            tracking = product.get("inventory_tracking")
            remotes[variant["id"]] = (
                f"product:{product['id']}"
                if tracking == "product"
                else f"variant:{variant['id']}"
                if tracking == "variant"
                else None
            )
        wanted = [r for r in remotes.values() if r]
        levels = self._read_ids(wanted) if wanted else {}
        return [
            (p, v, remotes[v["id"]], levels.get(remotes[v["id"]]) if remotes[v["id"]] else None)
            for p, v in rows
        ]

    def fetch_levels(self) -> Iterator[Level]:
        for product, variant, remote, quantity in self._holdings():
            yield Level(sku=variant["sku"], quantity=quantity, name=product.get("name"), remote_id=remote)

    def fetch_products(self) -> Iterator[RemoteProduct]:
        for product, variant, remote, quantity in self._holdings():
            price = variant.get("price") if variant.get("price") is not None else product.get("price")
            yield RemoteProduct(
                sku=variant["sku"],
                name=product.get("name") or variant["sku"],
                price=price_of(price),
                quantity=quantity,
                remote_id=remote or f"variant:{variant['id']}",
            )

    # -- orders -----------------------------------------------------------------------

    def _v2_list(self, path: str, params: Mapping[str, Any], label: str) -> list[dict[str, Any]]:
        response = self._call("GET", path, params=params, label=label, api="v2")
        if response.status_code == 204 or not response.content:
            return []
        rows = response.json()
        if not isinstance(rows, list):
            raise PermanentError(f"BigCommerce {label}: unexpected answer")
        return rows

    def fetch_orders(self, since: datetime) -> Iterator[list[RemoteOrder]]:
        limit = max(1, min(ORDER_PAGE, int(self.options.get("orders_page_size") or ORDER_PAGE)))

        def fetch(after: datetime, page: int) -> tuple[list[RemoteOrder], bool]:
            params = {
                "min_date_modified": after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                "sort": "date_modified:asc",
                "page": page,
                "limit": limit,
            }
            rows = self._v2_list("orders", params, "orders")
            return [self._order(row) for row in rows], len(rows) >= limit

        yield from walk_modified(fetch, since)

    def _order(self, row: Mapping[str, Any]) -> RemoteOrder:
        try:
            status_id = int(row.get("status_id"))
        except (TypeError, ValueError):
            status_id = -1
        status, takes = ORDER_STATUSES.get(status_id, ("open", True))
        products: list[dict[str, Any]] = []
        page = 1
        while True:
            rows = self._v2_list(f"orders/{row['id']}/products", {"page": page, "limit": ORDER_PAGE}, "order products")
            products += rows
            if len(rows) < ORDER_PAGE:
                break
            page += 1
        restock = bool(self.options.get("refunds_restock", True))
        lines = tuple(
            RemoteOrderLine(
                sku=product["sku"],
                quantity=max(0, int(product.get("quantity") or 0)),
                restocked=max(0, int(product.get("quantity_refunded") or 0)) if restock else 0,
            )
            for product in products
            if product.get("sku")
        )
        updated = _rfc2822(row.get("date_modified") or row["date_created"])
        return RemoteOrder(
            external_id=str(row["id"]),
            version=int(updated.timestamp() * 1000),
            updated_at=updated,
            status=status,
            takes_stock=takes,
            lines=lines,
            cart_status=str(row.get("status") or status_id),
        )

    # -- webhooks ---------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """BigCommerce signs nothing: the hook echoes the custom header set at creation."""
        given = header(headers, WEBHOOK_SECRET_HEADER)
        if not given or not secret:
            return False
        return hmac.compare_digest(given.strip().encode(), secret.encode())

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[WebhookChange]:
        try:
            payload = json.loads(body)
        except ValueError:
            raise PermanentError("BigCommerce webhook: the body is not JSON") from None
        if not isinstance(payload, dict):
            raise PermanentError("BigCommerce webhook: the body is not a JSON object")
        scope = str(payload.get("scope") or "")
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        inventory = data.get("inventory") if isinstance(data.get("inventory"), dict) else {}
        if scope.endswith("/inventory/updated") or scope.endswith("/inventory/order/updated"):
            value = inventory.get("value")
            if data.get("type") == "sku" or inventory.get("variant_id"):
                remote = f"variant:{inventory.get('variant_id') or data.get('id')}"
            else:
                remote = f"product:{inventory.get('product_id') or data.get('id')}"
            method = inventory.get("method")
            quantity = webhook_quantity(value, "BigCommerce") if method in (None, "absolute") else None
            return [WebhookChange(sku=None, remote_id=remote, quantity=quantity)]
        return []


def price_of(value: Any) -> Decimal | None:
    """BigCommerce prices are JSON numbers; go through str so 12.5 stays 12.5, not a binary float."""
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None
