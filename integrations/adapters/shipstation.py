"""ShipStation API v2: pull available counts (api_contracts.md §7).

``GET /v2/inventory`` answers one row per SKU *per location*; the count a cart
may sell is the sum of ``available`` (on hand minus allocated) over every row of
the SKU. When the integration names a location, it is taken as an inventory
warehouse id and only that warehouse is counted (test-connection lists the
warehouses to choose from).

Reading inventory needs the account's Inventory add-on; without it ShipStation
answers 403, which is reported as a clear, permanent error rather than as
refused credentials. Pages are followed through ``links.next.href``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests

from .base import (
    Adapter,
    AdapterError,
    AuthError,
    Capabilities,
    Level,
    Location,
    PermanentError,
    PushLine,
)
from .http import error_message

__all__ = ["ShipStationAdapter"]

PAGE_LIMIT = 500
SKU_FILTER_MAX = 10  # above this many SKUs one full listing is cheaper than a filtered call each


def _v2_message(response: requests.Response) -> str:
    """The first v2 error's message and code (``{"request_id", "errors": [...]}``)."""
    try:
        body = response.json()
    except ValueError:
        return error_message(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        text = str(first.get("message") or "")
        code = first.get("error_code")
        return f"{text} ({code})" if code else text
    return error_message(response)


class ShipStationAdapter(Adapter):
    kind: ClassVar[str] = "shipstation"
    role: ClassVar[str] = "fulfillment"
    display_name: ClassVar[str] = "ShipStation"
    capabilities: ClassVar[Capabilities] = Capabilities(
        pull=True,
        push=False,
        replaced_skus=False,
        batch_limit=None,
        rate_limit="200 requests per minute per API key",
    )
    credential_fields: ClassVar[tuple[str, ...]] = ("api_key",)
    secret_fields: ClassVar[tuple[str, ...]] = ("api_key",)
    default_base_url: ClassVar[str] = "https://api.shipstation.com"

    @property
    def page_size(self) -> int:
        """Rows per page (option ``page_size``, 1-500); the largest by default, for the fewest calls."""
        try:
            size = int(self.options.get("page_size") or PAGE_LIMIT)
        except (TypeError, ValueError):
            raise AdapterError("ShipStation option page_size must be a whole number") from None
        return min(PAGE_LIMIT, max(1, size))

    # -- HTTP ---------------------------------------------------------------------------

    def _url(self, path_or_url: str) -> str:
        """Follow ``links`` by path and query only, so the key never goes to another host."""
        if path_or_url.startswith(("http://", "https://")):
            parts = urlsplit(path_or_url)
            path_or_url = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.base_url + "/" + path_or_url.lstrip("/")

    def _get(self, path_or_url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self.client.request(
                "GET",
                self._url(path_or_url),
                headers={"API-Key": self.credential("api_key")},
                params=params,
                expect=(200,),
                secrets=self.secret_values,
                message=_v2_message,
            )
        except AuthError as exc:
            if exc.status == 403:
                raise PermanentError(
                    "ShipStation refused the inventory API: the account's Inventory add-on is probably "
                    f"not enabled ({exc.message})",
                    status=403,
                    code=exc.code,
                ) from None
            raise
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise PermanentError(f"ShipStation answered {urlsplit(response.url).path} with no JSON object")
        return body

    def _pages(self, path: str, key: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        body = self._get(path, {"limit": self.page_size, **params})
        seen: set[str] = set()
        while True:
            rows = body.get(key)
            if not isinstance(rows, list):
                raise PermanentError(f"ShipStation answer has no {key!r} list")
            yield from rows
            href = ((body.get("links") or {}).get("next") or {}).get("href")
            if not href or not rows:
                return
            if href in seen:
                raise PermanentError("ShipStation paging returned the same next page twice")
            seen.add(href)
            body = self._get(href)

    # -- contract -----------------------------------------------------------------------

    def test_connection(self) -> list[Location]:
        """Lists the inventory warehouses (this also proves the Inventory add-on is on)."""
        return [
            Location(
                str(row["inventory_warehouse_id"]), str(row.get("name") or row["inventory_warehouse_id"])
            )
            for row in self._pages("/v2/inventory_warehouses", "inventory_warehouses", {})
            if row.get("inventory_warehouse_id")
        ]

    def _sums(self, params: dict[str, Any]) -> dict[str, int]:
        if self.location_id:
            params = {**params, "inventory_warehouse_id": self.location_id}
        sums: dict[str, int] = {}
        for row in self._pages("/v2/inventory", "inventory", params):
            sku = str(row.get("sku") or "").strip()
            if not sku:
                continue
            try:
                available = int(row.get("available") or 0)
            except (TypeError, ValueError):
                raise PermanentError(f"ShipStation gave a non-numeric count for SKU {sku!r}") from None
            sums[sku] = sums.get(sku, 0) + available
        return sums

    def fetch_levels(self) -> Iterator[Level]:
        for sku, quantity in self._sums({}).items():
            yield Level(sku, quantity)

    def _sums_for(self, skus: Sequence[str]) -> dict[str, int]:
        wanted = {s.strip() for s in skus if s.strip()}
        if len(wanted) > SKU_FILTER_MAX:
            return {k: v for k, v in self._sums({}).items() if k in wanted}
        out: dict[str, int] = {}
        for sku in wanted:
            # Re-checked exactly: the filter's matching rules are not documented.
            out.update({k: v for k, v in self._sums({"sku": sku}).items() if k == sku})
        return out

    def lookup(self, skus: Sequence[str]) -> dict[str, str | AdapterError]:
        """ShipStation has no id of its own for a SKU: the SKU is the key."""
        found = self._sums_for(skus)
        return {
            sku: sku.strip()
            if sku.strip() in found
            else AdapterError(f"ShipStation has no inventory for {sku!r}")
            for sku in skus
        }

    def read_levels(self, lines: Sequence[PushLine]) -> dict[str, int | None]:
        found = self._sums_for([line.sku for line in lines])
        return {line.sku: found.get(line.sku.strip()) for line in lines}
