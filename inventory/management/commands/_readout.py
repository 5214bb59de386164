"""What stock_report and explain_quantity share: finding the store and the cart, and
refusing in JSON when JSON was asked for."""

import functools
import json

from django.core.management.base import CommandError

from inventory import rules
from inventory.models import Store


def json_refusals(handle):
    """Wrap a read-out's ``handle``: with ``--json``, a refusal (unknown store, SKU or
    integration) prints one JSON object ``{"error": "..."}`` and exits with the status a
    CommandError has, as ``import_stock --json`` refuses an unknown store.

    A script that asked for JSON parses standard output; a plain "CommandError: …" on
    standard error and nothing on standard output breaks it.
    """

    @functools.wraps(handle)
    def wrapper(command, *args, **opts):
        try:
            return handle(command, *args, **opts)
        except CommandError as error:
            if not opts.get("json"):
                raise
            command.stdout.write(json.dumps({"error": str(error)}, ensure_ascii=False))
            raise SystemExit(error.returncode) from None

    return wrapper


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
