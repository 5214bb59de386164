"""A fake remote store speaking the inventory-items API of design.md §9.

The same API is served by another install of this product (``/api/v2/``) and by
a hosted order desk, so this fake keeps strictly to what §9 states; the
adapter proven here must work against our own implementation unchanged.

Stated by §9 and enforced:

* headers ``ORDERDESK-STORE-ID`` and ``ORDERDESK-API-KEY`` (401 otherwise);
* ``GET /test``; ``GET /inventory-items`` with ``code`` (a comma list, exact
  match after trimming spaces), ``search``, ``limit`` (default 50, max 500) and
  ``offset``; ``GET``/``POST``/``PUT``/``DELETE`` on ``/inventory-items/{id}``,
  where PUT replaces the whole record (omitted fields are cleared);
  ``PUT /batch-inventory-items`` with a JSON array;
* the envelope ``status`` ("success"/"error"), ``message``, ``execution_time``;
  lists add ``records_returned`` and ``total_records``; items come as
  ``inventory_item``/``inventory_items`` with fields ``id name code price cost
  weight stock location metadata update_source date_added date_updated``, dates
  ``YYYY-MM-DD HH:MM:SS`` UTC;
* a token bucket per store of 20 tokens refilled at 3 per second; every request
  (errors included) takes one token; ``X-Tokens-Remaining`` on every response,
  429 with ``X-Retry-After`` (seconds, decimals allowed) when it is empty.

Interpretations where §9 is silent (our /api/v2 implementation should match):

* **Batch PUT updates, it does not replace.** Each element names its record by
  ``id``; the fields it carries are written and the fields it omits are kept.
  A batch is how client scripts send stock counts (``[{"id": 7, "stock": 5}]``);
  clearing names and prices there would destroy data.
* **Batch PUT is atomic.** Every element is validated first; if any is invalid
  (unknown id, non-integer stock, duplicate code, ...) the answer is 400 with
  ``status: "error"`` and a message naming the element by position and id, and
  nothing is applied. Clients split a rejected batch to land the rest.
* **Batch size.** At most 500 elements, the same cap as a list page's ``limit``
  (400 beyond it).
* The batch answer carries the updated records as ``inventory_items``.
* ``limit`` above 500 is clamped to 500; ``limit`` < 1, a negative ``offset`` or
  text is 400. Lists are ordered by ``id``.
* ``search`` matches name or code, partially and case-insensitively.
* ``stock`` is an integer (negatives allowed: oversold is real); ``code`` is
  required, trimmed, and unique in the store; ``metadata`` is an object of
  strings; ``price``/``cost``/``weight`` are decimal numbers (or numeric text).
* Single-record PUT clears omitted fields to empty text, 0, or ``{}``; it still
  needs ``code``.
* POST answers 201; unknown ids answer 404; DELETE answers the envelope alone.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .server import FakeServer, HttpError, Request, Response, TokenBucket, json_response, serve_forever

__all__ = ["BATCH_LIMIT", "DEMO_API_KEY", "DEMO_STORE_ID", "OrderDeskFake", "serve"]

DEMO_STORE_ID = "10001"  # what the demo and ``run_fake orderdesk`` accept
DEMO_API_KEY = "orderdesk-demo-key"
BUCKET_SIZE = 20
REFILL_PER_SECOND = 3
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
BATCH_LIMIT = 500
FIELDS = ("id", "name", "code", "price", "cost", "weight", "stock", "location", "metadata", "update_source")
DECIMAL_FIELDS = ("price", "cost", "weight")
TEXT_FIELDS = ("name", "location", "update_source")


@dataclass
class Item:
    id: int
    code: str
    name: str = ""
    price: Decimal = Decimal("0")
    cost: Decimal = Decimal("0")
    weight: Decimal = Decimal("0")
    stock: int = 0
    location: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    update_source: str = ""
    date_added: str = ""
    date_updated: str = ""


@dataclass
class Store:
    store_id: str
    api_key: str
    items: dict[int, Item] = field(default_factory=dict)


class _Invalid(Exception):
    pass


def _number(value: Any) -> float | int:
    as_int = int(value)
    return as_int if value == as_int else float(value)


class OrderDeskFake(FakeServer):
    name = "orderdesk"

    def __init__(self, *, store_id: str = DEMO_STORE_ID, api_key: str = DEMO_API_KEY, **kwargs):
        self.stores: dict[str, Store] = {}
        self.buckets: dict[str, TokenBucket] = {}
        self._ids = itertools.count(1)
        self.batch_calls = 0
        self.retry_afters: list[str] = []  # every X-Retry-After sent, for tests to compare
        super().__init__(**kwargs)
        self.store_id = store_id
        self.api_key = api_key  # the default store's key (``run_fake`` shows it)
        self.add_store(store_id, api_key)

    # -- seeding ------------------------------------------------------------------------

    def add_store(self, store_id: str, api_key: str) -> None:
        with self.lock:
            self.stores[store_id] = Store(store_id, api_key)

    def _store(self, store_id: str | None) -> Store:
        return self.stores[store_id or self.store_id]

    def add_item(self, code: str, stock: int = 0, store_id: str | None = None, **fields: Any) -> int:
        with self.lock:
            store = self._store(store_id)
            item = self._build(store, {"code": code, "stock": stock, **fields}, existing=None, partial=False)
            store.items[item.id] = item
            return item.id

    def item(self, code: str, store_id: str | None = None) -> Item:
        with self.lock:
            return next(i for i in self._store(store_id).items.values() if i.code == code)

    def stock(self, code: str, store_id: str | None = None) -> int:
        return self.item(code, store_id).stock

    def seed_demo(self) -> None:
        for n in range(1, 11):
            self.add_item(f"DEMO-{n:03d}", n * 3, name=f"Demo product {n}", price=f"{9 + n}.00")

    # -- plumbing -----------------------------------------------------------------------

    def setup_routes(self) -> None:
        self.route("GET", r"/api/v2/test", self.test)
        self.route("GET", r"/api/v2/inventory-items", self.list_items)
        self.route("POST", r"/api/v2/inventory-items", self.create_item)
        self.route("GET", r"/api/v2/inventory-items/(?P<id>[^/]+)", self.get_item)
        self.route("PUT", r"/api/v2/inventory-items/(?P<id>[^/]+)", self.replace_item)
        self.route("DELETE", r"/api/v2/inventory-items/(?P<id>[^/]+)", self.delete_item)
        self.route("PUT", r"/api/v2/batch-inventory-items", self.batch_update)

    def _envelope(self, status: str, message: str, **extra: Any) -> dict[str, Any]:
        return {"status": status, "message": message, "execution_time": "0.0010 seconds", **extra}

    def _error(self, http_status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        return json_response(http_status, self._envelope("error", message), headers)

    def not_found(self, request: Request) -> Response:
        return self._error(404, "Endpoint not found")

    def method_not_allowed(self, request: Request) -> Response:
        return self._error(405, "Method not allowed")

    def _bucket(self, store_id: str) -> TokenBucket:
        bucket = self.buckets.get(store_id)
        if bucket is None:
            bucket = self.buckets[store_id] = TokenBucket(BUCKET_SIZE, REFILL_PER_SECOND, self.now)
        return bucket

    def before(self, request: Request) -> Response | None:
        store_id = (request.headers.get("ORDERDESK-STORE-ID") or "").strip()
        request.store_id = store_id  # type: ignore[attr-defined]
        with self.lock:
            bucket = self._bucket(store_id)
            if not bucket.try_take(1):
                # Rounded up, so a client that waits exactly this long finds a token.
                wait = f"{max(math.ceil((1 - bucket.available) / bucket.rate * 1000), 1) / 1000:.3f}"
                self.retry_afters.append(wait)
                return self._error(
                    429, "Rate limit exceeded: too many requests for this store", {"X-Retry-After": wait}
                )
            store = self.stores.get(store_id)
            if store is None or request.headers.get("ORDERDESK-API-KEY") != store.api_key:
                return self._error(401, "Invalid store ID or API key")
        request.store = store  # type: ignore[attr-defined]
        return None

    def after(self, request: Request, response: Response) -> None:
        with self.lock:
            left = self._bucket(getattr(request, "store_id", "")).available
        response.headers["X-Tokens-Remaining"] = str(int(left))

    def _now_text(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.wall_time()))

    # -- records ------------------------------------------------------------------------

    @staticmethod
    def as_json(item: Item) -> dict[str, Any]:
        return {
            "id": item.id,
            "name": item.name,
            "code": item.code,
            "price": _number(item.price),
            "cost": _number(item.cost),
            "weight": _number(item.weight),
            "stock": item.stock,
            "location": item.location,
            "metadata": dict(item.metadata),
            "update_source": item.update_source,
            "date_added": item.date_added,
            "date_updated": item.date_updated,
        }

    def _build(self, store: Store, data: Any, existing: Item | None, partial: bool) -> Item:
        """Validate ``data`` into a new record (POST), a replacement (PUT) or an update (batch)."""
        if not isinstance(data, dict):
            raise _Invalid("each inventory item must be a JSON object")
        unknown = set(data) - set(FIELDS) - {"date_added", "date_updated"}
        if unknown:
            raise _Invalid(f"unknown field(s): {', '.join(sorted(unknown))}")
        base = existing if partial and existing is not None else None
        values: dict[str, Any] = {}
        if "code" in data or not partial:
            code = data.get("code")
            if not isinstance(code, str) or not code.strip():
                raise _Invalid("code is required")
            code = code.strip()
            clash = [
                i
                for i in store.items.values()
                if i.code == code and (existing is None or i.id != existing.id)
            ]
            if clash:
                raise _Invalid(f"code {code!r} is already used by inventory item {clash[0].id}")
            values["code"] = code
        for name in TEXT_FIELDS:
            if name in data or not partial:
                raw = data.get(name)
                if raw is not None and not isinstance(raw, str):
                    raise _Invalid(f"{name} must be text")
                values[name] = raw or ""
        for name in DECIMAL_FIELDS:
            if name in data or not partial:
                raw = data.get(name)
                if raw is None or raw == "":
                    values[name] = Decimal("0")
                    continue
                if isinstance(raw, bool):
                    raise _Invalid(f"{name} must be a number")
                try:
                    values[name] = Decimal(str(raw))
                except InvalidOperation:
                    raise _Invalid(f"{name} must be a number") from None
                if not values[name].is_finite():
                    raise _Invalid(f"{name} must be a number")
        if "stock" in data or not partial:
            raw = data.get("stock")
            if raw is None or raw == "":
                values["stock"] = 0
            elif isinstance(raw, bool):
                raise _Invalid("stock must be an integer")
            elif isinstance(raw, int):
                values["stock"] = raw
            elif isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
                values["stock"] = int(raw.strip())
            else:
                raise _Invalid(f"stock must be an integer, not {raw!r}")
        if "metadata" in data or not partial:
            raw = data.get("metadata") or {}
            if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
                raise _Invalid("metadata must be an object")
            values["metadata"] = {k: "" if v is None else str(v) for k, v in raw.items()}
        now = self._now_text()
        if base is not None:
            current = {f: getattr(base, f) for f in FIELDS if f != "id"}
            current.update(values)
            return Item(id=base.id, **current, date_added=base.date_added, date_updated=now)
        item_id = existing.id if existing is not None else next(self._ids)
        added = existing.date_added if existing is not None else now
        return Item(id=item_id, **values, date_added=added, date_updated=now)

    def _find(self, request: Request) -> Item:
        raw = request.match.group("id")
        item = request.store.items.get(int(raw)) if raw.isdigit() else None
        if item is None:
            raise HttpError(404, self._envelope("error", f"Inventory item {raw} not found"))
        return item

    def _body(self, request: Request) -> Any:
        try:
            return request.json()
        except HttpError:
            raise HttpError(400, self._envelope("error", "The request body is not valid JSON")) from None

    @staticmethod
    def _int_arg(request: Request, name: str, default: int, low: int) -> int:
        raw = request.arg(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if value < low:
            raise HttpError(
                400,
                {
                    "status": "error",
                    "message": f"{name} must be an integer >= {low}",
                    "execution_time": "0 seconds",
                },
            )
        return value

    # -- handlers -----------------------------------------------------------------------

    def test(self, request: Request):
        return self._envelope("success", "Connection successful")

    def list_items(self, request: Request):
        limit = min(MAX_LIMIT, self._int_arg(request, "limit", DEFAULT_LIMIT, 1))
        offset = self._int_arg(request, "offset", 0, 0)
        codes = request.arg("code")
        wanted = {c.strip() for c in codes.split(",") if c.strip()} if codes is not None else None
        search = (request.arg("search") or "").strip().lower()
        with self.lock:
            rows = [
                item
                for _, item in sorted(request.store.items.items())
                if (wanted is None or item.code in wanted)
                and (not search or search in item.name.lower() or search in item.code.lower())
            ]
            page = [self.as_json(i) for i in rows[offset : offset + limit]]
        return self._envelope(
            "success",
            "Inventory items found" if page else "No inventory items found",
            records_returned=len(page),
            total_records=len(rows),
            inventory_items=page,
        )

    def get_item(self, request: Request):
        with self.lock:
            return self._envelope(
                "success", "Inventory item found", inventory_item=self.as_json(self._find(request))
            )

    def create_item(self, request: Request):
        data = self._body(request)
        with self.lock:
            try:
                item = self._build(request.store, data, existing=None, partial=False)
            except _Invalid as exc:
                raise HttpError(400, self._envelope("error", str(exc))) from None
            request.store.items[item.id] = item
            return 201, self._envelope("success", "Inventory item created", inventory_item=self.as_json(item))

    def replace_item(self, request: Request):
        data = self._body(request)
        with self.lock:
            existing = self._find(request)
            if isinstance(data, dict) and "id" in data and str(data["id"]) != str(existing.id):
                raise HttpError(400, self._envelope("error", "id in the body does not match the URL"))
            try:
                item = self._build(request.store, data, existing=existing, partial=False)
            except _Invalid as exc:
                raise HttpError(400, self._envelope("error", str(exc))) from None
            request.store.items[item.id] = item
            return self._envelope("success", "Inventory item updated", inventory_item=self.as_json(item))

    def delete_item(self, request: Request):
        with self.lock:
            item = self._find(request)
            del request.store.items[item.id]
        return self._envelope("success", "Inventory item deleted")

    def batch_update(self, request: Request):
        data = self._body(request)
        if not isinstance(data, list) or not data:
            raise HttpError(400, self._envelope("error", "The body must be a non-empty JSON array of items"))
        if len(data) > BATCH_LIMIT:
            raise HttpError(400, self._envelope("error", f"At most {BATCH_LIMIT} items per batch"))
        with self.lock:
            self.batch_calls += 1
            store: Store = request.store
            updated: list[Item] = []
            problems: list[str] = []
            staged = dict(store.items)
            for position, element in enumerate(data, start=1):
                raw_id = element.get("id") if isinstance(element, dict) else None
                try:
                    existing = staged.get(int(raw_id)) if str(raw_id).isdigit() else None
                    if existing is None:
                        raise _Invalid(
                            "id is required" if raw_id in (None, "") else "inventory item not found"
                        )
                    # Codes must stay unique against the batch's own changes too.
                    shadow = Store(store.store_id, store.api_key, staged)
                    item = self._build(shadow, element, existing=existing, partial=True)
                except _Invalid as exc:
                    problems.append(f"item {position} (id {raw_id}): {exc}")
                    continue
                staged[item.id] = item
                updated.append(item)
            if problems:
                raise HttpError(400, self._envelope("error", "Nothing was updated. " + "; ".join(problems)))
            store.items = staged
            return self._envelope(
                "success",
                f"{len(updated)} inventory items updated",
                inventory_items=[self.as_json(i) for i in updated],
            )


def serve(port: int, host: str = "127.0.0.1", seed_demo: bool = False, **kwargs: Any) -> None:
    """Run the fake in the foreground (``run_fake orderdesk``); the API is under ``/api/v2``."""
    fake = OrderDeskFake(host=host, port=port, **kwargs)
    if seed_demo:
        fake.seed_demo()
    serve_forever(fake)
