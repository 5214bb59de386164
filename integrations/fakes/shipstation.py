"""A fake ShipStation API v2 inventory service (api_contracts.md §7 and §9).

What it enforces:

* the ``API-Key`` header (401 with the v2 error body otherwise);
* the Inventory add-on: an account without it answers every inventory call
  with 403 (``inventory_enabled=False``); the shape follows the v2 errors guide,
  the wording is ours;
* one row per SKU per location (``group_by=warehouse`` folds locations of a
  warehouse together); ``available = on_hand - allocated``;
* paging with ``page``/``limit`` and ``links.next.href`` (an empty object on the
  last page);
* 200 requests per minute per key: 429 with ``Retry-After`` and the v2 error body;
* every error as ``{"request_id", "errors": [{"error_source", "error_type",
  "error_code", "message"}]}``.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .server import FakeServer, FixedWindow, HttpError, Request, Response, serve_forever

__all__ = ["DEMO_API_KEY", "ShipStationFake", "error_body", "serve"]

DEMO_API_KEY = "shipstation-demo-key"  # what the demo and ``run_fake shipstation`` accept
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def error_body(error_type: str, error_code: str, message: str, source: str = "shipstation") -> dict[str, Any]:
    return {
        "request_id": str(uuid.uuid4()),
        "errors": [
            {"error_source": source, "error_type": error_type, "error_code": error_code, "message": message}
        ],
    }


def _error(status: int, error_type: str, error_code: str, message: str, headers=None) -> HttpError:
    return HttpError(status, error_body(error_type, error_code, message), headers)


@dataclass
class Stock:
    on_hand: int
    allocated: int = 0
    cost: str = "0.00"

    @property
    def available(self) -> int:
        return self.on_hand - self.allocated


class ShipStationFake(FakeServer):
    name = "shipstation"

    def __init__(
        self,
        *,
        api_key: str = DEMO_API_KEY,
        rate_limit: int = 200,
        window: float = 60,
        inventory_enabled: bool = True,
        **kwargs,
    ):
        self.api_key = api_key
        self.inventory_enabled = inventory_enabled
        self.warehouses: dict[str, str] = {}
        self.locations: dict[str, tuple[str, str]] = {}  # location id -> (warehouse id, name)
        self.stock: dict[tuple[str, str], Stock] = {}  # (sku, location id) -> counts
        self._seq = 0
        super().__init__(**kwargs)
        self.limiter = FixedWindow(rate_limit, window, self.now)

    # -- seeding ------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}-{self._seq}"

    def add_warehouse(self, name: str) -> str:
        with self.lock:
            wid = self._id("se")
            self.warehouses[wid] = name
            return wid

    def add_location(self, warehouse_id: str, name: str) -> str:
        with self.lock:
            lid = self._id("se")
            self.locations[lid] = (warehouse_id, name)
            return lid

    def set_stock(self, sku: str, location_id: str, on_hand: int, allocated: int = 0) -> None:
        with self.lock:
            self.stock[(sku, location_id)] = Stock(on_hand, allocated)

    def seed_demo(self) -> None:
        east = self.add_warehouse("East")
        west = self.add_warehouse("West")
        shelves = [
            self.add_location(east, "A-1"),
            self.add_location(east, "A-2"),
            self.add_location(west, "B-1"),
        ]
        for n in range(1, 11):
            for i, loc in enumerate(shelves):
                self.set_stock(f"DEMO-{n:03d}", loc, n * (i + 1), allocated=i)

    # -- plumbing -----------------------------------------------------------------------

    def setup_routes(self) -> None:
        self.route("GET", r"/v2/inventory", self.inventory)
        self.route("GET", r"/v2/inventory_warehouses", self.list_warehouses)
        self.route("GET", r"/v2/inventory_locations", self.list_locations)

    def not_found(self, request: Request) -> Response:
        return _error(404, "validation", "not_found", "The requested resource was not found.").response

    def before(self, request: Request) -> Response | None:
        if request.headers.get("API-Key") != self.api_key:
            return _error(
                401, "security", "unauthorized", "The API key is invalid. Please check your API key."
            ).response
        with self.lock:
            if not self.limiter.try_take():
                wait = max(1, math.ceil(self.limiter.reset_in))
                return _error(
                    429,
                    "system",
                    "rate_limit_exceeded",
                    "You have exceeded the rate limit.",
                    {"Retry-After": str(wait)},
                ).response
        if request.path.startswith("/v2/inventory") and not self.inventory_enabled:
            return _error(
                403,
                "account_status",
                "forbidden",
                "Inventory API access is not enabled for this account. Enable the Inventory add-on.",
            ).response
        return None

    def _paging(self, request: Request) -> tuple[int, int]:
        try:
            page = int(request.arg("page", "1"))
            limit = int(request.arg("limit", str(DEFAULT_LIMIT)))
        except ValueError:
            raise _error(
                400, "validation", "invalid_field_value", "page and limit must be integers."
            ) from None
        if page < 1 or not 1 <= limit <= MAX_LIMIT:
            raise _error(
                400,
                "validation",
                "invalid_field_value",
                f"limit must be between 1 and {MAX_LIMIT}; page >= 1.",
            )
        return page, limit

    def _paged(self, request: Request, path: str, key: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        page, limit = self._paging(request)
        pages = max(1, math.ceil(len(rows) / limit))
        query = {k: v[0] for k, v in request.query.items()}

        def link(n: int) -> dict[str, str]:
            return {"href": f"{self.url}{path}?{urlencode({**query, 'page': n, 'limit': limit})}"}

        return {
            key: rows[(page - 1) * limit : page * limit],
            "total": len(rows),
            "page": page,
            "pages": pages,
            "links": {
                "first": link(1),
                "last": link(pages),
                "prev": link(page - 1) if page > 1 else {},
                "next": link(page + 1) if page < pages else {},
            },
        }

    # -- handlers -----------------------------------------------------------------------

    def inventory(self, request: Request):
        skus = {s.strip() for s in (request.arg("sku") or "").split(",") if s.strip()}
        warehouse = request.arg("inventory_warehouse_id")
        location = request.arg("inventory_location_id")
        group_by = request.arg("group_by")
        if group_by not in (None, "", "warehouse", "location"):
            raise _error(
                400, "validation", "invalid_field_value", "group_by must be 'warehouse' or 'location'."
            )
        with self.lock:
            rows: dict[tuple[str, str, str | None], dict[str, Any]] = {}
            for (sku, lid), stock in sorted(self.stock.items()):
                wid = self.locations[lid][0]
                if (
                    (skus and sku not in skus)
                    or (warehouse and wid != warehouse)
                    or (location and lid != location)
                ):
                    continue
                key = (sku, wid, None if group_by == "warehouse" else lid)
                row = rows.setdefault(
                    key,
                    {
                        "sku": sku,
                        "on_hand": 0,
                        "allocated": 0,
                        "available": 0,
                        "average_cost": {"amount": 0.0, "currency": "USD"},
                        "inventory_warehouse_id": wid,
                    },
                )
                if group_by != "warehouse":
                    row["inventory_location_id"] = lid
                row["on_hand"] += stock.on_hand
                row["allocated"] += stock.allocated
                row["available"] += stock.available
        return self._paged(request, "/v2/inventory", "inventory", list(rows.values()))

    def list_warehouses(self, request: Request):
        with self.lock:
            rows = [
                {"inventory_warehouse_id": wid, "name": name, "created_at": "2024-01-01T00:00:00Z"}
                for wid, name in self.warehouses.items()
            ]
        return self._paged(request, "/v2/inventory_warehouses", "inventory_warehouses", rows)

    def list_locations(self, request: Request):
        with self.lock:
            rows = [
                {"inventory_location_id": lid, "inventory_warehouse_id": wid, "name": name}
                for lid, (wid, name) in self.locations.items()
            ]
        return self._paged(request, "/v2/inventory_locations", "inventory_locations", rows)


def serve(port: int, host: str = "127.0.0.1", seed_demo: bool = False, **kwargs: Any) -> None:
    """Run the fake in the foreground (``run_fake shipstation``)."""
    fake = ShipStationFake(host=host, port=port, **kwargs)
    if seed_demo:
        fake.seed_demo()
    serve_forever(fake)
