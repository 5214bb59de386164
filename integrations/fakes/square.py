"""A fake Square API (locations, catalog, inventory).

It enforces what api_contracts.md §4 and §9 list: ``Authorization: Bearer`` and
a well-formed ``Square-Version``; ``batch-create`` with a required idempotency
key (same key and body replays the first answer, another body is refused), at
most 100 changes, quantities as decimal *strings*, ``occurred_at`` no older than
24 hours and not in the future, ITEM ids refused where an ITEM_VARIATION is
needed; the whole batch refused when one change is bad, with Square's
``errors`` array naming the field; cursor paging; and 429 ``RATE_LIMITED``
(Square documents no rate, so the default is a modest token bucket).

Orders: ``POST /v2/orders/search`` needs 1 to 10 ``location_ids``; ``limit`` ≤
1000 (default 500); one ``date_time_filter`` range (inclusive; an absent end is
fixed at the first request of a cursor) whose field must equal
``sort.sort_field``; ``state_filter``; a cursor only with the query it came
from. ``POST /v2/catalog/batch-retrieve`` resolves variation ids (deleted ones
with ``include_deleted_objects``). Returns are separate return orders whose
``returns[].source_order_id`` names the sale.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .server import FakeServer, HttpError, Request, Response, TokenBucket, json_response, serve_forever

__all__ = ["SquareFake", "serve"]

MAX_CHANGES = 100
DAY = 24 * 3600
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _err(status: int, category: str, code: str, detail: str, field: str | None = None) -> dict[str, Any]:
    error = {"category": category, "code": code, "detail": detail}
    if field:
        error["field"] = field
    return error


def _fail(status: int, errors: list[dict[str, Any]]) -> HttpError:
    return HttpError(status, {"errors": errors})


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse_time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class SquareFake(FakeServer):
    name = "square"

    def __init__(
        self,
        *,
        access_token: str = "sq_fake_token",  # noqa: S107 - a fake's known test token
        rate_per_second: float = 20.0,
        burst: float = 20.0,
        **kwargs: Any,
    ):
        self.access_token = access_token
        super().__init__(**kwargs)
        self.bucket = TokenBucket(burst, rate_per_second, self.now)
        self._id_seq = itertools.count(1)
        self.locations: dict[str, dict[str, Any]] = {}
        self.items: dict[str, dict[str, Any]] = {}
        self.variations: dict[str, dict[str, Any]] = {}
        self.counts: dict[tuple[str, str], dict[str, Any]] = {}  # (variation, location) -> count
        self.idempotency: dict[str, tuple[str, Any]] = {}
        self.applied_batches = 0
        self.deleted_variations: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self._cursors: dict[str, tuple[str, float]] = {}
        self.default_location = self.add_location("Main store")

    # -- seeding --------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._id_seq):06d}" + uuid.uuid4().hex[:10].upper()

    def add_location(self, name: str) -> str:
        with self.lock:
            lid = "L" + uuid.uuid4().hex[:12].upper()
            self.locations[lid] = {"id": lid, "name": name, "status": "ACTIVE"}
            return lid

    def add_item(
        self,
        sku: str | None,
        quantity: int | None = 0,
        *,
        name: str | None = None,
        price_cents: int = 1000,
        location_id: str | None = None,
        item_id: str | None = None,
    ) -> dict[str, str]:
        """An ITEM with one ITEM_VARIATION, or one more variation on ``item_id``.

        ``quantity=None`` leaves the variation never counted (Square then has no count row).
        """
        with self.lock:
            if item_id is None:
                item_id = self._new_id("ITEM")
                self.items[item_id] = {"name": name or f"Item {sku}"}
            vid = self._new_id("VAR")
            self.variations[vid] = {
                "item_id": item_id,
                "sku": sku,
                "name": "Regular",
                "price": price_cents,
                "track_inventory": True,
            }
            if quantity is not None:
                self._set(vid, location_id or self.default_location, quantity)
            return {"item_id": item_id, "variation_id": vid}

    def add_product(self, sku: str | None, quantity: int | None = 0, **kwargs: Any) -> dict[str, str]:
        """The same seeding call name every fake offers."""
        return self.add_item(sku, quantity, **kwargs)

    def delete_variation(self, vid: str) -> None:
        with self.lock:
            gone = self.variations.pop(vid, None)
            if gone is not None:
                self.deleted_variations[vid] = gone

    def _set(self, vid: str, lid: str, quantity: Decimal | int) -> None:
        self.counts[(vid, lid)] = {"quantity": Decimal(quantity), "calculated_at": _rfc3339(self.wall_time())}

    def quantity(self, vid: str, location_id: str | None = None) -> int | None:
        with self.lock:
            row = self.counts.get((vid, location_id or self.default_location))
            return None if row is None else int(row["quantity"])

    def set_quantity(self, vid: str, quantity: int, location_id: str | None = None) -> None:
        """A count made in Square's dashboard or by a sale."""
        with self.lock:
            self._set(vid, location_id or self.default_location, quantity)

    # -- orders (test helpers: what sellers and buyers do in Square) ---------------------

    def variation_for(self, sku: str) -> str:
        with self.lock:
            hits = [vid for vid, v in self.variations.items() if v["sku"] == sku]
            if len(hits) != 1:
                raise KeyError(f"{len(hits)} variations with SKU {sku!r}")
            return hits[0]

    def _line(self, sku: str, quantity: int | str) -> dict[str, Any]:
        return {
            "uid": uuid.uuid4().hex[:22],
            "catalog_object_id": self.variation_for(sku),
            "catalog_version": 1,
            "name": f"Item {sku}",
            "quantity": str(quantity),
            "item_type": "ITEM",
        }

    def _touch(self, order: dict[str, Any], at: float | None) -> None:
        order["version"] = order.get("version", 0) + 1
        order["updated_at"] = max(order.get("updated_at", 0.0), self.wall_time() if at is None else at)

    def add_order(
        self,
        lines: dict[str, int | str] | list[tuple[str, int | str]],
        *,
        state: str = "OPEN",
        paid: bool = True,
        location_id: str | None = None,
        at: float | None = None,
    ) -> str:
        """An order of SKU -> units at a location; ``paid`` adds a card tender."""
        with self.lock:
            oid = uuid.uuid4().hex[:24].upper()
            order: dict[str, Any] = {
                "id": oid,
                "location_id": location_id or self.default_location,
                "state": state,
                "created_at": self.wall_time() if at is None else at,
                "line_items": [
                    self._line(sku, qty) for sku, qty in (lines.items() if isinstance(lines, dict) else lines)
                ],
                "tenders": [],
                "returns": [],
            }
            if paid:
                order["tenders"].append({"id": uuid.uuid4().hex[:24], "type": "CARD"})
            self._touch(order, at)
            self.orders[oid] = order
            return oid

    def edit_order(self, oid: str, lines: dict[str, int | str], at: float | None = None) -> None:
        """``UpdateOrder`` on an open order: each SKU's quantity becomes the given one (0 removes it)."""
        with self.lock:
            order = self.orders[oid]
            for sku, quantity in lines.items():
                vid = self.variation_for(sku)
                line = next((li for li in order["line_items"] if li["catalog_object_id"] == vid), None)
                if line is None:
                    order["line_items"].append(self._line(sku, quantity))
                elif str(quantity) == "0":
                    order["line_items"].remove(line)
                else:
                    line["quantity"] = str(quantity)
            self._touch(order, at)

    def set_order_state(self, oid: str, state: str, *, paid: bool | None = None, at: float | None = None) -> None:
        with self.lock:
            order = self.orders[oid]
            order["state"] = state
            if paid and not order["tenders"]:
                order["tenders"].append({"id": uuid.uuid4().hex[:24], "type": "CARD"})
            self._touch(order, at)

    def return_items(self, oid: str, lines: dict[str, int], at: float | None = None) -> str:
        """An itemized refund: a new return order naming ``oid`` as its source."""
        with self.lock:
            source = self.orders[oid]
            rows = []
            for sku, quantity in lines.items():
                vid = self.variation_for(sku)
                sold = next(li for li in source["line_items"] if li["catalog_object_id"] == vid)
                rows.append(
                    {
                        "uid": uuid.uuid4().hex[:22],
                        "source_line_item_uid": sold["uid"],
                        "catalog_object_id": vid,
                        "name": sold["name"],
                        "quantity": str(quantity),
                        "item_type": "ITEM",
                    }
                )
            rid = uuid.uuid4().hex[:24].upper()
            ret: dict[str, Any] = {
                "id": rid,
                "location_id": source["location_id"],
                "state": "COMPLETED",
                "created_at": self.wall_time() if at is None else at,
                "line_items": [],
                "tenders": [],
                "returns": [{"uid": uuid.uuid4().hex[:22], "source_order_id": oid, "return_line_items": rows}],
            }
            self._touch(ret, at)
            self.orders[rid] = ret
            source.setdefault("refunds", []).append({"id": uuid.uuid4().hex[:24], "status": "COMPLETED"})
            self._touch(source, at)
            return rid

    def seed_demo(self) -> None:
        for n in range(1, 11):
            self.add_item(f"DEMO-{n:03d}", 0, name=f"Demo product {n}", price_cents=900 + 100 * n)

    def webhook(self, vid: str, signature_key: str, notification_url: str) -> tuple[dict[str, str], bytes]:
        """An ``inventory.count.updated`` event, signed over notification URL + body."""
        with self.lock:
            lid = self.default_location
            row = self.counts.get((vid, lid)) or {
                "quantity": Decimal(0),
                "calculated_at": _rfc3339(self.wall_time()),
            }
            body = json.dumps(
                {
                    "merchant_id": "MERCHANT1",
                    "type": "inventory.count.updated",
                    "event_id": str(uuid.uuid4()),
                    "created_at": _rfc3339(self.wall_time()),
                    "data": {
                        "type": "inventory_counts",
                        "id": str(uuid.uuid4()),
                        "object": {
                            "inventory_counts": [
                                {
                                    "catalog_object_id": vid,
                                    "catalog_object_type": "ITEM_VARIATION",
                                    "state": "IN_STOCK",
                                    "location_id": lid,
                                    "quantity": str(row["quantity"]),
                                    "calculated_at": row["calculated_at"],
                                }
                            ]
                        },
                    },
                }
            ).encode()
        mac = hmac.new(signature_key.encode(), notification_url.encode() + body, hashlib.sha256)
        return {
            "Content-Type": "application/json",
            "x-square-hmacsha256-signature": base64.b64encode(mac.digest()).decode(),
        }, body

    # -- plumbing -------------------------------------------------------------------

    def setup_routes(self) -> None:
        self.route("GET", r"/v2/locations", self.list_locations)
        self.route("POST", r"/v2/catalog/search", self.search_catalog)
        self.route("GET", r"/v2/catalog/list", self.list_catalog)
        self.route("POST", r"/v2/inventory/changes/batch-create", self.batch_create)
        self.route("POST", r"/v2/inventory/counts/batch-retrieve", self.batch_retrieve)
        self.route("POST", r"/v2/orders/search", self.search_orders)
        self.route("POST", r"/v2/catalog/batch-retrieve", self.catalog_batch_retrieve)

    def not_found(self, request: Request) -> Response:
        return json_response(
            404,
            {
                "errors": [
                    _err(
                        404,
                        "INVALID_REQUEST_ERROR",
                        "NOT_FOUND",
                        f"API endpoint for URL path `{request.path}` and HTTP method "
                        f"`{request.method}` is not found.",
                    )
                ]
            },
        )

    def before(self, request: Request) -> Response | None:
        auth = request.headers.get("Authorization") or ""
        if auth != f"Bearer {self.access_token}":
            return json_response(
                401,
                {
                    "errors": [
                        _err(
                            401,
                            "AUTHENTICATION_ERROR",
                            "UNAUTHORIZED",
                            "This request could not be authorized.",
                        )
                    ]
                },
            )
        version = request.headers.get("Square-Version")
        if version is not None and not _VERSION.match(version):
            return json_response(
                400,
                {
                    "errors": [
                        _err(
                            400,
                            "INVALID_REQUEST_ERROR",
                            "INVALID_SQUARE_VERSION_FORMAT",
                            f"Invalid Square-Version format: {version}",
                        )
                    ]
                },
            )
        with self.lock:
            if not self.bucket.try_take(1):
                return json_response(
                    429,
                    {
                        "errors": [
                            _err(
                                429,
                                "RATE_LIMIT_ERROR",
                                "RATE_LIMITED",
                                "Rate limit exceeded. Please retry later.",
                            )
                        ]
                    },
                )
        return None

    def _variation_obj(self, vid: str) -> dict[str, Any]:
        v = self.variations[vid]
        data = {
            "item_id": v["item_id"],
            "name": v["name"],
            "ordinal": 1,
            "pricing_type": "FIXED_PRICING",
            "price_money": {"amount": v["price"], "currency": "USD"},
            "track_inventory": v["track_inventory"],
            "sellable": True,
            "stockable": True,
        }
        if v["sku"]:
            data["sku"] = v["sku"]
        return {
            "type": "ITEM_VARIATION",
            "id": vid,
            "version": 1,
            "is_deleted": False,
            "present_at_all_locations": True,
            "item_variation_data": data,
        }

    def _item_obj(self, iid: str) -> dict[str, Any]:
        return {
            "type": "ITEM",
            "id": iid,
            "version": 1,
            "is_deleted": False,
            "present_at_all_locations": True,
            "item_data": {
                "name": self.items[iid]["name"],
                "variations": [
                    self._variation_obj(v) for v, row in self.variations.items() if row["item_id"] == iid
                ],
            },
        }

    @staticmethod
    def _page(rows: list[Any], cursor: str | None, limit: int) -> tuple[list[Any], str | None]:
        try:
            start = int(base64.b64decode(cursor).decode()) if cursor else 0
        except ValueError:
            raise _fail(
                400, [_err(400, "INVALID_REQUEST_ERROR", "INVALID_CURSOR", "Invalid cursor")]
            ) from None
        end = start + limit
        return rows[start:end], (base64.b64encode(str(end).encode()).decode() if end < len(rows) else None)

    # -- endpoints ------------------------------------------------------------------

    def list_locations(self, request: Request):
        with self.lock:
            return {"locations": list(self.locations.values())}

    def search_catalog(self, request: Request):
        body = request.json() or {}
        types = body.get("object_types") or ["ITEM", "ITEM_VARIATION"]
        query = body.get("query") or {}
        limit = int(body.get("limit") or 100)
        if not 1 <= limit <= 1000:
            raise _fail(
                400,
                [_err(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "limit must be in [1, 1000]", "limit")],
            )
        with self.lock:
            rows = []
            exact = query.get("exact_query")
            wanted = None
            if exact:
                if exact.get("attribute_name") != "sku":
                    wanted = None
                else:
                    # Square compares SKUs without regard to case; callers must re-check.
                    wanted = {str(exact.get("attribute_value") or "").lower()}
            elif query.get("set_query"):
                names = query["set_query"].get("attribute_values") or []
                wanted = {str(v).lower() for v in names}
            for vid, v in self.variations.items():
                if "ITEM_VARIATION" not in types:
                    break
                if wanted is not None and (v["sku"] or "").lower() not in wanted:
                    continue
                rows.append(self._variation_obj(vid))
            if "ITEM" in types and wanted is None:
                rows += [self._item_obj(iid) for iid in self.items]
        page, cursor = self._page(rows, body.get("cursor"), limit)
        out: dict[str, Any] = {"objects": page} if page else {}
        if cursor:
            out["cursor"] = cursor
        return out

    def list_catalog(self, request: Request):
        types = (request.arg("types") or "ITEM,ITEM_VARIATION").split(",")
        with self.lock:
            rows = []
            if "ITEM" in types:
                rows += [self._item_obj(iid) for iid in self.items]
            if "ITEM_VARIATION" in types:
                rows += [self._variation_obj(vid) for vid in self.variations]
        page, cursor = self._page(rows, request.arg("cursor"), 100)
        out: dict[str, Any] = {"objects": page} if page else {}
        if cursor:
            out["cursor"] = cursor
        return out

    def _validate_change(self, index: int, change: Any) -> list[dict[str, Any]]:
        path = f"changes[{index}]"
        if not isinstance(change, dict) or change.get("type") != "PHYSICAL_COUNT":
            return [
                _err(
                    400,
                    "INVALID_REQUEST_ERROR",
                    "INVALID_ENUM_VALUE",
                    "Only PHYSICAL_COUNT changes are supported by this fake.",
                    f"{path}.type",
                )
            ]
        count = change.get("physical_count") or {}
        errors = []
        oid = count.get("catalog_object_id")
        if oid in self.items or oid not in self.variations:
            errors.append(
                _err(
                    400,
                    "INVALID_REQUEST_ERROR",
                    "NOT_FOUND",
                    f"Item variation with catalog object ID `{oid}` not found.",
                    f"{path}.physical_count.catalog_object_id",
                )
            )
        if count.get("location_id") not in self.locations:
            errors.append(
                _err(
                    400,
                    "INVALID_REQUEST_ERROR",
                    "NOT_FOUND",
                    f"Location with ID `{count.get('location_id')}` not found.",
                    f"{path}.physical_count.location_id",
                )
            )
        if count.get("state") != "IN_STOCK":
            errors.append(
                _err(
                    400,
                    "INVALID_REQUEST_ERROR",
                    "INVALID_ENUM_VALUE",
                    "Physical counts must use state IN_STOCK.",
                    f"{path}.physical_count.state",
                )
            )
        quantity = count.get("quantity")
        if not isinstance(quantity, str):
            errors.append(
                _err(
                    400,
                    "INVALID_REQUEST_ERROR",
                    "EXPECTED_STRING",
                    "Expected a string value.",
                    f"{path}.physical_count.quantity",
                )
            )
        else:
            try:
                if Decimal(quantity) < 0 or not Decimal(quantity).is_finite():
                    raise InvalidOperation
            except InvalidOperation:
                errors.append(
                    _err(
                        400,
                        "INVALID_REQUEST_ERROR",
                        "INVALID_VALUE",
                        f"Invalid quantity `{quantity}`.",
                        f"{path}.physical_count.quantity",
                    )
                )
        when = _parse_time(count.get("occurred_at"))
        now = self.wall_time()
        if when is None:
            errors.append(
                _err(
                    400,
                    "INVALID_REQUEST_ERROR",
                    "INVALID_TIME",
                    "occurred_at must be an RFC 3339 timestamp.",
                    f"{path}.physical_count.occurred_at",
                )
            )
        elif when > now + 1:
            errors.append(
                _err(
                    400,
                    "INVALID_REQUEST_ERROR",
                    "INVALID_TIME",
                    "occurred_at cannot be in the future.",
                    f"{path}.physical_count.occurred_at",
                )
            )
        elif when < now - DAY:
            errors.append(
                _err(
                    400,
                    "INVALID_REQUEST_ERROR",
                    "INVALID_TIME",
                    "occurred_at must be within the last 24 hours.",
                    f"{path}.physical_count.occurred_at",
                )
            )
        return errors

    def batch_create(self, request: Request):
        body = request.json() or {}
        key = body.get("idempotency_key")
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            raise _fail(
                400,
                [
                    _err(
                        400,
                        "INVALID_REQUEST_ERROR",
                        "MISSING_REQUIRED_PARAMETER" if not key else "VALUE_TOO_LONG",
                        "idempotency_key is required (1 to 128 characters).",
                        "idempotency_key",
                    )
                ],
            )
        changes = body.get("changes") or []
        if len(changes) > MAX_CHANGES:
            raise _fail(
                400,
                [
                    _err(
                        400,
                        "INVALID_REQUEST_ERROR",
                        "ARRAY_LENGTH_TOO_LONG",
                        f"Array length {len(changes)} is greater than the maximum of {MAX_CHANGES}.",
                        "changes",
                    )
                ],
            )
        fingerprint = json.dumps({k: v for k, v in body.items() if k != "idempotency_key"}, sort_keys=True)
        with self.lock:
            previous = self.idempotency.get(key)
            if previous is not None:
                if previous[0] != fingerprint:
                    raise _fail(
                        400,
                        [
                            _err(
                                400,
                                "INVALID_REQUEST_ERROR",
                                "IDEMPOTENCY_KEY_REUSED",
                                "The idempotency key can only be retried with the same request data.",
                                "idempotency_key",
                            )
                        ],
                    )
                return previous[1]
            errors = [e for i, change in enumerate(changes) for e in self._validate_change(i, change)]
            if errors:
                raise _fail(400, errors)
            ordered = sorted(changes, key=lambda c: _parse_time(c["physical_count"]["occurred_at"]) or 0)
            touched = []
            for change in ordered:
                count = change["physical_count"]
                key_pair = (count["catalog_object_id"], count["location_id"])
                current = self.counts.get(key_pair)
                new = Decimal(count["quantity"])
                if body.get("ignore_unchanged_counts") and current is not None and current["quantity"] == new:
                    continue
                self._set(key_pair[0], key_pair[1], new)
                touched.append(key_pair)
            self.applied_batches += 1
            now = _rfc3339(self.wall_time())
            answer = {
                "counts": [
                    {
                        "catalog_object_id": vid,
                        "catalog_object_type": "ITEM_VARIATION",
                        "state": "IN_STOCK",
                        "location_id": lid,
                        "quantity": str(self.counts[(vid, lid)]["quantity"]),
                        "calculated_at": now,
                    }
                    for vid, lid in dict.fromkeys(touched)
                ],
                "changes": [
                    {
                        **c,
                        "physical_count": {**c["physical_count"], "id": str(uuid.uuid4()), "created_at": now},
                    }
                    for c in changes
                ],
            }
            self.idempotency[key] = (fingerprint, answer)
            return answer

    def catalog_batch_retrieve(self, request: Request):
        body = request.json() or {}
        ids = body.get("object_ids")
        if not isinstance(ids, list) or not ids:
            raise _bad("object_ids is required", "object_ids", "MISSING_REQUIRED_PARAMETER")
        if len(ids) > 1000:
            raise _bad("object_ids may hold at most 1000 ids", "object_ids", "ARRAY_LENGTH_TOO_LONG")
        with self.lock:
            objects = []
            for oid in ids:
                if oid in self.variations:
                    objects.append(self._variation_obj(oid))
                elif oid in self.items:
                    objects.append(self._item_obj(oid))
                elif oid in self.deleted_variations and body.get("include_deleted_objects"):
                    self.variations[oid] = self.deleted_variations[oid]
                    try:
                        obj = self._variation_obj(oid)
                    finally:
                        del self.variations[oid]
                    objects.append({**obj, "is_deleted": True})
        return {"objects": objects} if objects else {}

    def search_orders(self, request: Request):
        body = request.json() or {}
        locations = body.get("location_ids")
        if not isinstance(locations, list) or not locations:
            raise _bad("At least one location_id must be provided.", "location_ids", "MISSING_REQUIRED_PARAMETER")
        if len(locations) > 10:
            raise _bad("Cannot provide more than 10 location_ids.", "location_ids")
        unknown = [lid for lid in locations if lid not in self.locations]
        if unknown:
            raise _bad(f"Location `{unknown[0]}` not found.", "location_ids", "NOT_FOUND")
        limit = body.get("limit", 500)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise _bad("limit must be between 1 and 1000", "limit")
        query = body.get("query") or {}
        filters = query.get("filter") or {}
        sort = query.get("sort") or {}
        sort_field = sort.get("sort_field", "CREATED_AT")
        if sort_field not in ("CREATED_AT", "UPDATED_AT", "CLOSED_AT"):
            raise _bad(f"Invalid sort_field `{sort_field}`", "query.sort.sort_field", "INVALID_ENUM_VALUE")
        order_dir = sort.get("sort_order", "DESC")
        if order_dir not in ("ASC", "DESC"):
            raise _bad(f"Invalid sort_order `{order_dir}`", "query.sort.sort_order", "INVALID_ENUM_VALUE")
        ranges = {k: v for k, v in (filters.get("date_time_filter") or {}).items() if v}
        if len(ranges) > 1:
            raise _bad("Only one time range may be filtered at a time.", "query.filter.date_time_filter")
        if ranges and f"{next(iter(ranges)).upper()}" != sort_field:
            raise _bad(
                "The sort_field must match the timestamp field of the date_time_filter.",
                "query.sort.sort_field",
            )
        states = ((filters.get("state_filter") or {}).get("states")) or None
        fingerprint = json.dumps({"l": locations, "q": query}, sort_keys=True)
        cursor = body.get("cursor")
        with self.lock:
            if cursor:
                known = self._cursors.get(cursor)
                if known is None or known[0] != fingerprint:
                    raise _bad("The cursor does not belong to this query.", "cursor", "INVALID_CURSOR")
                first_request = known[1]
                start = int(cursor.split(":", 1)[1])
            else:
                first_request, start = self.wall_time(), 0
            field = {"CREATED_AT": "created_at", "UPDATED_AT": "updated_at", "CLOSED_AT": "updated_at"}[sort_field]
            low = high = None
            if ranges:
                span = next(iter(ranges.values()))
                low = _parse_time(span.get("start_at")) if span.get("start_at") else None
                high = _parse_time(span.get("end_at")) if span.get("end_at") else first_request
                if (span.get("start_at") and low is None) or (span.get("end_at") and high is None):
                    raise _bad("start_at and end_at must be RFC 3339 timestamps.", "query.filter.date_time_filter")
            rows = [
                order
                for order in self.orders.values()
                if order["location_id"] in locations
                and (states is None or order["state"] in states)
                and (low is None or order[field] >= low - 1e-6)
                and (high is None or order[field] <= high + 1e-6)
            ]
            rows.sort(key=lambda o: (o[field], o["id"]), reverse=order_dir == "DESC")
            page = rows[start : start + limit]
            out: dict[str, Any] = {"orders": [_render_order(o) for o in page]} if page else {}
            if start + limit < len(rows):
                token = f"{uuid.uuid4().hex}:{start + limit}"
                self._cursors[token] = (fingerprint, first_request)
                out["cursor"] = token
        return out

    def batch_retrieve(self, request: Request):
        body = request.json() or {}
        ids = body.get("catalog_object_ids")
        lids = body.get("location_ids")
        states = body.get("states")
        limit = int(body.get("limit") or 100)
        if not 1 <= limit <= 1000:
            raise _fail(
                400,
                [_err(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "limit must be in [1, 1000]", "limit")],
            )
        with self.lock:
            rows = [
                {
                    "catalog_object_id": vid,
                    "catalog_object_type": "ITEM_VARIATION",
                    "state": "IN_STOCK",
                    "location_id": lid,
                    "quantity": str(row["quantity"]),
                    "calculated_at": row["calculated_at"],
                }
                for (vid, lid), row in sorted(self.counts.items())
                if vid in self.variations
                and (ids is None or vid in ids)
                and (lids is None or lid in lids)
                and (states is None or "IN_STOCK" in states)
            ]
        page, cursor = self._page(rows, body.get("cursor"), limit)
        out: dict[str, Any] = {"counts": page}
        if cursor:
            out["cursor"] = cursor
        return out


def _bad(detail: str, field: str | None = None, code: str = "INVALID_VALUE") -> HttpError:
    return _fail(400, [_err(400, "INVALID_REQUEST_ERROR", code, detail, field)])


def _render_order(order: dict[str, Any]) -> dict[str, Any]:
    out = {
        "id": order["id"],
        "location_id": order["location_id"],
        "state": order["state"],
        "version": order["version"],
        "created_at": _rfc3339(order["created_at"]),
        "updated_at": _rfc3339(order["updated_at"]),
        "line_items": [dict(line) for line in order["line_items"]],
        "source": {"name": "Fake Square"},
    }
    if order["tenders"]:
        out["tenders"] = [dict(t) for t in order["tenders"]]
    if order["returns"]:
        out["returns"] = [dict(r) for r in order["returns"]]
    if order.get("refunds"):
        out["refunds"] = [dict(r) for r in order["refunds"]]
    if not out["line_items"]:
        del out["line_items"]
    if order["state"] in ("COMPLETED", "CANCELED"):
        out["closed_at"] = out["updated_at"]
    return out


def serve(port: int, host: str = "127.0.0.1", seed_demo: bool = False, **kwargs: Any) -> None:
    """Run the fake in the foreground (``run_fake square``)."""
    fake = SquareFake(host=host, port=port, **kwargs)
    if seed_demo:
        fake.seed_demo()
    serve_forever(fake)
