"""Listeners that connect stock changes to pushes and settings to schedules."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from inventory.models import InventoryItem, Store
from inventory.signals import metadata_changed, stock_changed

from . import schedules, services
from .models import Integration, PushState


@receiver(stock_changed)
def push_after_stock_change(sender, store_ids, item_ids, **kwargs):
    services.request_push(store_ids)


@receiver(metadata_changed)
def push_after_metadata_change(sender, store_ids, item_ids, **kwargs):
    services.request_push(store_ids)


@receiver(post_save, sender=InventoryItem)
def forget_push_states_of_a_renamed_item(sender, instance, update_fields=None, created=False, **kwargs):
    """A new SKU is another product at each cart: its push states (the cart's id
    for the old SKU, what the cart confirmed or refused for it) no longer apply.

    Dropped, the next push looks the new SKU up and sends it, even when the old
    one was refused and the count did not change. Renames save with
    ``update_fields`` naming ``code`` (the admin and the API both do).
    """
    if created or not update_fields or "code" not in update_fields:
        return
    if PushState.objects.filter(item=instance).delete()[0]:
        services.request_push([instance.store_id])


@receiver(post_save, sender=Integration)
def keep_schedule(sender, instance, **kwargs):
    schedules.ensure_schedule(instance)
    if not instance.inventory_sync:
        forget_order_cursors(Integration.objects.filter(pk=instance.pk))


@receiver(post_save, sender=Store)
def restart_order_pulls(sender, instance, **kwargs):
    if not instance.reduce_stock_on_order_import:
        forget_order_cursors(Integration.objects.filter(store=instance))


def forget_order_cursors(integrations) -> None:
    """Orders stop being pulled: when they start again it is from then, never a replay of the gap."""
    integrations.exclude(orders_cursor=None).update(orders_cursor=None)


@receiver(post_delete, sender=Integration)
def drop_schedule(sender, instance, **kwargs):
    schedules.remove_schedule(instance)
