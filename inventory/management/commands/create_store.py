"""Create a store."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from inventory.models import Store


class Command(BaseCommand):
    help = "Create a store with the given slug and name."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--time-zone", default="UTC")

    def handle(self, *args, slug, name, time_zone, **options):
        store = Store(slug=slug, name=name, time_zone=time_zone)
        try:
            store.full_clean()
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(dict.fromkeys(v))}" for k, v in exc.message_dict.items())
            ) from None
        store.save()
        self.stdout.write(f"Created store '{store.slug}' ({store.name}).")
