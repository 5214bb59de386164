"""A file is analysed and applied a chunk at a time: the result never depends on the chunk size.

The same messy file goes into two stores with the same items, once with the normal chunk
sizes and once with chunks of a few rows (so every SKU rule meets a chunk boundary); the
stock, the ledger, the counts, the row errors and warnings and the preview must agree.
"""

import pytest
from django.core.files.base import ContentFile

from imports import analysis, services, staging
from imports.models import ImportJob, ImportLine
from imports.reading import FileRefused, ReadOptions, read_stock_file
from imports.reading import text as reading_text
from inventory import services as stock_services
from inventory.models import InventoryItem, StockLedgerEntry, Store

MESSY = "\n".join(
    [
        "sku,quantity,name,price,metadata:low_stock",
        "A-01,5,Apple,,",  # changes
        "A-02,2,Pear,,",  # unchanged
        "A-03,9,Renamed plum,,",  # count and name change
        "A-04,--,,,",  # no count
        "A-05,1.5,,,",  # fractional: row error
        "A-06,3,,,",  # duplicate (rows 7 and 8)
        "A-06,4,,,",
        "Z-99,6,,,",  # unknown (created with create_missing)
        "17,1,,,",  # near miss of 0017
        "A-07,8,,2.50,",  # count and price
        "A-08,7,,,3",  # metadata
        "A-09,4,,,",  # skip_pull: unattended imports leave it alone
        "A-10,-2,,,",  # negative: applied, with a warning
        "A-11,lots,,,",  # text count, and the SKU again below: duplicate
        "A-11,1,,,",
        ",4,,,",  # blank SKU
        "A-12,12,,,",
    ]
) + "\n"

STOCK = {f"A-{n:02d}": 2 for n in range(1, 13)} | {"0017": 0}


def make_store(slug, make_items):
    store = Store.objects.create(name="Shop", slug=slug)
    items = make_items(store, STOCK)
    stock_services.set_metadata(items["A-09"], {"skip_pull": "true"})
    InventoryItem.objects.filter(pk=items["A-02"].pk).update(name="Pear")
    return store


def small_chunks(monkeypatch, size):
    monkeypatch.setattr(analysis, "READ_CHUNK", size)
    monkeypatch.setattr(analysis, "LINE_CHUNK", size)
    monkeypatch.setattr(staging, "FETCH_ROWS", size)
    monkeypatch.setattr(services, "WRITE_CHUNK", size)


def outcome(job, store):
    stock = dict(InventoryItem.objects.active().filter(store=store).values_list("code", "stock"))
    names = dict(InventoryItem.objects.active().filter(store=store).values_list("code", "name"))
    ledger = sorted(
        StockLedgerEntry.objects.filter(reference=job.reference).values_list("item__code", "delta", "stock_after")
    )

    def issues(entries):
        return sorted((e["row"] or 0, e["column"] or "", str(e["value"]), e["message"]) for e in entries)

    return {
        "status": job.status,
        "stock": stock,
        "names": names,
        "ledger": ledger,
        "counts": job.counts,
        "errors": issues(job.errors),
        "warnings": issues(job.warnings),
        "preview": list(job.preview),
    }


@pytest.mark.parametrize("origin", [ImportJob.UPLOAD, ImportJob.EMAIL])
@pytest.mark.parametrize("mode", [ImportJob.SET, ImportJob.ADD])
@pytest.mark.parametrize("create_missing", [False, True])
def test_small_chunks_give_the_same_import(db, make_items, monkeypatch, origin, mode, create_missing):
    options = {"origin": origin, "mode": mode, "create_missing": create_missing}
    normal_store = make_store("normal", make_items)
    normal = services.run(services.create_job(normal_store, content=MESSY.encode(), filename="s.csv", **options))
    small_chunks(monkeypatch, 2)
    chunked_store = make_store("chunked", make_items)
    chunked = services.run(services.create_job(chunked_store, content=MESSY.encode(), filename="s.csv", **options))

    expected = outcome(normal, normal_store)
    assert outcome(chunked, chunked_store) == expected
    assert expected["status"] == ImportJob.APPLIED
    assert expected["stock"]["A-06"] == 2 and expected["stock"]["A-11"] == 2  # duplicates left alone
    assert (expected["stock"]["A-09"] == 2) == (origin == ImportJob.EMAIL)  # skip_pull
    assert ("Z-99" in expected["stock"]) == create_missing
    assert expected["names"]["A-03"] == "Renamed plum"


def test_small_chunks_with_locations_add_up_across_chunks(db, store, make_items, monkeypatch):
    small_chunks(monkeypatch, 2)
    make_items(store, {"A": 0, "B": 0, "C": 0})
    text = "sku,location,qty\nA,north,1\nB,north,5\nA,south,2\nC,north,1\nA,east,3\nC,north,2\nB,south,x\n"
    job = services.run(services.create_job(store, content=text.encode(), filename="s.csv"))
    stock = dict(InventoryItem.objects.filter(store=store).values_list("code", "stock"))
    assert stock == {"A": 6, "B": 0, "C": 0}  # B has a bad row, C is twice in one location
    messages = " ".join(e["message"] for e in job.errors)
    assert "'C' appears more than once in the same location" in messages
    assert "SKU 'B' was left unchanged" in messages
    assert job.preview == [["A", 0, 6]]


def test_preview_then_apply_reports_counts_changed_in_between(db, store, make_items, monkeypatch):
    small_chunks(monkeypatch, 2)
    items = make_items(store, {"A": 1, "B": 1, "C": 1})
    job = services.preview(services.create_job(store, content=b"sku,qty\nA,5\nB,5\nC,5\n", filename="s.csv"))
    assert job.preview == [["A", 1, 5], ["B", 1, 5], ["C", 1, 5]]
    stale = ImportJob.objects.get(pk=job.pk)
    stock_services.set_stock({items["B"].pk: 3}, source=StockLedgerEntry.ADMIN)
    job = services.apply(job)
    assert [w["value"] for w in job.warnings] == ["B"]
    assert "was 1, now 3" in job.warnings[0]["message"]
    assert job.preview == [["A", 1, 5], ["B", 3, 5], ["C", 1, 5]]
    # Only the applied analysis' lines are kept, and a stale copy of the job cannot
    # hand out an analysis number twice.
    assert set(ImportLine.objects.filter(job=job).values_list("analysis", flat=True)) == {job.analysis}
    stale.save()
    assert ImportJob.objects.get(pk=job.pk).last_analysis == job.analysis


def test_undo_after_a_chunked_apply(db, store, make_items, monkeypatch):
    small_chunks(monkeypatch, 2)
    make_items(store, {f"S{n}": n for n in range(7)})
    text = "sku,qty\n" + "".join(f"S{n},{n + 10}\n" for n in range(7)) + "NEW,4\n"
    job = services.run(services.create_job(store, content=text.encode(), filename="s.csv", create_missing=True))
    assert job.counts["changed"] == 8 and job.counts["created"] == 1
    assert len(job.read_info["created_ids"]) == 1
    services.undo(job)
    stock = dict(InventoryItem.objects.active().filter(store=store).values_list("code", "stock"))
    assert stock == {f"S{n}": n for n in range(7)}


def test_a_refused_file_leaves_no_lines(db, store, make_items):
    make_items(store, {"A": 1})
    job = services.preview(services.create_job(store, content=b"sku,qty\nA,5\n", filename="s.csv"))
    assert len(job.preview) == 1
    job.file.save("s.csv", ContentFile(b"\x00\x01\x02\x00" * 10), save=True)
    job.status = ImportJob.PENDING
    job.save()
    job = services.preview(job)
    assert job.status == ImportJob.REFUSED
    assert list(job.preview) == [] and not ImportLine.objects.filter(job=job).exists()


def test_preview_lines_read_as_a_sequence(db, store):
    job = ImportJob.objects.create(store=store, original_name="x.csv", preview=[["A", 1, 2], ["B", None, 3]])
    job = ImportJob.objects.get(pk=job.pk)
    lines = job.preview
    assert len(lines) == 2 and bool(lines)
    assert lines[0] == ["A", 1, 2] and lines[-1] == ["B", None, 3]
    assert lines[:1] == [["A", 1, 2]] and lines[1:] == [["B", None, 3]]
    assert list(lines) == [["A", 1, 2], ["B", None, 3]]
    with pytest.raises(IndexError):
        lines[2]
    assert not ImportJob(store=store).preview


def test_reader_hands_records_over_in_chunks():
    text = "sku,qty,name\n" + "".join(f"S{n},{n},Item {n}\n" for n in range(11)) + "T,--,\nU,2.5,\n"
    whole = read_stock_file(text.encode(), "s.csv")
    chunks = []
    streamed = read_stock_file(text.encode(), "s.csv", ReadOptions(), sink=chunks.append, chunk_size=4)
    assert [len(chunk) for chunk in chunks] == [4, 4, 4]
    assert streamed.records == []
    assert [(r.row, r.sku, r.quantity) for r in whole.records] == [
        (row, sku, quantity) for chunk in chunks for row, sku, quantity, *_rest in chunk
    ]
    assert (streamed.rows, streamed.skipped, streamed.errors) == (whole.rows, whole.skipped, whole.errors)


@pytest.mark.parametrize(
    "data, encoding",
    [
        ("sku;qty;name\nA;1;Crème brûlée\nB;2;Æble\n".encode(), "utf-8"),
        ("sku;qty;name\nA;1;Crème brûlée\nB;2;Æble\n".encode("cp1252"), "cp1252"),
        ("\ufeffsku,qty,name\nA,1,Crème\n".encode("utf-16-le"), "utf-16-le"),
        ("sku,qty,name\nA,1,Crème\n".encode("utf-8-sig"), "utf-8-sig"),
    ],
)
def test_text_is_decoded_in_small_pieces_the_same(monkeypatch, data, encoding):
    whole = read_stock_file(data, "s.csv")
    monkeypatch.setattr(reading_text, "_READ_BYTES", 3)
    pieces = read_stock_file(data, "s.csv")
    assert pieces.encoding == whole.encoding == encoding
    assert [(r.sku, r.quantity, dict(r.details)) for r in pieces.records] == [
        (r.sku, r.quantity, dict(r.details)) for r in whole.records
    ]


def test_bad_bytes_are_refused_with_their_line_when_read_in_pieces(monkeypatch):
    monkeypatch.setattr(reading_text, "_READ_BYTES", 5)
    data = b"sku,qty\nA,1\nB,2\n" + b"C\xff,3\n"
    with pytest.raises(FileRefused) as refused:
        read_stock_file(data, "s.csv", ReadOptions(encoding="utf-8"))
    assert "byte 0xFF on line 4" in str(refused.value)
