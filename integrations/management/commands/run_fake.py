"""Run one of the local fake services as a process (for the demo and for trying adapters)."""

import importlib
import inspect

from django.core.management.base import BaseCommand, CommandError

from integrations.fakes.server import FakeServer, serve_forever

KINDS = ["amazon", "bigcommerce", "orderdesk", "shipbob", "shipstation", "shopify", "square", "woocommerce"]


def fake_class(kind: str) -> type[FakeServer]:
    module = importlib.import_module(f"integrations.fakes.{kind}")
    for _name, value in inspect.getmembers(module, inspect.isclass):
        if issubclass(value, FakeServer) and value is not FakeServer and value.__module__ == module.__name__:
            return value
    raise CommandError(f"No fake server in integrations.fakes.{kind}.")


def seed_from_store(fake, kind: str, slug: str) -> int:
    """Give the fake the store's SKUs: a cart lists them with 0 in stock, a
    warehouse holds a little more or less than the hub thinks, so the first
    pull visibly corrects some counts and the push that follows sends them."""
    from inventory.models import InventoryItem

    items = list(InventoryItem.objects.active().filter(store__slug=slug).order_by("code"))
    for number, item in enumerate(items):
        if kind == "shopify":
            fake.add_product(item.code, 0, title=item.name or item.code)
        elif kind == "shipbob":
            if "GIFT" in item.code:
                continue  # a bundle: the warehouse stocks its parts, not the set
            fake.add_item(item.code, max(0, item.stock + (number % 5) - 2), name=item.name or item.code)
        else:
            raise CommandError("--seed-store works with the shopify and shipbob fakes.")
    return len(items)


class Command(BaseCommand):
    help = "Serve a fake cart or fulfillment service on 127.0.0.1 that behaves like the real API."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--seed-demo", action="store_true", help="Load the fake's own demo catalogue.")
        parser.add_argument("--seed-store", metavar="SLUG", help="Load the SKUs of this store.")

    def handle(self, *args, kind, port, host, seed_demo, seed_store, **options):
        if not 1 <= port <= 65535:
            raise CommandError(f"--port {port}: a port is a number from 1 to 65535.")
        if seed_store:
            from inventory.models import Store

            if not Store.objects.filter(slug=seed_store).exists():
                raise CommandError(f"--seed-store {seed_store}: no store with that slug.")
        fake = fake_class(kind)(host=host, port=port)
        try:
            fake.start()
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.") from exc
        if seed_demo:
            fake.seed_demo()
        if seed_store:
            count = seed_from_store(fake, kind, seed_store)
            self.stdout.write(f"Seeded {count} SKUs of store '{seed_store}'.")
        self.stdout.write(f"Fake {kind} on http://{host}:{port}/ (Ctrl-C stops)")
        serve_forever(fake)
