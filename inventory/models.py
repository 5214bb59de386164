"""Stores, items, item metadata and the stock ledger.

``InventoryItem.stock`` is written only by :mod:`inventory.services`, which
writes a :class:`StockLedgerEntry` for every change, so that for every item the
ledger's deltas add up to its stock (``manage.py check_ledger`` verifies it).
"""

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, validate_slug
from django.db import models
from django.db.models import Q


def validate_time_zone(value):
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"'{value}' is not a time zone name such as Europe/Berlin or UTC.")


class Store(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True, validators=[validate_slug])
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="StoreMembership", related_name="stores", blank=True
    )
    reduce_stock_on_order_import = models.BooleanField(
        default=False, help_text="Take stock off as orders are imported (once per order)."
    )
    restock_on_cancel = models.BooleanField(
        default=True, help_text="Put stock back when an order is cancelled."
    )
    inventory_source = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="linked_stores",
        help_text="Read and take off this store's stock for the SKUs it has.",
    )
    sync_paused = models.BooleanField(
        default=False, help_text="Stops every pull and push of this store until turned off."
    )
    low_stock_recipients = models.TextField(
        blank=True, help_text="Addresses for low-stock and sync-trouble mail, one per line."
    )
    low_stock_threshold = models.PositiveIntegerField(
        null=True, blank=True, help_text="Default threshold; an item's low_stock metadata wins."
    )
    low_stock_digest_hour = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Hour (0-23, store time) for a daily digest; empty = none."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        source = self.inventory_source
        seen = {self.pk}
        while source is not None:
            if source.pk in seen:
                raise ValidationError(
                    {"inventory_source": "These stores would take stock from each other in a loop."}
                )
            seen.add(source.pk)
            source = source.inventory_source


class StoreMembership(models.Model):
    """Which staff user may see a store, and whether they may change its stock."""

    EDITOR = "editor"
    VIEWER = "viewer"
    ROLES = [(EDITOR, "Can change stock"), (VIEWER, "Read only")]

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="store_memberships"
    )
    role = models.CharField(max_length=10, choices=ROLES, default=EDITOR)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "user"], name="unique_membership")]

    def __str__(self):
        return f"{self.user} in {self.store} ({self.get_role_display()})"


class InventoryItemQuerySet(models.QuerySet):
    def active(self):
        return self.filter(archived_at__isnull=True)


class InventoryItem(models.Model):
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="items")
    code = models.CharField("SKU", max_length=255)
    name = models.CharField(max_length=500, blank=True)
    price = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    cost = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    weight = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    location = models.CharField(max_length=255, blank=True)
    stock = models.IntegerField(default=0, editable=False)
    update_source = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = InventoryItemQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "code"],
                condition=Q(archived_at__isnull=True),
                name="unique_active_code_per_store",
            )
        ]
        indexes = [models.Index(fields=["store", "code"])]

    def __str__(self):
        return self.code

    # Written only by inventory.services, in SQL, under a row lock.
    SERVICE_FIELDS = frozenset({"stock", "update_source"})

    def save(self, *args, **kwargs):
        # SKUs are compared exactly after trimming surrounding spaces.
        self.code = (self.code or "").strip()
        if (
            self.pk
            and not self._state.adding
            and kwargs.get("update_fields") is None
            and not kwargs.get("force_insert")
        ):
            # A plain save of an item loaded a while ago must not write back the
            # stock it loaded: that would undo concurrent changes with no ledger entry.
            kwargs["update_fields"] = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name not in self.SERVICE_FIELDS
            ]
        super().save(*args, **kwargs)

    def clean(self):
        self.code = (self.code or "").strip()
        if not self.code:
            raise ValidationError({"code": "A SKU cannot be empty."})


class ItemMetadata(models.Model):
    item = models.ForeignKey(InventoryItem, on_delete=models.CASCADE, related_name="metadata")
    key = models.CharField(max_length=100)
    value = models.TextField(blank=True)

    class Meta:
        ordering = ["key"]
        verbose_name_plural = "item metadata"
        constraints = [models.UniqueConstraint(fields=["item", "key"], name="unique_metadata_key")]

    def __str__(self):
        return f"{self.key}={self.value}"


class StockLedgerEntry(models.Model):
    ADMIN = "admin"
    API = "api"
    IMPORT = "import"
    PULL = "pull"
    ORDER = "order"
    CANCEL = "cancel"
    REFUND = "refund"
    STORE_SYNC = "store-sync"
    UNDO = "undo"
    SOURCES = [
        (ADMIN, "Admin"),
        (API, "API"),
        (IMPORT, "Import"),
        (PULL, "Pull"),
        (ORDER, "Order"),
        (CANCEL, "Cancel"),
        (REFUND, "Refund"),
        (STORE_SYNC, "Store sync"),
        (UNDO, "Undo"),
    ]

    # Indexed by Meta.indexes (item, id), which serves lookups by item too.
    item = models.ForeignKey(InventoryItem, on_delete=models.PROTECT, related_name="ledger", db_index=False)
    delta = models.IntegerField()
    stock_after = models.IntegerField()
    source = models.CharField(max_length=20, choices=SOURCES)
    # What caused it, as "kind:id" (e.g. "import:12", "sync-run:4", "order:81"),
    # so one import can be undone and a run's changes listed.
    reference = models.CharField(max_length=100, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "stock ledger entry"
        verbose_name_plural = "stock ledger"
        # Equality lookups only (an order's entries): a plain index, without the
        # pattern-ops twin a db_index CharField gets on PostgreSQL.
        indexes = [models.Index(fields=["item", "id"]), models.Index(fields=["reference"])]

    def __str__(self):
        return f"{self.item} {self.delta:+d} → {self.stock_after}"

    @property
    def stock_before(self):
        return self.stock_after - self.delta


class ApiToken(models.Model):
    """An API key limited to some stores.

    Only a hash of the key is kept; the key is shown once, when created.  The
    same key serves ``/api/v1/`` (``Authorization: Token <key>``) and, with a
    store's id, ``/api/v2/`` (``ORDERDESK-STORE-ID`` / ``ORDERDESK-API-KEY``).
    """

    name = models.CharField(max_length=100, help_text="Who or what uses this key.")
    prefix = models.CharField(max_length=12, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    stores = models.ManyToManyField(Store, related_name="api_tokens")
    read_only = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "API token"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


class RateBucket(models.Model):
    """A token bucket shared by every process (design §9: 20 tokens, +3 each second)."""

    key = models.CharField(max_length=100, unique=True)
    tokens = models.FloatField()
    updated_at = models.FloatField(help_text="Unix time of the last refill.")

    def __str__(self):
        return f"{self.key}: {self.tokens:.1f} tokens"


from .alerts import LowStockDigest, LowStockState, SyncIncident  # noqa: E402,F401
from .orders import Order, OrderLine  # noqa: E402,F401
