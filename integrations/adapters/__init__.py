"""The adapter registry: every service the hub can talk to, by ``kind``.

Adding a service means one import line and one entry in ``_CLASSES``.
"""

from __future__ import annotations

from .amazon_fba import AmazonFBAAdapter
from .base import Adapter, AdapterError
from .bigcommerce import BigCommerceAdapter
from .orderdesk import OrderDeskAdapter
from .shipbob import ShipBobAdapter
from .shipstation import ShipStationAdapter
from .shopify import ShopifyAdapter
from .square import SquareAdapter
from .woocommerce import WooCommerceAdapter

_CLASSES: list[type[Adapter]] = [
    ShopifyAdapter,
    SquareAdapter,
    BigCommerceAdapter,
    WooCommerceAdapter,
    AmazonFBAAdapter,
    OrderDeskAdapter,
    ShipBobAdapter,
    ShipStationAdapter,
]

ADAPTERS: dict[str, type[Adapter]] = {cls.kind: cls for cls in _CLASSES}


def get_adapter_class(kind: str) -> type[Adapter]:
    """The adapter class for ``kind``; an unknown kind is a clear error, not a KeyError."""
    try:
        return ADAPTERS[kind]
    except KeyError:
        known = ", ".join(sorted(ADAPTERS)) or "none"
        raise AdapterError(f"unknown integration kind {kind!r} (known: {known})") from None
