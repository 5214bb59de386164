"""ShipBob: pull fulfillable counts (api_contracts.md §6).

Two API generations are supported, chosen by the ``api_version`` option:

* ``2026-01`` (default; any dated version works): ``GET /{version}/inventory-level``
  gives one row per inventory item *with* its SKU; pages are followed through
  ``next`` until it is null.
* ``1.0`` (legacy accounts and apps): ``GET /1.0/inventory`` has no SKU at all,
  so SKUs come from ``GET /1.0/product`` (``fulfillable_inventory_items``);
  pages are followed through the ``Next-Page`` header.

The count pulled is ``total_fulfillable_quantity`` (on hand minus committed):
what can still be sold without overselling. Counts are totals over every
fulfillment center.

Inactive and digital items (ShipBob's guide leaves "skip or 0" to the
integrator):

* **inactive** items report **0**. ShipBob will not ship them, so a cart must
  not keep selling from a count it still remembers; a SKU that is both active
  and inactive (two inventory items) takes the active count.
* **digital** items are **skipped**. ShipBob tracks no physical stock for them,
  and a 0 would make downloads unsellable in every cart.

Bundles: ShipBob keeps stock per component, never per bundle. A 1.0 product
made of several inventory items (or several units of one) is skipped; bundles
are modelled on our side with ``code_replace`` or product code match, which
compute the bundle's count from its components (design.md §5).

``SearchBy`` matches names and SKUs *partially*, so every lookup re-checks the
SKU exactly: asking for ``ABC-1`` never yields ``ABC-10``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urljoin, urlsplit

from .base import Adapter, AdapterError, Capabilities, Level, Location, PermanentError, PushLine

__all__ = ["ShipBobAdapter"]

logger = logging.getLogger("integrations.shipbob")

LEGACY = "1.0"
DEFAULT_VERSION = "2026-01"
PAGE_SIZE = 250  # the largest page 1.0 accepts; dated versions take it too
SEARCH_LOOKUP_MAX = 10  # above this many SKUs one full listing is cheaper than a search each


@dataclass
class _Count:
    name: str | None
    quantity: int = 0
    inventory_ids: set[int] = field(default_factory=set)
    active: bool = False


class ShipBobAdapter(Adapter):
    kind: ClassVar[str] = "shipbob"
    role: ClassVar[str] = "fulfillment"
    display_name: ClassVar[str] = "ShipBob"
    capabilities: ClassVar[Capabilities] = Capabilities(
        pull=True,
        push=False,
        replaced_skus=False,
        batch_limit=None,
        rate_limit="150 requests per minute per token (sliding window)",
    )
    credential_fields: ClassVar[tuple[str, ...]] = ("token",)
    secret_fields: ClassVar[tuple[str, ...]] = ("token",)
    default_base_url: ClassVar[str] = "https://api.shipbob.com"

    @property
    def api_version(self) -> str:
        return str(self.options.get("api_version") or DEFAULT_VERSION).strip().strip("/")

    @property
    def legacy(self) -> bool:
        return self.api_version == LEGACY

    @property
    def page_size(self) -> int:
        """Rows per page (option ``page_size``, 1-250); the largest by default, for the fewest calls."""
        try:
            size = int(self.options.get("page_size") or PAGE_SIZE)
        except (TypeError, ValueError):
            raise AdapterError("ShipBob option page_size must be a whole number") from None
        return min(PAGE_SIZE, max(1, size))

    # -- HTTP ---------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.credential('token')}"}
        channel = str(self.options.get("channel_id") or "").strip()
        if channel:
            headers["shipbob_channel_id"] = channel
        return headers

    def _url(self, path_or_url: str) -> str:
        """An absolute URL on our base URL.

        ``next``/``Next-Page`` values are followed by path and query only: the
        bearer token is never sent to a host other than the configured one.
        """
        if path_or_url.startswith(("http://", "https://")):
            parts = urlsplit(path_or_url)
            path_or_url = parts.path + (f"?{parts.query}" if parts.query else "")
        if not path_or_url.startswith(f"/{self.api_version}/"):
            path_or_url = f"/{self.api_version}/{path_or_url.lstrip('/')}"
        return urljoin(self.base_url + "/", path_or_url.lstrip("/"))

    def _get(self, path_or_url: str, params: dict[str, Any] | None = None):
        return self.client.request(
            "GET",
            self._url(path_or_url),
            headers=self._headers(),
            params=params,
            expect=(200,),
            retry_after_headers=("x-retry-after",),
            secrets=self.secret_values,
        )

    def _json(self, response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise PermanentError(
                f"ShipBob answered {response.request.method} {urlsplit(response.url).path} with "
                "something that is not JSON"
            ) from None

    def _dated_pages(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        response = self._get("inventory-level", {"PageSize": self.page_size, **params})
        seen: set[str] = set()
        while True:
            body = self._json(response)
            if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                raise PermanentError("ShipBob inventory-level answer has no 'items' list")
            yield from body["items"]
            nxt = body.get("next")
            if not nxt:
                return
            if nxt in seen:  # a server bug must not loop forever
                raise PermanentError("ShipBob paging returned the same 'next' page twice")
            seen.add(nxt)
            response = self._get(nxt)

    def _legacy_pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        response = self._get(path, {"Limit": self.page_size, "Page": 1, **params})
        seen: set[str] = set()
        while True:
            body = self._json(response)
            if not isinstance(body, list):
                raise PermanentError(f"ShipBob 1.0 {path} answer is not a list")
            yield from body
            nxt = response.headers.get("Next-Page")
            if not nxt or not body:
                return
            if nxt in seen:
                raise PermanentError("ShipBob paging returned the same Next-Page twice")
            seen.add(nxt)
            response = self._get(nxt)

    # -- contract -----------------------------------------------------------------------

    def test_connection(self) -> list[Location]:
        """Lists the fulfillment centers the token may see (proves the token works)."""
        body = self._json(self._get("location"))
        if not isinstance(body, list):
            raise PermanentError("ShipBob location answer is not a list")
        return [Location(str(loc["id"]), str(loc.get("name") or loc["id"])) for loc in body if "id" in loc]

    def fetch_levels(self) -> Iterator[Level]:
        counts = self._legacy_counts() if self.legacy else self._dated_counts({})
        for sku, count in counts.items():
            remote = str(next(iter(count.inventory_ids))) if len(count.inventory_ids) == 1 else None
            yield Level(sku, count.quantity if count.active else 0, count.name, remote)

    def lookup(self, skus: Sequence[str]) -> dict[str, str | AdapterError]:
        counts = self._counts_for(skus)
        out: dict[str, str | AdapterError] = {}
        for sku in skus:
            count = counts.get(sku.strip())
            if count is None:
                out[sku] = AdapterError(f"ShipBob has no inventory item with SKU {sku!r}")
            elif len(count.inventory_ids) != 1:
                out[sku] = AdapterError(
                    f"ShipBob has {len(count.inventory_ids)} inventory items with SKU {sku!r}"
                )
            else:
                out[sku] = str(next(iter(count.inventory_ids)))
        return out

    def read_levels(self, lines: Sequence[PushLine]) -> dict[str, int | None]:
        counts = self._counts_for([line.sku for line in lines])
        out: dict[str, int | None] = {}
        for line in lines:
            count = counts.get(line.sku.strip())
            out[line.sku] = None if count is None else (count.quantity if count.active else 0)
        return out

    # -- counting -----------------------------------------------------------------------

    def _counts_for(self, skus: Sequence[str]) -> dict[str, _Count]:
        wanted = {s.strip() for s in skus if s.strip()}
        if self.legacy or len(wanted) > SEARCH_LOOKUP_MAX:
            counts = self._legacy_counts() if self.legacy else self._dated_counts({})
            return {sku: c for sku, c in counts.items() if sku in wanted}
        counts: dict[str, _Count] = {}
        for sku in wanted:
            found = self._dated_counts({"SearchBy": sku})
            if sku in found:  # exact: the search itself is partial
                counts[sku] = found[sku]
        return counts

    def _dated_counts(self, params: dict[str, Any]) -> dict[str, _Count]:
        counts: dict[str, _Count] = {}
        for active in (True, False):
            query = {**params, "IsActive": "true" if active else "false", "IsDigital": "false"}
            for row in self._dated_pages(query):
                sku = str(row.get("sku") or "").strip()
                if not sku:
                    continue
                if params.get("SearchBy") and sku != params["SearchBy"]:
                    continue
                self._add(
                    counts,
                    sku,
                    row.get("name"),
                    row.get("inventory_id"),
                    active,
                    row.get("total_fulfillable_quantity"),
                )
        return counts

    def _legacy_counts(self) -> dict[str, _Count]:
        inventory = {row["id"]: row for row in self._legacy_pages("inventory", {}) if "id" in row}
        counts: dict[str, _Count] = {}
        for product in self._legacy_pages("product", {}):
            sku = str(product.get("sku") or product.get("reference_id") or "").strip()
            parts = product.get("fulfillable_inventory_items") or []
            if not sku or not parts:
                continue
            if len(parts) != 1 or int(parts[0].get("quantity") or 1) != 1:
                logger.debug("ShipBob product %s is a bundle; its components carry the stock", sku)
                continue
            row = inventory.get(parts[0].get("id"))
            if row is None or row.get("is_digital"):
                continue
            self._add(
                counts,
                sku,
                product.get("name") or row.get("name"),
                row["id"],
                bool(row.get("is_active", True)),
                row.get("total_fulfillable_quantity"),
            )
        return counts

    @staticmethod
    def _add(
        counts: dict[str, _Count], sku: str, name: Any, inventory_id: Any, active: bool, qty: Any
    ) -> None:
        count = counts.setdefault(sku, _Count(str(name) if name else None))
        if inventory_id in count.inventory_ids:
            return  # the same physical stock reached through a second listing
        if inventory_id is not None:
            count.inventory_ids.add(inventory_id)
        if not active:
            return
        count.active = True
        try:
            count.quantity += int(qty or 0)
        except (TypeError, ValueError):
            raise PermanentError(f"ShipBob gave a non-numeric count {qty!r} for SKU {sku!r}") from None
