"""Push speed: 100,000 items, 10,000 changed, pushed to the fake Shopify.

The fake enforces Shopify's real limits (GraphQL cost bucket of 2,000 points
restoring 100/s, 10 points per ``inventorySetQuantities``, at most 250 rows a
call).  Prints, for the steady state (every SKU's cart id already cached):

* write calls against the minimum, ⌈changed / 250⌉;
* wall time of the push, split into the hub's own work (what to send) and
  the cart calls, against the bound the rate limits set and against the bare
  cost of the same calls sent straight to the fake;

and separately the first-time SKU mapping cost, measured on a sample and
projected to the whole catalogue at the same limits.

    python bench/push_bench.py [--items 100000] [--changed 10000] [--sample 2000]
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(workdir):
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir}/push.sqlite3")
    os.environ["DATA_DIR"] = workdir
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inventory_project.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def writes(fake):
    return [r for r in fake.requests("POST", r"graphql\.json$") if b"inventorySetQuantities" in r.body]


def lookups(fake):
    return [r for r in fake.requests("POST", r"graphql\.json$") if b"HubLookup" in r.body]


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=2_000, help="SKUs mapped for the first-time cost")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp()
    setup_django(workdir)

    import requests
    from django.db.models.signals import post_save

    from integrations import services, signals
    from integrations.adapters.shopify import ShopifyAdapter
    from integrations.fakes.shopify import ShopifyFake
    from integrations.models import Integration, PushState
    from inventory import services as stock_services
    from inventory.models import Store
    from inventory.signals import stock_changed

    # The bench drives the engine itself: no cluster, no schedules.
    stock_changed.disconnect(signals.push_after_stock_change)
    post_save.disconnect(signals.keep_schedule, sender=Integration)

    fake = ShopifyFake()
    fake.start()
    store = Store.objects.create(name="Bench", slug="bench")
    codes = [f"SKU-{n:07d}" for n in range(args.items)]
    t = time.perf_counter()
    ids = stock_services.create_items(
        store, [{"code": c, "stock": n % 40} for n, c in enumerate(codes)], source="import"
    )
    gids = {}
    for n, code in enumerate(codes):
        gids[code] = f"gid://shopify/InventoryItem/{fake.add_product(code, n % 40)['inventory_item_id']}"
    print(f"setup: {args.items:,} items in the hub and the fake in {time.perf_counter() - t:.1f} s")

    cart = Integration(
        store=store,
        kind="shopify",
        role="cart",
        name="Shop",
        slug="shop",
        base_url=fake.url,
        location_id=f"gid://shopify/Location/{fake.default_location}",
        inventory_sync=True,
        first_push_confirmed=True,
        reconcile_hours=0,
    )
    cart.credentials = {"access_token": fake.access_token}
    cart.save()

    # -- first-time mapping, on a sample ------------------------------------------
    sample = codes[: args.sample]
    adapter = ShopifyAdapter(
        base_url=fake.url, credentials={"access_token": fake.access_token}, location_id=cart.location_id
    )
    fake.clear_log()
    t = time.perf_counter()
    found = adapter.lookup(sample)
    mapping_s = time.perf_counter() - t
    calls = len(lookups(fake))
    assert all(isinstance(v, str) for v in found.values())
    per_sku = mapping_s / len(sample)
    cost_per_call = 2 + 4 * len(sample) / calls  # the fake's actual cost: 2 + 4 per variant returned
    projected_points = math.ceil(args.items / adapter.lookup_chunk) * cost_per_call
    projected_s = max(args.items * per_sku, (projected_points - 2000) / 100)
    print(
        f"first-time mapping: {len(sample):,} SKUs in {calls} lookup calls, {mapping_s:.2f} s "
        f"({len(sample) / mapping_s:,.0f} SKUs/s); for {args.items:,} SKUs ≈ {projected_points:,.0f} cost points "
        f"→ ≥ {projected_s / 60:.0f} min at 100 points/s"
    )

    # -- steady state -------------------------------------------------------------
    PushState.objects.bulk_create(
        [
            PushState(integration=cart, item_id=ids[c], remote_id=gids[c], last_confirmed=n % 40)
            for n, c in enumerate(codes)
        ],
        batch_size=5000,
    )
    changed = {ids[codes[n]]: (n % 40) + 1 for n in range(0, args.items, max(1, args.items // args.changed))}
    changed = dict(list(changed.items())[: args.changed])
    stock_services.set_stock(changed, source="api")
    fake.clear_log()
    t = time.perf_counter()
    services.planned_lines(cart)
    plan_s = time.perf_counter() - t
    fake.clear_log()
    t = time.perf_counter()
    run = services.push(cart)
    push_s = time.perf_counter() - t
    write_calls = len(writes(fake))
    minimum = math.ceil(len(changed) / 250)
    assert run.counts["confirmed"] == len(changed), run.counts
    rate_bound = max(0.0, (write_calls * 10 - 2000) / 100)

    # The same calls sent straight to the fake: what the cart side costs at best.
    payload = json.loads(writes(fake)[0].body)
    session = requests.Session()
    t = time.perf_counter()
    for _ in range(write_calls):
        payload["variables"]["key"] = str(uuid.uuid4())
        session.post(
            f"{fake.url}/admin/api/2026-04/graphql.json",
            json=payload,
            headers={"X-Shopify-Access-Token": fake.access_token},
        )
    bare_s = time.perf_counter() - t
    bound = max(rate_bound, bare_s)
    print(f"steady state: {len(changed):,} of {args.items:,} items changed")
    print(f"  write calls          {write_calls}   minimum ⌈{len(changed):,}/250⌉ = {minimum}")
    print(f"  push wall time       {push_s:.2f} s   (deciding what to send: {plan_s:.2f} s)")
    print(
        f"  rate-limit bound     {rate_bound:.2f} s   ({write_calls * 10} points against a 2,000-point bucket)"
    )
    print(f"  bare calls to fake   {bare_s:.2f} s")
    print(
        f"  push / bound         {push_s / bound:.2f}x  (target <= 1.1); cart part alone "
        f"{(push_s - plan_s) / bound:.2f}x"
    )
    again = time.perf_counter()
    run = services.push(cart)
    print(
        f"  second push, nothing changed: {run.counts['planned']} lines, {time.perf_counter() - again:.2f} s"
    )
    fake.stop()


if __name__ == "__main__":
    main()
