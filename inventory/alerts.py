"""What the mail of :mod:`inventory.mail` remembers, so each alert goes out once.

Low-stock mail is per crossing, sync-trouble mail per incident and the digest
per store-local day.  Keeping that state in the database (not in a process)
holds across restarts and across the several processes that change stock.
"""

from django.db import models

from .models import InventoryItem, ItemMetadata, Store


class LowStockState(models.Model):
    """Whether an item is at or below its threshold, and whether that was mailed yet.

    ``low`` flips to True when the item falls to or below its threshold and
    back to False only once it has risen above it: a new mail needs a new fall.
    ``pending`` marks a fall whose mail has not been sent yet (an outbox), so a
    mail task lost with its worker is sent by the next one.
    """

    item = models.OneToOneField(InventoryItem, on_delete=models.CASCADE, related_name="low_stock_state")
    low = models.BooleanField(default=False)
    pending = models.BooleanField(default=False)
    changed_at = models.DateTimeField(null=True, blank=True)
    mailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "low-stock state"

    def __str__(self):
        return f"{self.item}: {'low' if self.low else 'ok'}"


class LowStockDigest(models.Model):
    """The store-local date of each store's last daily digest, so it goes once a day."""

    store = models.OneToOneField(Store, on_delete=models.CASCADE, related_name="low_stock_digest")
    last_sent_on = models.DateField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.store}: {self.last_sent_on or 'never'}"


class SyncIncident(models.Model):
    """One kind of sync trouble in a store, mailed once until it is resolved."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="sync_incidents")
    incident_key = models.CharField(max_length=200)
    integration_name = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)
    opened_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    occurrences = models.PositiveIntegerField(default=0)
    mailed_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["store", "incident_key"], name="unique_sync_incident")
        ]

    def __str__(self):
        return f"{self.store}: {self.incident_key}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


def possibly_watched_sql(item: str, store: str) -> str:
    """An SQL condition: the item (alias ``item``, of store alias ``store``) may be
    watched for low stock — it has a threshold, or a low state to clear.

    Most stock changes touch no watched item, so the stock writer evaluates this
    in its own statement and the low-stock check after the commit runs only for
    the items it names (:func:`inventory.mail.check_low_stock`).  Literals only,
    so it slots into any statement without shifting its parameters.
    """
    return (
        f"({item}.archived_at IS NULL AND ({store}.low_stock_threshold IS NOT NULL "
        f"OR EXISTS (SELECT 1 FROM {ItemMetadata._meta.db_table} wm "
        f"WHERE wm.item_id = {item}.id AND wm.key = 'low_stock') "
        f"OR EXISTS (SELECT 1 FROM {LowStockState._meta.db_table} wl WHERE wl.item_id = {item}.id AND wl.low)))"
    )

