"""Writes the APIs need beyond :mod:`inventory.services`, built on it.

Both APIs (and nothing else yet) create and edit items as whole records and
apply batches of stock lines with per-line errors.  Stock still changes only
through :func:`inventory.services.set_stock` / ``adjust_stock`` (one call per
request, so a batch of 100,000 lines is one set-based write with its ledger
entries), and metadata only through ``set_metadata``; these functions add the
validation and error shapes an API client needs: every problem tied to the
field, metadata key or input index it came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from inventory import rules, selectors
from inventory import services as stock_services
from inventory.models import InventoryItem, ItemMetadata, StockLedgerEntry, Store

DETAIL_FIELDS = ("name", "price", "cost", "weight", "location")
SET, ADD = "set", "add"
# The same labels as import jobs' modes: one meaning, one enum in the schema.
MODES = [(SET, "Set counts"), (ADD, "Add to counts (receipts)")]
REJECT_ALL, REJECT_FAILED = "reject_all", "reject_failed"
MAX_BATCH_LINES = 100_000
# Stock is a 32-bit column on PostgreSQL; anything outside would fail in SQL.
STOCK_LIMIT = 2**31 - 1
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
LOOKUP_CHUNK = 5000
METADATA_KEY_LENGTH = ItemMetadata._meta.get_field("key").max_length


class Invalid(Exception):
    """A request the API refuses, with problems keyed as the client sent them.

    ``errors`` maps a field name to a list of messages; ``metadata`` maps to
    ``{key: [messages]}`` so a client can show each message beside its key.
    """

    def __init__(self, errors: dict):
        super().__init__(errors)
        self.errors = errors


# --- metadata ----------------------------------------------------------------


def clean_metadata_input(metadata: object) -> dict[str, str | None]:
    """Metadata arrives as a JSON object of text, numbers or booleans (null removes a key)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise Invalid({"metadata": ["metadata must be an object of key: value pairs."]})
    cleaned: dict[str, str | None] = {}
    problems: dict[str, list[str]] = {}
    for key, value in metadata.items():
        key = str(key)
        if "\x00" in key or len(key.strip()) > METADATA_KEY_LENGTH:
            problems.setdefault(key, []).append(
                f"A metadata key is at most {METADATA_KEY_LENGTH} characters, without NUL characters."
            )
            continue
        if value is None:
            cleaned[str(key)] = None
        elif isinstance(value, bool):
            cleaned[str(key)] = "true" if value else "false"
        elif isinstance(value, int | float | str | Decimal):
            text = str(value)
            if "\x00" in text:
                problems.setdefault(str(key), []).append("Metadata may not contain NUL characters.")
                continue
            cleaned[str(key)] = text
        else:
            problems.setdefault(str(key), []).append(
                f"{key} must be text or a number, not a {type(value).__name__}."
            )
    if problems:
        raise Invalid({"metadata": problems})
    return cleaned


def wanted_metadata(current: Mapping[str, str], given: Mapping[str, str | None], *, replace: bool) -> dict:
    """The item's metadata after the change, as :func:`inventory.services.set_metadata` builds it."""
    wanted = {} if replace else dict(current)
    for key, value in given.items():
        key = key.strip().lower()
        if value is None or str(value).strip() == "":
            wanted.pop(key, None)
        else:
            wanted[key] = str(value)
    return wanted


def metadata_problems(store: Store, code: str, metadata: Mapping[str, str]) -> dict[str, list[str]]:
    """Every problem :func:`inventory.services.validate_metadata` finds, keyed by metadata key.

    The service is the authority on *what* is wrong; the per-key rules of
    :mod:`inventory.rules` tell *which key* each message belongs to.  What is
    left (the store-level checks of ``code_replace``) belongs to ``code_replace``.
    """
    _normalised, problems = stock_services.validate_metadata(store, code, metadata)
    if not problems:
        return {}
    keyed: dict[str, list[str]] = {}
    placed: set[str] = set()
    valid: dict[str, str] = {}
    for key, value in metadata.items():
        try:
            norm_key, norm_value = rules.validate_metadata(key, value, own_code=code)
        except rules.MetadataError as exc:
            keyed.setdefault(exc.key, []).append(exc.message)
            placed.add(exc.message)
            continue
        valid[norm_key] = norm_value
    for exc in rules.validate_metadata_set(valid):
        keyed.setdefault(exc.key, []).append(exc.message)
        placed.add(exc.message)
    for message in problems:
        if message not in placed:
            keyed.setdefault("code_replace", []).append(message)
    return keyed


# --- items -------------------------------------------------------------------


def _check_code(store: Store, code: object, *, exclude_pk: int | None = None) -> str:
    code = str(code if code is not None else "").strip()
    if not code:
        raise Invalid({"code": ["A SKU cannot be empty."]})
    if len(code) > 255:
        raise Invalid({"code": ["A SKU is at most 255 characters."]})
    taken = InventoryItem.objects.active().filter(store=store, code=code)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise Invalid({"code": [f"SKU {code} already exists in {store.name}."]})
    return code


def _check_stock(value: object) -> int:
    quantity, problem = parse_quantity(value, name="stock")
    if problem:
        raise Invalid({"stock": [problem]})
    return quantity


def create_item(
    store: Store,
    *,
    code: object,
    details: Mapping[str, object],
    stock: object = None,
    metadata: Mapping[str, str | None] | None = None,
    reference: str = "",
    user=None,
) -> InventoryItem:
    """Create one item with its first count (ledger entry, source api) and metadata."""
    code = _check_code(store, code)
    quantity = None if stock is None else _check_stock(stock)
    wanted = wanted_metadata({}, metadata or {}, replace=True)
    problems = metadata_problems(store, code, wanted) if wanted else {}
    if problems:
        raise Invalid({"metadata": problems})
    row = {"code": code, "stock": quantity, **{k: v for k, v in details.items() if k in DETAIL_FIELDS}}
    try:
        with transaction.atomic():
            ids = stock_services.create_items(
                store, [row], source=StockLedgerEntry.API, reference=reference, user=user
            )
            item = InventoryItem.objects.get(pk=ids[code])
            if wanted:
                stock_services.set_metadata(item, wanted, replace=True)
    except IntegrityError:
        # Another request created the same SKU between the check and the insert.
        raise Invalid({"code": [f"SKU {code} already exists in {store.name}."]}) from None
    return item


def update_item(
    item: InventoryItem,
    *,
    code: object = None,
    details: Mapping[str, object] | None = None,
    stock: object = None,
    metadata: Mapping[str, str | None] | None = None,
    replace_metadata: bool = False,
    reference: str = "",
    user=None,
) -> InventoryItem:
    """Change an item's SKU, details, count and metadata together, or not at all.

    Renaming is refused while another item's ``code_replace`` names the old
    SKU: that item would silently lose its count.
    """
    store = item.store
    new_code = item.code
    if code is not None and str(code).strip() != item.code:
        new_code = _check_code(store, code, exclude_pk=item.pk)
        refusal = selectors.code_in_use(store, item.code)
        if refusal:
            raise Invalid({"code": [refusal]})
    quantity = None if stock is None else _check_stock(stock)
    wanted = None
    if metadata is not None:
        current = dict(item.metadata.values_list("key", "value"))
        wanted = wanted_metadata(current, metadata, replace=replace_metadata)
        problems = metadata_problems(store, new_code, wanted) if wanted else {}
        if problems:
            raise Invalid({"metadata": problems})
    fields = []
    if new_code != item.code:
        item.code = new_code
        fields.append("code")
    for name, value in (details or {}).items():
        if name in DETAIL_FIELDS and getattr(item, name) != value:
            setattr(item, name, value)
            fields.append(name)
    try:
        with transaction.atomic():
            if fields:
                item.save(update_fields=[*fields, "updated_at"])
            if wanted is not None:
                stock_services.set_metadata(item, wanted, replace=True)
            if quantity is not None:
                stock_services.set_stock({item.pk: quantity}, source=StockLedgerEntry.API,
                                         reference=reference, user=user)
    except IntegrityError:
        raise Invalid({"code": [f"SKU {new_code} already exists in {store.name}."]}) from None
    except ValidationError as exc:
        raise Invalid({"metadata": {"": exc.messages}}) from None
    item.refresh_from_db()
    return item


def archive_item(item: InventoryItem) -> None:
    """Deleting through an API archives, as everywhere: the ledger stays."""
    refusal = selectors.code_in_use(item.store, item.code, until=f"before deleting {item.code}")
    if refusal:
        raise Invalid({"code": [refusal]})
    stock_services.archive_item(item)


# --- stock batches -------------------------------------------------------------


def parse_quantity(value: object, *, name: str = "quantity") -> tuple[int | None, str | None]:
    """A whole number of units from JSON: 5, "5", 5.0 — never 5.5, true or "five"."""
    if isinstance(value, bool):
        return None, f"{name} must be a whole number, not {str(value).lower()}."
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            return None, f"{name} must be a whole number; got {value}."
        number = int(value)
    elif isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    elif value is None:
        return None, f"{name} is required."
    else:
        return None, f"{name} must be a whole number; got {str(value)[:50]!r}."
    if abs(number) > STOCK_LIMIT:
        return None, f"{name} must be between {-STOCK_LIMIT} and {STOCK_LIMIT}."
    return number, None


@dataclass
class BatchResult:
    mode: str
    on_error: str
    received: int
    applied: bool = False
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        changed = sum(1 for row in self.results if row["before"] != row["after"])
        return {
            "mode": self.mode,
            "on_error": self.on_error,
            "applied": self.applied,
            "counts": {
                "received": self.received,
                "changed": changed,
                "unchanged": len(self.results) - changed,
                "failed": len({error["index"] for error in self.errors}),
            },
            "results": self.results,
            "errors": self.errors,
            "warnings": self.warnings,
        }


def apply_stock_batch(
    store: Store, lines: list, *, mode: str, on_error: str, reference: str, user=None
) -> BatchResult:
    """Validate every line, then write the valid ones in ONE service call.

    Each problem names the input index.  A SKU given twice is an error on every
    occurrence and that SKU stays unchanged (which count was meant is unknown),
    as with duplicate rows in an import file.  With ``reject_all`` one error
    means nothing is written.
    """
    result = BatchResult(mode=mode, on_error=on_error, received=len(lines))

    def fail(index, code, field_name, message):
        result.errors.append({"index": index, "code": code, "field": field_name, "message": message})

    parsed: list[tuple[int, str, int]] = []
    positions: dict[str, list[int]] = {}
    for index, line in enumerate(lines):
        if not isinstance(line, Mapping):
            fail(index, None, None, "Each line must be an object with code and quantity.")
            continue
        raw_code = line.get("code")
        if isinstance(raw_code, bool) or not isinstance(raw_code, str | int):
            fail(index, None, "code", "code is required (the item's SKU, as text).")
            continue
        code = str(raw_code).strip()
        if not code or "\x00" in code:
            fail(index, code or None, "code", "code is required (the item's SKU, as text).")
            continue
        quantity, problem = parse_quantity(line.get("quantity"))
        positions.setdefault(code, []).append(index)
        if problem:
            fail(index, code, "quantity", problem)
            continue
        parsed.append((index, code, quantity))
    for code, indexes in positions.items():
        if len(indexes) > 1:
            for index in indexes:
                fail(index, code, "code", f"SKU {code} appears more than once in this batch (lines "
                     f"{', '.join(map(str, indexes))}); it was left unchanged.")
    duplicated = {code for code, indexes in positions.items() if len(indexes) > 1}
    parsed = [line for line in parsed if line[1] not in duplicated]
    found = _items_by_code(store, [code for _index, code, _qty in parsed])
    valid = []
    for index, code, quantity in parsed:
        if code not in found:
            fail(index, code, "code", f"SKU {code} is not in {store.name}; nothing was changed or created.")
            continue
        if mode == ADD and abs(found[code][1] + quantity) > STOCK_LIMIT:
            limit = STOCK_LIMIT if quantity > 0 else -STOCK_LIMIT
            fail(index, code, "quantity", f"Adding {quantity} would take stock past {limit}.")
            continue
        valid.append((index, code, quantity))
    result.errors.sort(key=lambda error: error["index"])
    if result.errors and on_error == REJECT_ALL:
        return result
    values = {found[code][0]: quantity for _index, code, quantity in valid}
    writer = stock_services.adjust_stock if mode == ADD else stock_services.set_stock
    changes = {
        change.item_id: change
        for change in writer(values, source=StockLedgerEntry.API, reference=reference, user=user)
    }
    result.applied = True
    ignored = selectors.counts_carts_ignore(store, [(found[code][0], code) for _index, code, _qty in valid])
    for index, code, quantity in valid:
        item_id, stock_seen = found[code]
        if item_id in ignored:
            result.warnings.append({"index": index, "code": code, "field": "quantity", "message": ignored[item_id]})
        change = changes.get(item_id)
        before, after = (change.before, change.after) if change else (stock_seen, stock_seen)
        if change is None and mode == SET:
            before = after = quantity
        result.results.append({"index": index, "code": code, "before": before, "after": after})
    return result


def _items_by_code(store: Store, codes: list[str]) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    for start in range(0, len(codes), LOOKUP_CHUNK):
        chunk = codes[start:start + LOOKUP_CHUNK]
        for code, item_id, stock in InventoryItem.objects.active().filter(
            store=store, code__in=chunk
        ).values_list("code", "id", "stock"):
            found[code] = (item_id, stock)
    return found


# --- many records at once --------------------------------------------------------


@dataclass
class Record:
    """One item to create (``item`` None) or change, as a batch line asks."""

    index: int
    item: InventoryItem | None
    code: object = None
    details: dict = field(default_factory=dict)
    stock: int | None = None
    metadata: dict | None = None
    replace_metadata: bool = False


class BatchInvalid(Exception):
    """Some lines of a batch were refused; ``errors`` is ``[(index, {field: messages})]``."""

    def __init__(self, errors: list[tuple[int, dict]]):
        super().__init__(errors)
        self.errors = errors


def save_records(store: Store, records: list[Record], *, reference: str = "", user=None) -> list[int]:
    """Create and change many items as one change: all of it, or (any line refused) none.

    Lines are applied in order, so a later line sees an earlier one (a SKU
    renamed, then reused).  Counts are written together at the end in one
    :func:`inventory.services.set_stock` call.  Returns the item ids in input order.
    """
    errors: list[tuple[int, dict]] = []
    ids: list[int] = []
    counts: dict[int, int] = {}
    with transaction.atomic():
        for record in records:
            try:
                # A savepoint per line: a refused line leaves the transaction usable
                # so every line's problems are reported, not just the first.
                with transaction.atomic():
                    if record.item is None:
                        item = create_item(store, code=record.code, details=record.details,
                                           metadata=record.metadata, reference=reference, user=user)
                    else:
                        item = update_item(record.item, code=record.code, details=record.details,
                                           metadata=record.metadata, replace_metadata=record.replace_metadata,
                                           reference=reference, user=user)
            except Invalid as exc:
                errors.append((record.index, exc.errors))
                continue
            ids.append(item.pk)
            if record.stock is not None:
                counts[item.pk] = record.stock
        if errors:
            raise BatchInvalid(errors)
        stock_services.set_stock(counts, source=StockLedgerEntry.API, reference=reference, user=user)
    return ids
