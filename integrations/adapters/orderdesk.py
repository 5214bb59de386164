"""A remote store reached through the inventory-items API of design.md §9.

The far end is another install of this product (its ``/api/v2/``) or a hosted
order desk. It serves both roles: a source to pull counts from (every item's
``stock``) and a cart to push told quantities to. It has no notion of replaced
SKUs, so bundles and ``code_replace`` items are not sent to it.

Pushes go out as ``PUT /batch-inventory-items`` with ``[{"id", "stock"}]``
elements, at most 500 per call (the API's documented per-request cap: a list
page's ``limit`` maximum). Only ``id`` and ``stock`` are sent, so nothing else
in the remote record can be overwritten. A batch is treated as all-or-nothing:
when the store rejects it, it is split in halves until the bad items stand
alone, so every other item still lands and each bad one carries the store's own
reason. An item counts as pushed only when the answer confirms it.

SKU ids are found with the ``code`` filter (a comma list, matched exactly);
SKUs that themselves contain a comma use ``search`` and an exact re-check.

The store shares one token bucket across all its clients (20 requests, 3 more
each second): ``X-Tokens-Remaining`` paces the next call before the bucket is
empty, and a 429 waits as long as ``X-Retry-After`` says.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import requests

from .base import (
    Adapter,
    AdapterError,
    Capabilities,
    Level,
    Location,
    PermanentError,
    PushLine,
    PushResult,
    RemoteProduct,
    chunked,
)

__all__ = ["OrderDeskAdapter"]

PAGE_LIMIT = 500
BATCH_LIMIT = 500
TOKEN_WAIT = 0.34  # seconds for one token at 3 per second, rounded up so it is surely there
CODE_QUERY_BUDGET = 1500  # characters of codes per filtered GET, well inside common URL limits


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            as_decimal = Decimal(str(value))
        except InvalidOperation:
            return None
        return int(as_decimal) if as_decimal == as_decimal.to_integral_value() else None


def _decimal_or_none(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _wire_id(remote_id: str) -> int | str:
    return int(remote_id) if remote_id.isdigit() else remote_id


class OrderDeskAdapter(Adapter):
    kind: ClassVar[str] = "orderdesk"
    role: ClassVar[str] = "cart"
    display_name: ClassVar[str] = "Remote store (inventory-items API)"
    capabilities: ClassVar[Capabilities] = Capabilities(
        pull=True,
        push=True,
        replaced_skus=False,
        batch_limit=BATCH_LIMIT,
        rate_limit="token bucket per store: 20 requests, 3 more each second",
        product_import=True,
    )
    credential_fields: ClassVar[tuple[str, ...]] = ("store_id", "api_key")
    secret_fields: ClassVar[tuple[str, ...]] = ("api_key",)
    default_base_url: ClassVar[str] = "https://app.orderdesk.me/api/v2"

    @property
    def page_size(self) -> int:
        """Items per list call (option ``page_size``, 1-500); 500, the API's maximum, by default."""
        try:
            size = int(self.options.get("page_size") or PAGE_LIMIT)
        except (TypeError, ValueError):
            raise AdapterError("page_size must be a whole number") from None
        return min(PAGE_LIMIT, max(1, size))

    # -- HTTP ---------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {
            "ORDERDESK-STORE-ID": self.credential("store_id"),
            "ORDERDESK-API-KEY": self.credential("api_key"),
            "Content-Type": "application/json",
        }

    @staticmethod
    def _pace(response: requests.Response) -> float | None:
        """Before an empty bucket, wait for one token instead of collecting a 429."""
        left = _int_or_none(response.headers.get("X-Tokens-Remaining"))
        if left is not None and left < 1 and response.status_code != 429:
            return TOKEN_WAIT
        return None

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> dict[str, Any]:
        response = self.client.request(
            method,
            f"{self.base_url}/{path.lstrip('/')}",
            headers=self._headers(),
            params=params,
            json=body,
            expect=(200, 201),
            retry_after_headers=("X-Retry-After",),
            pace=self._pace,
            secrets=self.secret_values,
        )
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise PermanentError(f"the remote store answered {method} {path} with no JSON envelope")
        if str(payload.get("status") or "").lower() == "error":
            raise PermanentError(
                f"the remote store refused {method} {path}: {payload.get('message') or 'no reason given'}",
                status=response.status_code,
            )
        return payload

    def _items(self, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item the filter selects, page by page (``offset`` until ``total_records``)."""
        offset = 0
        while True:
            page = self._call(
                "GET", "inventory-items", params={**params, "limit": self.page_size, "offset": offset}
            )
            items = page.get("inventory_items") or []
            if not isinstance(items, list):
                raise PermanentError("the remote store's inventory_items is not a list")
            yield from items
            returned = _int_or_none(page.get("records_returned"))
            returned = len(items) if returned is None else returned
            total = _int_or_none(page.get("total_records"))
            offset += returned
            if returned == 0 or total is None or offset >= total:
                return

    # -- contract -----------------------------------------------------------------------

    def test_connection(self) -> list[Location]:
        """Proves the store id and key; the store itself is the one place pushes go."""
        self._call("GET", "test")
        store_id = self.credential("store_id")
        return [Location(store_id, f"Store {store_id}")]

    def fetch_levels(self) -> Iterator[Level]:
        for item in self._items({}):
            code = str(item.get("code") or "").strip()
            if code:
                yield Level(
                    code, _int_or_none(item.get("stock")), item.get("name") or None, str(item.get("id"))
                )

    def fetch_products(self) -> Iterator[RemoteProduct]:
        for item in self._items({}):
            code = str(item.get("code") or "").strip()
            if code:
                yield RemoteProduct(
                    sku=code,
                    name=str(item.get("name") or ""),
                    price=_decimal_or_none(item.get("price")),
                    quantity=_int_or_none(item.get("stock")),
                    remote_id=str(item.get("id")),
                )

    def _by_code(self, skus: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Remote items for each SKU (exact, trimmed), fetched with as few calls as fit."""
        wanted = list(dict.fromkeys(s.strip() for s in skus if s.strip()))
        found: dict[str, list[dict[str, Any]]] = {sku: [] for sku in wanted}
        plain = [s for s in wanted if "," not in s]
        batch: list[str] = []
        size = 0
        for sku in plain + [""]:
            if sku and len(batch) < PAGE_LIMIT and size + len(sku) + 1 <= CODE_QUERY_BUDGET:
                batch.append(sku)
                size += len(sku) + 1
                continue
            if batch:
                for item in self._items({"code": ",".join(batch)}):
                    code = str(item.get("code") or "").strip()
                    if code in found:
                        found[code].append(item)
            batch, size = ([sku], len(sku) + 1) if sku else ([], 0)
        for sku in wanted:
            if "," in sku:  # the code filter splits on commas: search, then re-check exactly
                found[sku] = [
                    i for i in self._items({"search": sku}) if str(i.get("code") or "").strip() == sku
                ]
        return found

    def lookup(self, skus: Sequence[str]) -> dict[str, str | AdapterError]:
        found = self._by_code(skus)
        out: dict[str, str | AdapterError] = {}
        for sku in skus:
            items = found.get(sku.strip(), [])
            if len(items) == 1:
                out[sku] = str(items[0].get("id"))
            elif not items:
                out[sku] = AdapterError(f"the remote store has no inventory item with code {sku!r}")
            else:
                out[sku] = AdapterError(
                    f"the remote store has {len(items)} inventory items with code {sku!r}"
                )
        return out

    def read_levels(self, lines: Sequence[PushLine]) -> dict[str, int | None]:
        found = self._by_code([line.sku for line in lines])
        out: dict[str, int | None] = {}
        for line in lines:
            items = found.get(line.sku.strip(), [])
            out[line.sku] = _int_or_none(items[0].get("stock")) if len(items) == 1 else None
        return out

    def push(self, lines: Sequence[PushLine]) -> list[PushResult]:
        results: dict[int, PushResult] = {}
        ids: dict[int, str] = {}
        unresolved = [i for i, line in enumerate(lines) if not line.remote_id]
        if unresolved:
            resolved = self.lookup([lines[i].sku for i in unresolved])
            for i in unresolved:
                value = resolved[lines[i].sku]
                if isinstance(value, AdapterError):
                    results[i] = PushResult(lines[i].sku, ok=False, error=value.message)
                else:
                    ids[i] = value
        for i, line in enumerate(lines):
            if line.remote_id:
                ids[i] = line.remote_id
        for batch in chunked([i for i in range(len(lines)) if i in ids], BATCH_LIMIT):
            self._send(lines, ids, batch, results)
        self._retry_stale_ids(lines, ids, results)
        return [results[i] for i in range(len(lines))]

    def _retry_stale_ids(
        self, lines: Sequence[PushLine], ids: dict[int, str], results: dict[int, PushResult]
    ) -> None:
        """A cached id can go stale (the item was deleted and added again): look it up once more."""
        stale = [i for i, line in enumerate(lines) if line.remote_id and not results[i].ok and i in ids]
        if not stale:
            return
        fresh = self.lookup([lines[i].sku for i in stale])
        again = []
        for i in stale:
            value = fresh[lines[i].sku]
            if isinstance(value, AdapterError):
                results[i] = PushResult(lines[i].sku, ok=False, error=value.message)
            elif value != ids[i]:
                ids[i] = value
                again.append(i)
        for batch in chunked(again, BATCH_LIMIT):
            self._send(lines, ids, batch, results)

    def _send(
        self, lines: Sequence[PushLine], ids: dict[int, str], batch: list[int], results: dict[int, PushResult]
    ) -> None:
        body = [{"id": _wire_id(ids[i]), "stock": lines[i].quantity} for i in batch]
        try:
            answer = self._call("PUT", "batch-inventory-items", body=body)
        except PermanentError as exc:
            if exc.status in (405, 410):
                raise  # the endpoint itself is refused: no split can help
            if len(batch) > 1:
                middle = len(batch) // 2
                self._send(lines, ids, batch[:middle], results)
                self._send(lines, ids, batch[middle:], results)
                return
            i = batch[0]
            results[i] = PushResult(lines[i].sku, ok=False, remote_id=ids[i], error=exc.message)
            return
        confirmed = {
            str(item.get("id")): _int_or_none(item.get("stock"))
            for item in answer.get("inventory_items") or []
            if isinstance(item, dict)
        }
        for i in batch:
            line, rid = lines[i], ids[i]
            # A store that answers success without the records has applied them all; one that
            # lists records confirms only those it lists.
            stock = confirmed.get(rid) if confirmed else line.quantity
            if stock == line.quantity:
                results[i] = PushResult(line.sku, ok=True, confirmed=stock, remote_id=rid)
            else:
                told = "did not confirm it" if stock is None else f"confirmed {stock}, not {line.quantity}"
                results[i] = PushResult(
                    line.sku, ok=False, confirmed=stock, remote_id=rid, error=f"the remote store {told}"
                )
