"""Every item of a store with its stock and what a cart is told."""

import json

from django.core.management.base import BaseCommand

from inventory import selectors

from ._readout import cart_for, get_store, json_refusals


class Command(BaseCommand):
    help = "List a store's items: stock, the quantity a cart is told, and why."

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True)
        parser.add_argument("--integration", help="Explain for this integration's cart (its slug).")
        parser.add_argument("--json", action="store_true")

    @json_refusals
    def handle(self, *args, **opts):
        store = get_store(opts["store"])
        cart, label = cart_for(store, opts.get("integration"))
        rows = selectors.told_rows(store, cart)
        if opts["json"]:
            self.stdout.write(
                json.dumps(
                    [{key: row[key] for key in ("code", "stock", "told", "steps")} for row in rows],
                    ensure_ascii=False,
                )
            )
            return
        self.stdout.write(f"{store.name}: {len(rows)} items; told = what {label} is told.")
        width = max([len(row["code"]) for row in rows] + [3])
        self.stdout.write(f"{'SKU':<{width}}  {'stock':>8}  {'told':>8}")
        for row in rows:
            told = "not sent" if row["told"] is None else str(row["told"])
            self.stdout.write(f"{row['code']:<{width}}  {row['stock']:>8}  {told:>8}")
