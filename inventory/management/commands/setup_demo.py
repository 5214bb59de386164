"""First-run setup for a local install: an admin account and a demo store.

Safe to run on every start: it creates only what is missing, and prints the
local admin's credentials each time (they are kept in the data folder, which
only the local user can read) while they still log in.
"""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from inventory import services
from inventory.models import InventoryItem, Store

DEMO_FILE = Path(__file__).resolve().parents[2] / "demo" / "demo_stock.csv"
# Local fake services the demo store is connected to; `run_local` starts them.
DEMO_FAKES = {"shipbob": 8701, "shopify": 8702}
# The warehouse's pulls set every count it holds (its counts win).  The two SKUs the
# README's examples change are skip_pull, so an edit to them stays and shows why.
DEMO_METADATA = {
    "STO-01SA": {"adjustment_percent": "50", "skip_pull": "1"},
    "LIN-02SA": {"min": "3", "max": "15", "skip_pull": "1"},
    "BEE-03SA": {"max": "25", "max@demo-shopify": "10"},
    "WAL-04SA": {"skip_push": "1"},
}


class Command(BaseCommand):
    help = "Create the local admin account and a demo store loaded from a sample spreadsheet."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        password = self.ensure_admin(username)
        store = self.ensure_demo_store()
        self.ensure_demo_integrations(store)
        if password is None:
            self.stdout.write(
                self.style.SUCCESS(f"Admin account: {username} (its password was changed since it was made here; ")
                + f"`python manage.py changepassword {username}` sets a new one)"
            )
        else:
            self.stdout.write(self.style.SUCCESS(f"Admin account: {username} / {password}"))
        self.stdout.write(f"Demo store '{store.slug}': {store.items.count()} items.")

    def ensure_admin(self, username):
        credentials = Path(settings.DATA_DIR) / "admin-password"
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        if user is not None and credentials.exists():
            password = credentials.read_text().strip()
            # Staff may have changed it since: never print a password that no longer works.
            return password if user.check_password(password) else None
        password = secrets.token_urlsafe(12)
        if user is None:
            user = user_model.objects.create_superuser(username, f"{username}@localhost", password)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        credentials.write_text(password + "\n")
        credentials.chmod(0o600)
        return password

    def ensure_demo_integrations(self, store):
        """A fake warehouse to pull from and a fake Shopify to push to (if installed)."""
        from django.apps import apps

        if not apps.is_installed("integrations"):
            return
        from integrations.models import Integration

        demos = [
            (
                "shipbob",
                Integration.FULFILLMENT,
                "Demo warehouse (fake ShipBob)",
                "demo-shipbob",
                {"token": "shipbob-demo-pat"},
            ),
            (
                "shopify",
                Integration.CART,
                "Demo Shopify (fake)",
                "demo-shopify",
                {"access_token": "shpat_fake_token"},
            ),
        ]
        for kind, role, name, slug, credentials in demos:
            if Integration.objects.filter(store=store, slug=slug).exists():
                continue
            integration = Integration(
                store=store,
                kind=kind,
                role=role,
                name=name,
                slug=slug,
                base_url=f"http://127.0.0.1:{DEMO_FAKES[kind]}",
                inventory_sync=True,
                schedule_minutes=2,
                first_push_confirmed=True,
            )
            if kind == "shopify":
                integration.location_id = "gid://shopify/Location/1001"
                integration.location_name = "Shop location"
            integration.credentials = credentials
            integration.save()

    @transaction.atomic
    def ensure_demo_store(self):
        from imports import services as import_services
        from imports.models import ImportJob

        store, created = Store.objects.get_or_create(slug="demo", defaults={"name": "Demo store"})
        if store.items.exists():
            return store
        job = import_services.create_job(
            store,
            content=DEMO_FILE.read_bytes(),
            filename=DEMO_FILE.name,
            origin=ImportJob.CLI,
            create_missing=True,
            sender="setup_demo",
        )
        import_services.run(job)
        items = {item.code: item for item in InventoryItem.objects.filter(store=store)}
        for code, metadata in DEMO_METADATA.items():
            if code in items:
                services.set_metadata(items[code], metadata)
        services.create_items(
            store, [{"code": "GIFT-01", "name": "Gift set: mug and towel", "stock": 0}], source="admin"
        )
        bundle = InventoryItem.objects.get(store=store, code="GIFT-01")
        services.set_metadata(bundle, {"code_replace": "STO-01SA,LIN-02SA,LIN-02SA"})
        return store
