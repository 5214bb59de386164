"""WooCommerce, through the REST API v3.

Why it looks the way it does:

* SKU lookups use ``products?sku=A,B`` which also finds variations; a variation
  can only be written through its parent's ``variations/batch``, so the remote id
  of a variation is ``"{parent_id}/{id}"`` and pushes are grouped per parent.
* WooCommerce silently drops ``stock_quantity`` when stock management is off
  (store-wide, or for product types that hold no stock) and still answers 200.
  Every write sends ``manage_stock: true`` and every answer is read back: an item
  whose answer does not show the count we sent is an error, never "synced".
* Batches answer 200 even when items fail; each failed item carries its own
  ``error`` and is reported with WooCommerce's message. Hosts may lower the
  100-item cap (413): the batch is then halved.
* WooCommerce has no compare-and-set, so drift is found by reading the levels
  before writing, for lines whose last confirmed count is known.
* Over HTTPS the keys go as Basic auth; over plain HTTP WordPress ignores Basic,
  so requests are signed with OAuth 1.0a (one-legged, HMAC-SHA256), freshly for
  every attempt because nonces are single-use.

Orders (``fetch_orders``): ``GET orders?modified_after=…&dates_are_gmt=true&
orderby=modified&order=asc`` in pages of 100 (``X-WP-TotalPages``), walked by
:func:`~.base.walk_modified` so an order modified meanwhile cannot push another
off the pages read. Which statuses take stock follows WooCommerce's own rule
(it reduces stock on processing, on-hold and completed, and puts it back when an
order returns to pending or is cancelled): ``processing`` (paid), ``on-hold``
(awaiting a bank transfer or cheque), ``completed`` and ``refunded`` take stock;
``pending`` (unpaid), ``failed`` and ``checkout-draft`` hold none;
``cancelled`` is cancelled. Unknown statuses (plugins add their own, mostly
after payment) take stock. A line's quantity is ``quantity`` (edits change it,
refunds do not); its restocked units are WooCommerce's own running total
``_restock_refunded_items`` in the line's meta data, written only when a refund
restocked. (``GET orders/{id}/refunds`` lists refunded units as negative
quantities but cannot say whether they went back to stock: ``api_restock`` is
write-only.) The version is ``date_modified_gmt`` in epoch milliseconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth

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
)

MAX_BATCH = 100
LOOKUP_CHUNK = 40  # SKUs per comma list, keeping URLs short
UNMANAGED = (
    "WooCommerce ignored the count: stock management is off for this item "
    "(turn on 'Manage stock' in WooCommerce > Settings > Products > Inventory, and check the product type)"
)


class OAuth1(AuthBase):
    """WooCommerce's one-legged OAuth 1.0a, signed anew for every attempt."""

    def __init__(self, consumer_key: str, consumer_secret: str, clock=None):
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.clock = clock

    def __repr__(self) -> str:
        return "<OAuth1>"

    @staticmethod
    def _enc(value: str) -> str:
        return quote(value, safe="-_.~")

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        import time

        parts = urlsplit(request.url)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        params.update(
            {
                "oauth_consumer_key": self.consumer_key,
                "oauth_timestamp": str(int(time.time())),
                "oauth_nonce": secrets.token_hex(16),
                "oauth_signature_method": "HMAC-SHA256",
            }
        )
        base_url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        pairs = "%26".join(
            f"{self._enc(k).replace('%', '%25')}%3D{self._enc(str(params[k])).replace('%', '%25')}"
            for k in sorted(params)
        )
        string_to_sign = f"{request.method.upper()}&{self._enc(base_url)}&{pairs}"
        mac = hmac.new(f"{self.consumer_secret}&".encode(), string_to_sign.encode(), hashlib.sha256)
        params["oauth_signature"] = base64.b64encode(mac.digest()).decode()
        request.url = urlunsplit(
            (parts.scheme, parts.netloc, parts.path, urlencode(params, quote_via=quote), "")
        )
        return request


# WooCommerce status -> (hub status, takes stock)
ORDER_STATUSES = {
    "pending": ("open", False),
    "failed": ("open", False),
    "checkout-draft": ("open", False),
    "on-hold": ("open", True),
    "processing": ("paid", True),
    "completed": ("completed", True),
    "refunded": ("refunded", True),
    "cancelled": ("cancelled", True),
}


def _gmt(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "")).replace(tzinfo=UTC)


def _meta_int(item: Mapping[str, Any], key: str) -> int:
    for meta in item.get("meta_data") or []:
        if isinstance(meta, dict) and meta.get("key") == key:
            try:
                return max(0, int(float(meta.get("value") or 0)))
            except (TypeError, ValueError):
                return 0
    return 0


def _remote(product: Mapping[str, Any]) -> str:
    parent = product.get("parent_id") or 0
    return (
        f"{parent}/{product['id']}" if product.get("type") == "variation" and parent else str(product["id"])
    )


def _split(remote_id: str) -> tuple[int | None, int]:
    parent, _, own = str(remote_id).rpartition("/")
    try:
        return (int(parent) if parent else None), int(own)
    except ValueError:
        raise AdapterError(f"not a WooCommerce product id: {remote_id!r}") from None


def _managed_quantity(product: Mapping[str, Any]) -> int | None:
    if product.get("manage_stock") is True and product.get("stock_quantity") is not None:
        return int(product["stock_quantity"])
    return None


class WooCommerceAdapter(Adapter):
    kind = "woocommerce"
    role = "cart"
    display_name = "WooCommerce"
    capabilities = Capabilities(
        pull=False,
        push=True,
        replaced_skus=True,
        batch_limit=MAX_BATCH,
        rate_limit="no core limit; hosts and firewalls may answer 429/503 (Retry-After honoured)",
        webhooks=True,
        orders=True,
        product_import=True,
    )
    credential_fields = ("consumer_key", "consumer_secret")
    secret_fields = ("consumer_key", "consumer_secret")
    default_base_url = "https://{site}"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.batch_size = max(1, min(MAX_BATCH, int(self.options.get("batch_size") or MAX_BATCH)))
        self.check_drift = bool(self.options.get("check_drift", True))
        mode = self.options.get("auth") or ("basic" if self.base_url.startswith("https://") else "oauth1")
        key, secret = self.credential("consumer_key"), self.credential("consumer_secret")
        self._auth = HTTPBasicAuth(key, secret) if mode == "basic" else OAuth1(key, secret)

    # -- transport --------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}/wp-json/wc/v3/{path.lstrip('/')}"

    def _call(self, method: str, path: str, *, params=None, json_body=None, label: str) -> requests.Response:
        return self.client.request(
            method,
            self._url(path),
            params=params,
            json=json_body,
            auth=self._auth,
            expect=(200, 201),
            secrets=self.secret_values,
            label=f"WooCommerce {label}",
        )

    def _pages(self, path: str, params: Mapping[str, Any], label: str) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            response = self._call("GET", path, params={**params, "per_page": 100, "page": page}, label=label)
            rows = response.json()
            if not isinstance(rows, list):
                raise PermanentError(f"WooCommerce {label}: unexpected answer")
            yield from rows
            try:
                pages = int(response.headers.get("X-WP-TotalPages") or 0)
            except ValueError:
                pages = 0
            if page >= pages or not rows:
                return
            page += 1

    # -- the contract -----------------------------------------------------------------

    def test_connection(self) -> list[Location]:
        self._call("GET", "products", params={"per_page": 1}, label="connection test")
        return [Location(id="default", name="WooCommerce store stock")]  # WooCommerce keeps one stock level

    def _find(self, skus: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        wanted = {s for s in skus if s and s.strip() and "," not in s}
        found: dict[str, list[dict[str, Any]]] = {s: [] for s in wanted}
        for chunk in chunked(sorted(wanted), LOOKUP_CHUNK):
            for product in self._pages("products", {"sku": ",".join(chunk)}, "SKU lookup"):
                sku = product.get("sku")
                if sku in found and all(p["id"] != product["id"] for p in found[sku]):
                    found[sku].append(product)
        return found

    @staticmethod
    def _one(sku: str, hits: list[dict[str, Any]] | None) -> dict[str, Any] | AdapterError:
        if not sku or not sku.strip():
            return AdapterError("blank SKU: WooCommerce can't match it")
        if "," in sku:
            return AdapterError(f"SKU {sku!r} contains a comma, which WooCommerce's SKU search can't match")
        if not hits:
            return AdapterError(f"SKU {sku!r} not found in WooCommerce")
        if len(hits) > 1:
            return AdapterError(
                f"SKU {sku!r} is on {len(hits)} WooCommerce products; make it unique to sync it"
            )
        if hits[0].get("type") in ("variable", "grouped", "external"):
            return AdapterError(
                f"SKU {sku!r} is a {hits[0]['type']} product, which holds no stock of its own"
            )
        return hits[0]

    def lookup(self, skus: Sequence[str]) -> dict[str, str | AdapterError]:
        found = self._find(skus)
        out: dict[str, str | AdapterError] = {}
        for sku in skus:
            hit = self._one(sku, found.get(sku))
            out[sku] = hit if isinstance(hit, AdapterError) else _remote(hit)
        return out

    def _read_ids(self, remote_ids: Sequence[str]) -> dict[str, int | None]:
        groups: dict[int | None, list[int]] = defaultdict(list)
        for remote in dict.fromkeys(remote_ids):
            parent, own = _split(remote)
            groups[parent].append(own)
        out: dict[str, int | None] = dict.fromkeys(remote_ids)
        for parent, ids in groups.items():
            path = "products" if parent is None else f"products/{parent}/variations"
            for chunk in chunked(ids, 100):
                try:
                    rows = list(self._pages(path, {"include": ",".join(map(str, chunk))}, "read levels"))
                except PermanentError as exc:
                    if exc.status == 404:  # the parent is gone: its variations are unknown
                        continue
                    raise
                for product in rows:
                    out[_remote(product) if parent is not None else str(product["id"])] = _managed_quantity(
                        product
                    )
        return out

    def read_levels(self, lines: Sequence[PushLine]) -> dict[str, int | None]:
        missing = [ln.sku for ln in lines if not ln.remote_id]
        found = self._find(missing) if missing else {}
        known = {ln.sku: ln.remote_id for ln in lines if ln.remote_id}
        levels = self._read_ids(list(known.values())) if known else {}
        out: dict[str, int | None] = {}
        for ln in lines:
            if ln.remote_id:
                out[ln.sku] = levels.get(ln.remote_id)
            else:
                hit = self._one(ln.sku, found.get(ln.sku))
                out[ln.sku] = None if isinstance(hit, AdapterError) else _managed_quantity(hit)
        return out

    def push(self, lines: Sequence[PushLine]) -> list[PushResult]:
        results: dict[int, PushResult] = {}
        try:
            missing = [ln.sku for ln in lines if not ln.remote_id]
            found = self._find(missing) if missing else {}
            rows: list[tuple[int, PushLine, str]] = []
            current: dict[str, int | None] = {}
            for index, ln in enumerate(lines):
                if ln.remote_id:
                    rows.append((index, ln, ln.remote_id))
                    continue
                hit = self._one(ln.sku, found.get(ln.sku))
                if isinstance(hit, AdapterError):
                    results[index] = PushResult(ln.sku, False, error=str(hit))
                    continue
                rows.append((index, ln, _remote(hit)))
                current[_remote(hit)] = _managed_quantity(hit)
            if self.check_drift:
                unread = [r for _, ln, r in rows if ln.last_confirmed is not None and r not in current]
                if unread:
                    current.update(self._read_ids(unread))
            groups: dict[int | None, list[tuple[int, PushLine, str]]] = defaultdict(list)
            for row in rows:
                groups[_split(row[2])[0]].append(row)
            for parent, group in groups.items():
                for batch in chunked(group, self.batch_size):
                    self._send(parent, batch, current, results)
        except AdapterError as exc:  # refused, down or broken: report it without losing results so far
            for index, ln in enumerate(lines):  # not a verdict on the items: the next push sends them again
                results.setdefault(
                    index, PushResult(ln.sku, False, remote_id=ln.remote_id, error=str(exc), transient=True)
                )
        return [results[i] for i in range(len(lines))]

    def _send(
        self, parent: int | None, batch, current: Mapping[str, int | None], results: dict[int, PushResult]
    ) -> None:
        path = "products/batch" if parent is None else f"products/{parent}/variations/batch"
        body = {
            "update": [
                {"id": _split(remote)[1], "manage_stock": True, "stock_quantity": ln.quantity}
                for _, ln, remote in batch
            ]
        }
        try:
            answer = self._call("POST", path, json_body=body, label="batch update").json()
        except PermanentError as exc:
            if exc.status == 413 and len(batch) > 1:  # the host lowered the batch cap
                half = len(batch) // 2
                self._send(parent, batch[:half], current, results)
                self._send(parent, batch[half:], current, results)
                return
            for index, ln, remote in batch:
                results[index] = PushResult(ln.sku, False, remote_id=remote, error=str(exc))
            return
        by_id = {}
        for item in (answer or {}).get("update") or []:
            if isinstance(item, dict) and item.get("id") is not None:
                by_id.setdefault(item["id"], item)
        for index, ln, remote in batch:
            item = by_id.get(_split(remote)[1])
            before = current.get(remote)
            drift = (
                before
                if (ln.last_confirmed is not None and before is not None and before != ln.last_confirmed)
                else None
            )
            if item is None:
                results[index] = PushResult(
                    ln.sku, False, remote_id=remote, error="WooCommerce did not answer for this item",
                    transient=True,  # no answer is no refusal: the next push sends it again
                )
            elif item.get("error"):
                error = item["error"]
                message = error.get("message") if isinstance(error, dict) else str(error)
                code = error.get("code") if isinstance(error, dict) else None
                results[index] = PushResult(
                    ln.sku, False, remote_id=remote, error=f"{message} ({code})" if code else str(message)
                )
            elif item.get("manage_stock") is not True or item.get("stock_quantity") != ln.quantity:
                results[index] = PushResult(ln.sku, False, remote_id=remote, error=UNMANAGED)
            else:
                results[index] = PushResult(
                    ln.sku, True, confirmed=int(item["stock_quantity"]), remote_id=remote, drift=drift
                )

    def _catalog(self) -> Iterator[dict[str, Any]]:
        for product in self._pages("products", {}, "catalog"):
            if product.get("type") == "variable":
                yield from self._pages(f"products/{product['id']}/variations", {}, "catalog")
            else:
                yield product

    def fetch_levels(self) -> Iterator[Level]:
        for product in self._catalog():
            if product.get("sku"):
                yield Level(
                    sku=product["sku"],
                    quantity=_managed_quantity(product),
                    name=product.get("name"),
                    remote_id=_remote(product),
                )

    def fetch_products(self) -> Iterator[RemoteProduct]:
        for product in self._catalog():
            if not product.get("sku"):
                continue
            try:
                price = Decimal(str(product["price"])) if product.get("price") not in (None, "") else None
            except InvalidOperation:
                price = None
            yield RemoteProduct(
                sku=product["sku"],
                name=product.get("name") or product["sku"],
                price=price,
                quantity=_managed_quantity(product),
                remote_id=_remote(product),
            )

    # -- orders -----------------------------------------------------------------------

    def fetch_orders(self, since: datetime) -> Iterator[list[RemoteOrder]]:
        per_page = max(1, min(100, int(self.options.get("orders_page_size") or 100)))

        def fetch(after: datetime, page: int) -> tuple[list[RemoteOrder], bool]:
            params = {
                "modified_after": after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "dates_are_gmt": "true",
                "orderby": "modified",
                "order": "asc",
                "page": page,
                "per_page": per_page,
            }
            response = self._call("GET", "orders", params=params, label="orders")
            rows = response.json()
            if not isinstance(rows, list):
                raise PermanentError("WooCommerce orders: unexpected answer")
            try:
                pages = int(response.headers.get("X-WP-TotalPages") or 0)
            except ValueError:
                pages = 0
            return [self._order(row) for row in rows], page < pages

        yield from walk_modified(fetch, since)

    @staticmethod
    def _order(row: Mapping[str, Any]) -> RemoteOrder:
        cart_status = str(row.get("status") or "")
        status, takes = ORDER_STATUSES.get(cart_status, ("open", True))
        lines = tuple(
            RemoteOrderLine(
                sku=item["sku"],
                quantity=max(0, int(item.get("quantity") or 0)),
                restocked=_meta_int(item, "_restock_refunded_items"),
            )
            for item in row.get("line_items") or []
            if item.get("sku")
        )
        updated = _gmt(row.get("date_modified_gmt") or row["date_created_gmt"])
        return RemoteOrder(
            external_id=str(row["id"]),
            version=int(updated.timestamp() * 1000),
            updated_at=updated,
            status=status,
            takes_stock=takes,
            lines=lines,
            cart_status=cart_status,
        )

    # -- webhooks ---------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """``X-WC-Webhook-Signature`` is base64(HMAC-SHA256(webhook secret, raw body))."""
        given = header(headers, "X-WC-Webhook-Signature")
        if not given or not secret:
            return False
        expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        return hmac.compare_digest(expected, given.strip())

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[WebhookChange]:
        topic = (header(headers, "X-WC-Webhook-Topic") or "").strip()
        if topic and not topic.startswith("product."):
            return []
        try:
            data = json.loads(body)
        except ValueError:
            return []  # WooCommerce's creation ping is form-encoded ("webhook_id=1")
        if not isinstance(data, dict) or "id" not in data:
            return []
        return [
            WebhookChange(
                sku=data.get("sku") or None, remote_id=_remote(data), quantity=_managed_quantity(data)
            )
        ]
