"""A fake Shopify Admin API (GraphQL, plus the legacy REST inventory endpoints).

Shopify's inventory writes go through GraphQL, so this fake parses real query
documents (aliases, variables, fragments, directives) with a small parser
below, instead of matching the text our adapter sends: the vendor SDK and any
hand-written query work against it too. It enforces what api_contracts.md §1
and §9 list: versioned paths, the access-token header, the GraphQL cost bucket
with ``THROTTLED`` answered as HTTP 200 (or 429 when asked), atomic
``inventorySetQuantities`` with per-row userErrors, version-gated
compare-and-swap and the mandatory ``@idempotent`` key from 2026-04 (replay and
mismatch), gids, loose SKU search, the REST leaky bucket with its call-limit
header, and ``Link`` paging.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import itertools
import json
import math
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .server import (
    FakeServer,
    HttpError,
    LeakyBucket,
    Request,
    Response,
    TokenBucket,
    json_response,
    serve_forever,
)

__all__ = ["ShopifyFake", "serve"]

# ---------------------------------------------------------------------------------------
# A small GraphQL parser and executor: enough for fakes, no schema introspection.
# ---------------------------------------------------------------------------------------


class GraphQLError(Exception):
    def __init__(self, message: str, code: str | None = None, **extensions: Any):
        super().__init__(message)
        self.message = message
        self.extensions = dict(extensions)
        if code:
            self.extensions["code"] = code

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.extensions:
            out["extensions"] = self.extensions
        return out


@dataclass
class Variable:
    name: str


@dataclass
class EnumValue:
    name: str


@dataclass
class Field:
    name: str
    alias: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    directives: dict[str, dict[str, Any]] = field(default_factory=dict)
    selections: list[Any] | None = None

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass
class InlineFragment:
    type_condition: str | None
    selections: list[Any]


@dataclass
class FragmentSpread:
    name: str


@dataclass
class Operation:
    kind: str  # "query" | "mutation"
    name: str | None
    variable_defaults: dict[str, Any]
    directives: dict[str, dict[str, Any]]
    selections: list[Any]
    fragments: dict[str, tuple[str, list[Any]]] = field(default_factory=dict)


_TOKEN = re.compile(
    r"""
    (?P<ws>[\s,\ufeff]+|\#[^\n]*)
  | (?P<spread>\.\.\.)
  | (?P<punct>[!$&()\:=@\[\]{}|])
  | (?P<block>\"\"\"(?:\\\"\"\"|[^\"]|\"(?!\"\"))*\"\"\")
  | (?P<string>"(?:\\.|[^"\\\n])*")
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
    """,
    re.VERBOSE,
)

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape(raw: str) -> str:
    out, i = [], 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            if nxt == "u":
                out.append(chr(int(raw[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _tokens(source: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if not match:
            raise GraphQLError(f'Parse error on "{source[pos : pos + 10]}"', "parseError")
        kind = match.lastgroup
        text = match.group()
        pos = match.end()
        if kind == "ws":
            continue
        if kind == "string":
            out.append(("string", _unescape(text[1:-1])))
        elif kind == "block":
            out.append(("string", text[3:-3].strip()))
        else:
            out.append((kind, text))
    out.append(("eof", ""))
    return out


class _Parser:
    def __init__(self, source: str):
        self.tokens = _tokens(source)
        self.i = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def take(self, kind: str | None = None, text: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if (kind and tok[0] != kind) or (text is not None and tok[1] != text):
            want = text or kind
            found = tok[1] or "end of input"
            raise GraphQLError(f'Parse error on "{found}" (expected {want})', "parseError")
        self.i += 1
        return tok

    def at(self, text: str) -> bool:
        tok = self.peek()
        return tok[0] in ("punct", "spread") and tok[1] == text

    def document(self) -> tuple[list[Operation], dict[str, tuple[str, list[Any]]]]:
        ops, fragments = [], {}
        while self.peek()[0] != "eof":
            tok = self.peek()
            if tok == ("name", "fragment"):
                self.take()
                name = self.take("name")[1]
                self.take("name", "on")
                type_name = self.take("name")[1]
                self.directives()
                fragments[name] = (type_name, self.selection_set())
            elif self.at("{"):
                ops.append(Operation("query", None, {}, {}, self.selection_set()))
            elif tok[0] == "name" and tok[1] in ("query", "mutation", "subscription"):
                self.take()
                name = self.take("name")[1] if self.peek()[0] == "name" else None
                defaults = self.variable_definitions()
                directives = self.directives()
                ops.append(Operation(tok[1], name, defaults, directives, self.selection_set()))
            else:
                raise GraphQLError(f'Parse error on "{tok[1]}"', "parseError")
        for op in ops:
            op.fragments = fragments
        return ops, fragments

    def variable_definitions(self) -> dict[str, Any]:
        defaults: dict[str, Any] = {}
        if not self.at("("):
            return defaults
        self.take("punct", "(")
        while not self.at(")"):
            self.take("punct", "$")
            name = self.take("name")[1]
            self.take("punct", ":")
            self.type_ref()
            if self.at("="):
                self.take()
                defaults[name] = self.value(const=True)
            self.directives()
        self.take("punct", ")")
        return defaults

    def type_ref(self) -> None:
        if self.at("["):
            self.take()
            self.type_ref()
            self.take("punct", "]")
        else:
            self.take("name")
        if self.at("!"):
            self.take()

    def directives(self) -> dict[str, dict[str, Any]]:
        out = {}
        while self.at("@"):
            self.take()
            name = self.take("name")[1]
            out[name] = self.arguments()
        return out

    def arguments(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if not self.at("("):
            return args
        self.take()
        while not self.at(")"):
            name = self.take("name")[1]
            self.take("punct", ":")
            args[name] = self.value()
        self.take("punct", ")")
        return args

    def value(self, const: bool = False) -> Any:
        kind, text = self.peek()
        if kind == "punct" and text == "$" and not const:
            self.take()
            return Variable(self.take("name")[1])
        if kind == "number":
            self.take()
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "string":
            self.take()
            return text
        if kind == "name":
            self.take()
            if text in ("true", "false"):
                return text == "true"
            if text == "null":
                return None
            return EnumValue(text)
        if self.at("["):
            self.take()
            items = []
            while not self.at("]"):
                items.append(self.value(const))
            self.take()
            return items
        if self.at("{"):
            self.take()
            obj = {}
            while not self.at("}"):
                name = self.take("name")[1]
                self.take("punct", ":")
                obj[name] = self.value(const)
            self.take()
            return obj
        raise GraphQLError(f'Parse error on "{text}" (expected a value)', "parseError")

    def selection_set(self) -> list[Any]:
        self.take("punct", "{")
        out: list[Any] = []
        while not self.at("}"):
            if self.at("..."):
                self.take()
                if self.peek() == ("name", "on"):
                    self.take()
                    type_name = self.take("name")[1]
                    self.directives()
                    out.append(InlineFragment(type_name, self.selection_set()))
                elif self.at("{") or self.at("@"):
                    self.directives()
                    out.append(InlineFragment(None, self.selection_set()))
                else:
                    out.append(FragmentSpread(self.take("name")[1]))
                    self.directives()
                continue
            name = self.take("name")[1]
            alias = None
            if self.at(":"):
                self.take()
                alias, name = name, self.take("name")[1]
            args = self.arguments()
            directives = self.directives()
            selections = self.selection_set() if self.at("{") else None
            out.append(Field(name, alias, args, directives, selections))
        self.take("punct", "}")
        if not out:
            raise GraphQLError("Selection set can't be empty", "parseError")
        return out


def substitute(value: Any, variables: Mapping[str, Any]) -> Any:
    """Replace variable references and enum markers with plain Python values."""
    if isinstance(value, Variable):
        return variables.get(value.name)
    if isinstance(value, EnumValue):
        return value.name
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    return value


def parse(source: str, operation_name: str | None = None) -> Operation:
    if not isinstance(source, str) or not source.strip():
        raise GraphQLError("No query string was present", "parseError")
    ops, _ = _Parser(source).document()
    if not ops:
        raise GraphQLError("No operations in the document", "parseError")
    if operation_name:
        for op in ops:
            if op.name == operation_name:
                return op
        raise GraphQLError(f'No operation named "{operation_name}"')
    if len(ops) > 1:
        raise GraphQLError("An operation name is required when the document has several operations")
    return ops[0]


def flatten(
    selections: list[Any], type_name: str | None, fragments: Mapping[str, tuple[str, list[Any]]]
) -> list[Field]:
    """Expand fragments that apply to ``type_name`` into a flat field list."""
    out: list[Field] = []
    for sel in selections:
        if isinstance(sel, Field):
            out.append(sel)
        elif isinstance(sel, InlineFragment):
            if sel.type_condition in (None, type_name):
                out.extend(flatten(sel.selections, type_name, fragments))
        elif isinstance(sel, FragmentSpread):
            if sel.name not in fragments:
                raise GraphQLError(f"Fragment {sel.name} was used, but not defined")
            cond, inner = fragments[sel.name]
            if cond == type_name:
                out.extend(flatten(inner, type_name, fragments))
    return out


Resolver = Callable[[dict[str, Any]], Any]


def resolve(
    value: Any,
    selections: list[Any] | None,
    variables: Mapping[str, Any],
    fragments: Mapping[str, tuple[str, list[Any]]],
    type_name: str = "Query",
) -> Any:
    """Project plain data onto a selection set.

    Objects are dicts carrying ``__typename``; a value may be a callable taking
    the field's arguments (for fields like ``inventoryLevel(locationId:)``).
    """
    if selections is None or value is None:
        return value
    if isinstance(value, list):
        return [resolve(v, selections, variables, fragments, type_name) for v in value]
    obj_type = value.get("__typename", type_name)
    out: dict[str, Any] = {}
    for fld in flatten(selections, obj_type, fragments):
        if "include" in fld.directives and not substitute(fld.directives["include"].get("if"), variables):
            continue
        if "skip" in fld.directives and substitute(fld.directives["skip"].get("if"), variables):
            continue
        if fld.name == "__typename":
            out[fld.key] = obj_type
            continue
        if fld.name not in value:
            raise GraphQLError(
                f"Field '{fld.name}' doesn't exist on type '{obj_type}'",
                "undefinedField",
                typeName=obj_type,
                fieldName=fld.name,
            )
        raw = value[fld.name]
        if callable(raw):
            raw = raw(substitute(fld.arguments, variables))
        out[fld.key] = resolve(raw, fld.selections, variables, fragments, obj_type)
    return out


# ---------------------------------------------------------------------------------------
# The Shopify fake
# ---------------------------------------------------------------------------------------

SUPPORTED_VERSIONS = ("2025-07", "2025-10", "2026-01", "2026-04")
LATEST_VERSION = SUPPORTED_VERSIONS[-1]
_VERSION_RE = re.compile(r"^(\d{4})-(01|04|07|10)$")
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
MAX_QUERY_COST = 1000
MAX_INPUT_ARRAY = 250
MAX_PAGE = 250
MAX_QUANTITY = 1_000_000_000
REASONS = frozenset(
    {
        "correction",
        "cycle_count_available",
        "damaged",
        "movement_created",
        "movement_updated",
        "movement_received",
        "movement_canceled",
        "other",
        "promotion",
        "quality_control",
        "received",
        "reservation_created",
        "reservation_deleted",
        "reservation_updated",
        "restock",
        "safety_stock",
        "shrinkage",
    }
)
QUANTITY_NAMES = ("available", "on_hand")


def gid(kind: str, num: int) -> str:
    return f"gid://shopify/{kind}/{num}"


def parse_gid(value: Any, kind: str) -> int | None:
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    match = re.fullmatch(rf"gid://shopify/{kind}/(\d+)", value)
    return int(match.group(1)) if match else None


def _cursor(offset: int) -> str:
    return base64.b64encode(json.dumps({"last_id": offset}).encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.b64decode(cursor))["last_id"])
    except (ValueError, KeyError, TypeError):
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor}", "BAD_REQUEST") from None


def _search_terms(query: str | None) -> list[tuple[str | None, str]]:
    """Shopify search syntax, enough of it: ``sku:'A' OR sku:"B" OR word``."""
    if not query:
        return []
    terms = []
    pattern = re.compile(r"""\s*(?:(\w+):)?(?:'((?:\\.|[^'])*)'|"((?:\\.|[^"])*)"|(\S+))""")
    pos = 0
    while pos < len(query):
        match = pattern.match(query, pos)
        if not match or match.end() == pos:
            break
        pos = match.end()
        field_name, single, double, bare = match.groups()
        value = single if single is not None else double if double is not None else bare
        value = re.sub(r"\\(.)", r"\1", value or "")
        if field_name is None and value.upper() in ("OR", "AND"):
            continue
        terms.append((field_name, value))
    return terms


class ShopifyFake(FakeServer):
    """Shopify Admin API: GraphQL (cost bucket, THROTTLED) plus the REST inventory subset.

    Defaults are the real ones for a standard plan: GraphQL bucket 2000 points
    restoring 100/s, 1000 points per query, 250 input rows; REST bucket 40
    requests leaking 2/s. Writes are atomic: one userError and nothing applies.
    """

    name = "shopify"

    def __init__(
        self,
        *,
        access_token: str = "shpat_fake_token",  # noqa: S107 - a fake's known test token
        shop: str = "demo-shop",
        graphql_bucket: float = 2000.0,
        graphql_restore: float = 100.0,
        rest_bucket: float = 40.0,
        rest_leak: float = 2.0,
        throttle_as_429: bool = False,
        search_is_prefix: bool = True,
        **kwargs: Any,
    ):
        self.access_token = access_token
        self.shop = shop
        self.throttle_as_429 = throttle_as_429
        self.search_is_prefix = search_is_prefix
        super().__init__(**kwargs)
        self.cost_bucket = TokenBucket(graphql_bucket, graphql_restore, self.now)
        self.rest_bucket = LeakyBucket(rest_bucket, rest_leak, self.now)
        self._ids = itertools.count(1001)
        self.locations: dict[int, dict[str, Any]] = {}
        self.products: dict[int, dict[str, Any]] = {}
        self.variants: dict[int, dict[str, Any]] = {}
        self.items: dict[int, dict[str, Any]] = {}  # inventory items
        self.levels: dict[tuple[int, int], dict[str, int]] = {}
        self.idempotency: dict[str, tuple[str, Any]] = {}
        self.applied_writes = 0  # inventorySetQuantities calls that changed state
        self.throttled = 0  # calls refused for lack of cost points
        self.orders: dict[int, dict[str, Any]] = {}
        self._order_numbers = itertools.count(1001)
        self.default_location = self.add_location("Shop location")

    # -- seeding ------------------------------------------------------------------------

    def _next_id(self) -> int:
        return next(self._ids)

    def add_location(self, name: str, active: bool = True) -> int:
        with self.lock:
            lid = self._next_id()
            self.locations[lid] = {"name": name, "active": active}
            return lid

    def add_product(
        self,
        sku: str | None,
        quantity: int | None = 0,
        *,
        title: str | None = None,
        price: str = "10.00",
        tracked: bool = True,
        location_id: int | None = None,
        stocked: bool = True,
        product_id: int | None = None,
        variant_title: str = "Default Title",
    ) -> dict[str, int]:
        """A variant (and its product, inventory item and level). ``sku`` may repeat or be blank."""
        with self.lock:
            if product_id is None:
                product_id = self._next_id()
                self.products[product_id] = {"title": title or f"Product {sku or product_id}"}
            vid, iid = self._next_id(), self._next_id()
            self.variants[vid] = {
                "product_id": product_id,
                "sku": sku or "",
                "title": variant_title,
                "price": price,
                "item_id": iid,
            }
            self.items[iid] = {"variant_id": vid, "tracked": tracked}
            if stocked:
                lid = location_id or self.default_location
                qty = quantity or 0
                self.levels[(iid, lid)] = {"available": qty, "on_hand": qty}
            return {"product_id": product_id, "variant_id": vid, "inventory_item_id": iid}

    def delete_variant(self, sku: str) -> None:
        """Someone removed the product in the admin: its ids stop resolving."""
        with self.lock:
            for vid, variant in list(self.variants.items()):
                if variant["sku"] == sku:
                    iid = variant["item_id"]
                    del self.variants[vid]
                    self.items.pop(iid, None)
                    for key in [k for k in self.levels if k[0] == iid]:
                        del self.levels[key]

    def _item_for_sku(self, sku: str) -> int:
        matches = [v["item_id"] for v in self.variants.values() if v["sku"] == sku]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} variants with SKU {sku!r}")
        return matches[0]

    def item_id(self, sku: str) -> int:
        with self.lock:
            return self._item_for_sku(sku)

    def level(self, sku: str, location_id: int | None = None, name: str = "available") -> int | None:
        with self.lock:
            row = self.levels.get((self._item_for_sku(sku), location_id or self.default_location))
            return None if row is None else row[name]

    def set_level(self, sku: str, quantity: int, location_id: int | None = None) -> None:
        """A change made in the Shopify admin (or by an order), not by us."""
        with self.lock:
            key = (self._item_for_sku(sku), location_id or self.default_location)
            self.levels[key] = {"available": quantity, "on_hand": quantity}

    # -- orders (test helpers: what shoppers and staff do in Shopify) -----------------------------

    def _touch(self, order: dict[str, Any], at: float | None = None) -> None:
        order["updated_at"] = max(order.get("updated_at", 0.0), self.wall_time() if at is None else at)

    def add_order(
        self,
        lines: Mapping[str, int] | list[tuple[str, int]],
        *,
        financial: str = "PAID",
        at: float | None = None,
    ) -> int:
        """A new order (``lines`` as SKU → units; a blank SKU is a custom item). Returns its id."""
        with self.lock:
            oid = self._next_id()
            order: dict[str, Any] = {
                "id": oid,
                "name": f"#{next(self._order_numbers)}",
                "created_at": self.wall_time() if at is None else at,
                "cancelled_at": None,
                "closed": False,
                "financial": financial,
                "fulfillment": "UNFULFILLED",
                "lines": [],
                "refunds": [],
            }
            for sku, quantity in (lines.items() if isinstance(lines, Mapping) else lines):
                order["lines"].append(
                    {"id": self._next_id(), "sku": sku, "quantity": quantity, "current": quantity}
                )
            self._touch(order, at)
            self.orders[oid] = order
            return oid

    def edit_order(self, oid: int, lines: Mapping[str, int], at: float | None = None) -> None:
        """An order edit: each SKU's current quantity becomes the given one (new SKUs are added)."""
        with self.lock:
            order = self.orders[oid]
            for sku, quantity in lines.items():
                line = next((line for line in order["lines"] if line["sku"] == sku), None)
                if line is None:
                    order["lines"].append(
                        {"id": self._next_id(), "sku": sku, "quantity": quantity, "current": quantity}
                    )
                else:
                    line["current"] = quantity
            self._touch(order, at)

    def set_order_status(
        self, oid: int, *, financial: str | None = None, fulfillment: str | None = None, at: float | None = None
    ) -> None:
        with self.lock:
            order = self.orders[oid]
            order["financial"] = financial or order["financial"]
            order["fulfillment"] = fulfillment or order["fulfillment"]
            self._touch(order, at)

    def cancel_order(self, oid: int, at: float | None = None) -> None:
        with self.lock:
            order = self.orders[oid]
            order["cancelled_at"] = self.wall_time() if at is None else at
            order["closed"] = True
            self._touch(order, at)

    def refund_order(
        self, oid: int, lines: Mapping[str, int], *, restock: bool = True, at: float | None = None
    ) -> None:
        """A refund of ``lines`` (SKU → units), put back in stock (RETURN) or not (NO_RESTOCK)."""
        with self.lock:
            order = self.orders[oid]
            rows = []
            for sku, quantity in lines.items():
                line = next(line for line in order["lines"] if line["sku"] == sku)
                line["current"] -= quantity
                rows.append(
                    {"line_id": line["id"], "quantity": quantity, "restock": "RETURN" if restock else "NO_RESTOCK"}
                )
            order["refunds"].append({"id": self._next_id(), "lines": rows})
            everything = all(line["current"] == 0 for line in order["lines"])
            order["financial"] = "REFUNDED" if everything else "PARTIALLY_REFUNDED"
            self._touch(order, at)

    def seed_demo(self) -> None:
        for n in range(1, 11):
            self.add_product(f"DEMO-{n:03d}", 0, title=f"Demo product {n}", price=f"{9 + n}.00")

    def webhook(self, sku: str, secret: str, location_id: int | None = None) -> tuple[dict[str, str], bytes]:
        """The ``inventory_levels/update`` webhook Shopify would send for ``sku`` now."""
        with self.lock:
            iid = self._item_for_sku(sku)
            lid = location_id or self.default_location
            available = self.levels[(iid, lid)]["available"]
        body = json.dumps(
            {
                "inventory_item_id": iid,
                "location_id": lid,
                "available": available,
                "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S-00:00", time.gmtime(self.wall_time())),
                "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{lid}?inventory_item_id={iid}",
            }
        ).encode()
        digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": "inventory_levels/update",
            "X-Shopify-Hmac-Sha256": digest,
            "X-Shopify-Shop-Domain": f"{self.shop}.myshopify.com",
            "X-Shopify-API-Version": LATEST_VERSION,
            "X-Shopify-Webhook-Id": uuid.uuid4().hex,
        }
        return headers, body

    # -- HTTP plumbing ------------------------------------------------------------------

    def setup_routes(self) -> None:
        base = r"/admin/api/(?P<version>[^/]+)"
        self.route("POST", base + r"/graphql\.json", self.graphql)
        self.route("GET", base + r"/locations\.json", self.rest_locations)
        self.route("GET", base + r"/inventory_levels\.json", self.rest_levels)
        self.route("POST", base + r"/inventory_levels/set\.json", self.rest_set)
        self.route("GET", base + r"/inventory_items\.json", self.rest_items)

    def not_found(self, request: Request) -> Response:
        return json_response(404, {"errors": "Not Found"})

    def _version(self, raw: str) -> str | None:
        if raw == "unstable":
            return LATEST_VERSION
        if raw in SUPPORTED_VERSIONS:
            return raw
        if _VERSION_RE.match(raw) and raw < SUPPORTED_VERSIONS[0]:
            return SUPPORTED_VERSIONS[0]  # retired versions fall forward
        return None

    def before(self, request: Request) -> Response | None:
        match = re.match(r"/admin/api/([^/]+)/", request.path)
        if not match or self._version(match.group(1)) is None:
            return self.not_found(request)
        request.api_version = self._version(match.group(1))  # type: ignore[attr-defined]
        if request.headers.get("X-Shopify-Access-Token") != self.access_token:
            return json_response(401, {"errors": INVALID_TOKEN})
        if not request.path.endswith("/graphql.json"):
            with self.lock:
                if not self.rest_bucket.try_add():
                    return json_response(
                        429,
                        {
                            "errors": "Exceeded 2 calls per second for api client. "
                            "Reduce request rates to resume uninterrupted service."
                        },
                        {"Retry-After": "2.0"},
                    )
        return None

    def after(self, request: Request, response: Response) -> None:
        version = getattr(request, "api_version", None)
        if version:
            response.headers["X-Shopify-API-Version"] = version
        response.headers.setdefault("X-Request-Id", uuid.uuid4().hex)
        if (
            "/admin/api/" in request.path
            and not request.path.endswith("/graphql.json")
            and response.status != 404
        ):
            with self.lock:
                level = math.ceil(self.rest_bucket.level)
            response.headers["X-Shopify-Shop-Api-Call-Limit"] = f"{level}/{int(self.rest_bucket.capacity)}"

    # -- REST (legacy, kept for clients that still use it) --------------------------------

    def rest_locations(self, request: Request):
        with self.lock:
            return {
                "locations": [
                    {
                        "id": lid,
                        "name": loc["name"],
                        "active": loc["active"],
                        "admin_graphql_api_id": gid("Location", lid),
                    }
                    for lid, loc in self.locations.items()
                ]
            }

    def _limit(self, request: Request) -> int:
        try:
            limit = int(request.arg("limit", "50"))
        except ValueError:
            raise HttpError(400, {"errors": {"limit": ["must be an integer"]}}) from None
        if not 1 <= limit <= MAX_PAGE:
            raise HttpError(400, {"errors": {"limit": [f"must be between 1 and {MAX_PAGE}"]}})
        return limit

    def _ids_arg(self, request: Request, name: str) -> list[int] | None:
        raw = request.arg(name)
        if raw is None:
            return None
        try:
            return [int(x) for x in raw.split(",") if x.strip()]
        except ValueError:
            raise HttpError(400, {"errors": {name: ["must be a comma separated list of ids"]}}) from None

    def rest_levels(self, request: Request):
        page_info = request.arg("page_info")
        if page_info and set(request.query) - {"page_info", "limit", "fields"}:
            raise HttpError(400, {"errors": "page_info - Only limit and fields may be used with page_info"})
        limit = self._limit(request)
        if page_info:
            state = json.loads(base64.urlsafe_b64decode(page_info))
            items, locs, offset = state["i"], state["l"], state["o"]
        else:
            items = self._ids_arg(request, "inventory_item_ids")
            locs = self._ids_arg(request, "location_ids")
            offset = 0
            if items is None and locs is None:
                raise HttpError(
                    422, {"errors": {"base": ["One of inventory_item_ids or location_ids must be present"]}}
                )
        with self.lock:
            rows = [
                {
                    "inventory_item_id": iid,
                    "location_id": lid,
                    "available": row["available"],
                    "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S-00:00", time.gmtime(self.wall_time())),
                    "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{lid}?inventory_item_id={iid}",
                }
                for (iid, lid), row in sorted(self.levels.items())
                if (items is None or iid in items) and (locs is None or lid in locs)
            ]
        page = rows[offset : offset + limit]
        headers = {}
        if offset + limit < len(rows):
            token = base64.urlsafe_b64encode(
                json.dumps({"i": items, "l": locs, "o": offset + limit}).encode()
            ).decode()
            version = request.match.group("version")
            next_url = f"{self.url}/admin/api/{version}/inventory_levels.json?limit={limit}&page_info={token}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        return json_response(200, {"inventory_levels": page}, headers)

    def rest_set(self, request: Request):
        body = request.json() or {}
        errors = {}
        for key in ("location_id", "inventory_item_id", "available"):
            if body.get(key) is None:
                errors[key] = ["Required parameter missing or invalid"]
        if errors:
            raise HttpError(422, {"errors": errors})
        if not isinstance(body["available"], int):
            raise HttpError(422, {"errors": {"available": ["must be an integer"]}})
        with self.lock:
            iid, lid = body["inventory_item_id"], body["location_id"]
            if iid not in self.items or lid not in self.locations:
                raise HttpError(404, {"errors": "Not Found"})
            if not self.items[iid]["tracked"]:
                raise HttpError(422, {"errors": ["Inventory item does not have inventory tracking enabled"]})
            if (iid, lid) not in self.levels:
                if not body.get("disconnect_if_necessary") and not body.get("connect"):
                    raise HttpError(422, {"errors": ["Inventory item is not stocked at the location"]})
                self.levels[(iid, lid)] = {"available": 0, "on_hand": 0}
            self.levels[(iid, lid)] = {"available": body["available"], "on_hand": body["available"]}
            self.applied_writes += 1
        return {
            "inventory_level": {
                "inventory_item_id": iid,
                "location_id": lid,
                "available": body["available"],
                "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{lid}?inventory_item_id={iid}",
            }
        }

    def rest_items(self, request: Request):
        ids = self._ids_arg(request, "ids")
        if not ids:
            raise HttpError(422, {"errors": {"ids": ["must be present"]}})
        with self.lock:
            return {
                "inventory_items": [
                    {
                        "id": iid,
                        "sku": self.variants[self.items[iid]["variant_id"]]["sku"],
                        "tracked": self.items[iid]["tracked"],
                        "admin_graphql_api_id": gid("InventoryItem", iid),
                    }
                    for iid in ids
                    if iid in self.items
                ]
            }

    # -- GraphQL ------------------------------------------------------------------------

    def _cost_payload(self, requested: float | None, actual: float | None) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": {
                    "maximumAvailable": float(self.cost_bucket.capacity),
                    "currentlyAvailable": float(int(self.cost_bucket.available)),
                    "restoreRate": float(self.cost_bucket.rate),
                },
            }
        }

    def graphql(self, request: Request):
        body = request.json()
        if not isinstance(body, dict):
            return {"errors": [{"message": "No query string was present"}]}
        variables = body.get("variables") or {}
        try:
            op = parse(body.get("query") or "", body.get("operationName"))
            if op.kind == "subscription":
                raise GraphQLError("Subscriptions are not supported", "BAD_REQUEST")
            variables = {**op.variable_defaults, **variables}
            requested = self._requested_cost(op, variables)
        except GraphQLError as exc:
            return {"errors": [exc.as_dict()]}
        with self.lock:
            if requested > MAX_QUERY_COST:
                return {
                    "errors": [
                        {
                            "message": f"Query cost is {requested}, which exceeds the single query "
                            f"max cost limit ({MAX_QUERY_COST}).",
                            "extensions": {
                                "code": "MAX_COST_EXCEEDED",
                                "cost": requested,
                                "maxCost": MAX_QUERY_COST,
                            },
                        }
                    ],
                    "extensions": self._cost_payload(requested, None),
                }
            if not self.cost_bucket.try_take(requested):
                payload = {
                    "errors": [
                        {
                            "message": "Throttled",
                            "extensions": {
                                "code": "THROTTLED",
                                "documentation": "https://shopify.dev/api/usage/rate-limits",
                            },
                        }
                    ],
                    "extensions": self._cost_payload(requested, None),
                }
                self.throttled += 1
                if self.throttle_as_429:
                    wait = (requested - self.cost_bucket.available) / self.cost_bucket.rate
                    return json_response(429, payload, {"Retry-After": f"{max(1.0, math.ceil(wait)):.1f}"})
                return payload
            try:
                data = self._execute(op, variables, request.api_version)
            except GraphQLError as exc:
                self.cost_bucket.refund(requested)
                return {"errors": [exc.as_dict()], "extensions": self._cost_payload(requested, 0)}
            actual = self._actual_cost(op, variables, data)
            self.cost_bucket.refund(max(0, requested - actual))
            return {"data": data, "extensions": self._cost_payload(requested, actual)}

    # Cost: objects 1, connections 2 + one unit per node, scalars 0, mutations 10.
    def _requested_cost(self, op: Operation, variables: Mapping[str, Any]) -> int:
        if op.kind == "mutation":
            return 10 * len(op.selections)
        return self._sel_cost(op.selections, variables, op.fragments, None)

    def _sel_cost(self, selections, variables, fragments, data) -> int:
        total = 0
        for fld in _all_fields(selections, fragments):
            if not fld.selections or fld.name in ("pageInfo", "userErrors"):
                continue
            args = substitute(fld.arguments, variables)
            value = data.get(fld.key) if isinstance(data, dict) else None
            if "first" in args or "last" in args or fld.name == "nodes" and "ids" in args:
                size = args.get("first") or args.get("last") or len(args.get("ids") or [])
                nodes = None
                if data is not None and isinstance(value, (dict, list)):
                    nodes = (
                        value
                        if isinstance(value, list)
                        else (value.get("nodes") or [e.get("node") for e in value.get("edges") or []])
                    )
                inner = self._node_cost(fld.selections, variables, fragments)
                count = len(nodes) if nodes is not None else int(size or 0)
                total += (0 if fld.name == "nodes" else 2) + count * inner
            else:
                total += 1 + self._sel_cost(
                    fld.selections, variables, fragments, value if isinstance(value, dict) else None
                )
        return total

    def _node_cost(self, selections, variables, fragments) -> int:
        inner = 0
        for fld in _all_fields(selections, fragments):
            if fld.name in ("nodes", "edges", "node") and fld.selections:
                inner += self._node_cost(fld.selections, variables, fragments)
            elif fld.name != "pageInfo" and fld.selections:
                inner += self._sel_cost([fld], variables, fragments, None)
        return max(
            1,
            inner
            + (0 if any(f.name in ("nodes", "edges") for f in _all_fields(selections, fragments)) else 1),
        )

    def _actual_cost(self, op: Operation, variables, data) -> int:
        if op.kind == "mutation":
            return 10 * len(op.selections)
        return self._sel_cost(op.selections, variables, op.fragments, data)

    def _execute(self, op: Operation, variables: dict[str, Any], version: str) -> Any:
        if op.kind == "mutation":
            root: dict[str, Any] = {"__typename": "Mutation"}
            out = {}
            for fld in flatten(op.selections, "Mutation", op.fragments):
                if fld.name != "inventorySetQuantities":
                    raise GraphQLError(
                        f"Field '{fld.name}' doesn't exist on type 'Mutation'",
                        "undefinedField",
                        typeName="Mutation",
                        fieldName=fld.name,
                    )
                args = substitute(fld.arguments, variables)
                key = substitute(fld.directives.get("idempotent", {}).get("key"), variables)
                # Validate the selection before any side effect, as the real API does.
                resolve(
                    _SET_QUANTITIES_TEMPLATE,
                    fld.selections,
                    variables,
                    op.fragments,
                    "InventorySetQuantitiesPayload",
                )
                payload = self._set_quantities(args.get("input"), key, version)
                root[fld.name] = payload
                out[fld.key] = resolve(
                    payload, fld.selections, variables, op.fragments, "InventorySetQuantitiesPayload"
                )
            return out
        return resolve(self._query_root(), op.selections, variables, op.fragments, "QueryRoot")

    # -- GraphQL objects ----------------------------------------------------------------------

    def _connection(
        self, rows: list[Any], args: Mapping[str, Any], make: Callable[[Any], Any] | None = None
    ) -> dict[str, Any]:
        """A page of ``rows``; ``make`` builds node objects for the page only."""
        first, last = args.get("first"), args.get("last")
        if first is None and last is None:
            raise GraphQLError("you must provide one of first or last", "BAD_REQUEST")
        size = first if first is not None else last
        if not isinstance(size, int) or size < 0 or size > MAX_PAGE:
            raise (
                GraphQLError(f"The page size of {size} exceeds the maximum of {MAX_PAGE}", "BAD_REQUEST")
                if isinstance(size, int) and size > MAX_PAGE
                else GraphQLError("first/last must be a non-negative integer", "BAD_REQUEST")
            )
        start = _offset(args.get("after"))
        page = rows[start : start + size]
        if make is not None:
            page = [make(row) for row in page]
        edges = [
            {"__typename": "Edge", "cursor": _cursor(start + i + 1), "node": node}
            for i, node in enumerate(page)
        ]
        return {
            "__typename": "Connection",
            "nodes": page,
            "edges": edges,
            "pageInfo": {
                "__typename": "PageInfo",
                "hasNextPage": start + size < len(rows),
                "hasPreviousPage": start > 0,
                "startCursor": edges[0]["cursor"] if edges else None,
                "endCursor": edges[-1]["cursor"] if edges else None,
            },
        }

    def _location_obj(self, lid: int) -> dict[str, Any]:
        loc = self.locations[lid]
        return {
            "__typename": "Location",
            "id": gid("Location", lid),
            "legacyResourceId": str(lid),
            "name": loc["name"],
            "isActive": loc["active"],
            "activatable": True,
            "fulfillsOnlineOrders": True,
        }

    def _level_obj(self, iid: int, lid: int) -> dict[str, Any] | None:
        row = self.levels.get((iid, lid))
        if row is None:
            return None

        def quantities(args):
            names = args.get("names")
            if not names:
                raise GraphQLError(
                    "Argument 'names' on Field 'quantities' is missing", "missingRequiredArguments"
                )
            out = []
            for name in names:
                if name not in (
                    "available",
                    "on_hand",
                    "committed",
                    "incoming",
                    "reserved",
                    "damaged",
                    "safety_stock",
                    "quality_control",
                ):
                    raise GraphQLError(f"The quantity name '{name}' is invalid", "INVALID_NAME")
                out.append({"__typename": "InventoryQuantity", "name": name, "quantity": row.get(name, 0)})
            return out

        return {
            "__typename": "InventoryLevel",
            "id": f"gid://shopify/InventoryLevel/{lid}?inventory_item_id={iid}",
            "location": self._location_obj(lid),
            "quantities": quantities,
            "item": lambda args: self._item_obj(iid),
        }

    def _item_obj(self, iid: int) -> dict[str, Any] | None:
        item = self.items.get(iid)
        if item is None:
            return None
        variant = self.variants.get(item["variant_id"]) or {}

        def level_at(args):
            lid = parse_gid(args.get("locationId"), "Location")
            if lid is None:
                raise GraphQLError("Invalid global id for locationId", "argumentLiteralsIncompatible")
            return self._level_obj(iid, lid)

        def levels(args):
            rows = [self._level_obj(i, lid) for (i, lid) in sorted(self.levels) if i == iid]
            return self._connection(rows, args)

        return {
            "__typename": "InventoryItem",
            "id": gid("InventoryItem", iid),
            "legacyResourceId": str(iid),
            "sku": variant.get("sku"),
            "tracked": item["tracked"],
            "inventoryLevel": level_at,
            "inventoryLevels": levels,
            "variant": lambda args: self._variant_obj(item["variant_id"]),
        }

    def _variant_obj(self, vid: int) -> dict[str, Any] | None:
        variant = self.variants.get(vid)
        if variant is None:
            return None
        product = self.products.get(variant["product_id"], {"title": ""})
        iid = variant["item_id"]
        title = variant["title"]
        return {
            "__typename": "ProductVariant",
            "id": gid("ProductVariant", vid),
            "legacyResourceId": str(vid),
            "sku": variant["sku"] or None,
            "title": title,
            "displayName": product["title"] if title == "Default Title" else f"{product['title']} - {title}",
            "price": variant["price"],
            "inventoryQuantity": lambda args: sum(
                row["available"] for (i, _), row in self.levels.items() if i == iid
            ),
            "product": {
                "__typename": "Product",
                "id": gid("Product", variant["product_id"]),
                "title": product["title"],
            },
            "inventoryItem": self._item_obj(iid),
        }

    def _orders_connection(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """``orders(first, after, query, sortKey: UPDATED_AT)``: keyset cursors on (updatedAt, id)."""
        first = args.get("first")
        if not isinstance(first, int) or not 0 <= first <= MAX_PAGE:
            raise GraphQLError(f"first must be between 0 and {MAX_PAGE}", "BAD_REQUEST")
        sort_key = args.get("sortKey") or "ID"
        if sort_key not in ("UPDATED_AT", "CREATED_AT", "ID", "PROCESSED_AT"):
            raise GraphQLError(f"Invalid sortKey {sort_key}", "BAD_REQUEST")
        key_name = {"UPDATED_AT": "updated_at", "CREATED_AT": "created_at"}.get(sort_key)

        def key(order):
            return (int(order[key_name]) if key_name else 0, order["id"])

        rows = sorted(self.orders.values(), key=key, reverse=bool(args.get("reverse")))
        for op, when in _order_filters(args.get("query")):
            compare = {
                ">=": lambda v, w=when: v >= w,
                ">": lambda v, w=when: v > w,
                "<=": lambda v, w=when: v <= w,
                "<": lambda v, w=when: v < w,
            }[op]
            rows = [order for order in rows if compare(int(order["updated_at"]))]
        if args.get("after"):
            try:
                last = tuple(json.loads(base64.b64decode(args["after"])))
            except (ValueError, TypeError):
                raise GraphQLError(f"Invalid cursor: {args['after']}", "BAD_REQUEST") from None
            if args.get("reverse"):
                rows = [order for order in rows if key(order) < last]
            else:
                rows = [order for order in rows if key(order) > last]
        page = rows[:first]
        nodes = [self._order_obj(order["id"]) for order in page]
        cursors = [base64.b64encode(json.dumps(list(key(order))).encode()).decode() for order in page]
        return {
            "__typename": "OrderConnection",
            "nodes": nodes,
            "edges": [{"__typename": "OrderEdge", "cursor": c, "node": n} for c, n in zip(cursors, nodes)],
            "pageInfo": {
                "__typename": "PageInfo",
                "hasNextPage": len(rows) > first,
                "hasPreviousPage": bool(args.get("after")),
                "startCursor": cursors[0] if cursors else None,
                "endCursor": cursors[-1] if cursors else None,
            },
        }

    def _line_obj(self, line: dict[str, Any]) -> dict[str, Any]:
        return {
            "__typename": "LineItem",
            "id": gid("LineItem", line["id"]),
            "sku": line["sku"] or None,
            "name": f"Item {line['sku']}",
            "quantity": line["quantity"],
            "currentQuantity": line["current"],
            "refundableQuantity": line["current"],
            "unfulfilledQuantity": line["current"],
        }

    def _order_obj(self, oid: int) -> dict[str, Any]:
        order = self.orders[oid]
        lines = [self._line_obj(line) for line in order["lines"]]
        by_id = {line["id"]: obj for line, obj in zip(order["lines"], lines)}

        def refunds(args):
            out = []
            for refund in order["refunds"][: args.get("first") or None]:
                rows = [
                    {
                        "__typename": "RefundLineItem",
                        "quantity": row["quantity"],
                        "restockType": row["restock"],
                        "restocked": row["restock"] != "NO_RESTOCK",
                        "lineItem": by_id[row["line_id"]],
                    }
                    for row in refund["lines"]
                ]
                out.append(
                    {
                        "__typename": "Refund",
                        "id": gid("Refund", refund["id"]),
                        "refundLineItems": lambda a, rows=rows: self._connection(rows, a),
                    }
                )
            return out

        return {
            "__typename": "Order",
            "id": gid("Order", oid),
            "legacyResourceId": str(oid),
            "name": order["name"],
            "createdAt": _stamp(order["created_at"]),
            "updatedAt": _stamp(order["updated_at"]),
            "cancelledAt": _stamp(order["cancelled_at"]),
            "closed": order["closed"],
            "displayFinancialStatus": order["financial"],
            "displayFulfillmentStatus": order["fulfillment"],
            "lineItems": lambda args: self._connection(lines, args),
            "refunds": refunds,
        }

    def _matches(self, variant: dict[str, Any], product_title: str, terms) -> bool:
        if not terms:
            return True
        sku = (variant["sku"] or "").lower()
        for field_name, value in terms:
            needle = value.lower()
            if field_name == "sku":
                if needle and (sku.startswith(needle) if self.search_is_prefix else sku == needle):
                    return True
            elif field_name is None and needle and (needle in sku or needle in product_title.lower()):
                return True
        return False

    def _query_root(self) -> dict[str, Any]:
        def locations(args):
            rows = [
                self._location_obj(lid)
                for lid in sorted(self.locations)
                if self.locations[lid]["active"] or args.get("includeInactive")
            ]
            return self._connection(rows, args)

        def location(args):
            lid = parse_gid(args.get("id"), "Location") if args.get("id") else self.default_location
            return self._location_obj(lid) if lid in self.locations else None

        def product_variants(args):
            terms = _search_terms(args.get("query"))
            rows = [
                vid
                for vid, v in sorted(self.variants.items())
                if self._matches(v, self.products.get(v["product_id"], {}).get("title", ""), terms)
            ]
            return self._connection(rows, args, self._variant_obj)

        def node(raw):
            if not isinstance(raw, str):
                return None
            for kind, maker in (
                ("InventoryItem", self._item_obj),
                ("ProductVariant", self._variant_obj),
                ("Location", lambda i: self._location_obj(i) if i in self.locations else None),
                ("Order", lambda i: self._order_obj(i) if i in self.orders else None),
            ):
                num = parse_gid(raw, kind)
                if num is not None:
                    return maker(num)
            return None

        def nodes(args):
            ids = args.get("ids") or []
            if len(ids) > MAX_INPUT_ARRAY:
                raise GraphQLError(
                    f"The input array size of {len(ids)} is greater than the maximum "
                    f"allowed of {MAX_INPUT_ARRAY}.",
                    "MAX_INPUT_SIZE_EXCEEDED",
                )
            return [node(i) for i in ids]

        return {
            "__typename": "QueryRoot",
            "shop": {
                "__typename": "Shop",
                "name": self.shop,
                "myshopifyDomain": f"{self.shop}.myshopify.com",
                "id": gid("Shop", 1),
            },
            "locations": locations,
            "location": location,
            "productVariants": product_variants,
            "inventoryItem": lambda args: self._item_obj(parse_gid(args.get("id"), "InventoryItem") or -1),
            "productVariant": lambda args: self._variant_obj(
                parse_gid(args.get("id"), "ProductVariant") or -1
            ),
            "node": lambda args: node(args.get("id")),
            "nodes": nodes,
            "orders": self._orders_connection,
            "order": lambda args: (
                self._order_obj(parse_gid(args.get("id"), "Order"))
                if parse_gid(args.get("id"), "Order") in self.orders
                else None
            ),
        }

    # -- inventorySetQuantities ------------------------------------------------------------------

    def _set_quantities(self, data: Any, key: Any, version: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise GraphQLError(
                "Variable $input of type InventorySetQuantitiesInput! was provided invalid value",
                "INVALID_VARIABLE",
            )
        rows = data.get("quantities") or []
        if len(rows) > MAX_INPUT_ARRAY:
            raise GraphQLError(
                f"The input array size of {len(rows)} is greater than the maximum allowed of "
                f"{MAX_INPUT_ARRAY}.",
                "MAX_INPUT_SIZE_EXCEEDED",
            )
        cas_mandatory = version >= "2026-04"
        has_change_from = version >= "2026-01"
        if cas_mandatory and not key:
            raise GraphQLError(
                "The @idempotent directive with a key is required for this mutation.",
                "IDEMPOTENCY_KEY_REQUIRED",
            )
        for row in rows:
            if not isinstance(row, dict):
                raise GraphQLError("InventoryQuantityInput must be an object", "INVALID_VARIABLE")
            if cas_mandatory and ("compareQuantity" in row):
                raise GraphQLError(
                    "InputObject 'InventoryQuantityInput' doesn't accept argument 'compareQuantity'",
                    "argumentNotAccepted",
                )
            if not has_change_from and "changeFromQuantity" in row:
                raise GraphQLError(
                    "InputObject 'InventoryQuantityInput' doesn't accept argument 'changeFromQuantity'",
                    "argumentNotAccepted",
                )
        if cas_mandatory and "ignoreCompareQuantity" in data:
            raise GraphQLError(
                "InputObject 'InventorySetQuantitiesInput' doesn't accept argument 'ignoreCompareQuantity'",
                "argumentNotAccepted",
            )
        fingerprint = json.dumps(data, sort_keys=True)
        if key:
            if not isinstance(key, str) or len(key) > 255:
                raise GraphQLError(
                    "The idempotency key must be a string of at most 255 characters", "BAD_REQUEST"
                )
            previous = self.idempotency.get(key)
            if previous is not None:
                if previous[0] != fingerprint:
                    raise GraphQLError(
                        "The same idempotency key was used with different parameters.",
                        "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                    )
                return previous[1]
        errors = []
        name, reason = data.get("name"), data.get("reason")
        if name not in QUANTITY_NAMES:
            errors.append(
                _user_error(
                    "INVALID_NAME",
                    ["input", "name"],
                    "The quantity name must be either 'available' or 'on_hand'.",
                )
            )
        if reason not in REASONS:
            errors.append(
                _user_error("INVALID_REASON", ["input", "reason"], "The specified reason is invalid.")
            )
        ignore_compare = bool(data.get("ignoreCompareQuantity"))
        seen = set()
        for index, row in enumerate(rows):
            path = ["input", "quantities", str(index)]
            iid = parse_gid(row.get("inventoryItemId"), "InventoryItem")
            lid = parse_gid(row.get("locationId"), "Location")
            qty = row.get("quantity")
            if iid is None or iid not in self.items:
                errors.append(
                    _user_error(
                        "INVALID_INVENTORY_ITEM",
                        [*path, "inventoryItemId"],
                        "The specified inventory item could not be found.",
                    )
                )
                continue
            if lid is None or lid not in self.locations:
                errors.append(
                    _user_error(
                        "INVALID_LOCATION",
                        [*path, "locationId"],
                        "The specified location could not be found.",
                    )
                )
                continue
            if (iid, lid) in seen:
                errors.append(
                    _user_error(
                        "NO_DUPLICATE_INVENTORY_ITEM_LOCATION",
                        path,
                        "The combination of inventoryItemId and locationId must be unique.",
                    )
                )
                continue
            seen.add((iid, lid))
            if not self.items[iid]["tracked"]:
                errors.append(
                    _user_error(
                        "NON_MUTABLE_INVENTORY_ITEM",
                        [*path, "inventoryItemId"],
                        "Inventory tracking is off for this item, so its quantities can't be set.",
                    )
                )
                continue
            if (iid, lid) not in self.levels:
                errors.append(
                    _user_error(
                        "ITEM_NOT_STOCKED_AT_LOCATION",
                        [*path, "locationId"],
                        "The specified inventory item is not stocked at the location.",
                    )
                )
                continue
            if not isinstance(qty, int) or isinstance(qty, bool):
                errors.append(
                    _user_error("INVALID_QUANTITY", [*path, "quantity"], "Quantity must be an integer.")
                )
                continue
            if qty < 0:
                errors.append(
                    _user_error(
                        "INVALID_QUANTITY_NEGATIVE", [*path, "quantity"], "The quantity can't be negative."
                    )
                )
                continue
            if qty > MAX_QUANTITY:
                errors.append(
                    _user_error(
                        "INVALID_QUANTITY_TOO_HIGH",
                        [*path, "quantity"],
                        "The quantity can't be higher than 1,000,000,000.",
                    )
                )
                continue
            current = self.levels[(iid, lid)].get(name if name in QUANTITY_NAMES else "available", 0)
            if cas_mandatory or (has_change_from and "changeFromQuantity" in row):
                if "changeFromQuantity" not in row:
                    errors.append(
                        _user_error(
                            "CHANGE_FROM_QUANTITY_REQUIRED",
                            [*path, "changeFromQuantity"],
                            "changeFromQuantity must be given; pass null to skip the check.",
                        )
                    )
                elif row["changeFromQuantity"] is not None and row["changeFromQuantity"] != current:
                    errors.append(
                        _user_error(
                            "CHANGE_FROM_QUANTITY_STALE",
                            [*path, "changeFromQuantity"],
                            "The changeFromQuantity doesn't match the persisted quantity.",
                        )
                    )
            elif not ignore_compare:
                if row.get("compareQuantity") is None:
                    errors.append(
                        _user_error(
                            "COMPARE_QUANTITY_REQUIRED",
                            [*path, "compareQuantity"],
                            "The compareQuantity argument must be given to each quantity or "
                            "ignored using ignoreCompareQuantity.",
                        )
                    )
                elif row["compareQuantity"] != current:
                    errors.append(
                        _user_error(
                            "COMPARE_QUANTITY_STALE",
                            [*path, "compareQuantity"],
                            "The compareQuantity value does not match persisted value.",
                        )
                    )
        if errors:
            payload: dict[str, Any] = {
                "__typename": "InventorySetQuantitiesPayload",
                "inventoryAdjustmentGroup": None,
                "userErrors": errors,
            }
        else:
            changes = []
            for row in rows:
                iid = parse_gid(row["inventoryItemId"], "InventoryItem")
                lid = parse_gid(row["locationId"], "Location")
                level = self.levels[(iid, lid)]
                delta = row["quantity"] - level[name]
                level[name] = row["quantity"]
                if name == "available":
                    level["on_hand"] += delta
                else:
                    level["available"] += delta
                if delta:
                    changes.append(
                        {
                            "__typename": "InventoryChange",
                            "name": name,
                            "delta": delta,
                            "quantityAfterChange": row["quantity"],
                            "item": self._item_obj(iid),
                            "location": self._location_obj(lid),
                        }
                    )
            self.applied_writes += 1
            payload = {
                "__typename": "InventorySetQuantitiesPayload",
                "userErrors": [],
                "inventoryAdjustmentGroup": {
                    "__typename": "InventoryAdjustmentGroup",
                    "id": gid("InventoryAdjustmentGroup", self._next_id()),
                    "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.wall_time())),
                    "reason": reason,
                    "referenceDocumentUri": data.get("referenceDocumentUri"),
                    "changes": changes,
                },
            }
        if key:
            self.idempotency[key] = (fingerprint, payload)
        return payload


def _stamp(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _order_filters(query: str | None) -> list[tuple[str, float]]:
    """``updated_at:>='2024-01-02T03:04:05Z'`` (and ``>``, ``<``, ``<=``) terms; others are ignored."""
    out = []
    for op, raw in re.findall(r"updated_at:(>=|<=|>|<)?['\"]?([0-9T:.+\-Z]+)['\"]?", query or ""):
        try:
            when = calendar.timegm(time.strptime(raw[:19], "%Y-%m-%dT%H:%M:%S"))
        except ValueError:
            raise GraphQLError(f"Invalid search date: {raw}", "BAD_REQUEST") from None
        out.append((op or ">=", when))
    return out


def _user_error(code: str, path: list[str], message: str) -> dict[str, Any]:
    return {"__typename": "InventorySetQuantitiesUserError", "code": code, "field": path, "message": message}


_SET_QUANTITIES_TEMPLATE = {
    "__typename": "InventorySetQuantitiesPayload",
    "userErrors": [_user_error("X", [], "")],
    "inventoryAdjustmentGroup": {
        "__typename": "InventoryAdjustmentGroup",
        "id": "",
        "createdAt": "",
        "reason": "",
        "referenceDocumentUri": "",
        "changes": [
            {
                "__typename": "InventoryChange",
                "name": "",
                "delta": 0,
                "quantityAfterChange": 0,
                "item": {
                    "__typename": "InventoryItem",
                    "id": "",
                    "sku": "",
                    "tracked": True,
                    "legacyResourceId": "",
                },
                "location": {
                    "__typename": "Location",
                    "id": "",
                    "name": "",
                    "legacyResourceId": "",
                    "isActive": True,
                    "activatable": True,
                    "fulfillsOnlineOrders": True,
                },
            }
        ],
    },
}


def _all_fields(selections, fragments) -> list[Field]:
    """Every field in a selection set, whatever fragment it sits in (for costing)."""
    out: list[Field] = []
    for sel in selections:
        if isinstance(sel, Field):
            out.append(sel)
        elif isinstance(sel, InlineFragment):
            out.extend(_all_fields(sel.selections, fragments))
        elif isinstance(sel, FragmentSpread) and sel.name in fragments:
            out.extend(_all_fields(fragments[sel.name][1], fragments))
    return out


def serve(port: int, host: str = "127.0.0.1", seed_demo: bool = False, **kwargs: Any) -> None:
    """Run the fake in the foreground (``run_fake shopify``)."""
    fake = ShopifyFake(host=host, port=port, **kwargs)
    if seed_demo:
        fake.seed_demo()
    serve_forever(fake)
