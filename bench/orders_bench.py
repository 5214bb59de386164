"""Order throughput on PostgreSQL: ``record_order`` against bare ``UPDATE``s.

Eight worker processes (by default) take the same orders of three lines each,
over SKUs that overlap between workers, two ways, on the same database:

* through :func:`inventory.order_services.record_order` — the order row locked,
  lines reconciled, one ``adjust_stock`` call with its ledger entries, the
  commit and everything it sets off (the low-stock check, the push request);
* as bare ``UPDATE inventory_inventoryitem SET stock = stock - n WHERE id = …``
  statements, one transaction per order (rows in id order, so they cannot
  deadlock) — the least any correct decrement can cost.

It prints orders per second for both and the ratio (target >= 0.25), then
checks that the orders took exactly what they should and that every item's
ledger adds up to its stock before the bare run.

    python bench/orders_bench.py [--workers 8] [--orders 2000] [--skus 2000]

Uses ``DATABASE_URL`` when it names a PostgreSQL database; otherwise creates a
fresh database on postgresql://postgres@127.0.0.1:5432 and drops it afterwards.
"""

import argparse
import multiprocessing
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
INITIAL_STOCK = 1_000_000
LINES_PER_ORDER = 3
STORE_SLUG = "orders-bench"


def build_orders(count, skus, seed=7):
    """``[(external_id, [(sku index, quantity), ...]), ...]``: three distinct SKUs per order."""
    rng = random.Random(seed)
    return [
        (
            f"B-{number:06d}",
            [(index, rng.randint(1, 3)) for index in rng.sample(range(skus), LINES_PER_ORDER)],
        )
        for number in range(count)
    ]


def sku(index):
    return f"SKU-{index:05d}"


def setup_django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inventory_project.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def record_worker(orders, barrier, results, run, listeners):
    setup_django()
    from django.db import connection

    from inventory.models import Store
    from inventory.order_services import LineIn, record_order
    from inventory.signals import stock_changed

    if not listeners:
        # What the order path itself costs, without the work other parts hang on stock changes.
        stock_changed.send = lambda *args, **kwargs: []

    store = Store.objects.get(slug=STORE_SLUG)
    connection.ensure_connection()
    barrier.wait()
    start, cpu = time.perf_counter(), time.process_time()
    for external_id, lines in orders:
        record_order(
            store,
            origin=f"bench-{run}",
            external_id=external_id,
            status="paid",
            lines=[LineIn(sku(index), quantity) for index, quantity in lines],
        )
    results.put((time.perf_counter() - start, time.process_time() - cpu))
    connection.close()


def bare_worker(orders, ids, url, barrier, results):
    import psycopg

    with psycopg.connect(url) as conn:
        barrier.wait()
        start, cpu = time.perf_counter(), time.process_time()
        for _external_id, lines in orders:
            with conn.transaction():
                for item_id, quantity in sorted((ids[index], quantity) for index, quantity in lines):
                    conn.execute(
                        "UPDATE inventory_inventoryitem SET stock = stock - %s WHERE id = %s",
                        (quantity, item_id),
                    )
        results.put((time.perf_counter() - start, time.process_time() - cpu))


def run_workers(context, target, shares, extra):
    """Start one process per share, release them together.

    Returns the wall time until the slowest finished and the workers' own CPU seconds in all.
    """
    barrier = context.Barrier(len(shares) + 1)
    results = context.Queue()
    processes = [context.Process(target=target, args=(share, *extra(barrier, results))) for share in shares]
    for process in processes:
        process.start()
    barrier.wait()
    start = time.perf_counter()
    times = [results.get(timeout=600) for _ in processes]
    wall = time.perf_counter() - start
    cpu = sum(worker_cpu for _worker_wall, worker_cpu in times)
    for process in processes:
        process.join()
        if process.exitcode:
            raise SystemExit(f"a worker failed (exit {process.exitcode})")
    return wall, cpu


def fresh_database():
    import psycopg

    name = f"hub_orders_bench_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_database(name):
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--orders", type=int, default=2000, help="in all, shared among the workers")
    parser.add_argument("--skus", type=int, default=2000)
    parser.add_argument(
        "--without-listeners", action="store_true",
        help="also time record_order with the stock_changed listeners (low-stock check, push request) off",
    )
    args = parser.parse_args()

    created_db = None
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        created_db, url = fresh_database()
        os.environ["DATABASE_URL"] = url
    try:
        bench(args, url)
    finally:
        if created_db:
            drop_database(created_db)


def bench(args, url):
    setup_django()
    from django.core.management import call_command
    from django.db import connection, connections

    from inventory import services
    from inventory.models import InventoryItem, Store

    assert connection.vendor == "postgresql", "this bench measures PostgreSQL"
    call_command("migrate", verbosity=0)
    Store.objects.filter(slug=STORE_SLUG).exists() and sys.exit(
        f"A store {STORE_SLUG!r} already exists in this database; use a fresh one."
    )
    store = Store.objects.create(name="Orders bench", slug=STORE_SLUG, reduce_stock_on_order_import=True)
    code_ids = services.create_items(
        store, [{"code": sku(index), "stock": INITIAL_STOCK} for index in range(args.skus)], source="admin"
    )
    ids = [code_ids[sku(index)] for index in range(args.skus)]
    with connection.cursor() as cursor:
        # A live database has planner statistics (autovacuum keeps them); a table
        # filled a moment ago has none, and the planner would scan it whole.
        cursor.execute("ANALYZE")
    orders = build_orders(args.orders, args.skus)
    shares = [orders[worker :: args.workers] for worker in range(args.workers)]
    connections.close_all()
    context = multiprocessing.get_context("spawn")
    db = connection.settings_dict["NAME"]
    print(f"PostgreSQL database {db}: {args.orders} orders of {LINES_PER_ORDER} lines over "
          f"{args.skus} SKUs, {args.workers} worker processes, {os.cpu_count()} CPUs")

    service_wall, service_cpu = run_workers(
        context, record_worker, shares, lambda barrier, results: (barrier, results, "a", True)
    )
    # Every order took its lines off once; the ledger still adds up.
    taken = Counter()
    for _external_id, lines in orders:
        for index, quantity in lines:
            taken[index] += quantity
    stocks = dict(InventoryItem.objects.filter(store=store).values_list("id", "stock"))
    assert all(stocks[ids[index]] == INITIAL_STOCK - taken[index] for index in range(args.skus))
    call_command("check_ledger", store=STORE_SLUG, stdout=open(os.devnull, "w"))  # noqa: SIM115
    connections.close_all()

    quiet_wall = None
    if args.without_listeners:
        quiet_wall, quiet_cpu = run_workers(
            context, record_worker, shares, lambda barrier, results: (barrier, results, "b", False)
        )
        connections.close_all()
    bare_wall, bare_cpu = run_workers(
        context, bare_worker, shares, lambda barrier, results: (ids, url, barrier, results)
    )
    service_rate = args.orders / service_wall
    bare_rate = args.orders / bare_wall
    def line(label, wall, cpu):
        print(f"{label:<34} {wall:7.2f} s {args.orders / wall:8.0f} orders/s   "
              f"worker CPU {cpu * 1000 / args.orders:5.2f} ms/order")

    line("record_order", service_wall, service_cpu)
    if quiet_wall:
        line("record_order, listeners off", quiet_wall, quiet_cpu)
    line("bare UPDATEs", bare_wall, bare_cpu)
    print(f"ratio {service_rate / bare_rate:.2f} (target >= 0.25)"
          + (f"; listeners off {args.orders / quiet_wall / bare_rate:.2f}" if quiet_wall else ""))


if __name__ == "__main__":
    main()
