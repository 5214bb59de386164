"""An import's rows in the database, so analysing a file holds one chunk of it in memory.

The reader hands its records over a chunk at a time; they go to a temporary
table (``COPY`` on PostgreSQL), and the analysis reads them back joined with
the store's items, so neither the file's rows nor the store's items are ever
all in Python at once.  The analysis' result goes the same way into
:class:`~imports.models.ImportLine`.

Both must run inside a transaction: the temporary table lives until it ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from inventory.models import InventoryItem, ItemMetadata

from .models import ImportLine

DETAIL_COLUMNS = ("name", "price", "cost", "weight")
STAGE_TABLE = "import_records"
REJECTED_TABLE = "import_rejected_skus"
NAME_LENGTH = InventoryItem._meta.get_field("name").max_length
ITEM_TABLE = InventoryItem._meta.db_table
METADATA_TABLE = ItemMetadata._meta.db_table
LINE_TABLE = ImportLine._meta.db_table
LINE_COLUMNS = ("job_id", "analysis", "row", "sku", "item_id", "old", "new", "changes_stock", "writes")
# Rows fetched from a streaming cursor at a time.
FETCH_ROWS = 5000


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


class RecordStage:
    """The file's records as a temporary table: ``add`` chunks, then read them matched.

    A staged row is ``(row, sku, quantity, location, name, price, cost, weight,
    metadata JSON)``; a matched row adds the item's ``id, stock, name, price,
    cost, weight`` and its ``skip_pull`` value (all None when no active item has
    the SKU).
    """

    COLUMNS = ("file_row", "sku", "qty", "location", *DETAIL_COLUMNS, "metadata")

    def __init__(self, cursor):
        self.cursor = cursor
        self.count = 0

    def __enter__(self) -> RecordStage:
        # A run that failed outside a transaction may have left its table in this session.
        self.cursor.execute(f"DROP TABLE IF EXISTS {STAGE_TABLE}")
        if _postgresql():
            self.cursor.execute(
                f"CREATE TEMP TABLE {STAGE_TABLE} (file_row integer, sku text, qty bigint, location text, "
                "name text, price text, cost text, weight text, metadata text, "
                "repeated boolean NOT NULL DEFAULT false)"
            )
        else:
            self.cursor.execute(
                f"CREATE TEMP TABLE {STAGE_TABLE} (file_row INTEGER, sku TEXT, qty INTEGER, location TEXT, "
                "name TEXT, price TEXT, cost TEXT, weight TEXT, metadata TEXT, "
                "repeated INTEGER NOT NULL DEFAULT 0)"
            )
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        # After a failure the transaction may be unusable; the next run drops the table first.
        if exc_type is None:
            self.cursor.execute(f"DROP TABLE {STAGE_TABLE}")

    def add(self, records: list[tuple]) -> None:
        """Stage reader records ``(row, sku, quantity, location, details, metadata)``.

        Only the columns this chunk fills are sent: most files have a SKU, a count
        and perhaps a name, and every value sent costs time on a large file.
        """
        columns, values = _columns(records)
        rows = list(zip(*values, strict=True))
        self.count += len(rows)
        names = ", ".join(columns)
        if _postgresql():
            with self.cursor.copy(f"COPY {STAGE_TABLE} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            self.cursor.executemany(f"INSERT INTO {STAGE_TABLE} ({names}) VALUES ({marks})", rows)

    def mark_repeated(self, rejected: Iterable[str]) -> int:
        """Flag the SKUs that need their rows looked at together: those staged more than
        once (duplicates, or one SKU in several locations) and those with a rejected row."""
        true = "true" if _postgresql() else "1"
        if _postgresql():
            self.cursor.execute(f"ANALYZE {STAGE_TABLE}")
        self.cursor.execute(
            f"UPDATE {STAGE_TABLE} SET repeated = {true} WHERE sku IN "
            f"(SELECT sku FROM {STAGE_TABLE} GROUP BY sku HAVING count(*) > 1)"
        )
        flagged = self.cursor.rowcount
        rejected = [(sku,) for sku in rejected]
        if rejected:
            self.cursor.execute(f"DROP TABLE IF EXISTS {REJECTED_TABLE}")
            self.cursor.execute(f"CREATE TEMP TABLE {REJECTED_TABLE} (sku text PRIMARY KEY)")
            self.cursor.executemany(f"INSERT INTO {REJECTED_TABLE} (sku) VALUES (%s)", rejected)
            self.cursor.execute(
                f"UPDATE {STAGE_TABLE} SET repeated = {true} WHERE sku IN (SELECT sku FROM {REJECTED_TABLE})"
            )
            flagged += self.cursor.rowcount
            self.cursor.execute(f"DROP TABLE {REJECTED_TABLE}")
        return flagged

    def _join(self, *, with_skip_pull: bool, outer: bool) -> str:
        join = (
            f"FROM {STAGE_TABLE} s {'LEFT ' if outer else ''}JOIN {ITEM_TABLE} i "
            f"ON i.store_id = %s AND i.code = s.sku AND i.archived_at IS NULL "
        )
        if with_skip_pull:
            join += f"LEFT JOIN {METADATA_TABLE} m ON m.item_id = i.id AND m.key = 'skip_pull' "
        return join

    @staticmethod
    def _plain(*, with_skip_pull: bool) -> str:
        """1 for a staged row whose whole decision is its count: a SKU staged once, a count,
        an active item, no skip_pull key, no metadata and no details other than the
        item's own name; else 0 (never NULL, so the two sides split every row)."""
        checks = [
            "s.qty IS NOT NULL",
            "i.id IS NOT NULL",
            "s.metadata IS NULL",
            "s.price IS NULL",
            "s.cost IS NULL",
            "s.weight IS NULL",
            f"(s.name IS NULL OR substr(s.name, 1, {NAME_LENGTH}) = i.name)",
        ]
        if with_skip_pull:
            checks.append("m.item_id IS NULL")
        return f"(CASE WHEN {' AND '.join(checks)} THEN 1 ELSE 0 END)"

    def write_plain_lines(self, store_id: int, job_id: int, analysis: int, *, adding: bool, with_skip_pull: bool):
        """Lines for the plain rows whose count changes, written by the database alone;
        returns how many."""
        plain = self._plain(with_skip_pull=with_skip_pull)
        join = self._join(with_skip_pull=with_skip_pull, outer=False)
        new, changed = ("i.stock + s.qty", "s.qty <> 0") if adding else ("s.qty", "s.qty <> i.stock")
        columns = ", ".join(f'"{name}"' for name in LINE_COLUMNS)
        self.cursor.execute(
            f"INSERT INTO {LINE_TABLE} ({columns}) "
            f"SELECT %s, %s, s.file_row, s.sku, i.id, i.stock, {new}, TRUE, NULL "
            f"{join} WHERE {_single()} AND {plain} = 1 AND {changed}",
            [job_id, analysis, store_id],
        )
        return self.cursor.rowcount

    def counted_once(self) -> int:
        """Rows of SKUs staged once that have a count: plain or not, one decision each."""
        self.cursor.execute(f"SELECT count(*) FROM {STAGE_TABLE} s WHERE {_single()} AND s.qty IS NOT NULL")
        return self.cursor.fetchone()[0]

    def _matched(self, store_id: int, *, repeated: bool, with_skip_pull: bool) -> Iterator[tuple]:
        skip_pull = "m.value" if with_skip_pull else "NULL"
        if repeated:
            where = f"NOT ({_single()}) ORDER BY s.sku, s.file_row"
        else:
            where = f"{_single()} AND s.qty IS NOT NULL AND {self._plain(with_skip_pull=with_skip_pull)} = 0"
        sql = (
            f"SELECT s.file_row, s.sku, s.qty, s.location, s.name, s.price, s.cost, s.weight, s.metadata, "
            f"i.id, i.stock, i.name, i.price, i.cost, i.weight, {skip_pull} "
            f"{self._join(with_skip_pull=with_skip_pull, outer=True)}WHERE {where}"
        )
        yield from stream(sql, [store_id])

    def single(self, store_id: int, *, with_skip_pull: bool) -> Iterator[tuple]:
        """Matched rows of the SKUs staged once that are not plain, in no particular order
        (no-count rows left out: they were reported as they were read)."""
        return self._matched(store_id, repeated=False, with_skip_pull=with_skip_pull)

    def repeated(self, store_id: int, *, with_skip_pull: bool) -> Iterator[tuple]:
        """Matched rows of the flagged SKUs, by SKU and then row."""
        return self._matched(store_id, repeated=True, with_skip_pull=with_skip_pull)


def _single() -> str:
    """The condition on a staged row ``s`` that its SKU was staged once (and has no rejected row)."""
    return "NOT s.repeated" if _postgresql() else "s.repeated = 0"


def _columns(records: list[tuple]) -> tuple[list[str], list[list]]:
    """The stage columns a chunk of records fills, and their values column by column."""
    columns = ["file_row", "sku", "qty"]
    values: list[list] = [
        [record[0] for record in records],
        [record[1] for record in records],
        [record[2] for record in records],
    ]
    if any(record[3] is not None for record in records):
        columns.append("location")
        values.append([record[3] for record in records])
    names = set()
    for record in records:
        if record[4]:
            names.update(record[4])
    for name in DETAIL_COLUMNS:
        if name in names:
            columns.append(name)
            values.append([record[4].get(name) if record[4] else None for record in records])
    if any(record[5] for record in records):
        columns.append("metadata")
        values.append([json.dumps(record[5]) if record[5] else None for record in records])
    return columns, values


@contextmanager
def passing_transaction():
    """A transaction whose commit need not wait for the disk: what it writes is a scratch
    table or a progress counter, worth nothing after a crash.  (On PostgreSQL every commit
    that wrote anything otherwise waits for a flush of the log.)"""
    with transaction.atomic():
        if _postgresql():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def stream(sql: str, params: list) -> Iterator[tuple]:
    """Rows of a query a chunk at a time (a server-side cursor on PostgreSQL)."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH_ROWS):
            yield from rows


def write_lines(cursor, lines: list[tuple]) -> None:
    """Insert :class:`ImportLine` rows given as tuples in ``LINE_COLUMNS`` order (``writes`` as JSON text)."""
    if not lines:
        return
    columns = ", ".join(f'"{name}"' for name in LINE_COLUMNS)
    if _postgresql():
        with cursor.copy(f"COPY {LINE_TABLE} ({columns}) FROM STDIN") as copy:
            for line in lines:
                copy.write_row(line)
    else:
        marks = ", ".join(["%s"] * len(LINE_COLUMNS))
        cursor.executemany(f"INSERT INTO {LINE_TABLE} ({columns}) VALUES ({marks})", lines)


def changed_since(job_id: int, before: int, now: int) -> list[tuple[str, int | None, int | None]]:
    """``(sku, old then, old now)`` for SKUs whose current count differs between two analyses."""
    differs = "IS DISTINCT FROM" if _postgresql() else "IS NOT"
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT n.sku, p.old, n.old FROM {LINE_TABLE} n JOIN {LINE_TABLE} p '

            f"ON p.job_id = n.job_id AND p.analysis = %s AND p.sku = n.sku AND p.changes_stock "
            f"WHERE n.job_id = %s AND n.analysis = %s AND n.changes_stock AND n.old {differs} p.old "
            f'ORDER BY n."row"',
            [before, job_id, now],
        )
        return cursor.fetchall()


def stock_targets(job_id: int, analysis: int, *, adding: bool) -> tuple[str, list]:
    """SQL and parameters for ``(item_id, value)`` of an analysis' count changes to
    existing items: the new count, or when ``adding`` the amount to add.  (One line
    per SKU, so each item appears once.)"""
    value = "new - old" if adding else "new"
    return (
        f"SELECT item_id, {value} FROM {LINE_TABLE} "
        f"WHERE job_id = %s AND analysis = %s AND item_id IS NOT NULL AND changes_stock",
        [job_id, analysis],
    )


def line_writes(
    job_id: int, analysis: int, *, created: bool, size: int, with_writes: bool = False
) -> Iterator[list[tuple]]:
    """Chunks of ``(item_id, old, new, changes_stock, writes JSON, sku, row)`` of an analysis'
    lines for existing items (``with_writes``: only those with details or metadata to
    write), or for the items to create.

    Each chunk is a query of its own, read to the end before the caller writes: SQLite
    cannot drop a table (the stock writer's staging) while a read is still open.
    """
    which = "IS NULL" if created else "IS NOT NULL"
    if with_writes:
        which += " AND writes IS NOT NULL"
    after = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                f'SELECT item_id, old, new, changes_stock, writes, sku, "row" FROM {LINE_TABLE} '
                f'WHERE job_id = %s AND analysis = %s AND item_id {which} AND "row" > %s ORDER BY "row" LIMIT %s',
                [job_id, analysis, after, size],
            )
            rows = cursor.fetchall()
            if not rows:
                return
            after = rows[-1][6]
            yield rows
