"""A fake ShipBob API: inventory levels in the dated versions and the legacy 1.0 shape.

It enforces what api_contracts.md §6 and §9 list, so the adapter is proven
against the quirks that break real integrations:

* versioned paths (``/1.0``, ``/2025-07``, ``/2026-01``, ``/2026-07``; ``2.0`` and
  unknown versions are 404) and their field names: ``total_on_hand_quantity`` in
  the dated versions, ``total_onhand_quantity``/``onhand_quantity`` in 1.0;
* 1.0 inventory carries no SKU: SKUs live on products, which point at inventory
  items through ``fulfillable_inventory_items`` (bundles point at several);
* ``SearchBy`` matches the inventory id exactly but name and SKU *partially* and
  case-insensitively, so ``ABC-1`` also finds ``ABC-10``;
* paging by ``next`` URLs (null on the last page) in the dated versions and by
  the ``Next-Page`` header in 1.0;
* ``Authorization: Bearer`` with a personal access token; the optional
  ``shipbob_channel_id`` header is accepted and logged;
* 150 requests per minute per token in a sliding window: ``x-remaining-calls``
  on every authorised reply, 429 with ``x-retry-after`` and the real body when
  exceeded.

Fulfillable is on hand minus committed (never below zero); inactive and
digital items are kept so the adapter's treatment of them can be tested.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from .server import FakeServer, HttpError, Request, Response, SlidingWindow, json_response, serve_forever

__all__ = ["DATED_VERSIONS", "DEMO_TOKEN", "ShipBobFake", "serve"]

DATED_VERSIONS = ("2025-07", "2026-01", "2026-07")
LEGACY_VERSION = "1.0"
MAX_LEGACY_LIMIT = 250
MAX_PAGE_SIZE = 250
DEFAULT_PAGE_SIZE = 50
DEMO_TOKEN = "shipbob-demo-pat"  # what the demo and ``run_fake shipbob`` accept
UNAUTHORIZED = {"message": "Authorization has been denied for this request."}


@dataclass
class InventoryItem:
    id: int
    name: str
    sku: str
    on_hand: int = 0
    committed: int = 0
    awaiting: int = 0
    exception: int = 0
    is_active: bool = True
    is_digital: bool = False
    by_center: dict[int, int] = field(default_factory=dict)  # fulfillment center id -> on hand

    @property
    def fulfillable(self) -> int:
        return max(0, self.on_hand - self.committed)


@dataclass
class Product:
    id: int
    reference_id: str
    sku: str
    name: str
    components: list[tuple[int, int]]  # (inventory id, units per product)


def _bool_arg(query: dict[str, str], name: str) -> bool | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise HttpError(400, {"errors": {name: [f"The value '{raw}' is not valid."]}, "title": "Bad Request"})


def _int_arg(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise HttpError(
            400,
            {
                "errors": {name: [f"The field {name} must be between {low} and {high}."]},
                "title": "Bad Request",
            },
        )
    return value


class ShipBobFake(FakeServer):
    name = "shipbob"

    def __init__(self, *, token: str = DEMO_TOKEN, rate_limit: int = 150, window: float = 60, **kwargs):
        self.token = token
        self.rate_limit = rate_limit
        self.window = window
        self.inventory: dict[int, InventoryItem] = {}
        self.products: dict[int, Product] = {}
        self.centers = {1: "Cicero (IL)", 2: "Moreno Valley (CA)"}
        self._ids = itertools.count(1001)
        self._windows: dict[str, SlidingWindow] = {}
        super().__init__(**kwargs)

    # -- seeding ----------------------------------------------------------------------

    def add_item(
        self,
        sku: str,
        on_hand: int,
        *,
        committed: int = 0,
        name: str | None = None,
        active: bool = True,
        digital: bool = False,
        product_sku: str | None = None,
    ) -> int:
        """An inventory item and the 1:1 product that carries its SKU; returns the inventory id."""
        with self.lock:
            inv_id = next(self._ids)
            self.inventory[inv_id] = InventoryItem(
                inv_id,
                name or f"Item {sku}",
                sku,
                on_hand=on_hand,
                committed=committed,
                is_active=active,
                is_digital=digital,
                by_center={1: on_hand},
            )
            self._add_product(
                product_sku if product_sku is not None else sku, name or f"Item {sku}", [(inv_id, 1)]
            )
            return inv_id

    def add_bundle(self, sku: str, components: list[tuple[int, int]], name: str | None = None) -> int:
        """A product made of inventory items (``(inventory id, units)``); it has no stock of its own."""
        with self.lock:
            return self._add_product(sku, name or f"Bundle {sku}", components)

    def add_product_alias(self, sku: str, inventory_id: int) -> int:
        """A second product (another channel's listing) fulfilled from the same inventory item."""
        with self.lock:
            return self._add_product(sku, self.inventory[inventory_id].name, [(inventory_id, 1)])

    def _add_product(self, sku: str, name: str, components: list[tuple[int, int]]) -> int:
        pid = next(self._ids)
        self.products[pid] = Product(pid, sku, sku, name, list(components))
        return pid

    def set_on_hand(self, inventory_id: int, on_hand: int, committed: int | None = None) -> None:
        with self.lock:
            item = self.inventory[inventory_id]
            item.on_hand = on_hand
            item.by_center = {1: on_hand}
            if committed is not None:
                item.committed = committed

    def seed_demo(self) -> None:
        for n in range(1, 11):
            self.add_item(f"DEMO-{n:03d}", 10 * n, committed=n % 3, name=f"Demo product {n}")

    # -- plumbing ----------------------------------------------------------------------

    def setup_routes(self) -> None:
        dated = r"/(?P<version>\d{4}-\d{2})"
        self.route("GET", dated + r"/inventory-level", self.levels)
        self.route("GET", dated + r"/inventory-level/(?P<id>\d+)", self.level)
        self.route("GET", dated + r"/location", self.locations)
        self.route("GET", r"/1\.0/inventory", self.legacy_inventory)
        self.route("GET", r"/1\.0/inventory/(?P<id>\d+)", self.legacy_inventory_one)
        self.route("GET", r"/1\.0/product", self.legacy_products)
        self.route("GET", r"/1\.0/location", self.locations)

    def not_found(self, request: Request) -> Response:
        return json_response(404, {"message": "No HTTP resource was found that matches the request URI."})

    def _window(self, token: str) -> SlidingWindow:
        window = self._windows.get(token)
        if window is None:
            window = self._windows[token] = SlidingWindow(self.rate_limit, self.window, self.now)
        return window

    def before(self, request: Request) -> Response | None:
        version = request.path.strip("/").split("/", 1)[0]
        if version != LEGACY_VERSION and version not in DATED_VERSIONS:
            return self.not_found(request)
        auth = request.headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.token:
            return json_response(401, UNAUTHORIZED, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        with self.lock:
            window = self._window(self.token)
            if not window.try_take():
                wait = max(1, math.ceil(window.retry_after))
                return json_response(
                    429,
                    {"statusCode": 429, "message": f"Rate limit is exceeded. Try again in {wait} seconds."},
                    {"x-retry-after": str(wait), "x-remaining-calls": "0"},
                )
        return None

    def after(self, request: Request, response: Response) -> None:
        if response.status in (401, 404, 429):
            return
        with self.lock:
            response.headers["x-remaining-calls"] = str(self._window(self.token).left)

    # -- dated versions (2025-07 and later) --------------------------------------------

    def _level_row(self, item: InventoryItem) -> dict[str, Any]:
        return {
            "inventory_id": item.id,
            "name": item.name,
            "sku": item.sku,
            "total_on_hand_quantity": item.on_hand,
            "total_fulfillable_quantity": item.fulfillable,
            "total_committed_quantity": item.committed,
            "total_sellable_quantity": item.fulfillable,
            "total_awaiting_quantity": item.awaiting,
            "total_backordered_quantity": 0,
            "total_exception_quantity": item.exception,
            "total_internal_transfer_quantity": 0,
        }

    @staticmethod
    def _search(item: InventoryItem, term: str) -> bool:
        term = term.strip()
        if term.isdigit() and int(term) == item.id:
            return True
        low = term.lower()
        return low in item.name.lower() or low in item.sku.lower()

    def _filtered(self, query: dict[str, str]) -> list[InventoryItem]:
        active = _bool_arg(query, "IsActive")
        digital = _bool_arg(query, "IsDigital")
        ids_raw = query.get("InventoryIds")
        try:
            ids = {int(x) for x in ids_raw.split(",") if x.strip()} if ids_raw else None
        except ValueError:
            raise HttpError(
                400, {"errors": {"InventoryIds": ["Invalid id list."]}, "title": "Bad Request"}
            ) from None
        term = query.get("SearchBy")
        with self.lock:
            items = sorted(self.inventory.values(), key=lambda i: i.id)
        return [
            i
            for i in items
            if (active is None or i.is_active == active)
            and (digital is None or i.is_digital == digital)
            and (ids is None or i.id in ids)
            and (not term or self._search(i, term))
        ]

    def _page_url(self, version: str, state: dict[str, Any]) -> str:
        cursor = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
        return f"{self.url}/{version}/inventory-level?{urlencode({'Cursor': cursor})}"

    def levels(self, request: Request):
        version = request.match.group("version")
        query = {k: v[0] for k, v in request.query.items()}
        offset = 0
        if query.get("Cursor"):
            try:
                state = json.loads(base64.urlsafe_b64decode(query["Cursor"].encode()))
            except ValueError:
                raise HttpError(
                    400, {"title": "Bad Request", "errors": {"Cursor": ["Invalid cursor."]}}
                ) from None
            query, offset = state["q"], state["o"]  # a cursor carries the original filters
        size = _int_arg(query, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        items = self._filtered(query)
        page = items[offset : offset + size]
        last_offset = max(0, (len(items) - 1) // size * size)

        def link(at: int) -> str:
            return self._page_url(version, {"q": query, "o": at})

        return {
            "first": link(0) if offset > 0 else None,
            "items": [self._level_row(i) for i in page],
            "next": link(offset + size) if offset + size < len(items) else None,
            "prev": link(max(0, offset - size)) if offset > 0 else None,
            "last": link(last_offset) if offset < last_offset else None,
        }

    def level(self, request: Request):
        with self.lock:
            item = self.inventory.get(int(request.match.group("id")))
        if item is None:
            raise HttpError(404, {"message": "Inventory not found"})
        return self._level_row(item)

    def locations(self, request: Request):
        return [
            {
                "id": cid,
                "name": name,
                "abbreviation": name[:3].upper(),
                "is_active": True,
                "access_granted": True,
            }
            for cid, name in self.centers.items()
        ]

    # -- legacy 1.0 ---------------------------------------------------------------------

    def _legacy_row(self, item: InventoryItem) -> dict[str, Any]:
        return {
            "id": item.id,
            "name": item.name,
            "is_active": item.is_active,
            "is_digital": item.is_digital,
            "is_case_pick": False,
            "is_lot": False,
            "total_fulfillable_quantity": item.fulfillable,
            "total_onhand_quantity": item.on_hand,
            "total_committed_quantity": item.committed,
            "total_sellable_quantity": item.fulfillable,
            "total_awaiting_quantity": item.awaiting,
            "total_exception_quantity": item.exception,
            "total_internal_transfer_quantity": 0,
            "total_backordered_quantity": 0,
            "fulfillable_quantity_by_fulfillment_center": [
                {
                    "id": cid,
                    "name": self.centers.get(cid, str(cid)),
                    "fulfillable_quantity": max(0, qty - (item.committed if cid == 1 else 0)),
                    "onhand_quantity": qty,
                    "committed_quantity": item.committed if cid == 1 else 0,
                    "awaiting_quantity": 0,
                    "internal_transfer_quantity": 0,
                }
                for cid, qty in item.by_center.items()
            ],
        }

    def _legacy_page(self, request: Request, path: str, rows: list[Any]) -> Response:
        query = {k: v[0] for k, v in request.query.items()}
        page_no = _int_arg(query, "Page", 1, 0, 2147483647) or 1
        limit = _int_arg(query, "Limit", 50, 1, MAX_LEGACY_LIMIT)
        start = (page_no - 1) * limit
        page = rows[start : start + limit]
        total_pages = max(1, math.ceil(len(rows) / limit))
        headers = {
            "Total-Count": str(len(rows)),
            "Page-Number": str(page_no),
            "Total-Pages": str(total_pages),
        }
        if start + limit < len(rows):
            query.update(Page=str(page_no + 1), Limit=str(limit))
            headers["Next-Page"] = f"/1.0/{path}?{urlencode(query)}"
        return json_response(200, page, headers)

    def legacy_inventory(self, request: Request):
        query = {k: v[0] for k, v in request.query.items()}
        active = _bool_arg(query, "IsActive")
        digital = _bool_arg(query, "IsDigital")
        ids_raw = request.arg("IDs")
        ids = {int(x) for x in ids_raw.split(",") if x.strip().isdigit()} if ids_raw else None
        term = (request.arg("Search") or "").strip().lower()
        with self.lock:
            rows = [
                self._legacy_row(i)
                for i in sorted(self.inventory.values(), key=lambda i: i.id)
                if (active is None or i.is_active == active)
                and (digital is None or i.is_digital == digital)
                and (ids is None or i.id in ids)
                # 1.0 searches id (exact) and name (partial) only: never the SKU.
                and (not term or (term.isdigit() and int(term) == i.id) or term in i.name.lower())
            ]
        return self._legacy_page(request, "inventory", rows)

    def legacy_inventory_one(self, request: Request):
        with self.lock:
            item = self.inventory.get(int(request.match.group("id")))
            if item is None:
                raise HttpError(404, {"message": "Inventory not found"})
            return self._legacy_row(item)

    def legacy_products(self, request: Request):
        with self.lock:
            rows = [
                {
                    "id": p.id,
                    "reference_id": p.reference_id,
                    "sku": p.sku,
                    "name": p.name,
                    "channel": {"id": 1, "name": "Demo channel"},
                    "fulfillable_inventory_items": [
                        {"id": inv_id, "name": self.inventory[inv_id].name, "quantity": units}
                        for inv_id, units in p.components
                        if inv_id in self.inventory
                    ],
                }
                for p in sorted(self.products.values(), key=lambda p: p.id)
            ]
        return self._legacy_page(request, "product", rows)


def serve(port: int, host: str = "127.0.0.1", seed_demo: bool = False, **kwargs: Any) -> None:
    """Run the fake in the foreground (``run_fake shipbob``)."""
    fake = ShipBobFake(host=host, port=port, **kwargs)
    if seed_demo:
        fake.seed_demo()
    serve_forever(fake)
