"""Run one of the local fake services as a process (for the demo and for trying adapters)."""

import importlib

from django.core.management.base import BaseCommand, CommandError

FAKES = {
    "shopify": "shopify",
    "woocommerce": "woocommerce",
    "bigcommerce": "bigcommerce",
    "square": "square",
    "shipbob": "shipbob",
    "shipstation": "shipstation",
    "amazon": "amazon",
    "orderdesk": "orderdesk",
}


class Command(BaseCommand):
    help = "Serve a fake cart or fulfillment service on 127.0.0.1 that behaves like the real API."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=sorted(FAKES))
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--seed-demo", action="store_true", help="Load the demo catalogue.")

    def handle(self, *args, kind, port, host, seed_demo, **options):
        module = importlib.import_module(f"integrations.fakes.{FAKES[kind]}")
        if not hasattr(module, "serve"):
            raise CommandError(f"The {kind} fake cannot run as a process.")
        self.stdout.write(f"Fake {kind} on http://{host}:{port}/ (Ctrl-C stops)")
        try:
            module.serve(port, host=host, seed_demo=seed_demo)
        except KeyboardInterrupt:
            pass
