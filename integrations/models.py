"""Integration settings, per-item push state and the record of every sync run.

An integration is one connection of a store to an outside service: a shopping
cart we push told quantities to, or a fulfillment service we pull counts from.
Its credentials are encrypted at rest (:mod:`integrations.crypto`) and never
leave the server in full.
"""

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from inventory.models import InventoryItem, Store

from . import crypto
from .adapters import ADAPTERS

slug_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]*$", "Use lower-case letters, digits, '-' and '_' (it names metadata like max@slug)."
)


def kind_choices():
    return sorted((kind, cls.display_name) for kind, cls in ADAPTERS.items())


class Integration(models.Model):
    CART, FULFILLMENT = "cart", "fulfillment"
    ROLES = [
        (CART, "Shopping cart (we push counts out)"),
        (FULFILLMENT, "Fulfillment service (we pull counts in)"),
    ]

    OK, FAILING, PAUSED, PREVIEW, NEW = "ok", "failing", "paused", "preview", "new"
    STATUSES = [
        (NEW, "Not run yet"),
        (OK, "Healthy"),
        (FAILING, "Failing"),
        (PAUSED, "Paused"),
        (PREVIEW, "Waiting for first-push confirmation"),
    ]

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="integrations")
    kind = models.CharField(max_length=30, choices=kind_choices)
    role = models.CharField(max_length=12, choices=ROLES)
    name = models.CharField(max_length=100)
    slug = models.CharField(max_length=50, validators=[slug_validator])
    base_url = models.URLField(
        max_length=300, blank=True, help_text="The service's address; empty = the service's usual one."
    )
    credentials_encrypted = models.TextField(blank=True, editable=False)
    location_id = models.CharField(
        max_length=100,
        blank=True,
        help_text="The cart location pushes write to (Test connection lists them).",
    )
    location_name = models.CharField(max_length=200, blank=True)
    options = models.JSONField(default=dict, blank=True)
    inventory_sync = models.BooleanField(
        default=False, help_text="Pull counts from a fulfillment service / push counts to a cart."
    )
    schedule_minutes = models.PositiveIntegerField(
        default=15, help_text="Minutes between scheduled runs; 0 = only on demand and on stock changes."
    )
    reconcile_hours = models.PositiveIntegerField(
        default=24, help_text="Hours between full reconciles of what the cart holds; 0 = never."
    )
    product_code_match = models.TextField(
        blank=True,
        help_text="Fulfillment only: one OLD=NEW per line (our SKU = the service's SKU; bundles OLD=A,B,B).",
    )
    webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    first_push_confirmed = models.BooleanField(
        default=False, help_text="A new cart shows its first push as a preview until staff confirm it."
    )
    status = models.CharField(max_length=10, choices=STATUSES, default=NEW)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_pull_at = models.DateTimeField(null=True, blank=True)
    last_push_at = models.DateTimeField(null=True, blank=True)
    last_reconcile_at = models.DateTimeField(null=True, blank=True)
    orders_cursor = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Orders changed at the cart since this time (less a few seconds) are pulled next; empty = "
        "the next pull starts from now.",
    )
    last_orders_at = models.DateTimeField(null=True, blank=True)
    # Coalescing and exclusion, ours to build (django-q2 guarantees neither).
    push_pending = models.BooleanField(default=False, editable=False)
    push_pending_since = models.DateTimeField(null=True, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    lease_owner = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["store", "name"]
        constraints = [models.UniqueConstraint(fields=["store", "slug"], name="unique_integration_slug")]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def adapter_class(self):
        return ADAPTERS[self.kind]

    @property
    def capabilities(self):
        return self.adapter_class.capabilities

    def clean(self):
        if self.kind not in ADAPTERS:
            raise ValidationError({"kind": "Unknown service."})
        caps = self.capabilities
        if self.role == self.CART and not caps.push:
            raise ValidationError({"role": f"{self.get_kind_display()} cannot receive counts."})
        if self.role == self.FULFILLMENT and not caps.pull:
            raise ValidationError({"role": f"{self.get_kind_display()} cannot send counts."})
        if self.product_code_match and self.role != self.FULFILLMENT:
            raise ValidationError({"product_code_match": "Product code match is for fulfillment services."})
        from .code_match import CodeMatchError, parse_code_match

        try:
            parse_code_match(self.product_code_match)
        except CodeMatchError as exc:
            raise ValidationError({"product_code_match": str(exc)}) from None
        self.service_address()

    def service_address(self) -> str:
        """Where calls go: ``base_url``, else the service's own address built from the
        integration's options (Shopify's ``shop``, WooCommerce's ``site``).

        ValidationError on ``base_url`` when neither gives one, so a save says what
        to fill in instead of a sync failing later.
        """
        if self.base_url:
            return self.base_url
        template = self.adapter_class.default_base_url
        try:
            address = template.format(**self.options) if template else ""
        except (KeyError, IndexError) as exc:
            address, missing = "", exc.args[0] if exc.args else "?"
        else:
            missing = None
        if not address:
            hint = f", or set the option {missing!r} ({template})" if missing else ""
            raise ValidationError(
                {"base_url": f"Enter the {self.adapter_class.display_name} address{hint}."}, code="no_address"
            )
        return address

    # -- secrets ----------------------------------------------------------------

    @property
    def credentials(self) -> dict:
        return crypto.decrypt_json(self.credentials_encrypted) if self.credentials_encrypted else {}

    @credentials.setter
    def credentials(self, value: dict):
        self.credentials_encrypted = crypto.encrypt_json(value or {})

    @property
    def webhook_secret(self) -> str:
        return crypto.decrypt_text(self.webhook_secret_encrypted) if self.webhook_secret_encrypted else ""

    @webhook_secret.setter
    def webhook_secret(self, value: str):
        self.webhook_secret_encrypted = crypto.encrypt_text(value) if value else ""

    def masked_credentials(self) -> dict:
        """What staff may see: the stored keys, each value only as its last 4 characters.

        Every value is masked, whatever its key: which keys hold secrets is the
        adapter's declaration, and a key it does not declare (stored before
        unknown keys were refused, or a secret typed under a wrong name) must
        not come back in full because of it.  Credentials stored under an older
        key say so instead of breaking the page that shows them.
        """
        try:
            stored = self.credentials
        except crypto.CredentialsUnreadable as exc:
            return {"unreadable": str(exc)}
        return {key: crypto.mask(value) for key, value in stored.items()}


class PushState(models.Model):
    """What one cart last confirmed for one item, and what went wrong.

    ``refused_quantity`` is the told quantity the cart last refused for this
    item (a missing SKU, a quantity over its cap: not a 429, 5xx or timeout).
    Pushes do not send that same quantity again, since the cart would refuse
    it again, until something changes: the told quantity, a webhook marking the
    item (``needs_reconcile``), a reconcile, a change of the integration's
    connection, or the item's SKU (its push states are then dropped).
    ``last_error`` keeps the cart's reason meanwhile, so the item still shows
    as failing.
    """

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="push_states")
    item = models.ForeignKey(InventoryItem, on_delete=models.CASCADE, related_name="push_states")
    remote_id = models.CharField(max_length=200, blank=True)
    last_confirmed = models.IntegerField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    error_at = models.DateTimeField(null=True, blank=True)
    needs_reconcile = models.BooleanField(default=False)
    refused_quantity = models.IntegerField(
        null=True,
        blank=True,
        help_text="The quantity the cart refused for this item; not sent again until something changes.",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["integration", "item"], name="unique_push_state")]

    def __str__(self):
        return f"{self.item} @ {self.integration}: {self.last_confirmed}"


class CartReturn(models.Model):
    """A cart's return order (Square keeps returns apart from the sale): the units it
    brings back of each SKU of its sale order. A sale's restocked units are the sum
    over all its returns, whichever run saw them, so each return counts once."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="cart_returns")
    external_id = models.CharField("return id at the cart", max_length=255)
    source_id = models.CharField("sale order id at the cart", max_length=255)
    units = models.JSONField(default=dict, help_text="{SKU: units returned}")
    version = models.BigIntegerField(null=True, blank=True)
    seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "external_id"], name="unique_cart_return")
        ]
        indexes = [models.Index(fields=["integration", "source_id"])]

    def __str__(self):
        return f"return {self.external_id} of {self.source_id}"


class SyncRun(models.Model):
    PULL, PUSH, RECONCILE, PREVIEW, PRODUCTS = "pull", "push", "reconcile", "preview", "products"
    ORDERS = "orders"
    KINDS = [
        (ORDERS, "Order pull"),
        (PULL, "Pull"),
        (PUSH, "Push"),
        (RECONCILE, "Reconcile"),
        (PREVIEW, "First-push preview"),
        (PRODUCTS, "Product import"),
    ]
    RUNNING, OK, PARTIAL, FAILED, SKIPPED = "running", "ok", "partial", "failed", "skipped"
    STATUSES = [
        (RUNNING, "Running"),
        (OK, "OK"),
        (PARTIAL, "Done with item errors"),
        (FAILED, "Failed"),
        (SKIPPED, "Skipped"),
    ]

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=10, choices=KINDS)
    trigger = models.CharField(max_length=20, default="schedule")
    status = models.CharField(max_length=10, choices=STATUSES, default=RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    item_errors = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=list, blank=True, help_text="Per-item lines: preview or corrections.")
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.pk} of {self.integration}"

    @property
    def reference(self):
        return f"sync-run:{self.pk}"
