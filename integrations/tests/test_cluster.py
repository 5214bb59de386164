"""Grown past one machine: PostgreSQL, the Redis broker and two qcluster processes.

Shows two things with real processes:

1. each scheduled run happens once, though two clusters share the schedules;
2. a push lost with a killed worker (Redis keeps no receipts) is made good by
   the next run, once the lost run's lease has expired.

The clusters run against their own PostgreSQL database, made and dropped
here, so this test runs the same in the SQLite and the PostgreSQL pass.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from conftest import PROJECT_ROOT, need
from integrations.fakes.shipbob import ShipBobFake
from integrations.fakes.shopify import ShopifyFake

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SCHEDULED = 6
CART_ITEMS = 300

pytestmark = pytest.mark.slow


def reachable_postgres() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def reachable_redis() -> bool:
    try:
        import redis

        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception:
        return False


class Deployment:
    """A database, an environment and the processes of a small multi-cluster install."""

    def __init__(self, tmp: Path):
        import psycopg

        self.name = f"hub_cluster_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.env = {
            **os.environ,
            "DATABASE_URL": PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.name}",
            "REDIS_URL": REDIS_URL,
            # The cluster name is the Redis queue's key: a fresh one keeps runs apart.
            "Q_CLUSTER_NAME": f"hubtest-{uuid.uuid4().hex[:8]}",
            "Q_WORKERS": "2",
            "INTEGRATION_LEASE_SECONDS": "4",
            "DATA_DIR": str(tmp),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        self.tmp = tmp
        self.clusters: list[subprocess.Popen] = []
        self.manage("migrate", "-v0")

    def manage(self, *args: str, check=True) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True,
            timeout=120,
        )
        if check and result.returncode:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def run(self, code: str) -> str:
        """Run Python with Django set up against the cluster database; returns what it prints."""
        script = self.tmp / f"script-{uuid.uuid4().hex[:6]}.py"
        script.write_text(textwrap.dedent(code))
        return self.manage("shell", "-v0", "-c", f"exec(open({str(script)!r}).read())")

    def start_cluster(self, label: str) -> subprocess.Popen:
        log = open(self.tmp / f"cluster-{label}.log", "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=PROJECT_ROOT, env=self.env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.clusters.append(process)
        return process

    def kill(self, process: subprocess.Popen, sig=signal.SIGKILL) -> None:
        """Signal the cluster's whole process group; a slow graceful stop is cut short."""
        for attempt in (sig, signal.SIGKILL):
            try:
                os.killpg(process.pid, attempt)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=10)
                return
            except subprocess.TimeoutExpired:
                continue

    def logs(self) -> str:
        return "\n".join(path.read_text()[-3000:] for path in sorted(self.tmp.glob("cluster-*.log")))

    def close(self) -> None:
        import psycopg

        for process in self.clusters:
            if process.poll() is None:
                self.kill(process, signal.SIGTERM)
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def wait_for(predicate, timeout: float, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return predicate()


@pytest.fixture
def deployment(tmp_path):
    need(reachable_postgres(), f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    need(reachable_redis(), f"Redis is not reachable at {REDIS_URL}")
    deployment = Deployment(tmp_path)
    try:
        yield deployment
    finally:
        deployment.close()


def test_two_clusters_run_each_schedule_once_and_recover_a_killed_push(deployment):
    with ShipBobFake() as warehouse, ShopifyFake() as cart:
        for n in range(20):
            warehouse.add_item(f"S-{n:03d}", 100 + n)
        skus = [f"C-{n:03d}" for n in range(CART_ITEMS)]
        for sku in skus:
            cart.add_product(sku, 0)
        deployment.run(f"""
            from inventory.models import Store
            from inventory import services
            from integrations.models import Integration
            store = Store.objects.create(name="Shop", slug="shop")
            services.create_items(store, [{{"code": f"S-{{n:03d}}", "stock": 0}} for n in range(20)], source="admin")
            # The cart belongs to a second store, so the pulls above never trigger its push.
            shop_store = Store.objects.create(name="Storefront", slug="front")
            services.create_items(shop_store, [{{"code": sku, "stock": 7}} for sku in {skus!r}], source="admin")
            for n in range({SCHEDULED}):
                integration = Integration(store=store, kind="shipbob", role="fulfillment", name=f"W{{n}}",
                                          slug=f"w{{n}}", base_url={warehouse.url!r}, inventory_sync=True,
                                          schedule_minutes=1)
                integration.credentials = {{"token": {warehouse.token!r}}}
                integration.save()
            shop = Integration(store=shop_store, kind="shopify", role="cart", name="Cart", slug="cart",
                               base_url={cart.url!r}, location_id="gid://shopify/Location/{cart.default_location}",
                               inventory_sync=True, first_push_confirmed=True, reconcile_hours=0,
                               schedule_minutes=0)
            shop.credentials = {{"access_token": {cart.access_token!r}}}
            shop.save()
        """)

        # 1. Two clusters, one set of schedules: every due schedule runs exactly once.
        first, second = deployment.start_cluster("a"), deployment.start_cluster("b")
        count_pulls = """
            from integrations.models import SyncRun
            print(SyncRun.objects.filter(kind="pull", status="ok").count())
        """
        done = wait_for(lambda: int(deployment.run(count_pulls).strip()) >= SCHEDULED, timeout=75, every=2)
        assert done, deployment.logs()
        time.sleep(5)  # a second cluster that double-ran a schedule would have done it by now
        per_integration = deployment.run("""
            from django.db.models import Count
            from integrations.models import SyncRun
            print(sorted(SyncRun.objects.filter(kind="pull").values_list("integration__slug")
                         .annotate(n=Count("id")).values_list("n", flat=True)))
        """).strip()
        assert per_integration == str([1] * SCHEDULED), deployment.logs()
        assert first.poll() is None and second.poll() is None

        # 2. Kill every worker in the middle of a push: the task is gone with them.
        deployment.kill(second)
        cart.delay(r"graphql\.json$", 1.0, times=1000)
        deployment.run("""
            from django_q.tasks import async_task
            from integrations.models import Integration
            async_task("integrations.tasks.sync_now", Integration.objects.get(slug="cart").pk)
        """)
        assert wait_for(lambda: cart.applied_writes >= 1, timeout=60, every=0.1), deployment.logs()
        deployment.kill(first)
        landed = sum(1 for sku in skus if cart.level(sku) == 7)
        assert 0 < landed < CART_ITEMS
        cart.clear_faults()

        # 3. The next run, on a fresh cluster after the lease expired, makes it good.
        deployment.start_cluster("c")
        time.sleep(5)
        deployment.run("""
            from django_q.tasks import async_task
            from integrations.models import Integration
            async_task("integrations.tasks.scheduled_sync", Integration.objects.get(slug="cart").pk)
        """)
        assert wait_for(lambda: all(cart.level(sku) == 7 for sku in skus), timeout=60), deployment.logs()
        result = deployment.run("""
            from integrations.models import PushState, SyncRun
            print(PushState.objects.filter(integration__slug="cart", last_confirmed=7).count(),
                  SyncRun.objects.filter(integration__slug="cart", kind="push", status="ok").count())
        """).split()
        assert result[0] == str(CART_ITEMS)
        assert result[1] == "1"  # the lost run never finished; the next one did
