"""The one contract every cart and fulfillment adapter implements.

The sync engine only ever talks to :class:`Adapter`; it never knows which
service is behind it. Adapters are plain HTTP clients with no database access,
so they can be exercised against the local fakes in ``integrations.fakes``
and reused from tasks, the admin and management commands alike.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:
    from .http import HttpClient

__all__ = [
    "Adapter",
    "AdapterError",
    "AuthError",
    "Capabilities",
    "Level",
    "Location",
    "PermanentError",
    "PushLine",
    "PushResult",
    "RemoteOrder",
    "RemoteOrderLine",
    "RemoteProduct",
    "RemoteReturn",
    "TransientError",
    "WebhookChange",
    "chunked",
    "content_key",
]


@dataclass(frozen=True)
class Capabilities:
    """What an adapter can do, declared once so the engine and the admin never guess."""

    pull: bool
    push: bool
    replaced_skus: bool  # receives code_replace/bundle counts (design.md §5)
    batch_limit: int | None  # most items one write call carries
    rate_limit: str  # human description shown to staff
    webhooks: bool = False
    orders: bool = False  # lists the orders changed since a time (the hub takes their stock off)
    product_import: bool = False


@dataclass(frozen=True)
class Location:
    id: str
    name: str


@dataclass(frozen=True)
class Level:
    sku: str
    quantity: int | None  # None = the service gave no count (not zero)
    name: str | None = None
    remote_id: str | None = None


@dataclass(frozen=True)
class PushLine:
    sku: str
    quantity: int
    remote_id: str | None = None  # the cart's id for the SKU, when already known
    last_confirmed: int | None = None  # what the cart last confirmed holding


@dataclass(frozen=True)
class PushResult:
    """What the cart made of one line.

    A failure is by default the cart refusing *this item at this quantity*
    (a SKU it does not have, a quantity over its cap, an item it does not
    track): sending the same again gets the same answer, so the engine holds
    the item back until something changes.  ``transient`` marks a failure
    that says nothing about the item (429, 5xx and timeouts after every
    retry, refused credentials, a call that failed as a whole): the next push
    sends it again.
    """

    sku: str
    ok: bool
    confirmed: int | None = None
    remote_id: str | None = None
    error: str | None = None  # the cart's own reason, for the item
    drift: int | None = None  # what the cart actually held when last_confirmed was stale
    transient: bool = False


@dataclass(frozen=True)
class RemoteProduct:
    sku: str
    name: str
    price: Decimal | None
    quantity: int | None
    remote_id: str


@dataclass(frozen=True)
class WebhookChange:
    sku: str | None
    remote_id: str | None
    quantity: int | None


@dataclass(frozen=True)
class RemoteOrderLine:
    """One SKU of a cart's order: ``quantity`` as ordered now (edits count, refunds don't lower it),
    ``restocked`` the cart's running total of units put back by refunds or returns."""

    sku: str
    quantity: int
    restocked: int = 0


@dataclass(frozen=True)
class RemoteReturn:
    """Units a return order brings back from the cart's sale order ``source_id``."""

    source_id: str
    lines: tuple[RemoteOrderLine, ...]


@dataclass(frozen=True)
class RemoteOrder:
    """A cart's order as the hub needs it: identity, version, status and lines.

    ``status`` is one of the hub's order statuses (``inventory.orders.Order``);
    ``takes_stock`` is False for orders the cart itself has not taken stock for
    (unpaid, failed, drafts): the hub records them holding nothing, and puts
    back what they held if they go back to such a status. ``version`` grows with
    every change; ``updated_at`` is the cart's modification time (the cursor).
    """

    external_id: str
    version: int
    updated_at: datetime
    status: str
    takes_stock: bool
    lines: tuple[RemoteOrderLine, ...]
    cart_status: str = ""
    returns: tuple[RemoteReturn, ...] = ()
    problems: tuple[str, ...] = field(default=())


class AdapterError(Exception):
    """A failure whose message is safe to show staff (it never carries credentials).

    ``status`` is the HTTP status when one was received, ``code`` the service's
    own error code and ``payload`` its decoded error body, so callers can branch
    (e.g. find which batch item was refused) without parsing text.
    """

    def __init__(
        self, message: str, *, status: int | None = None, code: str | None = None, payload: Any = None
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.payload = payload

    def __str__(self) -> str:
        return self.message


class AuthError(AdapterError):
    """The service refused the credentials (401/403). Retrying cannot help."""


class PermanentError(AdapterError):
    """The service refused the request itself (other 4xx). Retrying cannot help."""


class TransientError(AdapterError):
    """The service stayed unavailable (429/5xx/timeouts) after every retry."""


T = TypeVar("T")


def webhook_quantity(value: Any, service: str) -> int | None:
    """A count from a webhook body (signed, so from the service, but still input): None
    stays None, a whole number (or its text) is read, anything else is refused with
    a PermanentError, which the webhook view answers with 400."""
    if value is None:
        return None
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise PermanentError(f"{service} webhook: the count {str(value)[:30]!r} is not a whole number") from None


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yield lists of at most ``size`` items, keeping order."""
    if size < 1:
        raise ValueError("size must be at least 1")
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def content_key(payload: Any, prefix: str = "") -> str:
    """A stable idempotency key derived from the request content.

    A retried request carries the same body and therefore the same key, so a
    service that already applied it replays its answer instead of applying it
    twice. Callers put a timestamp in the payload so that a later push of the
    same numbers is a new operation, not a replay.
    """
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()
    return f"{prefix}{digest[:48]}"


class Adapter(ABC):
    """Base class for every service.

    Subclasses set the class attributes and override what they support. The
    defaults raise a clear :class:`AdapterError` so the engine can show staff
    "X does not support pull" instead of crashing.
    """

    kind: ClassVar[str]
    role: ClassVar[str]  # "cart" | "fulfillment"
    display_name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    credential_fields: ClassVar[tuple[str, ...]] = ()
    secret_fields: ClassVar[tuple[str, ...]] = ()
    default_base_url: ClassVar[str] = ""

    def __init__(
        self,
        *,
        base_url: str,
        credentials: Mapping[str, str],
        location_id: str | None = None,
        options: Mapping[str, Any] | None = None,
        client: HttpClient | None = None,
    ):
        from .http import HttpClient

        if not base_url:
            raise AdapterError(f"{self.display_name}: a base URL is required")
        missing = [f for f in self.credential_fields if not str(credentials.get(f) or "").strip()]
        if missing:
            raise AuthError(f"{self.display_name}: missing credential(s): {', '.join(missing)}")
        self.base_url = base_url.rstrip("/")
        self._credentials = dict(credentials)
        self.location_id = location_id
        self.options: dict[str, Any] = dict(options or {})
        self.client = client if client is not None else HttpClient()

    # -- helpers for subclasses -------------------------------------------------

    def credential(self, name: str) -> str:
        return str(self._credentials.get(name) or "")

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every secret value, so the HTTP layer can scrub them from any message."""
        return tuple(str(self._credentials[f]) for f in self.secret_fields if self._credentials.get(f))

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} kind={getattr(self, 'kind', '?')!s} "
            f"base_url={self.base_url!r} location_id={self.location_id!r}>"
        )

    def _unsupported(self, what: str) -> AdapterError:
        return AdapterError(f"{self.display_name} does not support {what}")

    # -- the contract -------------------------------------------------------------

    @abstractmethod
    def test_connection(self) -> list[Location]:
        """Check the credentials; carts list the locations a push may target."""

    def fetch_levels(self) -> Iterator[Level]:
        """Every count the service holds (fulfillment pull; carts: reconcile read)."""
        raise self._unsupported("pull")

    def lookup(self, skus: Sequence[str]) -> dict[str, str | AdapterError]:
        """SKU -> remote id, by exact match; none or several matches is an error value."""
        raise self._unsupported("SKU lookup")

    def push(self, lines: Sequence[PushLine]) -> list[PushResult]:
        """Send counts; exactly one result per line, in the order given."""
        raise self._unsupported("push")

    def read_levels(self, lines: Sequence[PushLine]) -> dict[str, int | None]:
        """What the cart holds now for those SKUs (None: unknown to the cart)."""
        raise self._unsupported("reading levels")

    def fetch_products(self) -> Iterator[RemoteProduct]:
        raise self._unsupported("product import")

    def fetch_orders(self, since: datetime) -> Iterator[list[RemoteOrder]]:
        """Pages of the orders changed at or after ``since``, oldest change first.

        The engine records a page before asking for the next one and then moves
        its cursor, so a run cut short resumes where the last recorded page ended.
        """
        raise self._unsupported("order pulls")

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        raise self._unsupported("webhooks")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[WebhookChange]:
        raise self._unsupported("webhooks")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup over any mapping (Django's, requests', a dict)."""
    lower = name.lower()
    for key, value in headers.items():
        if key.lower() == lower:
            return value
    return None


def walk_modified(
    fetch: Callable[[datetime, int], tuple[list[RemoteOrder], bool]],
    since: datetime,
    *,
    tie: timedelta = timedelta(seconds=1),
) -> Iterator[list[RemoteOrder]]:
    """Page through a "modified after, oldest first" list that only has page numbers.

    ``fetch(after, page)`` returns one page and whether more pages follow.
    Numbered pages shift under a reader when an order is modified meanwhile (it
    jumps to the end, and the order after it slides onto a page already read).
    So after each page the filter moves up to the newest change seen (less
    ``tie``, for orders changed in the same second) and reading starts again at
    page 1; only when a whole page shares one second does it fall back to the
    next page number. Orders already yielded at the same version are dropped.
    """
    seen: dict[str, int] = {}
    after, page = since, 1
    while True:
        rows, more = fetch(after, page)
        fresh = [order for order in rows if seen.get(order.external_id) != order.version]
        for order in fresh:
            seen[order.external_id] = order.version
        if fresh:
            yield fresh
        if not more or not rows:
            return
        newest = max(order.updated_at for order in rows) - tie
        if newest > after:
            after, page = newest, 1
        else:
            page += 1
