"""The import job's downloadable report: every row problem and SKU change,
safe to open in a spreadsheet program."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from imports.models import ImportJob
from inventory.models import Store


@pytest.fixture
def admin_client(db, django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.com", None))
    return client


def upload(client, store, content: str, **fields):
    form = {"store": str(store.pk), "file": SimpleUploadedFile("count.csv", content.encode()), "mode": "set", **fields}
    client.post(reverse("admin:imports_importjob_upload"), form)
    return ImportJob.objects.latest("id")


def report(client, job, kind="csv"):
    response = client.get(reverse("admin:imports_importjob_report", args=[job.pk, kind]))
    assert response.status_code == 200
    return response


def rows_of(response):
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")  # Excel reads UTF-8 only with the BOM
    return list(csv.reader(io.StringIO(text[1:])))


def test_report_lists_errors_warnings_and_changes_with_formulas_defused(admin_client, store, make_items):
    make_items(store, {"A-1": 8, "B-1": 1, "-C": 2})
    job = upload(
        admin_client,
        store,
        'sku,quantity\nA-1,5\nB-1,--\n=HYPERLINK("http://x"),3\n-C,=1+1\n@SUM,4\n',
    )
    assert job.status == ImportJob.PREVIEWED
    response = report(admin_client, job)
    assert response["Content-Disposition"] == f'attachment; filename="import-{job.pk}-count-report.csv"'
    rows = rows_of(response)
    assert rows[0] == ["kind", "row", "column", "value", "message", "sku", "old", "new", "delta"]
    by_kind = {}
    for row in rows[1:]:
        by_kind.setdefault(row[0], []).append(row)
    assert [r[5:] for r in by_kind["will change"]] == [["A-1", "8", "5", "-3"]]  # numbers stay numbers
    values = [r[3] for r in by_kind["error"]]
    assert '\'=HYPERLINK("http://x")' in values  # the unknown SKU, guarded
    assert "'=1+1" in values and "'@SUM" in values
    assert all(not cell.startswith(("=", "+", "@", "\t", "\r")) for row in rows for cell in row)
    assert any("No count for B-1" in r[4] for r in by_kind["warning"])
    assert {r[1] for r in by_kind["error"]} >= {"4", "5", "6"}  # row numbers of the file


def test_report_after_apply_says_changed_and_xlsx_works(admin_client, store, make_items):
    make_items(store, {"A-1": 8})
    job = upload(admin_client, store, "sku,quantity\nA-1,5\nNEW-1,2\n", create_missing="on")
    admin_client.post(reverse("admin:imports_importjob_apply", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == ImportJob.APPLIED
    rows = rows_of(report(admin_client, job))
    assert [row[0] for row in rows[1:]] == ["changed", "new item"]
    page = admin_client.get(reverse("admin:imports_importjob_change", args=[job.pk])).content.decode()
    assert reverse("admin:imports_importjob_report", args=[job.pk, "csv"]) in page
    xlsx = report(admin_client, job, "xlsx")
    assert xlsx.content.startswith(b"PK")


def test_report_is_not_offered_while_reading_and_is_scoped_to_the_store(admin_client, store, django_user_model):
    job = ImportJob.objects.create(store=store, original_name="big.csv", status=ImportJob.READING)
    response = admin_client.get(reverse("admin:imports_importjob_report", args=[job.pk, "csv"]))
    assert response.status_code == 302
    outsider = django_user_model.objects.create_user("clerk", password=None, is_staff=True)
    from django.contrib.auth.models import Permission

    outsider.user_permissions.set(Permission.objects.filter(content_type__app_label="imports"))
    Store.objects.create(name="Theirs", slug="theirs")
    client = Client()
    client.force_login(outsider)
    job.status = ImportJob.APPLIED
    job.save()
    assert client.get(reverse("admin:imports_importjob_report", args=[job.pk, "csv"])).status_code == 404
