"""A fake WooCommerce REST API (``/wp-json/wc/v3``).

It enforces what api_contracts.md §2 and §9 list: consumer-key auth (OAuth 1.0a
one-legged over plain HTTP, verified exactly as WooCommerce does: signature,
timestamp window, single-use nonces; Basic or query-string keys only where the
site is served over HTTPS), exact ``?sku=`` matching over products *and*
variations with comma lists, batch endpoints capped at 100 items (413 beyond),
per-item errors inside a 200, ``per_page`` ≤ 100 with ``X-WP-Total`` /
``X-WP-TotalPages`` / ``Link``, variations' ``manage_stock: "parent"``, and the
quirk that matters most: stock written while stock management is off is
dropped without an error.

Orders: ``GET orders`` with ``modified_after``/``modified_before`` (strictly
after/before, second resolution, GMT when ``dates_are_gmt``), ``status``,
``orderby`` (date, modified, id, include, title, slug) and ``order``, paged like
products; ``GET orders/{id}`` and ``GET orders/{id}/refunds`` (refund line items
carry negative quantities). A refund that restocks adds to the original line's
``_restock_refunded_items`` meta, as WooCommerce does.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import itertools
import json
import math
import time
from typing import Any
from urllib.parse import quote, unquote

from .server import FakeServer, HttpError, Request, Response, json_response, serve_forever

__all__ = ["WooCommerceFake", "oauth1_signature", "serve"]

API = "/wp-json/wc/v3"
BATCH_LIMIT = 100
MAX_PER_PAGE = 100
TIMESTAMP_WINDOW = 15 * 60


def _rawurlencode(value: str) -> str:
    """PHP's rawurlencode(rawurldecode(x)): RFC 3986 unreserved characters stay."""
    return quote(unquote(value), safe="-_.~")


def oauth1_signature(method: str, base_url: str, params: dict[str, str], consumer_secret: str) -> str:
    """The signature WooCommerce computes (class-wc-rest-authentication.php).

    Keys and values are encoded, and the encoded ``%`` doubled, before joining
    with ``%3D`` and ``%26``; the key is the consumer secret plus ``&``.
    """
    algorithm = params.get("oauth_signature_method", "HMAC-SHA256")
    digest = hashlib.sha1 if algorithm == "HMAC-SHA1" else hashlib.sha256
    pairs = []
    for key in sorted(k for k in params if k != "oauth_signature"):
        enc_key = _rawurlencode(key).replace("%", "%25")
        enc_value = _rawurlencode(str(params[key])).replace("%", "%25")
        pairs.append(f"{enc_key}%3D{enc_value}")
    string_to_sign = f"{method.upper()}&{quote(base_url, safe='-_.~')}&{'%26'.join(pairs)}"
    mac = hmac.new(f"{consumer_secret}&".encode(), string_to_sign.encode(), digest)
    return base64.b64encode(mac.digest()).decode()


def _error(status: int, code: str, message: str, **data: Any) -> HttpError:
    return HttpError(status, {"code": code, "message": message, "data": {"status": status, **data}})


class WooCommerceFake(FakeServer):
    """WooCommerce with its real limits. ``https=True`` pretends TLS is terminated in front."""

    name = "woocommerce"

    def __init__(
        self,
        *,
        consumer_key: str = "ck_fake_key",
        consumer_secret: str = "cs_fake_secret",  # noqa: S107 - a fake's known test secret
        https: bool = False,
        store_manage_stock: bool = True,
        batch_limit: int = BATCH_LIMIT,
        host_rate_limit: int | None = None,
        **kwargs: Any,
    ):
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.https = https
        self.store_manage_stock = store_manage_stock  # WooCommerce > Settings > Products > Inventory
        self.batch_limit = batch_limit
        self.host_rate_limit = host_rate_limit  # requests per second a host/WAF allows (None = no limit)
        super().__init__(**kwargs)
        self._id_seq = itertools.count(10)
        self.products: dict[int, dict[str, Any]] = {}
        self._nonces: set[tuple[str, str]] = set()
        self._window_start = 0.0
        self._window_count = 0
        self.stock_writes = 0  # stock changes actually applied
        self.orders: dict[int, dict[str, Any]] = {}
        self._meta_seq = itertools.count(5000)

    # -- seeding --------------------------------------------------------------------

    def add_product(
        self,
        sku: str,
        quantity: int | None = 0,
        *,
        name: str | None = None,
        price: str = "10.00",
        manage_stock: bool = True,
        type: str = "simple",  # noqa: A002 - WooCommerce's own field name
    ) -> int:
        with self.lock:
            pid = next(self._id_seq)
            self.products[pid] = {
                "id": pid,
                "name": name or f"Product {sku or pid}",
                "type": type,
                "parent_id": 0,
                "sku": sku,
                "price": price,
                "regular_price": price,
                "status": "publish",
                "manage_stock": manage_stock,
                "stock_quantity": quantity if manage_stock else None,
                "backorders": "no",
            }
            return pid

    def add_variation(
        self,
        parent_id: int,
        sku: str,
        quantity: int | None = 0,
        *,
        manage_stock: bool | str = True,
        price: str = "10.00",
    ) -> int:
        """A variation; ``manage_stock="parent"`` means the parent holds the stock."""
        with self.lock:
            self.products[parent_id]["type"] = "variable"
            vid = next(self._id_seq)
            self.products[vid] = {
                "id": vid,
                "name": f"{self.products[parent_id]['name']} - {sku}",
                "type": "variation",
                "parent_id": parent_id,
                "sku": sku,
                "price": price,
                "regular_price": price,
                "status": "publish",
                "manage_stock": manage_stock,
                "stock_quantity": quantity if manage_stock is True else None,
                "backorders": "no",
            }
            return vid

    def delete(self, pid: int) -> None:
        with self.lock:
            self.products.pop(pid, None)

    def by_sku(self, sku: str) -> dict[str, Any]:
        with self.lock:
            hits = [p for p in self.products.values() if p["sku"] == sku]
            assert len(hits) == 1, f"{len(hits)} products with SKU {sku!r}"
            return dict(hits[0])

    def stock(self, sku: str) -> int | None:
        return self.by_sku(sku)["stock_quantity"]

    def set_stock(self, sku: str, quantity: int) -> None:
        """A change made in the WooCommerce admin or by an order."""
        with self.lock:
            for product in self.products.values():
                if product["sku"] == sku:
                    product["stock_quantity"] = quantity

    # -- orders (test helpers: what shoppers and staff do in WooCommerce) ---------------

    def _touch(self, order: dict[str, Any], at: float | None) -> None:
        order["date_modified"] = max(order.get("date_modified", 0.0), self.wall_time() if at is None else at)

    def _line(self, sku: str, quantity: int) -> dict[str, Any]:
        product = next((p for p in self.products.values() if p["sku"] == sku), None)
        return {
            "id": next(self._id_seq),
            "name": product["name"] if product else f"Item {sku}",
            "product_id": (product["parent_id"] or product["id"]) if product else 0,
            "variation_id": product["id"] if product and product["type"] == "variation" else 0,
            "sku": sku,
            "quantity": quantity,
            "meta": {},
        }

    def add_order(
        self, lines: dict[str, int] | list[tuple[str, int]], *, status: str = "processing", at: float | None = None
    ) -> int:
        with self.lock:
            oid = next(self._id_seq)
            order: dict[str, Any] = {
                "id": oid,
                "status": status,
                "date_created": self.wall_time() if at is None else at,
                "line_items": [
                    self._line(sku, qty) for sku, qty in (lines.items() if isinstance(lines, dict) else lines)
                ],
                "refunds": [],
            }
            self._touch(order, at)
            self.orders[oid] = order
            return oid

    def edit_order(self, oid: int, lines: dict[str, int], at: float | None = None) -> None:
        """Staff edit the order: each SKU's quantity becomes the given one (0 removes the line)."""
        with self.lock:
            order = self.orders[oid]
            for sku, quantity in lines.items():
                line = next((line for line in order["line_items"] if line["sku"] == sku), None)
                if line is None:
                    order["line_items"].append(self._line(sku, quantity))
                elif quantity == 0:
                    order["line_items"].remove(line)
                else:
                    line["quantity"] = quantity
            self._touch(order, at)

    def set_order_status(self, oid: int, status: str, at: float | None = None) -> None:
        with self.lock:
            self.orders[oid]["status"] = status
            self._touch(self.orders[oid], at)

    def refund_order(self, oid: int, lines: dict[str, int], *, restock: bool = True, at: float | None = None) -> int:
        """A refund of SKU -> units; with ``restock`` WooCommerce adds them to ``_restock_refunded_items``."""
        with self.lock:
            order = self.orders[oid]
            rows = []
            for sku, quantity in lines.items():
                line = next(line for line in order["line_items"] if line["sku"] == sku)
                rows.append({"line": line, "quantity": quantity})
                if restock:
                    line["meta"]["_restock_refunded_items"] = line["meta"].get("_restock_refunded_items", 0) + quantity
            refund_id = next(self._id_seq)
            order["refunds"].append(
                {"id": refund_id, "date_created": self.wall_time() if at is None else at, "rows": rows}
            )
            refunded = {}
            for refund in order["refunds"]:
                for row in refund["rows"]:
                    refunded[row["line"]["id"]] = refunded.get(row["line"]["id"], 0) + row["quantity"]
            if all(refunded.get(line["id"], 0) >= line["quantity"] for line in order["line_items"]):
                order["status"] = "refunded"
            self._touch(order, at)
            return refund_id

    def seed_demo(self) -> None:
        for n in range(1, 6):
            self.add_product(f"DEMO-{n:03d}", 0, name=f"Demo product {n}", price=f"{9 + n}.00")
        parent = self.add_product("DEMO-TEE", None, name="Demo tee", manage_stock=False)
        for size in ("S", "M", "L"):
            self.add_variation(parent, f"DEMO-TEE-{size}", 0)

    def webhook(self, sku: str, secret: str) -> tuple[dict[str, str], bytes]:
        """The ``product.updated`` delivery WooCommerce would send now."""
        body = json.dumps(self._render(self.by_sku(sku))).encode()
        signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        return {
            "Content-Type": "application/json",
            "X-WC-Webhook-Source": f"{self.url}/",
            "X-WC-Webhook-Topic": "product.updated",
            "X-WC-Webhook-Resource": "product",
            "X-WC-Webhook-Event": "updated",
            "X-WC-Webhook-Signature": signature,
            "X-WC-Webhook-ID": "1",
            "X-WC-Webhook-Delivery-ID": str(int(self.now() * 1000)),
        }, body

    # -- plumbing -------------------------------------------------------------------

    def setup_routes(self) -> None:
        self.route("GET", API, lambda r: {"namespace": "wc/v3", "routes": {}})
        self.route("GET", API + r"/products", self.list_products)
        self.route("GET", API + r"/products/(?P<id>\d+)", self.get_product)
        for method in ("PUT", "POST", "PATCH"):
            self.route(method, API + r"/products/(?P<id>\d+)", self.update_product)
            self.route(method, API + r"/products/batch", self.batch_products)
            self.route(method, API + r"/products/(?P<parent>\d+)/variations/batch", self.batch_variations)
            self.route(
                method, API + r"/products/(?P<parent>\d+)/variations/(?P<id>\d+)", self.update_variation
            )
        self.route("GET", API + r"/products/(?P<parent>\d+)/variations", self.list_variations)
        self.route("GET", API + r"/orders", self.list_orders)
        self.route("GET", API + r"/orders/(?P<id>\d+)", self.get_order)
        self.route("GET", API + r"/orders/(?P<id>\d+)/refunds", self.list_refunds)
        self.route("GET", API + r"/products/(?P<parent>\d+)/variations/(?P<id>\d+)", self.get_variation)

    def not_found(self, request: Request) -> Response:
        return json_response(
            404,
            {
                "code": "rest_no_route",
                "message": "No route was found matching the URL and request method.",
                "data": {"status": 404},
            },
        )

    def method_not_allowed(self, request: Request) -> Response:
        return self.not_found(request)

    def before(self, request: Request) -> Response | None:
        if self.host_rate_limit is not None:
            with self.lock:
                now = self.now()
                if now - self._window_start >= 1:
                    self._window_start, self._window_count = now, 0
                self._window_count += 1
                if self._window_count > self.host_rate_limit:
                    wait = max(1, math.ceil(1 - (now - self._window_start)))
                    return Response(
                        429,
                        b"<html><body><h1>429 Too Many Requests</h1></body></html>",
                        {"Content-Type": "text/html", "Retry-After": str(wait)},
                    )
        if request.path.startswith(API) and request.path != API:
            self._authenticate(request)
        return None

    def _authenticate(self, request: Request) -> None:
        auth = request.headers.get("Authorization") or ""
        query_key = request.arg("consumer_key")
        if auth.startswith("Basic ") or query_key is not None:
            if not self.https:
                # WordPress only reads keys this way over HTTPS; otherwise no user is logged in.
                raise _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
            if auth.startswith("Basic "):
                try:
                    key, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    key, secret = "", ""
            else:
                key, secret = query_key or "", request.arg("consumer_secret") or ""
            if key != self.consumer_key:
                raise _error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
            if not hmac.compare_digest(secret, self.consumer_secret):
                raise _error(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
            return
        params = {k: v[-1] for k, v in request.query.items()}  # PHP: the last duplicate wins
        if auth.startswith("OAuth "):
            for part in auth[6:].split(","):
                key, _, value = part.strip().partition("=")
                params[key] = unquote(value.strip('"'))
        if "oauth_consumer_key" not in params:
            raise _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        for required in (
            "oauth_consumer_key",
            "oauth_timestamp",
            "oauth_nonce",
            "oauth_signature",
            "oauth_signature_method",
        ):
            if not params.get(required):
                raise _error(
                    401, "woocommerce_rest_authentication_error", f"Missing OAuth parameter {required}"
                )
        if params["oauth_consumer_key"] != self.consumer_key:
            raise _error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        if params["oauth_signature_method"] not in ("HMAC-SHA1", "HMAC-SHA256"):
            raise _error(
                401,
                "woocommerce_rest_authentication_error",
                "Invalid signature - signature method is invalid.",
            )
        base_url = f"{self.url}{request.path}"
        expected = oauth1_signature(request.method, base_url, params, self.consumer_secret)
        given = unquote(params["oauth_signature"].replace(" ", "+"))
        if not hmac.compare_digest(expected, given):
            raise _error(
                401,
                "woocommerce_rest_authentication_error",
                "Invalid signature - provided signature does not match.",
            )
        try:
            stamp = int(params["oauth_timestamp"])
        except ValueError:
            stamp = -1
        if abs(self.wall_time() - stamp) > TIMESTAMP_WINDOW:
            raise _error(401, "woocommerce_rest_authentication_error", "Invalid timestamp.")
        with self.lock:
            nonce = (params["oauth_nonce"], params["oauth_timestamp"])
            if nonce in self._nonces:
                raise _error(
                    401,
                    "woocommerce_rest_authentication_error",
                    "Invalid nonce - nonce has already been used.",
                )
            self._nonces.add(nonce)

    # -- rendering ------------------------------------------------------------------

    def _render(self, product: dict[str, Any]) -> dict[str, Any]:
        managed = product["manage_stock"]
        if not self.store_manage_stock:
            managed = False
        out = dict(product)
        out["manage_stock"] = managed
        out["stock_quantity"] = product["stock_quantity"] if managed is True else None
        qty = out["stock_quantity"]
        out["stock_status"] = "instock" if managed is not True or (qty or 0) > 0 else "outofstock"
        out["permalink"] = f"{self.url if self._httpd else ''}/?p={product['id']}"
        out["date_modified_gmt"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.wall_time()))
        if product["type"] == "variable":
            out["variations"] = [p["id"] for p in self.products.values() if p["parent_id"] == product["id"]]
        return out

    def _page(self, request: Request, rows: list[dict[str, Any]], render=None) -> Response:
        try:
            per_page = int(request.arg("per_page", "10"))
            page = int(request.arg("page", "1"))
        except ValueError:
            raise _error(400, "rest_invalid_param", "Invalid parameter(s): per_page") from None
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise _error(
                400,
                "rest_invalid_param",
                "Invalid parameter(s): per_page",
                params={"per_page": f"per_page must be between 1 (inclusive) and {MAX_PER_PAGE} (inclusive)"},
            )
        offset = request.arg("offset")
        start = int(offset) if offset is not None else (page - 1) * per_page
        total = len(rows)
        pages = max(1, math.ceil(total / per_page)) if total else 0
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        links = []
        base = f"{self.url}{request.path}"
        if page < pages:
            links.append(f'<{base}?page={page + 1}&per_page={per_page}>; rel="next"')
        if page > 1:
            links.append(f'<{base}?page={page - 1}&per_page={per_page}>; rel="prev"')
        if links:
            headers["Link"] = ", ".join(links)
        render = render or self._render
        return json_response(200, [render(p) for p in rows[start : start + per_page]], headers)

    def _ids(self, request: Request, name: str) -> list[int] | None:
        raw = request.arg(name)
        if raw is None:
            return None
        try:
            return [int(x) for x in raw.split(",") if x.strip()]
        except ValueError:
            raise _error(400, "rest_invalid_param", f"Invalid parameter(s): {name}") from None

    # -- reads ----------------------------------------------------------------------

    def list_products(self, request: Request):
        sku = request.arg("sku")
        include = self._ids(request, "include")
        with self.lock:
            if sku is not None:
                wanted = {s.strip() for s in sku.split(",")}
                # SKU lookups search variations too (exact, as the database compares).
                rows = [p for p in self.products.values() if p["sku"] and p["sku"] in wanted]
            else:
                rows = [p for p in self.products.values() if p["type"] != "variation"]
            if include is not None:
                rows = [p for p in rows if p["id"] in include]
            rows.sort(key=lambda p: p["id"])
            return self._page(request, rows)

    def get_product(self, request: Request):
        with self.lock:
            product = self.products.get(int(request.match.group("id")))
            if product is None or product["type"] == "variation":
                raise _error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
            return self._render(product)

    def list_variations(self, request: Request):
        parent = int(request.match.group("parent"))
        include = self._ids(request, "include")
        with self.lock:
            if parent not in self.products:
                raise _error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
            rows = [
                p
                for p in self.products.values()
                if p["parent_id"] == parent and (include is None or p["id"] in include)
            ]
            rows.sort(key=lambda p: p["id"])
            return self._page(request, rows)

    def get_variation(self, request: Request):
        with self.lock:
            product = self.products.get(int(request.match.group("id")))
            if product is None or product["parent_id"] != int(request.match.group("parent")):
                raise _error(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
            return self._render(product)

    # -- orders ---------------------------------------------------------------------

    @staticmethod
    def _gmt(ts: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))

    def _render_order(self, order: dict[str, Any]) -> dict[str, Any]:
        total = 0.0
        lines = []
        for line in order["line_items"]:
            meta = [
                {"id": next(self._meta_seq), "key": key, "value": str(value)} for key, value in line["meta"].items()
            ]
            lines.append(
                {
                    "id": line["id"],
                    "name": line["name"],
                    "product_id": line["product_id"],
                    "variation_id": line["variation_id"],
                    "quantity": line["quantity"],
                    "tax_class": "",
                    "subtotal": f"{10.0 * line['quantity']:.2f}",
                    "total": f"{10.0 * line['quantity']:.2f}",
                    "sku": line["sku"],
                    "price": 10,
                    "meta_data": meta,
                }
            )
            total += 10.0 * line["quantity"]
        return {
            "id": order["id"],
            "parent_id": 0,
            "number": str(order["id"]),
            "status": order["status"],
            "currency": "USD",
            "date_created": self._gmt(order["date_created"]),
            "date_created_gmt": self._gmt(order["date_created"]),
            "date_modified": self._gmt(order["date_modified"]),
            "date_modified_gmt": self._gmt(order["date_modified"]),
            "total": f"{total:.2f}",
            "line_items": lines,
            "refunds": [
                {"id": r["id"], "reason": "", "total": f"-{10.0 * sum(x['quantity'] for x in r['rows']):.2f}"}
                for r in order["refunds"]
            ],
        }

    def _date_arg(self, request: Request, name: str) -> float | None:
        raw = request.arg(name)
        if raw is None:
            return None
        try:
            parsed = time.strptime(raw[:19], "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise _error(400, "rest_invalid_param", f"Invalid parameter(s): {name}") from None
        return float(calendar.timegm(parsed))  # the fake's site runs on GMT, so dates_are_gmt changes nothing

    def list_orders(self, request: Request):
        orderby = request.arg("orderby", "date")
        direction = request.arg("order", "desc")
        if orderby not in ("date", "modified", "id", "include", "title", "slug"):
            raise _error(
                400,
                "rest_invalid_param",
                "Invalid parameter(s): orderby",
                params={"orderby": "orderby is not one of date, modified, id, include, title, and slug."},
            )
        if direction not in ("asc", "desc"):
            raise _error(400, "rest_invalid_param", "Invalid parameter(s): order")
        after = self._date_arg(request, "modified_after")
        before = self._date_arg(request, "modified_before")
        statuses = set((request.arg("status") or "any").split(","))
        with self.lock:
            rows = [
                order
                for order in self.orders.values()
                if (after is None or int(order["date_modified"]) > after)
                and (before is None or int(order["date_modified"]) < before)
                and ("any" in statuses or order["status"] in statuses)
            ]
            key = {
                "modified": lambda o: (int(o["date_modified"]), o["id"]),
                "date": lambda o: (int(o["date_created"]), o["id"]),
            }.get(orderby, lambda o: (o["id"],))
            rows.sort(key=key, reverse=direction == "desc")
            return self._page(request, rows, self._render_order)

    def get_order(self, request: Request):
        with self.lock:
            order = self.orders.get(int(request.match.group("id")))
            if order is None:
                raise _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
            return self._render_order(order)

    def list_refunds(self, request: Request):
        with self.lock:
            order = self.orders.get(int(request.match.group("id")))
            if order is None:
                raise _error(404, "woocommerce_rest_order_invalid_id", "Invalid order ID.")
            out = []
            for refund in sorted(order["refunds"], key=lambda r: -r["id"]):
                out.append(
                    {
                        "id": refund["id"],
                        "date_created": self._gmt(refund["date_created"]),
                        "date_created_gmt": self._gmt(refund["date_created"]),
                        "amount": f"{10.0 * sum(x['quantity'] for x in refund['rows']):.2f}",
                        "reason": "",
                        "refunded_by": 1,
                        "refunded_payment": False,
                        "meta_data": [],
                        "line_items": [
                            {
                                "id": next(self._id_seq),
                                "name": row["line"]["name"],
                                "product_id": row["line"]["product_id"],
                                "variation_id": row["line"]["variation_id"],
                                "quantity": -row["quantity"],
                                "subtotal": f"-{10.0 * row['quantity']:.2f}",
                                "total": f"-{10.0 * row['quantity']:.2f}",
                                "sku": row["line"]["sku"],
                                "price": -10,
                                "meta_data": [
                                    {
                                        "id": next(self._meta_seq),
                                        "key": "_refunded_item_id",
                                        "value": str(row["line"]["id"]),
                                    }
                                ],
                            }
                            for row in refund["rows"]
                        ],
                    }
                )
            return out

    # -- writes ---------------------------------------------------------------------

    def _apply(self, product: dict[str, Any], changes: dict[str, Any]) -> None:
        """WooCommerce's stock rules, including the silent drop."""
        for key in ("name", "regular_price", "backorders", "status"):
            if key in changes:
                product[key] = changes[key]
        if "manage_stock" in changes:
            value = changes["manage_stock"]
            product["manage_stock"] = value if value == "parent" else bool(value)
        if product["type"] in ("external", "grouped"):
            return  # those product types hold no stock: anything sent is ignored
        manages = self.store_manage_stock and product["manage_stock"] is True
        if not manages:
            return  # stock sent while not managed is dropped without a word
        if "stock_quantity" in changes and changes["stock_quantity"] is not None:
            try:
                qty = int(changes["stock_quantity"])
            except (TypeError, ValueError):
                raise _error(
                    400,
                    "rest_invalid_param",
                    "Invalid parameter(s): stock_quantity",
                    params={"stock_quantity": "stock_quantity is not of type integer."},
                ) from None
            if product["stock_quantity"] != qty:
                self.stock_writes += 1
            product["stock_quantity"] = qty  # negatives allowed (backorders)
        elif "inventory_delta" in changes:
            product["stock_quantity"] = (product["stock_quantity"] or 0) + int(changes["inventory_delta"])
            self.stock_writes += 1

    def update_product(self, request: Request):
        with self.lock:
            product = self.products.get(int(request.match.group("id")))
            if product is None or product["type"] == "variation":
                raise _error(
                    400 if product else 404,
                    "woocommerce_rest_product_invalid_id",
                    "ID is invalid." if product else "Invalid ID.",
                )
            self._apply(product, request.json() or {})
            return self._render(product)

    def update_variation(self, request: Request):
        with self.lock:
            product = self.products.get(int(request.match.group("id")))
            if product is None or product["parent_id"] != int(request.match.group("parent")):
                raise _error(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
            self._apply(product, request.json() or {})
            return self._render(product)

    def _batch(self, request: Request, parent: int | None):
        body = request.json() or {}
        if not isinstance(body, dict):
            raise _error(400, "rest_invalid_json", "Invalid JSON body passed.")
        total = sum(len(body.get(k) or []) for k in ("create", "update", "delete"))
        if total > self.batch_limit:
            raise _error(
                413,
                "woocommerce_rest_request_entity_too_large",
                f"Unable to accept more than {self.batch_limit} items for this request.",
            )
        out: dict[str, list[Any]] = {}
        with self.lock:
            if parent is not None and parent not in self.products:
                raise _error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
            updates = []
            for item in body.get("update") or []:
                pid = item.get("id") if isinstance(item, dict) else None
                product = self.products.get(pid) if isinstance(pid, int) else None
                if parent is None:
                    valid = product is not None and product["type"] != "variation"
                    code, message = "woocommerce_rest_product_invalid_id", "Invalid ID."
                else:
                    valid = product is not None and product["parent_id"] == parent
                    code, message = "woocommerce_rest_product_variation_invalid_id", "Invalid ID."
                if not valid:
                    updates.append(
                        {"id": pid or 0, "error": {"code": code, "message": message, "data": {"status": 400}}}
                    )
                    continue
                try:
                    self._apply(product, item)
                except HttpError as exc:
                    detail = json.loads(exc.response.body)
                    updates.append({"id": pid, "error": detail})
                    continue
                updates.append(self._render(product))
            if body.get("update") is not None:
                out["update"] = updates
            if body.get("create"):
                out["create"] = [
                    {
                        "id": 0,
                        "error": {
                            "code": "woocommerce_rest_fake_unsupported",
                            "message": "This fake does not create products.",
                            "data": {"status": 400},
                        },
                    }
                    for _ in body["create"]
                ]
            if body.get("delete"):
                out["delete"] = []
                for pid in body["delete"]:
                    if self.products.pop(pid, None) is None:
                        out["delete"].append(
                            {
                                "id": pid,
                                "error": {
                                    "code": "woocommerce_rest_product_invalid_id",
                                    "message": "Invalid ID.",
                                    "data": {"status": 404},
                                },
                            }
                        )
                    else:
                        out["delete"].append({"id": pid})
        return out

    def batch_products(self, request: Request):
        return self._batch(request, None)

    def batch_variations(self, request: Request):
        return self._batch(request, int(request.match.group("parent")))


def serve(port: int, host: str = "127.0.0.1", seed_demo: bool = False, **kwargs: Any) -> None:
    """Run the fake in the foreground (``run_fake woocommerce``)."""
    fake = WooCommerceFake(host=host, port=port, **kwargs)
    if seed_demo:
        fake.seed_demo()
    serve_forever(fake)
