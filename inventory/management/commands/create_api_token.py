"""Create an API key for one or more stores and print it, once.

Only the key's hash is stored, so this output is the only place the key ever
appears; ``--key-only`` prints just the key, for piping into a secret store.
"""

from django.core.management.base import BaseCommand, CommandError

from inventory.api.tokens import create_token
from inventory.models import Store


class Command(BaseCommand):
    help = "Create an API key for the given stores (for /api/v1/ and /api/v2/) and print it once."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who or what uses the key, e.g. 'warehouse script'.")
        parser.add_argument(
            "--store",
            action="append",
            required=True,
            dest="stores",
            metavar="SLUG",
            help="A store the key may use; repeat for several.",
        )
        parser.add_argument("--read-only", action="store_true", help="The key may read but not change.")
        parser.add_argument("--key-only", action="store_true", help="Print only the key.")

    def handle(self, *args, name, stores, read_only, key_only, **options):
        slugs = list(dict.fromkeys(stores))
        found = {store.slug: store for store in Store.objects.filter(slug__in=slugs)}
        missing = [slug for slug in slugs if slug not in found]
        if missing:
            raise CommandError(f"No store with slug {', '.join(missing)}.")
        if not name.strip():
            raise CommandError("Give the key a name.")
        token, key = create_token(name.strip()[:100], [found[slug] for slug in slugs], read_only=read_only)
        if key_only:
            self.stdout.write(key)
            return
        listed = ", ".join(f"{slug} (store id {found[slug].pk})" for slug in slugs)
        self.stdout.write(
            f"Created API key '{token.name}' ({token.prefix}…) for {listed}"
            f"{', read only' if read_only else ''}."
        )
        self.stdout.write("The key is shown only now; only its hash is kept:")
        self.stdout.write(key)
