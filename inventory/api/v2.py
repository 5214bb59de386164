"""``/api/v2/``: an inventory-items API compatible with Order Desk's, for existing scripts.

Scripts written for that API send ``ORDERDESK-STORE-ID`` and
``ORDERDESK-API-KEY`` headers, read a ``status``/``message``/``execution_time``
envelope, page with ``limit``/``offset`` and update with full-record PUTs and
batch PUTs; some HTTP stacks can only POST and name the real method in
``X-HTTP-Method-Override``.  This module reproduces that surface exactly and
does the work through the same services as everything else (stock changes
are ledger entries with source ``api`` and reference ``api:<key prefix>``).

Every response passes through one token bucket per store (see
:mod:`.throttling`) and carries ``X-Tokens-Remaining``; an empty bucket is a
429 with ``X-Retry-After``.  Requests whose key does not check out are
counted against a bucket of their client address instead, so guessing keys
is throttled too and no store's bucket can be drained by a stranger.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db.models import Q
from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from inventory import selectors
from inventory.models import ApiToken, InventoryItem, Store

from . import services, throttling, tokens

logger = logging.getLogger(__name__)

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_BATCH = 500
MAX_ID = 2**63 - 1
OVERRIDABLE = {"PUT", "DELETE"}
# Decimal columns: price and cost 14 digits with 4 places, weight 12 with 4.
NUMBER_LIMITS = {"price": Decimal(10) ** 10, "cost": Decimal(10) ** 10, "weight": Decimal(10) ** 8}
TEXT_LIMITS = {"name": 500, "location": 255}
BLANK_RECORD = {"name": "", "price": None, "cost": None, "weight": None, "location": ""}


class V2Error(Exception):
    def __init__(self, status: int, message: str, **extra):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


# --- output ------------------------------------------------------------------


def format_date(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).strftime(DATE_FORMAT) if value else None


def _number(value: Decimal | None) -> float:
    # That API always returns numbers; an unset price reads as 0.
    return float(value) if value is not None else 0.0


def item_record(item: InventoryItem, metadata: Mapping[str, str]) -> dict:
    return {
        "id": item.pk,
        "name": item.name,
        "code": item.code,
        "price": _number(item.price),
        "cost": _number(item.cost),
        "weight": _number(item.weight),
        "stock": item.stock,
        "location": item.location,
        "metadata": dict(metadata),
        "update_source": item.update_source,
        "date_added": format_date(item.created_at),
        "date_updated": format_date(item.updated_at),
    }


def item_records(items: list[InventoryItem]) -> list[dict]:
    metadata = selectors.metadata_by_item(item.pk for item in items)
    return [item_record(item, metadata.get(item.pk, {})) for item in items]


# --- input -------------------------------------------------------------------


def _text(name: str, value: object, errors: dict) -> str | None:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        errors.setdefault(name, []).append(f"{name} must be text.")
        return None
    text = str(value)
    if "\x00" in text:
        errors.setdefault(name, []).append(f"{name} may not contain NUL characters.")
        return None
    if len(text) > TEXT_LIMITS[name]:
        errors.setdefault(name, []).append(f"{name} is at most {TEXT_LIMITS[name]} characters.")
        return None
    return text


def _decimal(name: str, value: object, errors: dict) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidOperation
        number = Decimal(str(value).strip())
        if not number.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        errors.setdefault(name, []).append(f"{name} must be a number; got {str(value)[:50]!r}.")
        return None
    number = number.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    if number < 0:
        errors.setdefault(name, []).append(f"{name} cannot be negative; got {str(value)[:50]!r}.")
        return None
    if abs(number) >= NUMBER_LIMITS[name]:
        errors.setdefault(name, []).append(f"{name} must be less than {NUMBER_LIMITS[name]:,}.")
        return None
    return number


def parse_record(data: object, *, full: bool) -> tuple[dict, dict]:
    """Read one item record; return (fields, problems by field).

    ``full`` is a PUT: every detail field not sent is cleared, and so is the
    metadata.  Stock is never cleared by omission (see README): it is a count
    with a ledger, not a detail, and a script that only edits names must not
    zero every count it touches.  ``id``, ``update_source`` and the dates are
    read-only and ignored, so a record fetched with GET can be sent back as is.
    """
    if not isinstance(data, Mapping):
        return {}, {"": ["Each inventory item must be a JSON object."]}
    errors: dict = {}
    fields: dict = {"details": {}}
    details = fields["details"]
    if full:
        details.update(BLANK_RECORD)
    for name in ("name", "location"):
        if name in data:
            details[name] = _text(name, data[name], errors)
    for name in ("price", "cost", "weight"):
        if name in data:
            details[name] = _decimal(name, data[name], errors)
    if "code" in data and data["code"] is not None:
        raw = data["code"]
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            errors.setdefault("code", []).append("code must be text.")
        else:
            code = str(raw).strip()
            if not code or "\x00" in code:
                errors.setdefault("code", []).append("code cannot be empty.")
            fields["code"] = code
    if data.get("stock") is not None:
        quantity, problem = services.parse_quantity(data["stock"], name="stock")
        if problem:
            errors.setdefault("stock", []).append(problem)
        fields["stock"] = quantity
    if "metadata" in data or full:
        raw = data.get("metadata")
        if raw in (None, [], ""):
            # An empty PHP array encodes as [], so [] means "no metadata" too.
            fields["metadata"] = {}
        else:
            try:
                fields["metadata"] = services.clean_metadata_input(raw)
            except services.Invalid as exc:
                errors.update(exc.errors)
    return fields, errors


def describe(errors: dict) -> str:
    """One line naming each field: what a script logs from ``message``."""
    parts = []
    for name, problems in errors.items():
        if isinstance(problems, Mapping):
            for key, messages in problems.items():
                label = f"{name}.{key}" if key else name
                parts.extend(f"{label}: {message}" for message in messages)
        else:
            parts.extend(f"{name}: {message}" if name else message for message in problems)
    return "; ".join(parts)


def read_json(request):
    if not request.body:
        return None
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise V2Error(400, "The request body is not valid JSON.") from None


def _integer_param(request, name: str, default: int) -> int:
    raw = request.GET.get(name, "")
    if raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise V2Error(400, f"{name} must be a whole number; got {raw[:50]!r}.") from None
    if value < 0:
        raise V2Error(400, f"{name} may not be negative.")
    return value


# --- the views ------------------------------------------------------------------


def _client_address(request) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


@method_decorator(csrf_exempt, name="dispatch")
class V2View(View):
    """Authentication, the bucket, method override and the envelope, for every endpoint."""

    http_method_names = ["get", "post", "put", "delete", "head", "options", "patch"]

    def dispatch(self, request, *args, **kwargs):
        started = time.perf_counter()
        limiter = throttling.get_limiter()
        method = request.method.upper()
        if method == "POST":
            override = request.headers.get("X-HTTP-Method-Override", "").strip().upper()
            if override in OVERRIDABLE:
                method = override
        decision = None
        try:
            try:
                store, token = self.authenticate(request)
            except V2Error:
                decision = limiter.take(f"anon:{_client_address(request)}")
                if not decision.allowed:
                    raise V2Error(429, "Too many requests; wait and retry.") from None
                raise
            decision = limiter.take(f"store:{store.pk}")
            if not decision.allowed:
                raise V2Error(429, "Rate limit reached: 20 requests, then 3 each second. Retry after "
                                   f"{decision.retry_after} second(s).")
            handler = getattr(self, f"handle_{method.lower()}", None)
            if handler is None:
                raise V2Error(405, f"{method} is not supported on this endpoint.")
            if method != "GET" and token.read_only:
                raise V2Error(403, "This API key is read only.")
            status, message, payload = handler(request, store, token, *args, **kwargs)
            body = {"status": "success", "message": message}
        except V2Error as exc:
            status, payload = exc.status, exc.extra
            body = {"status": "error", "message": exc.message}
        except services.Invalid as exc:
            status, payload = 400, {"errors": exc.errors}
            body = {"status": "error", "message": describe(exc.errors)}
        body["execution_time"] = f"{time.perf_counter() - started:.4f} seconds"
        body.update(payload)
        response = JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})
        if decision is not None:
            response["X-Tokens-Remaining"] = str(decision.remaining)
            if not decision.allowed:
                response["X-Retry-After"] = str(decision.retry_after)
                response["Retry-After"] = str(decision.retry_after)
        return response

    @staticmethod
    def authenticate(request) -> tuple[Store, ApiToken]:
        store_id = request.headers.get("ORDERDESK-STORE-ID", "").strip()
        key = request.headers.get("ORDERDESK-API-KEY", "").strip()
        if not store_id or not key:
            raise V2Error(401, "Send the ORDERDESK-STORE-ID and ORDERDESK-API-KEY headers.")
        if not (store_id.isascii() and store_id.isdigit()):
            raise V2Error(
                401,
                "ORDERDESK-STORE-ID is the store's number (\"store id (API v2)\" in the admin), "
                f"not {store_id[:50]!r}.",
            )
        token = tokens.token_for_key(key)
        store = None
        if token is not None and int(store_id) <= MAX_ID:  # a number, checked above
            store = token.stores.filter(pk=int(store_id)).first()
        if store is None:
            # One answer for a wrong key and a key of another store: no probing.
            raise V2Error(401, "Invalid store id or API key.")
        return store, token

    @staticmethod
    def reference(token: ApiToken) -> str:
        return f"api:{token.prefix}"

    @staticmethod
    def active_items(store: Store):
        return InventoryItem.objects.active().filter(store=store)

    def get_item(self, store: Store, item_id: str) -> InventoryItem:
        if not (item_id.isascii() and item_id.isdigit()) or int(item_id) > MAX_ID:
            raise V2Error(404, "Inventory item not found.")
        item = self.active_items(store).select_related("store").filter(pk=int(item_id)).first()
        if item is None:
            raise V2Error(404, "Inventory item not found.")
        return item


class TestView(V2View):
    """Checks the headers; answers with the server time, as scripts use it to test a connection."""

    def handle_get(self, request, store, token):
        now = dt.datetime.now(dt.UTC)
        return 200, "Connection Successful", {"current_date_time": now.strftime(DATE_FORMAT)}


class InventoryItemsView(V2View):
    def handle_get(self, request, store, token):
        limit = min(_integer_param(request, "limit", DEFAULT_LIMIT), MAX_LIMIT)
        offset = min(_integer_param(request, "offset", 0), MAX_ID)
        items = self.active_items(store)
        codes = [part.strip() for part in request.GET.get("code", "").split(",") if part.strip()]
        if codes:
            items = items.filter(code__in=codes)
        search = request.GET.get("search", "").strip()
        if search:
            items = items.filter(Q(code__icontains=search) | Q(name__icontains=search))
        if "\x00" in search or any("\x00" in code for code in codes):
            raise V2Error(400, "Filters may not contain NUL characters.")
        total = items.count()
        page = list(items.order_by("id")[offset:offset + limit]) if limit else []
        return 200, "Inventory items found", {
            "records_returned": len(page),
            "total_records": total,
            "inventory_items": item_records(page),
        }

    def handle_post(self, request, store, token):
        fields, errors = parse_record(read_json(request), full=True)
        if not errors and not fields.get("code"):
            errors["code"] = ["code is required."]
        if errors:
            raise services.Invalid(errors)
        item = services.create_item(
            store, code=fields["code"], details=fields["details"], stock=fields.get("stock"),
            metadata=fields.get("metadata"), reference=self.reference(token),
        )
        item = self.get_item(store, str(item.pk))
        return 201, "Inventory item created", {"inventory_item": item_records([item])[0]}


class InventoryItemView(V2View):
    def handle_get(self, request, store, token, item_id):
        item = self.get_item(store, item_id)
        return 200, "Inventory item found", {"inventory_item": item_records([item])[0]}

    def handle_put(self, request, store, token, item_id):
        item = self.get_item(store, item_id)
        fields, errors = parse_record(read_json(request), full=True)
        if errors:
            raise services.Invalid(errors)
        services.update_item(
            item, code=fields.get("code"), details=fields["details"], stock=fields.get("stock"),
            metadata=fields["metadata"], replace_metadata=True, reference=self.reference(token),
        )
        item = self.get_item(store, item_id)
        return 200, "Inventory item updated", {"inventory_item": item_records([item])[0]}

    def handle_delete(self, request, store, token, item_id):
        item = self.get_item(store, item_id)
        services.archive_item(item)
        return 200, "Inventory item deleted", {}


class BatchInventoryItemsView(V2View):
    """Many records in one request: each line names an item by ``id`` or ``code``.

    A line changes only the fields it sends (a batch usually carries just id,
    code and stock, and must not wipe names or safety metadata); a line
    whose code is not in the store and has no id creates the item.  All lines
    are saved, or none: a refused line is reported by its index.
    """

    def handle_put(self, request, store, token):
        data = read_json(request)
        if isinstance(data, Mapping) and isinstance(data.get("inventory_items"), list):
            data = data["inventory_items"]
        if not isinstance(data, list):
            raise V2Error(400, "Send a JSON array of inventory items.")
        if not data:
            raise V2Error(400, "The array is empty: send at least one inventory item.")
        if len(data) > MAX_BATCH:
            raise V2Error(400, f"At most {MAX_BATCH} inventory items per batch; got {len(data)}.")
        records, problems = self.records(store, data)
        if not problems:
            try:
                ids = services.save_records(store, records, reference=self.reference(token))
            except services.BatchInvalid as exc:
                problems = exc.errors
        if problems:
            errors = [
                {"index": index, "id": _line_value(data[index], "id"),
                 "code": _line_value(data[index], "code"), "message": describe(line_errors)}
                for index, line_errors in sorted(problems, key=lambda pair: pair[0])
            ]
            shown = "; ".join(f"[{error['index']}] {error['message']}" for error in errors[:5])
            raise V2Error(400, f"{len(errors)} of {len(data)} inventory items were refused; nothing was "
                               f"saved. {shown}", errors=errors)
        items = {item.pk: item for item in self.active_items(store).filter(pk__in=ids)}
        return 200, "Inventory items updated", {
            "records_returned": len(ids),
            "inventory_items": item_records([items[pk] for pk in ids]),
        }

    def records(self, store, data: list) -> tuple[list[services.Record], list[tuple[int, dict]]]:
        problems: list[tuple[int, dict]] = []
        parsed = []
        ids, codes = set(), set()
        for index, line in enumerate(data):
            fields, errors = parse_record(line, full=False)
            raw_id = line.get("id") if isinstance(line, Mapping) else None
            item_id = None
            if raw_id not in (None, "", 0, "0"):
                text_id = str(raw_id)
                numeric = text_id.isascii() and text_id.isdigit() and not isinstance(raw_id, bool)
                if not numeric or int(text_id) > MAX_ID:
                    errors.setdefault("id", []).append("id must be a whole number.")
                else:
                    item_id = int(str(raw_id))
            elif not fields.get("code") and "code" not in errors and isinstance(line, Mapping):
                errors.setdefault("code", []).append("Each line needs an id or a code.")
            parsed.append((index, item_id, fields))
            if errors:
                problems.append((index, errors))
        wanted_ids = [item_id for _index, item_id, _fields in parsed if item_id]
        wanted_codes = [fields["code"] for _i, item_id, fields in parsed
                        if not item_id and fields.get("code")]
        items = self.active_items(store).select_related("store")
        by_id = {item.pk: item for item in items.filter(pk__in=wanted_ids)}
        by_code = {item.code: item for item in items.filter(code__in=wanted_codes)}
        failed = {index for index, _errors in problems}
        records = []
        for index, item_id, fields in parsed:
            if index in failed:
                continue
            item = by_id.get(item_id) if item_id else by_code.get(fields.get("code"))
            if item_id and item is None:
                problems.append((index, {"id": [f"No inventory item {item_id} in this store."]}))
                continue
            target = item.pk if item else ("new", fields.get("code"))
            if target in ids or (item is None and fields.get("code") in codes):
                problems.append((index, {"": ["This item appears more than once in the batch."]}))
                continue
            ids.add(target)
            if item is None:
                codes.add(fields.get("code"))
            records.append(services.Record(
                index=index, item=item, code=fields.get("code"), details=fields["details"],
                stock=fields.get("stock"), metadata=fields.get("metadata"), replace_metadata=False,
            ))
        return records, problems


def _line_value(line, name):
    return line.get(name) if isinstance(line, Mapping) else None


class NotFoundView(V2View):
    """Unknown paths under /api/v2/ still answer in the envelope (and count against the bucket)."""

    def _missing(self, request, store, token, *args, **kwargs):
        raise V2Error(404, "Unknown endpoint.")

    handle_get = handle_post = handle_put = handle_delete = _missing
