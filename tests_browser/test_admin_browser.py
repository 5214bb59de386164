"""The admin in a real browser, the way a shop assistant uses it.

Each test is one errand: import a seller's real stock file and check an item,
let a large import run in the background with the progress bar, sync with a
warehouse and a cart, and make sure a store's staff see only their store.
Screenshots of every step land in ``test-artifacts/browser/``.
"""

from __future__ import annotations

import csv
import io
import re

import pytest

from imports.models import ImportJob
from integrations.fakes.shipbob import ShipBobFake
from integrations.fakes.shopify import ShopifyFake
from integrations.models import Integration, PushState, SyncRun
from inventory import services
from inventory.models import InventoryItem, StockLedgerEntry, Store, StoreMembership

from .conftest import PASSWORD, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BARRIDA = "barrida-Inventory+Report+09-13-2018.txt"


def words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def submit(page, selector: str) -> None:
    """Click something that loads a new page, and wait for that page."""
    with page.expect_navigation():
        page.click(selector)


def stocks(store) -> dict[str, int]:
    return dict(InventoryItem.objects.active().filter(store=store).values_list("code", "stock"))


@pytest.fixture
def shop(transactional_db):
    return Store.objects.create(name="Main shop", slug="main", low_stock_threshold=15)


# --- 1. a real file in, an item explained -----------------------------------------------------


def test_import_real_file_then_read_an_item(page, boss, shop, real_inputs, tmp_path):
    log_in(page, "boss")
    board = page.locator("#store-main")
    assert "0 items" in words(board.inner_text())
    page.shot("dashboard-empty")

    # Upload from the dashboard's link: the real Amazon report, creating its SKUs.
    with page.expect_navigation():
        board.get_by_role("link", name="Upload a stock file →").click()
    page.set_input_files("#id_file", str(real_inputs / BARRIDA))
    page.check("#id_create_missing")
    page.shot("upload-form")
    submit(page, "input[name=_upload]")

    page.wait_for_selector("#job-preview")
    assert page.inner_text("#job-status") == "Preview ready"
    counts = words(page.inner_text("#job-counts"))
    assert "122 Rows read" in counts and "122 New items" in counts
    assert page.locator("#job-preview tbody tr").count() == 122
    page.click("#job-columns summary")  # "Columns found": how the file was read
    columns = words(page.inner_text("#job-columns"))
    assert "SKU column sku" in columns and "Quantity column(s) quantity" in columns
    page.shot("preview")

    # The filter narrows the preview as one types, without a round trip.
    page.fill("#job-filter-sku", "fermentation")
    assert page.locator("#job-preview tbody tr:visible").count() == 6
    assert page.inner_text("#job-filter-count") == "Showing 6 of 122 rows"
    page.shot("preview-filtered")
    page.fill("#job-filter-sku", "")

    submit(page, "input[name=apply]")
    page.wait_for_selector("#job-status:text('Applied')")
    assert "Applied: 122 SKUs changed, 122 new items created." in page.inner_text("ul.messagelist")
    assert page.get_attribute("#import-job .hub-progress", "aria-valuenow") == "100"
    page.shot("applied")
    created = stocks(shop)
    assert len(created) == 122 and sum(created.values()) == 2033

    # The report of what happened, downloaded as a person would.
    with page.expect_download() as download:
        page.click("#job-report-csv")
    report = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
    assert report[0] == ["kind", "row", "column", "value", "message", "sku", "old", "new", "delta"]
    assert len(report) == 123 and {row[0] for row in report[1:]} == {"new item"}

    # Bulk action: max=5 on the six fermentation weights.
    page.goto("/admin/inventory/inventoryitem/?q=FERMENTATION")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "set_metadata_action")
    submit(page, "button[name=index]")
    page.fill("#id_key", "max")
    page.fill("#id_value", "5")
    page.shot("set-metadata")
    submit(page, "input[name=apply]")
    assert "Set max = 5 on 6 items." in page.inner_text("ul.messagelist")
    assert page.locator("td.field-told_column").all_inner_texts() == ["5"] * 6  # stock 20, capped at 5
    page.shot("items-after-bulk-metadata")

    # Export the six and import the file back: nothing changes, every SKU byte for byte.
    page.check("#action-toggle")
    page.select_option("select[name=action]", "export_csv_action")
    with page.expect_download() as download:
        page.click("button[name=index]")
    exported = download.value.path().read_bytes()
    assert exported.count(b"FERMENTATIONWEIGHTSSEPT2018") == 6
    again = tmp_path / "stock-export.csv"
    again.write_bytes(exported)
    page.goto("/admin/imports/importjob/upload/")
    page.set_input_files("#id_file", str(again))
    submit(page, "input[name=_upload]")
    page.wait_for_selector("#job-status:text('Preview ready')")
    assert "Nothing would change" in page.inner_text("#import-job")

    # An item: change its stock by hand, then read its explanation and chart.
    page.goto("/admin/inventory/inventoryitem/?q=FERMENTATIONWEIGHTSSEPT2018100")
    submit(page, "a:text-is('FERMENTATIONWEIGHTSSEPT2018100')")
    page.fill("#id_set_stock_to", "3")
    page.fill("#id_stock_note", "counted the shelf")
    submit(page, "input[name=_continue]")
    assert "20 → 3" in words(page.inner_text("ul.messagelist"))
    explanation = words(page.inner_text(".hub-told"))
    assert "Carts are told 3" in explanation
    chart = page.locator("svg.hub-chart")
    assert chart.is_visible()
    dots = chart.locator("circle.hub-chart-point")
    assert [dots.nth(n).get_attribute("data-source") for n in range(dots.count())] == ["import", "admin"]
    tips = [dots.nth(n).locator("title").text_content() for n in range(2)]
    assert "Import · +20 → 20 · import:" in tips[0]
    assert tips[1].endswith("Admin · \u221217 → 3 · boss · counted the shelf")
    assert chart.locator(".hub-chart-legend text").all_text_contents() == ["Admin", "Import"]
    dots.nth(1).hover()
    page.locator("fieldset:has(.hub-told)").scroll_into_view_if_needed()
    page.shot("item-explained")

    # Back on the dashboard: the counts moved (20 → 3 is low; the store's threshold is 15).
    page.goto("/admin/")
    low = sum(1 for stock in stocks(shop).values() if stock <= 15)
    assert low > 1  # the file's items at 15, and the one set to 3
    counts = words(page.inner_text("#store-main .hub-store-counts"))
    assert counts.startswith(f"122 items 0 oversold {low} low stock")
    assert "barrida" in page.inner_text("#store-main table.hub-imports")
    page.shot("dashboard-after")


def test_filters_errors_and_warnings_of_a_preview(page, boss, shop):
    services.create_items(shop, [{"code": "A-1", "stock": 8}, {"code": "B-2", "stock": 1}], source="admin")
    log_in(page, "boss")
    page.goto("/admin/imports/importjob/upload/")
    page.set_input_files(
        "#id_file",
        files=[
            {
                "name": "count.csv",
                "mimeType": "text/csv",
                "buffer": b"sku,quantity\nA-1,5\nB-2,--\nZZ-9,3\n=cmd,4\nA-1x,1.5\n",
            }
        ],
    )
    submit(page, "input[name=_upload]")
    page.wait_for_selector("#job-filter")
    assert "Please correct" not in page.inner_text("#content")  # row errors are not form errors
    page.check("input[name=hub-show][value=errors]")
    assert page.is_visible("#job-errors") and not page.is_visible("#job-preview")
    assert not page.is_visible("#job-warnings")
    page.fill("#job-filter-sku", "zz-9")
    visible = page.locator("#job-errors tbody tr:visible")
    assert visible.count() == 1 and "SKU ZZ-9 is not in Main shop" in visible.inner_text()
    page.shot("errors-filtered")
    page.check("input[name=hub-show][value=warnings]")
    page.fill("#job-filter-sku", "B-2")
    assert "No count for B-2" in page.locator("#job-warnings tbody tr:visible").inner_text()
    page.check("input[name=hub-show][value=changes]")
    page.fill("#job-filter-sku", "nothing-like-this")
    assert page.is_visible("#job-preview .hub-filter-empty")
    page.shot("changes-no-match")

    with page.expect_download() as download:
        page.click("#job-report-csv")
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
    kinds = [row[0] for row in rows[1:]]
    assert kinds.count("error") == 3 and kinds.count("warning") == 1 and kinds.count("will change") == 1
    assert "'=cmd" in [row[3] for row in rows]  # defused: a spreadsheet shows it as text


# --- 2. a large file on the task cluster ------------------------------------------------------------


def test_large_import_runs_in_the_background_with_a_live_progress_bar(page, boss, shop, qcluster, settings, tmp_path):
    settings.IMPORT_BACKGROUND_BYTES = 10_000
    rows = 6000
    big = tmp_path / "warehouse-count.csv"
    big.write_text("sku,quantity,name\n" + "".join(f"BULK-{n:05d},{n % 50},Bulk item {n}\n" for n in range(rows)))
    polls = []
    page.on("request", lambda request: polls.append(request.url) if "/status/" in request.url else None)

    log_in(page, "boss")
    page.goto("/admin/imports/importjob/upload/")
    page.set_input_files("#id_file", str(big))
    page.check("#id_create_missing")
    submit(page, "input[name=_upload]")
    # Read in the background: the page shows a progress bar and polls until the preview is ready.
    assert "read in the background" in page.inner_text("ul.messagelist")
    assert page.is_visible("#job-progress .hub-progress")
    page.shot("reading-in-background")
    page.wait_for_selector("#job-status:text('Preview ready')", timeout=60_000)
    assert polls, "the page never asked for the job's progress"
    assert page.locator("#job-preview tbody tr").count() == 2000  # the page shows the first 2000
    assert f"{rows} New items" in words(page.inner_text("#job-counts"))
    page.shot("background-preview", full_page=False)

    polls.clear()
    submit(page, "input[name=apply]")
    assert "applied in the background" in page.inner_text("ul.messagelist")
    page.shot("applying-in-background", full_page=False)
    page.wait_for_selector("#job-status:text('Applied')", timeout=60_000)
    assert polls
    bar = page.locator("#import-job .hub-progress")
    assert bar.get_attribute("aria-valuenow") == "100"
    assert bar.locator(".hub-progress-bar").get_attribute("style") == "width: 100%"
    page.shot("background-applied", full_page=False)
    job = ImportJob.objects.get()
    assert (job.status, job.progress_done, job.progress_total) == (ImportJob.APPLIED, rows, rows)
    assert InventoryItem.objects.filter(store=shop).count() == rows


# --- 3. sync with a warehouse and a cart ----------------------------------------------------------


@pytest.fixture
def fakes():
    with ShipBobFake() as warehouse, ShopifyFake() as cart:
        yield warehouse, cart


def connect(store, kind, role, name, slug, fake, credentials, **fields):
    integration = Integration(
        store=store,
        kind=kind,
        role=role,
        name=name,
        slug=slug,
        base_url=fake.url,
        inventory_sync=True,
        first_push_confirmed=True,
        reconcile_hours=0,
        schedule_minutes=0,
        **fields,
    )
    integration.credentials = credentials
    integration.save()
    return integration


def test_sync_now_against_the_fakes(page, boss, shop, fakes):
    warehouse_fake, cart_fake = fakes
    services.create_items(
        shop,
        [{"code": "MUG-1", "stock": 1}, {"code": "TEE-2", "stock": 2}, {"code": "GONE-3", "stock": 3}],
        source="admin",
    )
    warehouse_fake.add_item("MUG-1", 40)
    warehouse_fake.add_item("TEE-2", 7)
    warehouse_fake.add_item("NOT-OURS", 9)
    cart_fake.add_product("MUG-1", 0)
    cart_fake.add_product("TEE-2", 0)  # GONE-3 is not in the cart: an item error, never "synced"
    warehouse = connect(
        shop,
        "shipbob",
        Integration.FULFILLMENT,
        "Warehouse",
        "warehouse",
        warehouse_fake,
        {"token": warehouse_fake.token},
    )
    cart = connect(
        shop,
        "shopify",
        Integration.CART,
        "Web shop",
        "web",
        cart_fake,
        {"access_token": "shpat_fake_token"},
        location_id=f"gid://shopify/Location/{cart_fake.default_location}",
    )

    log_in(page, "boss")
    page.goto(f"/admin/integrations/integration/{warehouse.pk}/change/")
    assert "shipbob-demo-pat" not in page.content()
    stored = page.inner_text(".field-stored_credentials")
    assert "••••" in stored
    submit(page, "button:text('Test connection')")
    assert "Connected to Warehouse" in page.inner_text("ul.messagelist")
    submit(page, "button:text('Sync now')")
    message = words(page.inner_text("ul.messagelist"))
    assert message.startswith("Pull: ok (received 3, changed 2, unknown 1)")
    assert stocks(shop) == {"MUG-1": 40, "TEE-2": 7, "GONE-3": 3}
    page.shot("warehouse-pulled")

    page.goto(f"/admin/integrations/integration/{cart.pk}/change/")
    submit(page, "button:text('Sync now')")
    message = words(page.inner_text("ul.messagelist"))
    assert message.startswith("Push: done with item errors (planned 3, confirmed 2, failed 1")
    assert "1 item error is listed under Recent runs" in message
    assert (cart_fake.level("MUG-1"), cart_fake.level("TEE-2")) == (40, 7)
    run_row = page.locator("#runs-group tbody tr").first
    assert "GONE-3" in run_row.inner_text() and "Done with item errors" in run_row.inner_text()
    assert "GONE-3" in page.inner_text(".field-items_with_errors")
    page.shot("cart-pushed-with-an-item-error")

    page.goto("/admin/")
    row = words(page.inner_text(f"#store-main tr[data-integration='{cart.pk}']"))
    assert "Healthy" in row and "Done with item errors" in row and "1 item error" in row
    row = words(page.inner_text(f"#store-main tr[data-integration='{warehouse.pk}']"))
    assert "Healthy" in row and "OK" in row and "changed 2" in row
    failed = words(page.inner_text("#store-main table.hub-failed-items"))
    assert "GONE-3" in failed and "Web shop" in failed
    assert "1 items with sync errors" in words(page.inner_text("#store-main .hub-store-counts"))
    page.shot("dashboard-sync-health")
    assert PushState.objects.exclude(last_error="").count() == 1
    assert SyncRun.objects.filter(kind=SyncRun.PULL).get().status == SyncRun.OK


# --- 4. a store's staff see only their store -----------------------------------------------------------


def test_store_scoped_staff_see_only_their_store(page, shop, django_user_model):
    theirs = Store.objects.create(name="Somebody else's shop", slug="else")
    services.create_items(shop, [{"code": "OURS-1", "stock": 4}], source="admin")
    other_ids = services.create_items(theirs, [{"code": "SECRET-1", "stock": 9}], source="admin")
    # No Django permissions of their own: the membership is all a shop assistant needs.
    clerk = django_user_model.objects.create_user("clerk", password=PASSWORD, is_staff=True)
    StoreMembership.objects.create(store=shop, user=clerk, role=StoreMembership.VIEWER)

    log_in(page, "clerk")
    assert page.locator("section.hub-store").count() == 1
    assert page.is_visible("#store-main") and "Somebody else" not in page.content()
    page.shot("clerk-dashboard")

    page.goto("/admin/inventory/inventoryitem/")
    listed = words(page.inner_text("#result_list"))
    assert "OURS-1" in listed and "SECRET-1" not in listed
    assert "Somebody else" not in page.inner_text("#changelist-filter")
    page.shot("clerk-items")

    response = page.goto(f"/admin/inventory/inventoryitem/{other_ids['SECRET-1']}/change/")
    assert response.status == 404
    response = page.goto(f"/admin/inventory/store/{theirs.pk}/change/")
    assert response.status == 404

    # A viewer reads an item but has no way to change its stock.
    page.goto("/admin/inventory/inventoryitem/")
    submit(page, "a:text-is('OURS-1')")
    page.wait_for_selector(".hub-told")
    assert page.is_visible("svg.hub-chart")
    assert page.locator("#id_set_stock_to").count() == 0
    page.shot("clerk-item-read-only")
    assert StockLedgerEntry.objects.filter(item__code="OURS-1").count() == 1
