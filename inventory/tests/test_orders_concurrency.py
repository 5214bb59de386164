"""Orders under real concurrency: several processes (and threads) on one database.

The main proof: 8 processes import 1,000 orders over overlapping SKUs, two
stores sharing one stock, some orders sent twice at the same moment (through
the API view and the service, or both through the service), some as two
versions racing, some cancelled while their first version is still arriving.
Final stock must equal the expected value exactly, each order must have been
created once and taken off once, and every item's ledger must add up to its
stock.  Then bad-inputs #19 and #22 with threads released by a barrier.

Runs on SQLite (a file database) and on PostgreSQL; on PostgreSQL the rows are
really locked concurrently, which is the case that matters (bad-inputs #20).
"""

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.db.models import Sum

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 8
ORDERS = 1000
INITIAL_STOCK = 10_000
SOURCE_SKUS = [f"S{n:02d}" for n in range(24)]
OUTLET_SKUS = [f"O{n}" for n in range(4)]
KIT = ("KIT", {"S00": 1, "S01": 2})  # code_replace=S00,S01,S01 in the source store
SEED = 20240419

CHILD = """
import json, sys
import django
django.setup()
from inventory.tests.test_orders_concurrency import run_sends
with open(sys.argv[1]) as handle:
    plan = json.load(handle)
print("ready", flush=True)
sys.stdin.readline()
print(json.dumps(run_sends(plan)), flush=True)
"""


# --- the workload ----------------------------------------------------------------------


def _lines(rng, store):
    pool = SOURCE_SKUS + [KIT[0]] + (OUTLET_SKUS if store == "outlet" else [])
    lines = [[rng.choice(pool), rng.randint(1, 3)] for _ in range(rng.randint(1, 4))]
    return lines


def build_workload(seed=SEED):
    """Per-process send lists and each order's final lines (None: cancelled, takes nothing).

    Orders sent by two processes sit at the same position of both processes'
    lists, so with every process released at once they arrive together.
    """
    rng = random.Random(seed)
    shared = defaultdict(list)  # pair -> sends both processes of the pair make
    solo = defaultdict(list)  # process -> its own sends
    later = defaultdict(list)  # process -> re-sends at the end of its run
    final = {}
    for number in range(ORDERS):
        store = "outlet" if number % 5 == 4 else "main"
        order_id = f"ORD-{number:04d}"
        lines = _lines(rng, store)
        base = {"store": store, "origin": "shop", "external_id": order_id, "status": "paid"}
        kind = number % 20
        pair = (number // 20) % (PROCESSES // 2)
        process = number % PROCESSES
        if kind in (0, 1):  # the same order at the same moment, by the API and by a cart pull
            shared[pair].append([{**base, "lines": lines, "route": "api"},
                                 {**base, "lines": lines, "route": "service"}])
            final[(store, order_id)] = lines
        elif kind == 2:  # the same order twice at once through the service
            send = {**base, "lines": lines, "route": "service"}
            shared[pair].append([send, send])
            final[(store, order_id)] = lines
        elif kind == 3:  # version 1 and version 2 racing: version 2 wins whichever lands first
            newer = _lines(rng, store)
            shared[pair].append([{**base, "lines": lines, "version": 1, "route": "service"},
                                 {**base, "lines": newer, "version": 2, "route": "api"}])
            final[(store, order_id)] = newer
        elif kind == 4:  # cancelled (version 2) while version 1 is still arriving: takes nothing
            shared[pair].append([{**base, "lines": lines, "version": 1, "route": "api"},
                                 {**base, "lines": lines, "version": 2, "status": "cancelled",
                                  "route": "service"}])
            final[(store, order_id)] = None
        elif kind == 5:  # re-sent later by another route, lines reordered
            solo[process].append({**base, "lines": lines, "route": "service"})
            later[(process + 3) % PROCESSES].append(
                {**base, "lines": list(reversed(lines)), "status": "shipped", "route": "api"}
            )
            final[(store, order_id)] = lines
        else:
            route = "api" if number % 3 == 0 else "service"
            solo[process].append({**base, "lines": lines, "route": route})
            final[(store, order_id)] = lines
    plans = []
    for process in range(PROCESSES):
        pair, side = divmod(process, 2)
        ours = [sends[side] for sends in shared[pair]]
        mine = solo[process]
        sends = []
        for index in range(max(len(ours), len(mine))):
            if index < len(ours):
                sends.append(ours[index])
            if index < len(mine):
                sends.append(mine[index])
        plans.append(sends + later[process])
    return plans, final


def expected_effects(final):
    """Units each order takes off, per (store slug, SKU) of the item that holds the stock."""
    per_order = {}
    for (store, order_id), lines in final.items():
        effect = Counter()
        for code, quantity in lines or ():
            if code == KIT[0]:
                for component, units in KIT[1].items():
                    effect[("main", component)] += quantity * units
            elif code in OUTLET_SKUS:
                effect[("outlet", code)] += quantity
            else:
                effect[("main", code)] += quantity
        per_order[(store, order_id)] = effect
    return per_order


# --- the child processes ------------------------------------------------------------------


def run_sends(plan):
    """Send one process's orders; returns how many of them created their order."""
    from rest_framework.test import APIRequestFactory

    from inventory.api.orders import OrderCreate
    from inventory.models import Store
    from inventory.order_services import LineIn, record_order

    stores = {store.slug: store for store in Store.objects.all()}
    view = OrderCreate.as_view()
    factory = APIRequestFactory()
    created = api_calls = 0
    for send in plan["sends"]:
        if send["route"] == "api":
            body = {key: send[key] for key in ("origin", "external_id", "status", "lines") if key in send}
            body["lines"] = [{"code": code, "quantity": quantity} for code, quantity in send["lines"]]
            if "version" in send:
                body["version"] = send["version"]
            request = factory.post(f"/api/v1/stores/{send['store']}/orders/", body, format="json",
                                   HTTP_AUTHORIZATION=f"Token {plan['key']}")
            response = view(request, slug=send["store"])
            if response.status_code not in (200, 201):
                raise AssertionError(f"{response.status_code}: {response.data}")
            created += response.status_code == 201
            api_calls += 1
        else:
            result = record_order(
                stores[send["store"]],
                origin=send["origin"],
                external_id=send["external_id"],
                status=send["status"],
                version=send.get("version"),
                lines=[LineIn(code, quantity) for code, quantity in send["lines"]],
            )
            created += result.created
    return {"sends": len(plan["sends"]), "created": created, "api": api_calls}


def database_url() -> str:
    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    auth = config["USER"] + (f":{config['PASSWORD']}" if config.get("PASSWORD") else "")
    return f"postgres://{auth}@{config['HOST'] or '127.0.0.1'}:{config['PORT'] or 5432}/{config['NAME']}"


def run_processes(plans, key, tmp_path, timeout=120):
    env = {**os.environ, "DATABASE_URL": database_url(),
           "DJANGO_SETTINGS_MODULE": "inventory_project.settings", "LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    processes = []
    try:
        for index, sends in enumerate(plans):
            plan_file = tmp_path / f"plan-{index}.json"
            plan_file.write_text(json.dumps({"key": key, "sends": sends}))
            processes.append(subprocess.Popen(
                [sys.executable, "-c", CHILD, str(plan_file)], cwd=PROJECT_ROOT, env=env, text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            ))
        for process in processes:
            line = process.stdout.readline().strip()
            assert line == "ready", process.stderr.read()
        for process in processes:  # released together
            process.stdin.write("go\n")
            process.stdin.flush()
        results = []
        deadline = time.monotonic() + timeout
        for process in processes:
            out, err = process.communicate(timeout=max(1, deadline - time.monotonic()))
            assert process.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()


@pytest.fixture
def two_stores(db):
    from inventory import services
    from inventory.models import Store

    main = Store.objects.create(name="Main", slug="main", reduce_stock_on_order_import=True,
                                restock_on_cancel=True)
    outlet = Store.objects.create(name="Outlet", slug="outlet", inventory_source=main,
                                  reduce_stock_on_order_import=True, restock_on_cancel=True)
    services.create_items(main, [{"code": code, "stock": INITIAL_STOCK} for code in SOURCE_SKUS] +
                          [{"code": KIT[0], "stock": 0}], source="admin")
    services.create_items(outlet, [{"code": code, "stock": INITIAL_STOCK} for code in OUTLET_SKUS],
                          source="admin")
    from inventory.models import InventoryItem

    kit = InventoryItem.objects.get(store=main, code=KIT[0])
    services.set_metadata(kit, {"code_replace": ",".join(
        code for code, units in KIT[1].items() for _ in range(units))})
    return main, outlet


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_eight_processes_import_a_thousand_orders_exactly_once(two_stores, tmp_path):
    from inventory.api.tokens import create_token
    from inventory.models import InventoryItem, StockLedgerEntry
    from inventory.orders import Order, OrderLine

    if connection.vendor == "sqlite" and connection.settings_dict["NAME"] in ("", ":memory:"):
        pytest.skip("an in-memory database is private to one process")
    main, outlet = two_stores
    _token, key = create_token("orders", [main, outlet])
    plans, final = build_workload()
    assert len(final) == ORDERS
    started = time.monotonic()
    results = run_processes(plans, key, tmp_path)
    elapsed = time.monotonic() - started

    # Each order was created by exactly one of its sends, whichever route won.
    assert sum(result["created"] for result in results) == ORDERS
    assert sum(result["sends"] for result in results) > ORDERS
    assert Order.objects.count() == ORDERS

    # Final stock is exactly what every order's final version takes off, once.
    per_order = expected_effects(final)
    total = Counter()
    for effect in per_order.values():
        total.update(effect)
    stocks = {(slug, code): stock for slug, code, stock in
              InventoryItem.objects.values_list("store__slug", "code", "stock")}
    expected = {key: INITIAL_STOCK - total[key] for key in stocks if key[1] != KIT[0]}
    expected[("main", KIT[0])] = 0
    assert stocks == expected

    # No order counted twice: its ledger entries add up to exactly its own effect.
    orders = {(order.store.slug, order.external_id): order for order in Order.objects.select_related("store")}
    ledger = defaultdict(Counter)
    rows = (
        StockLedgerEntry.objects.filter(reference__startswith="order:")
        .values("reference", "item__store__slug", "item__code")
        .annotate(total=Sum("delta"))
    )
    for row in rows:
        ledger[row["reference"]][(row["item__store__slug"], row["item__code"])] = -row["total"]
    for identity, effect in per_order.items():
        order = orders[identity]
        assert +ledger[order.reference] == +effect, identity
        assert order.status == ("cancelled" if final[identity] is None else order.status)
    assert sum(OrderLine.objects.filter(order__status="cancelled").values_list("taken", flat=True)) == sum(
        OrderLine.objects.filter(order__status="cancelled").values_list("restocked", flat=True)
    )

    call_command("check_ledger")  # exits 1 if any item's ledger does not add up to its stock
    assert elapsed < 90, f"took {elapsed:.1f}s"


# --- bad-inputs #19 and #22 with threads released at once ------------------------------------


def _at_once(functions):
    start = threading.Barrier(len(functions))
    results, errors = [None] * len(functions), []

    def run(index, function):
        try:
            start.wait()
            results[index] = function()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


@pytest.mark.django_db(transaction=True)
def test_two_orders_for_the_last_unit_both_stand():
    """bad-inputs #19: stock 1, T1 and T2 for one each, committed in parallel: −1, oversold."""
    from inventory import services
    from inventory.models import InventoryItem, Store
    from inventory.order_services import LineIn, record_order
    from inventory.orders import Order

    store = Store.objects.create(name="Last", slug="last", reduce_stock_on_order_import=True)
    for round_number in range(5):
        code = f"LAST-{round_number}"
        services.create_items(store, [{"code": code, "stock": 1}], source="admin")
        results = _at_once([
            lambda name=name, code=code: record_order(store, origin="shop", external_id=f"{name}-{code}",
                                                      lines=[LineIn(code, 1)])
            for name in ("T1", "T2")
        ])
        assert all(result.created for result in results)
        assert InventoryItem.objects.get(store=store, code=code).stock == -1
        assert sorted(bool(result.oversold) for result in results) == [False, True]
        orders = Order.objects.filter(external_id__endswith=code)
        assert orders.count() == 2 and orders.filter(oversold=True).count() == 1
    call_command("check_ledger")


@pytest.mark.django_db(transaction=True)
def test_one_order_arriving_twice_within_milliseconds_is_taken_once():
    """bad-inputs #22: O-1 (A×2) by two triggers at once (the API and a cart pull): 10 → 8, once."""
    from rest_framework.test import APIRequestFactory

    from inventory import services
    from inventory.api.orders import OrderCreate
    from inventory.api.tokens import create_token
    from inventory.models import InventoryItem, StockLedgerEntry, Store
    from inventory.order_services import LineIn, record_order
    from inventory.orders import Order

    store = Store.objects.create(name="Twice", slug="twice", reduce_stock_on_order_import=True)
    _token, key = create_token("orders", [store])
    view = OrderCreate.as_view()

    def by_api(external_id, code):
        request = APIRequestFactory().post(
            "/api/v1/stores/twice/orders/",
            {"origin": "shopify", "external_id": external_id, "lines": [{"code": code, "quantity": 2}]},
            format="json", HTTP_AUTHORIZATION=f"Token {key}",
        )
        return view(request, slug="twice").status_code == 201

    def by_pull(external_id, code):
        return record_order(store, origin="shopify", external_id=external_id, lines=[LineIn(code, 2)]).created

    for round_number in range(10):
        code, external_id = f"A-{round_number}", f"O-{round_number}"
        services.create_items(store, [{"code": code, "stock": 10}], source="admin")
        triggers = [by_api, by_pull] if round_number % 2 else [by_pull, by_pull]
        created = _at_once([
            lambda trigger=trigger, external_id=external_id, code=code: trigger(external_id, code)
            for trigger in triggers
        ])
        assert sorted(created) == [False, True]
        assert InventoryItem.objects.get(store=store, code=code).stock == 8
        order = Order.objects.get(store=store, external_id=external_id)
        deltas = StockLedgerEntry.objects.filter(reference=order.reference).values_list("delta", flat=True)
        assert list(deltas) == [-2]
    call_command("check_ledger")


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_waits_for_the_first_send_to_commit(monkeypatch):
    """The first send is slow between its insert and its commit; the copy must wait, then see it."""
    from inventory import order_services, services
    from inventory.models import InventoryItem, Store
    from inventory.order_services import LineIn, record_order

    store = Store.objects.create(name="Slow", slug="slow", reduce_stock_on_order_import=True)
    services.create_items(store, [{"code": "A", "stock": 10}], source="admin")
    insert_order = order_services._insert_order
    first = threading.Event()

    def slow_insert(order, lines):
        inserted = insert_order(order, lines)
        if not first.is_set():
            first.set()
            time.sleep(0.5)  # the order row exists, uncommitted, while the copy arrives
        return inserted

    monkeypatch.setattr(order_services, "_insert_order", slow_insert)

    def send():
        return record_order(store, origin="shop", external_id="O-1", lines=[LineIn("A", 2)])

    def late_send():
        first.wait(5)
        return send()

    results = _at_once([send, late_send])
    assert sorted(result.created for result in results) == [False, True]
    assert [result.moves for result in results if not result.created] == [[]]
    assert InventoryItem.objects.get(store=store, code="A").stock == 8
