"""Explain, step by step, what a cart is told for one SKU."""

import json

from django.core.management.base import BaseCommand, CommandError

from inventory import explain, selectors
from inventory.models import InventoryItem

from ._readout import cart_for, get_store, json_refusals


class Command(BaseCommand):
    help = "Show the steps from an item's stock to the quantity a cart is told."

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True)
        parser.add_argument("--sku", required=True)
        parser.add_argument("--integration", help="Explain for this integration's cart (its slug).")
        parser.add_argument("--json", action="store_true")

    @json_refusals
    def handle(self, *args, **opts):
        store = get_store(opts["store"])
        sku = opts["sku"].strip()
        item = InventoryItem.objects.active().filter(store=store, code=sku).first()
        if item is None:
            raise CommandError(f"SKU '{sku}' is not in {store.name}.")
        cart, label = cart_for(store, opts.get("integration"))
        row = selectors.told_rows(store, cart, [item])[0]
        if opts["json"]:
            row["notes"] = explain.notes_for(store, item.code)
            self.stdout.write(json.dumps(row, ensure_ascii=False))
            return
        told = "is not sent this item" if row["told"] is None else f"is told {row['told']}"
        self.stdout.write(f"{item.code} in {store.name}: stock {item.stock}; {label} {told}.")
        for number, step in enumerate(row["steps"], 1):
            self.stdout.write(f"  {number}. {step['note']}")
        if row["error"]:
            self.stdout.write(self.style.ERROR(f"  Problem: {row['error']}"))
        for note in explain.notes_for(store, item.code):
            self.stdout.write(f"  Note: {note}")
