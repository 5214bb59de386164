"""The imports admin: upload → preview → Apply → Undo, refused files, the status
endpoint, the template file and the item export round trip, store scoping."""

import csv
import io
import re

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from imports import services
from imports.models import ColumnMapping, ImportJob
from imports.reading import TEMPLATE_HEADERS
from inventory import services as stock_services
from inventory.admin import EXPORT_HEADERS
from inventory.models import InventoryItem, StockLedgerEntry, Store, StoreMembership


@pytest.fixture
def admin_user(db, django_user_model):
    """A superuser without a password: hashing one per test costs more than the test."""
    return django_user_model.objects.create_superuser("boss", "boss@example.com", None)


@pytest.fixture
def other_store(db):
    return Store.objects.create(name="Other shop", slug="other")


@pytest.fixture
def staff_client(db, django_user_model):
    def make(memberships, username="clerk"):
        user = django_user_model.objects.create_user(username, password=None, is_staff=True)
        user.user_permissions.set(
            Permission.objects.filter(content_type__app_label__in=["inventory", "imports"])
        )
        for store, role in memberships.items():
            StoreMembership.objects.create(store=store, user=user, role=role)
        client = Client()
        client.force_login(user)
        client.user = user
        return client

    return make


UPLOAD_URL = "admin:imports_importjob_upload"


def upload(client, store, content, name="stock.csv", follow=False, **fields):
    data = content.encode("utf-8") if isinstance(content, str) else content
    form = {"store": str(store.pk), "file": SimpleUploadedFile(name, data), "mode": "set", **fields}
    return client.post(reverse(UPLOAD_URL), form, follow=follow)


def job_url(job, action="change"):
    return reverse(f"admin:imports_importjob_{action}", args=[job.pk])


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def preview_lines(html: str) -> list[str]:
    table = re.search(r'<div class="hub-section" id="job-preview">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert table, "no preview table"
    return [text_of(row).strip() for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)]


def form_for(job, action):
    """The opening of the Apply or Undo button's form on the job page."""
    return f'action="{job_url(job, action)}"'


def stocks(store):
    return dict(InventoryItem.objects.active().filter(store=store).values_list("code", "stock"))


# --- upload, preview, apply, undo ------------------------------------------------


def test_upload_previews_then_apply_and_undo(admin_client, admin_user, store, make_items):
    """bad-inputs #16: stock 8, file A-1,5 → the preview shows 8 → 5 (−3) before anything changes."""
    make_items(store, {"A-1": 8, "B-1": 2, "C-1": 1})
    response = upload(admin_client, store, "sku,quantity\nA-1,5\nB-1,4\nC-1,1\n")
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job_url(job)
    assert job.status == ImportJob.PREVIEWED and job.created_by == admin_user
    assert stocks(store) == {"A-1": 8, "B-1": 2, "C-1": 1}

    page = admin_client.get(job_url(job)).content.decode()
    assert preview_lines(page) == ["A-1 8 → 5 (−3)", "B-1 2 → 4 (+2)"]
    assert "Preview ready: 2 SKUs would change" in page
    assert form_for(job, "apply") in page
    assert form_for(job, "undo") not in page
    columns = text_of(re.search(r'id="job-columns".*?</details>', page, re.S).group(0))
    assert "SKU column sku" in columns and "Quantity column(s) quantity" in columns

    applied = admin_client.post(job_url(job, "apply"), follow=True).content.decode()
    assert "Applied: 2 SKUs changed." in applied
    assert stocks(store) == {"A-1": 5, "B-1": 4, "C-1": 1}
    assert StockLedgerEntry.objects.filter(reference=f"import:{job.pk}", source="import",
                                           user=admin_user).count() == 2
    assert form_for(job, "apply") not in applied
    assert form_for(job, "undo") in applied

    # B-1 sells one after the import: Undo restores A-1 and leaves B-1 alone.
    stock_services.adjust_item_stock(InventoryItem.objects.get(code="B-1"), -1, source="order")
    undone = admin_client.post(job_url(job, "undo"), follow=True).content.decode()
    assert "Undone: 1 SKU restored to the stock before the import." in undone
    assert "1 SKU changed since the import and was left alone: B-1" in undone
    assert stocks(store) == {"A-1": 8, "B-1": 3, "C-1": 1}
    assert 'id="undo-report"' in undone
    assert ImportJob.objects.get().status == ImportJob.UNDONE
    again = admin_client.post(job_url(job, "undo"), follow=True).content.decode()
    assert "Only an applied import can be undone" in again


def test_add_mode_preview(admin_client, store, make_items):
    make_items(store, {"A-1": 8})
    upload(admin_client, store, "sku,quantity\nA-1,5\n", mode="add")
    job = ImportJob.objects.get()
    assert job.mode == "add"
    assert preview_lines(admin_client.get(job_url(job)).content.decode()) == ["A-1 8 → 13 (+5)"]


def test_refused_file_shows_the_headers_found(admin_client, store, make_items):
    make_items(store, {"A-1": 8})
    response = upload(admin_client, store, "article,amount\nA-1,5\n")
    job = ImportJob.objects.get()
    assert job.status == ImportJob.REFUSED
    page = admin_client.get(job_url(job)).content.decode()
    banner = text_of(re.search(r'id="job-refused">(.*?)</div>', page, re.S).group(1))
    assert "The file was refused — nothing was changed." in banner
    assert "Headers found: article, amount" in banner
    assert job_url(job, "apply") not in page
    assert response.status_code == 302
    assert admin_client.post(job_url(job, "apply"), follow=True).status_code == 200
    assert stocks(store) == {"A-1": 8}


def test_row_errors_and_warnings_are_tabled(admin_client, store, make_items):
    make_items(store, {"A-1": 8, "B-1": 1})
    upload(admin_client, store, "sku,quantity\nA-1,5.5\nB-1,--\nZZ-9,3\n")
    job = ImportJob.objects.get()
    page = admin_client.get(job_url(job)).content.decode()
    errors = text_of(re.search(r'id="job-errors">(.*?)</table>', page, re.S).group(1))
    assert re.search(r"\b2 quantity 5\.5 ", errors)
    assert re.search(r"\b4 sku ZZ-9 SKU ZZ-9 is not in Main shop", errors)
    warnings = text_of(re.search(r'id="job-warnings">(.*?)</table>', page, re.S).group(1))
    assert "No count for B-1" in warnings
    assert "Nothing would change" in page


def test_a_preview_that_changes_only_metadata_says_so(admin_client, store, make_items):
    make_items(store, {"A-1": 8})
    upload(admin_client, store, "sku,quantity,metadata:skip_push\nA-1,8,1\n")
    page = text_of(admin_client.get(job_url(ImportJob.objects.get())).content.decode())
    assert "No count would change" in page and "Nothing would change" not in page
    assert "1 SKU would get new details or metadata" in page and "Undo restores counts only" in page


def test_reading_options_are_passed_on(admin_client, store, make_items):
    make_items(store, {"A-1": 8})
    upload(admin_client, store, "Artikel;Lager Nord;Lager Süd\nA-1;2;3\n", sku_column="Artikel",
           qty_columns="Lager Nord | Lager Süd", delimiter=";")
    job = ImportJob.objects.get()
    assert job.options == {"sku_column": "Artikel", "qty_columns": ["Lager Nord", "Lager Süd"],
                           "delimiter": ";"}
    assert job.status == ImportJob.PREVIEWED and job.preview == [["A-1", 8, 5]]


def test_bad_option_is_shown_on_the_form(admin_client, store):
    response = upload(admin_client, store, "sku,qty\nA,1\n", encoding="klingon-8")
    assert response.status_code == 200
    assert "is not an encoding name" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_saved_column_mapping_is_used(admin_client, store, make_items):
    make_items(store, {"A-1": 8})
    response = admin_client.post(reverse("admin:imports_columnmapping_add"), {
        "store": str(store.pk), "sku_column": "Artikel", "qty_columns": "Menge",
    })
    assert response.status_code == 302
    assert ColumnMapping.objects.get(store=store).as_options() == {"sku_column": "Artikel",
                                                                    "qty_columns": ["Menge"]}
    upload(admin_client, store, "Artikel,Menge\nA-1,3\n")
    assert ImportJob.objects.get().preview == [["A-1", 8, 3]]


# --- background jobs and the status endpoint -------------------------------------------


def test_status_endpoint(admin_client, store, make_items):
    make_items(store, {"A-1": 8})
    upload(admin_client, store, "sku,quantity\nA-1,5\n")
    job = ImportJob.objects.get()
    data = admin_client.get(job_url(job, "status")).json()
    assert data == {
        "id": job.pk, "status": "previewed", "status_display": "Preview ready", "progress_done": 1,
        "progress_total": 1, "percent": 100, "finished": True, "message": "",
        "counts": job.counts,
    }
    ImportJob.objects.filter(pk=job.pk).update(status="reading", progress_done=500, progress_total=2000)
    data = admin_client.get(job_url(job, "status")).json()
    assert (data["status"], data["percent"], data["finished"]) == ("reading", 25, False)


def test_large_file_is_read_in_the_background_and_the_page_polls(admin_client, store, make_items, settings):
    settings.IMPORT_BACKGROUND_BYTES = 10
    make_items(store, {"A-1": 8})
    response = upload(admin_client, store, "sku,quantity\nA-1,5\n", follow=True)
    job = ImportJob.objects.get()
    assert job.status == ImportJob.PENDING  # handed to the cluster after commit
    page = response.content.decode()
    assert "read in the background" in page
    assert f'data-status-url="{job_url(job, "status")}"' in page
    assert "inventory/import_progress.js" in page
    assert job_url(job, "apply") not in page

    services.preview(job)
    page = admin_client.get(job_url(job)).content.decode()
    assert "data-status-url" not in page and preview_lines(page) == ["A-1 8 → 5 (−3)"]
    # Apply of a large file is queued too; the page waits for the worker.
    response = admin_client.post(job_url(job, "apply"))
    assert response["Location"] == job_url(job) + "?queued=1"
    queued = admin_client.get(response["Location"]).content.decode()
    assert 'data-wait-while="pending,reading,applying,previewed"' in queued
    assert job_url(job, "apply") not in queued
    assert stocks(store) == {"A-1": 8}


def test_apply_and_undo_need_post(admin_client, store, make_items):
    make_items(store, {"A-1": 8})
    upload(admin_client, store, "sku,quantity\nA-1,5\n")
    job = ImportJob.objects.get()
    assert admin_client.get(job_url(job, "apply")).status_code == 405
    assert admin_client.get(job_url(job, "undo")).status_code == 405
    assert stocks(store) == {"A-1": 8}


# --- scoping and roles ---------------------------------------------------------------


def test_staff_see_only_their_stores_jobs(store, other_store, make_items, staff_client):
    make_items(store, {"A-1": 8})
    make_items(other_store, {"A-1": 8})
    theirs = services.preview(services.create_job(other_store, content=b"sku,qty\nA-1,1\n",
                                                  filename="secret-file.csv"))
    client = staff_client({store: StoreMembership.EDITOR})
    form = client.get(reverse(UPLOAD_URL)).context["form"]
    assert list(form.fields["store"].queryset) == [store]
    assert b"secret-file" not in client.get(reverse("admin:imports_importjob_changelist")).content
    for action in ("change", "status"):
        assert client.get(job_url(theirs, action)).status_code == 404
    assert client.post(job_url(theirs, "apply")).status_code == 404
    assert upload(client, other_store, "sku,qty\nA-1,1\n").status_code == 200  # not a valid choice
    assert ImportJob.objects.count() == 1
    assert stocks(other_store) == {"A-1": 8}


def test_viewer_sees_the_job_but_cannot_apply(store, make_items, staff_client):
    make_items(store, {"A-1": 8})
    job = services.preview(services.create_job(store, content=b"sku,qty\nA-1,1\n", filename="s.csv"))
    viewer = staff_client({store: StoreMembership.VIEWER})
    page = viewer.get(job_url(job))
    assert page.status_code == 200 and preview_lines(page.content.decode()) == ["A-1 8 → 1 (−7)"]
    assert job_url(job, "apply") not in page.content.decode()
    assert viewer.post(job_url(job, "apply")).status_code == 403
    assert viewer.get(reverse(UPLOAD_URL)).status_code == 403
    assert stocks(store) == {"A-1": 8}


# --- template file and export round trip --------------------------------------------------


def body_of(response) -> bytes:
    if not hasattr(response, "_body"):
        response._body = b"".join(response.streaming_content) if response.streaming else response.content
    return response._body


def read_download(response, kind) -> list[list]:
    body = body_of(response)
    if kind == "csv":
        assert response["Content-Type"].startswith("text/csv")
        return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def test_export_headers_are_the_template_headers():
    assert list(EXPORT_HEADERS) == list(TEMPLATE_HEADERS)


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_template_downloads_and_imports_back(admin_client, store, kind):
    response = admin_client.get(reverse("admin:imports_importjob_template", args=[kind]))
    assert response.status_code == 200
    assert f'filename="stock-template.{kind}"' in response["Content-Disposition"]
    rows = read_download(response, kind)
    assert rows[0] == list(TEMPLATE_HEADERS) and len(rows) == 3
    body = body_of(response)
    job = services.run(services.create_job(store, content=body, filename=f"template.{kind}",
                                           create_missing=True))
    assert (job.status, job.errors, job.warnings) == ("applied", [], [])
    assert stocks(store) == {"0012345": 8, "TSHIRT-RED-M": 15}
    assert InventoryItem.objects.get(code="TSHIRT-RED-M").name == "T-shirt, red, M"


TRICKY = {
    "0012": 4, "-5X": -3, "=HYPERLINK(\"x\")": 1, "+49": 2, "@home": 0, "'quoted": 7,
    "plain,comma": 5, 'qu"ote': 6, "ünï-☃": 9, '="0123"': 3,
}


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_export_imports_back_unchanged(admin_client, store, other_store, make_items, kind):
    make_items(store, TRICKY, name="=1+1", location="@shelf")
    changelist = reverse("admin:inventory_inventoryitem_changelist")
    response = admin_client.post(changelist, {
        "action": f"export_{kind}_action",
        "_selected_action": list(InventoryItem.objects.values_list("pk", flat=True)),
    })
    assert response.status_code == 200
    body = body_of(response)
    rows = read_download(response, kind)
    assert rows[0] == list(TEMPLATE_HEADERS) and len(rows) == len(TRICKY) + 1
    if kind == "csv":
        assert ["'=HYPERLINK(\"x\")", "1", "'@shelf", "'=1+1"] in rows  # guarded against formulas
    else:
        book = openpyxl.load_workbook(io.BytesIO(body))
        assert all(cell.data_type == "s" for row in book.active.iter_rows(min_row=2)
                   for cell in row if isinstance(cell.value, str))

    # Into the same store: nothing to change, nothing unknown, no errors.
    same = services.preview(services.create_job(store, content=body, filename=f"export.{kind}"))
    assert (same.status, same.errors, same.counts["changed"], same.counts["unknown"]) == (
        "previewed", [], 0, 0)
    # Into an empty store: every SKU created byte for byte with its count.
    fresh = services.run(services.create_job(other_store, content=body, filename=f"export.{kind}",
                                             create_missing=True))
    assert fresh.errors == []
    assert stocks(other_store) == TRICKY


def test_apply_refuses_a_post_without_csrf_token(admin_user, store, make_items):
    make_items(store, {"A-1": 8})
    job = services.preview(services.create_job(store, content=b"sku,qty\nA-1,1\n", filename="s.csv"))
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(job_url(job, "apply")).status_code == 403
    assert stocks(store) == {"A-1": 8}
