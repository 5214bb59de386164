"""A fake BigCommerce v3 API (catalog + inventory) for one or more stores.

It enforces what api_contracts.md §3 and §9 list: ``X-Auth-Token`` and the store
hash in the path; absolute inventory adjustments with exactly one identifier
per item, at most 2,000 items, 422 ``application/problem+json`` naming the
items it refuses (tracking-mode mismatches, unknown items and locations), a
``transaction_id`` answer and a *delayed* apply (reads stay stale for a
while); the legacy catalog variant batch (≤ 50, else 413) where
``inventory_tracking: none`` silently ignores levels; the store-wide quota of
150 requests per 30 s with its four headers on every answer; 429 (and, via
``inject``, header-less 429s for platform load); ``meta.pagination``.

Orders (v2): ``GET v2/orders`` with ``min_date_modified``/``max_date_modified``
(RFC 2822 or ISO 8601, inclusive), ``sort`` (``field:asc|desc``), ``page`` and
``limit`` (≤ 250), answering ``204 No Content`` when nothing matches and v2's
error arrays (``[{"status", "message"}]``); ``GET v2/orders/{id}`` and
``GET v2/orders/{id}/products`` (``sku``, ``quantity``, ``quantity_refunded``).
"""

from __future__ import annotations

import email.utils
import itertools
import json
import math
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from .server import FakeServer, FixedWindow, HttpError, Request, Response, json_response, serve_forever

__all__ = ["BigCommerceFake", "serve"]

MAX_ABSOLUTE_ITEMS = 2000
MAX_LEGACY_BATCH = 50
MAX_QUANTITY = 2_147_483_647
PROBLEM = "application/problem+json"
STATUS_DOCS = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"


def _problem(status: int, title: str, errors: Any = None, detail: str | None = None) -> HttpError:
    body: dict[str, Any] = {"status": status, "title": title, "type": STATUS_DOCS, "errors": errors or {}}
    if detail:
        body["detail"] = detail
    return HttpError(status, body, content_type=PROBLEM)


class BigCommerceFake(FakeServer):
    """BigCommerce with its real default limits (Standard/Plus plan quota)."""

    name = "bigcommerce"

    def __init__(
        self,
        *,
        store_hash: str = "abc123",
        access_token: str = "bc_fake_token",  # noqa: S107 - a fake's known test token
        quota: int = 150,
        window: float = 30.0,
        apply_delay: float = 2.0,
        **kwargs: Any,
    ):
        self.store_hash = store_hash
        self.access_token = access_token
        self.apply_delay = apply_delay  # service seconds before an accepted adjustment shows in reads
        super().__init__(**kwargs)
        self.quota = FixedWindow(quota, window, self.now)
        self._id_seq = itertools.count(100)
        self.locations: dict[int, dict[str, Any]] = {
            1: {"label": "Default location", "code": "BC-LOCATION-1"}
        }
        self.products: dict[int, dict[str, Any]] = {}
        self.variants: dict[int, dict[str, Any]] = {}
        self.levels: dict[tuple[int, int], int] = {}  # (location, variant) -> on hand
        self.pending: list[tuple[float, int, int, int]] = []  # (due, location, variant, quantity)
        self.transactions: list[str] = []
        self.orders: dict[int, dict[str, Any]] = {}
        self._order_seq = itertools.count(100)

    # -- seeding --------------------------------------------------------------------

    def add_location(self, label: str) -> int:
        with self.lock:
            lid = max(self.locations) + 1
            self.locations[lid] = {"label": label, "code": f"BC-LOCATION-{lid}"}
            return lid

    def add_product(
        self,
        sku: str,
        quantity: int = 0,
        *,
        name: str | None = None,
        price: str = "10.00",
        tracking: str = "product",
        options: list[tuple[str, int]] | None = None,
        location_id: int = 1,
    ) -> dict[str, Any]:
        """A product with its base variant, or with option variants (``tracking="variant"``)."""
        with self.lock:
            pid = next(self._id_seq)
            self.products[pid] = {
                "id": pid,
                "name": name or f"Product {sku}",
                "sku": sku,
                "price": float(price),
                "inventory_tracking": tracking,
            }
            out: dict[str, Any] = {"product_id": pid, "variants": {}}
            for vsku, vqty in options or [(sku, quantity)]:
                vid = next(self._id_seq)
                self.variants[vid] = {"id": vid, "product_id": pid, "sku": vsku, "price": float(price)}
                self.levels[(location_id, vid)] = vqty
                out["variants"][vsku] = vid
            return out

    def exhaust_quota(self) -> None:
        """Another app on the store just spent the shared quota; the window starts now."""
        with self.lock:
            self.quota = FixedWindow(self.quota.quota, self.quota.window, self.now)
            self.quota.used = self.quota.quota

    def delete_product(self, pid: int) -> None:
        with self.lock:
            self.products.pop(pid, None)
            for vid in [v for v, row in self.variants.items() if row["product_id"] == pid]:
                del self.variants[vid]

    def _settle(self) -> None:
        now = self.now()
        ready = [p for p in self.pending if p[0] <= now]
        self.pending = [p for p in self.pending if p[0] > now]
        for _, lid, vid, qty in ready:
            if vid in self.variants:
                self.levels[(lid, vid)] = qty

    def settle(self) -> None:
        """Apply every accepted adjustment now (tests that don't care about the lag)."""
        with self.lock:
            self.pending = [(0.0, *rest) for _, *rest in self.pending]
            self._settle()

    def level(self, sku: str, location_id: int = 1) -> int | None:
        with self.lock:
            self._settle()
            vid = self._variant_for_sku(sku)
            return self.levels.get((location_id, vid))

    def set_level(self, sku: str, quantity: int, location_id: int = 1) -> None:
        with self.lock:
            self.levels[(location_id, self._variant_for_sku(sku))] = quantity

    def _variant_for_sku(self, sku: str) -> int:
        hits = [vid for vid, v in self.variants.items() if v["sku"] == sku]
        if len(hits) != 1:
            raise KeyError(f"{len(hits)} variants with SKU {sku!r}")
        return hits[0]

    # -- orders (test helpers: what shoppers and staff do in BigCommerce) ---------------

    STATUS_NAMES = {
        0: "Incomplete",
        1: "Pending",
        2: "Shipped",
        3: "Partially Shipped",
        4: "Refunded",
        5: "Cancelled",
        6: "Declined",
        7: "Awaiting Payment",
        8: "Awaiting Pickup",
        9: "Awaiting Shipment",
        10: "Completed",
        11: "Awaiting Fulfillment",
        12: "Manual Verification Required",
        13: "Disputed",
        14: "Partially Refunded",
    }

    def _touch(self, order: dict[str, Any], at: float | None) -> None:
        order["date_modified"] = max(order.get("date_modified", 0.0), self.wall_time() if at is None else at)

    def _product_line(self, oid: int, sku: str, quantity: int) -> dict[str, Any]:
        vid = next((v for v, row in self.variants.items() if row["sku"] == sku), 0)
        pid = self.variants[vid]["product_id"] if vid else 0
        return {
            "id": next(self._id_seq),
            "order_id": oid,
            "product_id": pid,
            "variant_id": vid,
            "name": f"Item {sku}",
            "sku": sku,
            "quantity": quantity,
            "quantity_refunded": 0,
            "quantity_shipped": 0,
        }

    def add_order(
        self, lines: dict[str, int] | list[tuple[str, int]], *, status_id: int = 11, at: float | None = None
    ) -> int:
        with self.lock:
            oid = next(self._order_seq)
            order = {
                "id": oid,
                "status_id": status_id,
                "date_created": self.wall_time() if at is None else at,
                "products": [
                    self._product_line(oid, sku, qty)
                    for sku, qty in (lines.items() if isinstance(lines, dict) else lines)
                ],
            }
            self._touch(order, at)
            self.orders[oid] = order
            return oid

    def edit_order(self, oid: int, lines: dict[str, int], at: float | None = None) -> None:
        with self.lock:
            order = self.orders[oid]
            for sku, quantity in lines.items():
                line = next((p for p in order["products"] if p["sku"] == sku), None)
                if line is None:
                    order["products"].append(self._product_line(oid, sku, quantity))
                else:
                    line["quantity"] = quantity
            self._touch(order, at)

    def set_order_status(self, oid: int, status_id: int, at: float | None = None) -> None:
        with self.lock:
            self.orders[oid]["status_id"] = status_id
            self._touch(self.orders[oid], at)

    def refund_order(self, oid: int, lines: dict[str, int], at: float | None = None) -> None:
        with self.lock:
            order = self.orders[oid]
            for sku, quantity in lines.items():
                line = next(p for p in order["products"] if p["sku"] == sku)
                line["quantity_refunded"] += quantity
            everything = all(p["quantity_refunded"] >= p["quantity"] for p in order["products"])
            order["status_id"] = 4 if everything else 14
            self._touch(order, at)

    def seed_demo(self) -> None:
        for n in range(1, 11):
            self.add_product(f"DEMO-{n:03d}", 0, name=f"Demo product {n}")

    def webhook(
        self, sku: str, secret: str, header: str = "X-Hub-Webhook-Secret"
    ) -> tuple[dict[str, str], bytes]:
        """A ``store/sku/inventory/updated`` delivery with the custom header set when it was created."""
        with self.lock:
            self._settle()
            vid = self._variant_for_sku(sku)
            variant = self.variants[vid]
            body = json.dumps(
                {
                    "scope": "store/sku/inventory/updated",
                    "store_id": "1001",
                    "producer": f"stores/{self.store_hash}",
                    "hash": uuid.uuid4().hex,
                    "created_at": int(self.wall_time()),
                    "data": {
                        "type": "sku",
                        "id": vid,
                        "inventory": {
                            "product_id": variant["product_id"],
                            "variant_id": vid,
                            "method": "absolute",
                            "value": self.levels.get((1, vid), 0),
                        },
                    },
                }
            ).encode()
        return {"Content-Type": "application/json", header: secret}, body

    # -- plumbing -------------------------------------------------------------------

    def setup_routes(self) -> None:
        base = r"/stores/(?P<hash>[^/]+)/v3"
        self.route("GET", base + r"/inventory/locations", self.list_locations)
        self.route("GET", base + r"/inventory/locations/(?P<lid>\d+)/items", self.location_items)
        self.route("PUT", base + r"/inventory/adjustments/absolute", self.absolute)
        self.route("GET", base + r"/catalog/variants", self.list_variants)
        self.route("PUT", base + r"/catalog/variants", self.legacy_variants)
        self.route("GET", base + r"/catalog/products", self.list_products)
        v2 = r"/stores/(?P<hash>[^/]+)/v2"
        self.route("GET", v2 + r"/orders", self.list_orders)
        self.route("GET", v2 + r"/orders/(?P<id>\d+)", self.get_order)
        self.route("GET", v2 + r"/orders/(?P<id>\d+)/products", self.order_products)

    def not_found(self, request: Request) -> Response:
        return json_response(
            404, {"status": 404, "title": "Not Found", "type": STATUS_DOCS}, content_type=PROBLEM
        )

    def _rate_headers(self) -> dict[str, str]:
        return {
            "X-Rate-Limit-Time-Window-Ms": str(int(self.quota.window * 1000)),
            "X-Rate-Limit-Time-Reset-Ms": str(max(1, math.ceil(self.quota.reset_in * 1000))),
            "X-Rate-Limit-Requests-Quota": str(self.quota.quota),
            "X-Rate-Limit-Requests-Left": str(self.quota.left),
        }

    def before(self, request: Request) -> Response | None:
        if not request.path.startswith(f"/stores/{self.store_hash}/"):
            return self.not_found(request)
        if request.headers.get("X-Auth-Token") != self.access_token:
            return json_response(
                401,
                {"status": 401, "title": "Missing or invalid authentication", "type": STATUS_DOCS},
                content_type=PROBLEM,
            )
        with self.lock:
            self._settle()
            if not self.quota.try_take():
                return json_response(
                    429,
                    {"status": 429, "title": "Too many requests", "type": STATUS_DOCS},
                    self._rate_headers(),
                    content_type=PROBLEM,
                )
        return None

    def after(self, request: Request, response: Response) -> None:
        if response.status not in (401, 404) and request.path.startswith(f"/stores/{self.store_hash}/"):
            with self.lock:
                for key, value in self._rate_headers().items():
                    response.headers.setdefault(key, value)

    def _paged(self, request: Request, rows: list[dict[str, Any]]) -> dict[str, Any]:
        try:
            page = int(request.arg("page", "1"))
            limit = int(request.arg("limit", "50"))
        except ValueError:
            raise _problem(422, "Invalid page or limit") from None
        if not 1 <= limit <= 250 or page < 1:
            raise _problem(422, "The limit must be between 1 and 250")
        pages = max(1, math.ceil(len(rows) / limit))
        chunk = rows[(page - 1) * limit : page * limit]
        base = f"?page={{}}&limit={limit}"
        return {
            "data": chunk,
            "meta": {
                "pagination": {
                    "total": len(rows),
                    "count": len(chunk),
                    "per_page": limit,
                    "current_page": page,
                    "total_pages": pages,
                    "links": {
                        "previous": base.format(page - 1) if page > 1 else None,
                        "current": base.format(page),
                        "next": base.format(page + 1) if page < pages else None,
                    },
                }
            },
        }

    @staticmethod
    def _in(request: Request, name: str, cast=str) -> list[Any] | None:
        """``name:in=a,b`` (a list) or ``name=a`` (one value); None when absent."""
        raw_in = request.arg(f"{name}:in")
        if raw_in is not None:
            values = raw_in.split(",")
        elif request.arg(name) is not None:
            values = [request.arg(name)]
        else:
            return None
        try:
            return [cast(v) for v in values if v != ""]
        except ValueError:
            raise _problem(422, f"Invalid {name}") from None

    # -- reads ----------------------------------------------------------------------

    def list_locations(self, request: Request):
        with self.lock:
            rows = [
                {
                    "id": lid,
                    "label": loc["label"],
                    "code": loc["code"],
                    "enabled": True,
                    "type_id": "PHYSICAL",
                }
                for lid, loc in sorted(self.locations.items())
            ]
        return self._paged(request, rows)

    def list_variants(self, request: Request):
        skus = self._in(request, "sku")
        ids = self._in(request, "id", int)
        with self.lock:
            rows = [
                {**v, "inventory_level": self.levels.get((1, v["id"]), 0)}
                for _, v in sorted(self.variants.items())
                if (skus is None or v["sku"] in skus) and (ids is None or v["id"] in ids)
            ]
        return self._paged(request, rows)

    def list_products(self, request: Request):
        ids = self._in(request, "id", int)
        fields = request.arg("include_fields")
        with self.lock:
            rows = [dict(p) for _, p in sorted(self.products.items()) if ids is None or p["id"] in ids]
        if fields:
            keep = set(fields.split(",")) | {"id"}
            rows = [{k: v for k, v in row.items() if k in keep} for row in rows]
        return self._paged(request, rows)

    def location_items(self, request: Request):
        lid = int(request.match.group("lid"))
        skus = self._in(request, "sku")
        vids = self._in(request, "variant_id", int)
        pids = self._in(request, "product_id", int)
        with self.lock:
            if lid not in self.locations:
                raise _problem(404, f"Location with id {lid} does not exist")
            rows = []
            for vid, v in sorted(self.variants.items()):
                if skus is not None and v["sku"] not in skus:
                    continue
                if vids is not None and vid not in vids:
                    continue
                if pids is not None and v["product_id"] not in pids:
                    continue
                tracking = self.products[v["product_id"]]["inventory_tracking"]
                qty = self.levels.get((lid, vid), 0)
                rows.append(
                    {
                        "identity": {"sku": v["sku"], "variant_id": vid, "product_id": v["product_id"]},
                        "available_to_sell": qty if tracking != "none" else 0,
                        "total_inventory_onhand": qty if tracking != "none" else 0,
                        "settings": {
                            "safety_stock": 0,
                            "is_in_stock": qty > 0,
                            "warning_level": 0,
                            "bin_picking_number": "",
                        },
                    }
                )
        return self._paged(request, rows)

    # -- orders (v2) -------------------------------------------------------------------

    @staticmethod
    def _v2_error(status: int, message: str) -> HttpError:
        return HttpError(status, [{"status": status, "message": message}])

    @staticmethod
    def _rfc2822(ts: float) -> str:
        return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(ts))

    def _v2_date(self, request: Request, name: str) -> float | None:
        raw = request.arg(name)
        if raw is None:
            return None
        try:
            return email.utils.parsedate_to_datetime(raw).timestamp()
        except (TypeError, ValueError, IndexError):
            pass
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise self._v2_error(400, f"The field '{name}' is invalid.") from None
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()

    def _v2_page(self, request: Request) -> tuple[int, int]:
        try:
            page = int(request.arg("page", "1"))
            limit = int(request.arg("limit", "50"))
        except ValueError:
            raise self._v2_error(400, "The field 'page' or 'limit' is invalid.") from None
        if page < 1 or not 1 <= limit <= 250:
            raise self._v2_error(400, "The field 'limit' is invalid: it must be between 1 and 250.")
        return page, limit

    def _render_order(self, order: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": order["id"],
            "status_id": order["status_id"],
            "status": self.STATUS_NAMES.get(order["status_id"], "Unknown"),
            "date_created": self._rfc2822(order["date_created"]),
            "date_modified": self._rfc2822(order["date_modified"]),
            "items_total": sum(p["quantity"] for p in order["products"]),
            "products": {
                "url": f"{self.url}/stores/{self.store_hash}/v2/orders/{order['id']}/products",
                "resource": f"/orders/{order['id']}/products",
            },
        }

    def list_orders(self, request: Request):
        page, limit = self._v2_page(request)
        low = self._v2_date(request, "min_date_modified")
        high = self._v2_date(request, "max_date_modified")
        sort = request.arg("sort", "id:asc")
        field_name, _, direction = sort.partition(":")
        if field_name not in ("id", "customer_id", "date_created", "date_modified", "status_id", "channel_id") or (
            direction not in ("asc", "desc", "")
        ):
            raise self._v2_error(400, f"The field 'sort' is invalid: {sort}")
        with self.lock:
            rows = [
                o
                for o in self.orders.values()
                if (low is None or int(o["date_modified"]) >= low) and (high is None or int(o["date_modified"]) <= high)
            ]

            def key(order):
                value = order.get(field_name, 0)
                return (int(value) if field_name.startswith("date") else value, order["id"])

            rows.sort(key=key, reverse=direction == "desc")
            chunk = rows[(page - 1) * limit : page * limit]
            if not chunk:
                return Response(204, b"", {})
            return json_response(200, [self._render_order(o) for o in chunk])

    def get_order(self, request: Request):
        with self.lock:
            order = self.orders.get(int(request.match.group("id")))
            if order is None:
                raise self._v2_error(404, "The requested resource was not found.")
            return self._render_order(order)

    def order_products(self, request: Request):
        page, limit = self._v2_page(request)
        with self.lock:
            order = self.orders.get(int(request.match.group("id")))
            if order is None:
                raise self._v2_error(404, "The requested resource was not found.")
            chunk = [dict(p) for p in order["products"][(page - 1) * limit : page * limit]]
        if not chunk:
            return Response(204, b"", {})
        return json_response(200, chunk)

    # -- writes ---------------------------------------------------------------------

    def absolute(self, request: Request):
        body = request.json() or {}
        items = body.get("items")
        if not isinstance(items, list) or not items:
            raise _problem(422, "Input is invalid", {"items": "items is required"})
        if len(items) > MAX_ABSOLUTE_ITEMS:
            raise _problem(
                422, "Input is invalid", {"items": f"must have at most {MAX_ABSOLUTE_ITEMS} items"}
            )
        refused: list[str] = []
        resolved: list[tuple[int, int, int]] = []
        with self.lock:
            by_sku: dict[str, list[int]] = {}
            by_product: dict[int, list[int]] = {}
            for vid, v in self.variants.items():
                by_sku.setdefault(v["sku"], []).append(vid)
                by_product.setdefault(v["product_id"], []).append(vid)
            for item in items:
                keys = [k for k in ("sku", "variant_id", "product_id") if item.get(k) is not None]
                if len(keys) != 1:
                    raise _problem(
                        422,
                        "Input is invalid",
                        {"items": "each item needs exactly one of sku, variant_id, product_id"},
                    )
                key = keys[0]
                label = f"Item with {key} {item[key]}"
                lid, qty = item.get("location_id"), item.get("quantity")
                if lid not in self.locations:
                    refused.append(f"Location with id {lid} does not exist")
                    continue
                if not isinstance(qty, int) or isinstance(qty, bool) or not 0 <= qty <= MAX_QUANTITY:
                    refused.append(f"{label} has an invalid quantity")
                    continue
                if key == "product_id":
                    product = self.products.get(item[key])
                    if product is None:
                        refused.append(f"{label} does not exist")
                        continue
                    if product["inventory_tracking"] == "variant":
                        refused.append(f"{label} is tracked by variant, please update stock by variant id")
                        continue
                    variants = by_product.get(product["id"], [])
                else:
                    if key == "variant_id":
                        match = [item[key]] if item[key] in self.variants else []
                    else:
                        match = by_sku.get(item[key], [])
                    if not match:
                        refused.append(f"{label} does not exist")
                        continue
                    product = self.products[self.variants[match[0]]["product_id"]]
                    if product["inventory_tracking"] == "product" and key == "variant_id":
                        refused.append(f"{label} is tracked by product, please update stock by product id")
                        continue
                    variants = match
                if product["inventory_tracking"] == "none":
                    refused.append(f"{label} has inventory tracking disabled")
                    continue
                resolved += [(lid, vid, qty) for vid in variants[:1]]
            if refused:
                raise _problem(422, "[" + ", ".join(refused) + "]")
            due = self.now() + self.apply_delay
            self.pending += [(due, lid, vid, qty) for lid, vid, qty in resolved]
            transaction = str(uuid.uuid4())
            self.transactions.append(transaction)
        return {"transaction_id": transaction}

    def legacy_variants(self, request: Request):
        body = request.json()
        if not isinstance(body, list):
            raise _problem(422, "Input is invalid")
        if len(body) > MAX_LEGACY_BATCH:
            raise _problem(
                413, "The request payload is too large. The maximum items allowed in the array is 50"
            )
        out, errors = [], []
        with self.lock:
            for row in body:
                variant = self.variants.get(row.get("id"))
                if variant is None:
                    errors.append({"status": 422, "title": f"Variant {row.get('id')} does not exist"})
                    continue
                tracking = self.products[variant["product_id"]]["inventory_tracking"]
                if "inventory_level" in row and tracking != "none":
                    self.levels[(1, variant["id"])] = int(row["inventory_level"])
                out.append({**variant, "inventory_level": self.levels.get((1, variant["id"]), 0)})
        if errors:
            return json_response(422, {"data": out, "batch_errors": errors})
        return {"data": out, "meta": {}}


def serve(port: int, host: str = "127.0.0.1", seed_demo: bool = False, **kwargs: Any) -> None:
    """Run the fake in the foreground (``run_fake bigcommerce``)."""
    fake = BigCommerceFake(host=host, port=port, **kwargs)
    if seed_demo:
        fake.seed_demo()
    serve_forever(fake)
