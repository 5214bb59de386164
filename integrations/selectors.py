"""Read-side helpers for integrations."""

from django.core.management.base import CommandError

from .models import Integration
from .services import cart_for


def cart_for_integration(store, slug: str):
    """The rules' Cart for a store's integration, and a label for read-outs."""
    integration = Integration.objects.filter(store=store, slug=slug).first()
    if integration is None:
        raise CommandError(f"{store.name} has no integration '{slug}'.")
    if integration.role != Integration.CART:
        raise CommandError(f"'{slug}' is a fulfillment service; carts are told quantities.")
    return cart_for(integration), f"{integration.name}"


def cart_infos(store):
    """Every cart integration of a store, for item explanations."""
    from inventory.explain import CartInfo

    return [
        CartInfo(
            label=f"{integration.name} ({integration.slug})",
            cart=cart_for(integration),
            sync_on=integration.inventory_sync,
        )
        for integration in Integration.objects.filter(store=store, role=Integration.CART).order_by("name")
    ]
