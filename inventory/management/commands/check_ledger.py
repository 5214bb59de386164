"""Verify that every item's ledger adds up to its stock."""

from django.core.management.base import BaseCommand
from django.db import connection

from inventory.models import InventoryItem, StockLedgerEntry

from ._readout import get_store


class Command(BaseCommand):
    help = "Check that each item's stock equals the sum of its ledger; exit 1 naming the items where not."

    def add_arguments(self, parser):
        parser.add_argument("--store", help="Only this store's slug.")

    def handle(self, *args, store=None, **options):
        items = InventoryItem._meta.db_table
        ledger = StockLedgerEntry._meta.db_table
        stores = "inventory_store"
        where, params = "", []
        if store:
            get_store(store)  # a mistyped slug must not pass as "all items match"
            where, params = "WHERE s.slug = %s", [store]
        # One grouped query, so the check stays quick on a large install.
        sql = (
            f"SELECT s.slug, i.code, i.stock, COALESCE(l.total, 0) FROM {items} i "
            f"JOIN {stores} s ON s.id = i.store_id "
            f"LEFT JOIN (SELECT item_id, SUM(delta) AS total FROM {ledger} GROUP BY item_id) l "
            f"ON l.item_id = i.id {where} ORDER BY s.slug, i.code"
        )
        checked, broken = 0, []
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for slug, code, stock, total in cursor:
                checked += 1
                if stock != total:
                    broken.append((slug, code, stock, total))
        if broken:
            for slug, code, stock, total in broken:
                self.stdout.write(f"{slug} {code}: stock {stock}, ledger {total} (off by {stock - total:+d})")
            self.stdout.write(f"{len(broken)} of {checked} items do not match their ledger.")
            raise SystemExit(1)
        self.stdout.write(f"Every item matches its ledger ({checked} checked).")
