"""Listeners that connect stock changes to pushes and settings to schedules."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from inventory.signals import metadata_changed, stock_changed

from . import schedules, services
from .models import Integration


@receiver(stock_changed)
def push_after_stock_change(sender, store_ids, item_ids, **kwargs):
    services.request_push(store_ids)


@receiver(metadata_changed)
def push_after_metadata_change(sender, store_ids, item_ids, **kwargs):
    services.request_push(store_ids)


@receiver(post_save, sender=Integration)
def keep_schedule(sender, instance, **kwargs):
    schedules.ensure_schedule(instance)


@receiver(post_delete, sender=Integration)
def drop_schedule(sender, instance, **kwargs):
    schedules.remove_schedule(instance)
