"""What stock_report and explain_quantity share: finding the store and the cart."""

from django.core.management.base import CommandError

from inventory import rules
from inventory.models import Store


def get_store(slug: str) -> Store:
    try:
        return Store.objects.get(slug=slug)
    except Store.DoesNotExist:
        raise CommandError(f"No store with slug '{slug}'.") from None


def cart_for(store: Store, integration_slug: str | None) -> tuple[rules.Cart, str]:
    """The cart to explain for: a named integration, or any cart that takes replaced SKUs."""
    if not integration_slug:
        return rules.Cart(slug=None, supports_replaced_skus=True), "a cart that supports replaced SKUs"
    from django.apps import apps

    if not apps.is_installed("integrations"):
        raise CommandError("Integrations are not installed.")
    from integrations.selectors import cart_for_integration

    return cart_for_integration(store, integration_slug)
