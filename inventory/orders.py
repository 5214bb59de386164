"""Orders: only what stock needs to take each order off exactly once.

An order is identified by (store, origin, external id), so the same cart order
arriving through the API and through a cart pull is one row.  Each line keeps
how many of its units are off stock (``taken``) and how many were put back
(``restocked``); :mod:`inventory.order_services` reconciles a re-send against
these numbers instead of replaying it, which is what makes every route and
every retry idempotent.
"""

from django.db import models

from .models import Store


class Order(models.Model):
    OPEN = "open"
    PAID = "paid"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    STATUSES = [
        (OPEN, "Open"),
        (PAID, "Paid"),
        (SHIPPED, "Shipped"),
        (COMPLETED, "Completed"),
        (CANCELLED, "Cancelled"),
        (REFUNDED, "Refunded"),
    ]

    # Served by the identity constraint and the (store, -created_at) index.
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="orders", db_index=False)
    origin = models.CharField(
        max_length=100,
        help_text="Where the order was placed (a cart's integration slug, or the client's own name), "
        "so the same order sent by two routes is recognised.",
    )
    external_id = models.CharField("order id at the origin", max_length=255)
    version = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Larger is newer; a send older than the stored version changes nothing.",
    )
    status = models.CharField(max_length=20, choices=STATUSES, default=OPEN)
    takes_stock = models.BooleanField(
        default=False,
        editable=False,
        help_text="Whether this order takes stock off: the store's setting when the order was first seen.",
    )
    oversold = models.BooleanField(
        default=False, editable=False, help_text="Taking this order off left an item below zero."
    )
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "origin", "external_id"], name="unique_order_identity")
        ]
        indexes = [models.Index(fields=["store", "-created_at"])]

    def __str__(self):
        return f"{self.origin} {self.external_id}"

    @property
    def reference(self) -> str:
        """The ledger reference of every stock change this order made."""
        return f"order:{self.pk}"


class OrderLine(models.Model):
    # Served by the (order, code) constraint.
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", db_index=False)
    code = models.CharField("SKU", max_length=255)
    quantity = models.PositiveIntegerField(help_text="Units ordered, as last sent.")
    taken = models.PositiveIntegerField(default=0, help_text="Units of this line taken off stock.")
    restocked = models.PositiveIntegerField(
        default=0, help_text="Units put back by a refund or cancel; never more than taken."
    )
    # [[item_id, units per unit of this line], ...]: fixed when the line first
    # takes stock, so whatever goes back later goes to the items it came from,
    # even if code_replace or the store's source changed since.
    stock_items = models.JSONField(default=list, blank=True, editable=False)
    problem = models.CharField(
        max_length=255, blank=True, help_text="Why this line took no stock (an unknown SKU, for one)."
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["order", "code"], name="unique_order_line_code")]

    def __str__(self):
        return f"{self.code} × {self.quantity}"

    @property
    def off_stock(self) -> int:
        """Units of this line that are off stock now."""
        return self.taken - self.restocked
