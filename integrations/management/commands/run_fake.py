"""Run one of the local fake services as a process (for the demo and for trying adapters)."""

import argparse
import importlib
import inspect

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter

from integrations.fakes.server import FakeServer, serve_forever

KINDS = ["amazon", "bigcommerce", "orderdesk", "shipbob", "shipstation", "shopify", "square", "woocommerce"]


def fake_class(kind: str) -> type[FakeServer]:
    module = importlib.import_module(f"integrations.fakes.{kind}")
    for _name, value in inspect.getmembers(module, inspect.isclass):
        if issubclass(value, FakeServer) and value is not FakeServer and value.__module__ == module.__name__:
            return value
    raise CommandError(f"No fake server in integrations.fakes.{kind}.")


# What else the integration needs to reach the fake, beyond its address and credentials.
SETUP_NOTES = {
    "amazon": 'options {{"lwa_url": "{url}/auth/o2/token"}} (the token exchange goes to the fake too)',
    "orderdesk": "address {url}/api/v2",
}


def accepted_credentials(kind: str, fake: FakeServer | None = None) -> dict[str, str]:
    """The credentials a fake accepts, under the keys its integration's Credentials box takes.

    Read from the fake itself (its defaults when none is given), so what is
    shown can never drift from what it checks.
    """
    from integrations.adapters import get_adapter_class

    fake = fake if fake is not None else fake_class(kind)()
    return {key: str(getattr(fake, key)) for key in get_adapter_class(kind).credential_fields}


def credentials_text(kind: str, fake: FakeServer | None = None) -> str:
    return ", ".join(f"{key}={value}" for key, value in accepted_credentials(kind, fake).items())


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


class HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keeps the credentials list one fake a line: wrapped, a value would break at its hyphens."""


class Command(BaseCommand):
    help = (
        "Serve a fake cart or fulfillment service on 127.0.0.1 that behaves like the real API.\n"
        "Point an integration of that kind at the address it prints, with the credentials below."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.epilog = "credentials each fake accepts (type them in the integration's Credentials box):\n" + "".join(
            f"  {kind:<12} {credentials_text(kind)}\n" for kind in KINDS
        )
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
        url = f"http://{host}:{port}"
        self.stdout.write(f"Fake {kind} on {url}/ (Ctrl-C stops)")
        self.stdout.write("Credentials it accepts (paste them into the integration's Credentials box):")
        for key, value in accepted_credentials(kind, fake).items():
            self.stdout.write(f"    {key}={value}")
        if kind in SETUP_NOTES:
            self.stdout.write("Also set: " + SETUP_NOTES[kind].format(url=url))
        serve_forever(fake)
