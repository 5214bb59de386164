"""Square, through the Catalog and Inventory APIs.

Why it looks the way it does:

* Stock lives on ITEM_VARIATION ids per location; SKUs are found with a catalog
  ``exact_query``, which ignores case, so every hit is re-checked exactly.
* Writes are ``PHYSICAL_COUNT`` changes in ``batch-create`` calls of up to 100,
  with quantities as decimal strings and ``occurred_at`` = now (Square applies
  changes in ``occurred_at`` order and refuses ones older than 24 hours).
* The idempotency key is a hash of the batch content, timestamp included: an
  HTTP retry sends the same body and key, so Square replays the first answer
  instead of counting twice, while a later push is a new operation.
* One bad change refuses the whole call; the ``errors`` array names the change
  (``changes[2]...``), so that change is reported with Square's words and the
  rest resent. Unattributable refusals are halved until the culprit is alone.
* Square has no compare-and-set: drift is found by reading counts first.
* Square documents no rate; a 429 ``RATE_LIMITED`` comes without Retry-After,
  so it backs off with jitter.

Orders (``fetch_orders``): ``POST /v2/orders/search`` at our location with
``date_time_filter.updated_at.start_at`` and ``sort_field: UPDATED_AT`` (Square
requires the two to match), paged by ``cursor`` (the end of the range is fixed
when the first page is read, so an order updated meanwhile waits for the next
run). Lines name ITEM_VARIATION ids; their SKUs come from
``/v2/catalog/batch-retrieve`` (deleted variations included), cached per run.
Square takes stock when an order is paid: OPEN orders with a tender (paid,
awaiting fulfillment) and COMPLETED ones take stock; DRAFT orders and OPEN
orders nobody has paid hold none; CANCELED is cancelled. Returns live on
separate return orders (``returns[].source_order_id`` with
``return_line_items``); each is passed on as a return of its sale order and
counted as restocked (Square's Orders API does not say whether a returned item
went back on the shelf; a return is taken to mean it did). The version is
Square's own ``version`` counter.
"""

from __future__ import annotations

import base64
import hashlib
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
    RemoteReturn,
    WebhookChange,
    chunked,
    content_key,
    header,
)

DEFAULT_VERSION = "2025-10-16"
MAX_BATCH = 100
_CHANGE_FIELD = re.compile(r"^changes\[(\d+)\]")


def _quantity(value: Any) -> int | None:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, TypeError):
        return None
    return int(amount) if amount == amount.to_integral_value() else None


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _message(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return response.text[:300]
    return "; ".join(
        f"{e.get('detail') or e.get('code')} ({e.get('code')})" for e in errors if isinstance(e, dict)
    )


class SquareAdapter(Adapter):
    kind = "square"
    role = "cart"
    display_name = "Square"
    capabilities = Capabilities(
        pull=False,
        push=True,
        replaced_skus=True,
        batch_limit=MAX_BATCH,
        rate_limit="undocumented; 429 RATE_LIMITED is backed off with jitter",
        webhooks=True,
        orders=True,
        product_import=True,
    )
    credential_fields = ("access_token",)
    secret_fields = ("access_token",)
    default_base_url = "https://connect.squareup.com"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.version = str(self.options.get("square_version") or DEFAULT_VERSION)
        self.batch_size = max(1, min(MAX_BATCH, int(self.options.get("batch_size") or MAX_BATCH)))
        self.check_drift = bool(self.options.get("check_drift", True))
        self.webhook_url = str(self.options.get("webhook_url") or "")
        self._skus: dict[str, str | None] = {}  # variation id -> SKU, for order lines

    def _call(self, method: str, path: str, *, params=None, json_body=None, label: str) -> requests.Response:
        return self.client.request(
            method,
            f"{self.base_url}{path}",
            params=params,
            json=json_body,
            headers={
                "Authorization": f"Bearer {self.credential('access_token')}",
                "Square-Version": self.version,
                "Content-Type": "application/json",
            },
            expect=(200,),
            secrets=self.secret_values,
            message=_message,
            label=f"Square {label}",
        )

    def _location(self) -> str:
        if not self.location_id:
            raise AdapterError("Square: choose the location to write to (test the connection to list them)")
        return str(self.location_id)

    # -- the contract -----------------------------------------------------------------

    def test_connection(self) -> list[Location]:
        body = self._call("GET", "/v2/locations", label="locations").json()
        return [
            Location(id=loc["id"], name=loc.get("name") or loc["id"])
            for loc in body.get("locations") or []
            if loc.get("status", "ACTIVE") == "ACTIVE"
        ]

    def _search(self, sku: str) -> list[dict[str, Any]]:
        hits, cursor = [], None
        while True:
            body = {
                "object_types": ["ITEM_VARIATION"],
                "limit": 100,
                "query": {"exact_query": {"attribute_name": "sku", "attribute_value": sku}},
            }
            if cursor:
                body["cursor"] = cursor
            answer = self._call("POST", "/v2/catalog/search", json_body=body, label="SKU lookup").json()
            hits += [
                o
                for o in answer.get("objects") or []
                if o.get("type") == "ITEM_VARIATION"
                and not o.get("is_deleted")
                and (o.get("item_variation_data") or {}).get("sku") == sku
            ]
            cursor = answer.get("cursor")
            if not cursor:
                return hits

    def lookup(self, skus: Sequence[str]) -> dict[str, str | AdapterError]:
        out: dict[str, str | AdapterError] = {}
        for sku in dict.fromkeys(skus):
            if not sku or not sku.strip():
                out[sku] = AdapterError("blank SKU: Square can't match it")
                continue
            hits = self._search(sku)
            if not hits:
                out[sku] = AdapterError(f"SKU {sku!r} not found in Square")
            elif len(hits) > 1:
                out[sku] = AdapterError(
                    f"SKU {sku!r} is on {len(hits)} Square item variations; make it unique"
                )
            else:
                out[sku] = hits[0]["id"]
        return out

    def _counts(self, ids: Sequence[str]) -> dict[str, int | None]:
        """Counts at our location; a variation never counted has no row and holds 0."""
        out: dict[str, int | None] = dict.fromkeys(ids, 0)
        for chunk in chunked(list(dict.fromkeys(ids)), 100):
            cursor = None
            while True:
                body: dict[str, Any] = {
                    "catalog_object_ids": chunk,
                    "location_ids": [self._location()],
                    "states": ["IN_STOCK"],
                    "limit": 1000,
                }
                if cursor:
                    body["cursor"] = cursor
                answer = self._call(
                    "POST", "/v2/inventory/counts/batch-retrieve", json_body=body, label="read counts"
                ).json()
                for count in answer.get("counts") or []:
                    if count.get("state") == "IN_STOCK" and count.get("catalog_object_id") in out:
                        out[count["catalog_object_id"]] = _quantity(count.get("quantity"))
                cursor = answer.get("cursor")
                if not cursor:
                    break
        return out

    def read_levels(self, lines: Sequence[PushLine]) -> dict[str, int | None]:
        missing = [ln.sku for ln in lines if not ln.remote_id]
        found = self.lookup(missing) if missing else {}
        ids = {ln.sku: ln.remote_id or found.get(ln.sku) for ln in lines}
        ids = {sku: r for sku, r in ids.items() if isinstance(r, str)}
        counts = self._counts(list(ids.values())) if ids else {}
        return {ln.sku: counts.get(ids[ln.sku]) if ln.sku in ids else None for ln in lines}

    def push(self, lines: Sequence[PushLine]) -> list[PushResult]:
        results: dict[int, PushResult] = {}
        location = self._location()
        try:
            missing = [ln.sku for ln in lines if not ln.remote_id]
            found = self.lookup(missing) if missing else {}
            rows: list[tuple[int, PushLine, str]] = []
            for index, ln in enumerate(lines):
                remote = ln.remote_id or found.get(ln.sku)
                if isinstance(remote, str):
                    rows.append((index, ln, remote))
                else:
                    error = remote or AdapterError(f"SKU {ln.sku!r} not found in Square")
                    results[index] = PushResult(ln.sku, False, error=str(error))
            current: dict[str, int | None] = {}
            if self.check_drift:
                known = [r for _, ln, r in rows if ln.last_confirmed is not None]
                if known:
                    current = self._counts(known)
            for batch in chunked(rows, self.batch_size):
                self._send(batch, location, current, results)
        except AdapterError as exc:  # refused, down or broken: report it without losing results so far
            for index, ln in enumerate(lines):  # not a verdict on the items: the next push sends them again
                results.setdefault(
                    index, PushResult(ln.sku, False, remote_id=ln.remote_id, error=str(exc), transient=True)
                )
        return [results[i] for i in range(len(lines))]

    def _send(
        self, batch, location: str, current: Mapping[str, int | None], results: dict[int, PushResult]
    ) -> None:
        if not batch:
            return
        occurred = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        changes = [
            {
                "type": "PHYSICAL_COUNT",
                "physical_count": {
                    "catalog_object_id": remote,
                    "location_id": location,
                    "state": "IN_STOCK",
                    "quantity": str(int(ln.quantity)),
                    "occurred_at": occurred,
                    "reference_id": "inventory-hub",
                },
            }
            for _, ln, remote in batch
        ]
        body = {"ignore_unchanged_counts": True, "changes": changes}
        body["idempotency_key"] = content_key(body, prefix="hub-")
        try:
            answer = self._call(
                "POST", "/v2/inventory/changes/batch-create", json_body=body, label="batch change"
            ).json()
        except PermanentError as exc:
            named = self._named(exc, batch)
            if named:
                for position, reason in named.items():
                    index, ln, remote = batch[position]
                    results[index] = PushResult(ln.sku, False, remote_id=remote, error=reason)
                self._send(
                    [row for pos, row in enumerate(batch) if pos not in named], location, current, results
                )
            elif len(batch) > 1:
                half = len(batch) // 2
                self._send(batch[:half], location, current, results)
                self._send(batch[half:], location, current, results)
            else:
                index, ln, remote = batch[0]
                results[index] = PushResult(ln.sku, False, remote_id=remote, error=str(exc))
            return
        held = {
            (c.get("catalog_object_id"), c.get("location_id")): _quantity(c.get("quantity"))
            for c in answer.get("counts") or []
            if c.get("state") == "IN_STOCK"
        }
        for index, ln, remote in batch:
            confirmed = held.get((remote, location), ln.quantity)
            before = current.get(remote)
            drift = (
                before
                if (ln.last_confirmed is not None and before is not None and before != ln.last_confirmed)
                else None
            )
            results[index] = PushResult(ln.sku, True, confirmed=confirmed, remote_id=remote, drift=drift)

    @staticmethod
    def _named(exc: PermanentError, batch) -> dict[int, str]:
        """Changes Square's errors point at, by ``field`` or by the object id in ``detail``."""
        body = exc.payload
        errors = body.get("errors") if isinstance(body, dict) else None
        named: dict[int, str] = {}
        for error in errors or []:
            detail = f"{error.get('detail') or error.get('code')} ({error.get('code')})"
            match = _CHANGE_FIELD.match(str(error.get("field") or ""))
            if match and int(match.group(1)) < len(batch):
                named.setdefault(int(match.group(1)), detail)
                continue
            for position, (_, _, remote) in enumerate(batch):
                if remote and f"`{remote}`" in str(error.get("detail") or ""):
                    named.setdefault(position, detail)
        return named

    def _catalog(self, types: str) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            params = {"types": types}
            if cursor:
                params["cursor"] = cursor
            answer = self._call("GET", "/v2/catalog/list", params=params, label="catalog").json()
            yield from answer.get("objects") or []
            cursor = answer.get("cursor")
            if not cursor:
                return

    def _holdings(self) -> list[tuple[dict[str, Any], str, int | None]]:
        names = {}
        variations = []
        for obj in self._catalog("ITEM,ITEM_VARIATION"):
            if obj.get("is_deleted"):
                continue
            if obj.get("type") == "ITEM":
                names[obj["id"]] = (obj.get("item_data") or {}).get("name")
            elif obj.get("type") == "ITEM_VARIATION" and (obj.get("item_variation_data") or {}).get("sku"):
                variations.append(obj)
        counts = self._counts([v["id"] for v in variations]) if variations else {}
        return [
            (
                v,
                names.get(v["item_variation_data"].get("item_id")) or v["item_variation_data"]["sku"],
                counts.get(v["id"]),
            )
            for v in variations
        ]

    def fetch_levels(self) -> Iterator[Level]:
        for variation, name, quantity in self._holdings():
            yield Level(
                sku=variation["item_variation_data"]["sku"],
                quantity=quantity,
                name=name,
                remote_id=variation["id"],
            )

    def fetch_products(self) -> Iterator[RemoteProduct]:
        for variation, name, quantity in self._holdings():
            data = variation["item_variation_data"]
            money = data.get("price_money") or {}
            price = Decimal(money["amount"]) / 100 if money.get("amount") is not None else None
            yield RemoteProduct(
                sku=data["sku"], name=name, price=price, quantity=quantity, remote_id=variation["id"]
            )

    # -- orders -----------------------------------------------------------------------

    def fetch_orders(self, since: datetime) -> Iterator[list[RemoteOrder]]:
        query = {
            "filter": {"date_time_filter": {"updated_at": {"start_at": _rfc3339(since)}}},
            "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"},
        }
        limit = max(1, min(1000, int(self.options.get("orders_page_size") or 500)))
        cursor = None
        while True:
            body: dict[str, Any] = {
                "location_ids": [self._location()],
                "query": query,
                "limit": limit,
                "return_entries": False,
            }
            if cursor:
                body["cursor"] = cursor
            answer = self._call("POST", "/v2/orders/search", json_body=body, label="search orders").json()
            orders = answer.get("orders") or []
            self._learn_skus(
                [
                    line.get("catalog_object_id")
                    for order in orders
                    for line in [
                        *(order.get("line_items") or []),
                        *(item for ret in order.get("returns") or [] for item in ret.get("return_line_items") or []),
                    ]
                ]
            )
            yield [self._order(order) for order in orders]
            cursor = answer.get("cursor")
            if not cursor:
                return

    def _learn_skus(self, ids: Sequence[str | None]) -> None:
        wanted = [i for i in dict.fromkeys(ids) if i and i not in self._skus]
        for chunk in chunked(wanted, 1000):
            answer = self._call(
                "POST",
                "/v2/catalog/batch-retrieve",
                json_body={"object_ids": chunk, "include_related_objects": False, "include_deleted_objects": True},
                label="catalog lookup",
            ).json()
            for obj in answer.get("objects") or []:
                if obj.get("type") == "ITEM_VARIATION":
                    self._skus[obj["id"]] = (obj.get("item_variation_data") or {}).get("sku") or None
            for object_id in chunk:
                self._skus.setdefault(object_id, None)

    def _lines(self, rows: Sequence[Mapping[str, Any]], problems: list[str]) -> tuple[RemoteOrderLine, ...]:
        lines = []
        for row in rows:
            sku = self._skus.get(row.get("catalog_object_id") or "")
            if not sku:
                continue  # custom amounts and variations without a SKU hold no stock we know
            quantity = _quantity(row.get("quantity"))
            if quantity is None or quantity < 0:
                problems.append(f"{sku}: quantity {row.get('quantity')!r} is not a whole number of units")
                continue
            lines.append(RemoteOrderLine(sku=sku, quantity=quantity))
        return tuple(lines)

    def _order(self, order: Mapping[str, Any]) -> RemoteOrder:
        state = str(order.get("state") or "")
        paid = bool(order.get("tenders"))
        status, takes = {
            "DRAFT": ("open", False),
            "OPEN": ("paid", True) if paid else ("open", False),
            "COMPLETED": ("completed", True),
            "CANCELED": ("cancelled", True),
        }.get(state, ("open", True))
        problems: list[str] = []
        returns = tuple(
            RemoteReturn(
                source_id=str(ret["source_order_id"]),
                lines=self._lines(ret.get("return_line_items") or [], problems),
            )
            for ret in order.get("returns") or []
            if ret.get("source_order_id")
        )
        updated = _instant(order.get("updated_at") or order["created_at"])
        return RemoteOrder(
            external_id=str(order["id"]),
            version=int(order.get("version") or 0),
            updated_at=updated,
            status=status,
            takes_stock=takes,
            lines=self._lines(order.get("line_items") or [], problems),
            cart_status=state,
            returns=returns,
            problems=tuple(problems),
        )

    # -- webhooks ---------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """``x-square-hmacsha256-signature`` = base64(HMAC-SHA256(key, notification URL + body))."""
        given = header(headers, "x-square-hmacsha256-signature")
        if not given or not secret or not self.webhook_url:
            return False
        mac = hmac.new(secret.encode(), self.webhook_url.encode() + body, hashlib.sha256)
        return hmac.compare_digest(base64.b64encode(mac.digest()).decode(), given.strip())

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[WebhookChange]:
        try:
            event = json.loads(body)
        except ValueError:
            raise PermanentError("Square webhook: the body is not JSON") from None
        if event.get("type") != "inventory.count.updated":
            return []
        counts = ((event.get("data") or {}).get("object") or {}).get("inventory_counts") or []
        return [
            WebhookChange(
                sku=None, remote_id=c.get("catalog_object_id"), quantity=_quantity(c.get("quantity"))
            )
            for c in counts
            if c.get("state") == "IN_STOCK"
            and (not self.location_id or c.get("location_id") == self.location_id)
        ]
