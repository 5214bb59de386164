"""Import speed and memory: a 100,000-row stock file into a 100,000-item store.

Prints, for SQLite and (when reachable) PostgreSQL, on the same data in the
same run:

* the raw-SQL bound: the file's values already in memory, one temporary
  table, one ``UPDATE … FROM`` and one ledger ``INSERT … SELECT``;
* the CSV import through the product's own service (read, match, ledger);
* the XLSX import, and beside it a bare python-calamine read of the workbook;
* peak traced memory of the CSV import at 25k, 50k and 100k rows.

The file has real-world mess: a UTF-8 BOM, quoted fields, and a few bad rows
(blank SKU, fractional and text counts).  Half the counts differ from stock.

    python bench/import_bench.py [--rows 100000] [--backends sqlite,postgresql]
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BAD_ROWS = 5


def build_rows(n):
    """(sku, quantity text) rows: half changed against the initial stock ``i % 50``."""
    rows = []
    for i in range(n):
        quantity = i % 50 if i % 2 else (i % 50) + 7
        rows.append((f"SKU-{i:07d}", str(quantity)))
    return rows


def item_name(index):
    """Names as the store already has them: a daily re-import changes counts, not names."""
    return f'Item "{index}", boxed' if index % 10 == 0 else f"Item {index}"


def write_csv(path, rows):
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(["SKU", "Quantity", "Name"])
        for index, (sku, quantity) in enumerate(rows):
            writer.writerow([sku, quantity, item_name(index)])
        writer.writerow(["", "4", "no sku"])
        writer.writerow(["SKU-BAD-1", "2.5", "fraction"])
        writer.writerow(["SKU-BAD-2", "lots", "text"])
        writer.writerow(["SKU-BAD-3", "1,5", "ambiguous"])
        writer.writerow(["SKU-BAD-4", "#REF!", "error"])


def write_xlsx(path, rows):
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Stock")
    sheet.append(["SKU", "Quantity", "Name"])
    for index, (sku, quantity) in enumerate(rows):
        sheet.append([sku, int(quantity), item_name(index)])
    sheet.append([None, 4, "no sku"])
    sheet.append(["SKU-BAD-1", 2.5, "fraction"])
    workbook.save(path)


def child(args):
    """Run inside a process whose DATABASE_URL names a fresh database."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inventory_project.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from imports import services as import_services
    from imports.models import ImportJob
    from inventory import services
    from inventory.models import InventoryItem, StockLedgerEntry, Store

    call_command("migrate", verbosity=0)
    n = args.rows
    rows = build_rows(n)
    work = Path(args.workdir)
    csv_path, xlsx_path = work / "stock.csv", work / "stock.xlsx"
    figures = {"backend": connection.vendor, "rows": n}

    def make_store(slug, count):
        store = Store.objects.create(name=slug, slug=slug)
        services.create_items(
            store,
            ({"code": f"SKU-{i:07d}", "stock": i % 50, "name": item_name(i)} for i in range(count)),
            source="import",
        )
        return store

    # Raw-SQL bound on its own store with the same items.
    bound_store = make_store("bound", n)
    values = {sku: int(q) for sku, q in rows}
    ids = dict(InventoryItem.objects.filter(store=bound_store).values_list("code", "id"))
    staged = [(ids[sku], qty) for sku, qty in values.items()]
    item_table, ledger_table = InventoryItem._meta.db_table, StockLedgerEntry._meta.db_table
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("CREATE TEMP TABLE bound (item_id bigint, qty bigint) ON COMMIT DROP")
            with cursor.copy("COPY bound (item_id, qty) FROM STDIN") as copy:
                for row in staged:
                    copy.write_row(row)
        else:
            cursor.execute("CREATE TEMP TABLE bound (item_id INTEGER PRIMARY KEY, qty INTEGER)")
            cursor.executemany("INSERT INTO bound VALUES (%s, %s)", staged)
        cursor.execute(
            f"INSERT INTO {ledger_table} (item_id, delta, stock_after, source, reference, note, created_at) "
            f"SELECT i.id, b.qty - i.stock, b.qty, 'import', 'bound', '', %s FROM {item_table} i "
            f"JOIN bound b ON b.item_id = i.id WHERE i.stock <> b.qty",
            [now],
        )
        cursor.execute(
            f"UPDATE {item_table} SET stock = b.qty FROM bound b "
            f"WHERE b.item_id = {item_table}.id AND {item_table}.stock <> b.qty"
        )
        if connection.vendor != "postgresql":
            cursor.execute("DROP TABLE bound")
    figures["bound_s"] = time.perf_counter() - start

    def timed_import(store, path):
        start = time.perf_counter()
        job = import_services.create_job(
            store, content=path.read_bytes(), filename=path.name, origin=ImportJob.CLI
        )
        job = import_services.run(job)
        elapsed = time.perf_counter() - start
        assert job.status == ImportJob.APPLIED, job.message
        return elapsed, job

    csv_store = make_store("csv", n)
    figures["csv_s"], job = timed_import(csv_store, csv_path)
    figures["csv_changed"] = job.counts["changed"]
    figures["csv_errors"] = job.counts["errors"]

    from python_calamine import CalamineWorkbook

    start = time.perf_counter()
    workbook = CalamineWorkbook.from_path(str(xlsx_path))
    count = sum(1 for _ in workbook.get_sheet_by_index(0).iter_rows())
    figures["calamine_read_s"] = time.perf_counter() - start
    assert count >= n
    xlsx_store = make_store("xlsx", n)
    figures["xlsx_s"], job = timed_import(xlsx_store, xlsx_path)
    figures["xlsx_changed"] = job.counts["changed"]

    # Peak traced memory as rows grow (traced runs are slower; not timed).
    memory = {}
    for size in (n // 4, n // 2, n):
        sub = work / f"mem-{size}.csv"
        write_csv(sub, rows[:size])
        store = make_store(f"mem-{size}", size)
        tracemalloc.start()
        timed_import(store, sub)
        memory[size] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    figures["peak_bytes"] = memory
    print(json.dumps(figures))


def fresh_database(backend, workdir):
    if backend == "sqlite":
        return f"sqlite:///{workdir}/bench.sqlite3"
    import psycopg

    name = "hub_bench"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def report(figures):
    n = figures["rows"]
    bound, csv_s, xlsx_s, cal = (figures[k] for k in ("bound_s", "csv_s", "xlsx_s", "calamine_read_s"))
    print(
        f"\n== {figures['backend']}: {n:,} rows, {figures['csv_changed']:,} changed, "
        f"{figures['csv_errors']} bad rows reported"
    )
    print(f"raw-SQL bound          {bound:7.2f} s  {n / bound:>10,.0f} rows/s")
    print(
        f"CSV import             {csv_s:7.2f} s  {n / csv_s:>10,.0f} rows/s   "
        f"{csv_s / bound:4.2f}x bound (target <= 2.0)"
    )
    print(f"bare calamine read     {cal:7.2f} s")
    print(
        f"XLSX import            {xlsx_s:7.2f} s  {n / xlsx_s:>10,.0f} rows/s   "
        f"{xlsx_s / (cal + csv_s):4.2f}x (calamine + CSV) (target <= 1.5)"
    )
    for size, peak in figures["peak_bytes"].items():
        print(f"peak memory {int(size):>7,} rows  {peak / 2**20:7.1f} MiB  ({peak / int(size):,.0f} B/row)")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory() as workdir:
        rows = build_rows(args.rows)
        write_csv(Path(workdir) / "stock.csv", rows)
        write_xlsx(Path(workdir) / "stock.xlsx", rows)
        for backend in args.backends.split(","):
            try:
                url = fresh_database(backend, workdir)
            except Exception as exc:  # an unreachable server is reported, not fatal
                print(f"\n== {backend}: skipped ({exc})")
                continue
            env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": workdir, "LOG_LEVEL": "WARNING"}
            out = subprocess.run(
                [sys.executable, __file__, "--child", "--rows", str(args.rows), "--workdir", workdir],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode:
                print(out.stdout, out.stderr, file=sys.stderr)
                raise SystemExit(f"{backend} run failed")
            report(json.loads(out.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
