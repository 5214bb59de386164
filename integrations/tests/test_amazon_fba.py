"""The Amazon FBA report adapter against the Amazon fake, over real HTTP."""

from __future__ import annotations

import logging

import pytest

from integrations.adapters import get_adapter_class
from integrations.adapters.amazon_fba import AmazonFBAAdapter, decode_report, parse_inventory_report
from integrations.adapters.base import AuthError, PermanentError, TransientError
from integrations.adapters.http import HttpClient, TimeScale
from integrations.fakes.amazon import REPORT_TYPE, AmazonFake

from .conftest import SCALE, delay_beyond_timeout
from .test_shipbob import VirtualClock

CLIENT_ID = "amzn1.application-oa2-client.test"
SECRET = "amzn-client-secret-0123456789"
REFRESH = "Atzr|refresh-token-0123456789"
POLL = 2  # service seconds between status polls in these tests
NAME = "Nutricost St John\u2019s Wort \u2026 Creapure\u00ae"  # ’ … ® exist in cp1252


@pytest.fixture
def fake():
    with AmazonFake(
        client_id=CLIENT_ID, client_secret=SECRET, refresh_token=REFRESH, time_scale=SCALE
    ) as server:
        yield server


def make(fake, client, secret=SECRET, refresh=REFRESH, **options):
    return AmazonFBAAdapter(
        base_url=fake.url,
        credentials={"client_id": CLIENT_ID, "client_secret": secret, "refresh_token": refresh},
        options={"lwa_url": f"{fake.url}/auth/o2/token", "poll_interval": POLL, **options},
        client=client,
    )


def seed(fake) -> None:
    fake.add_row("FBA-1", 12, name=NAME)
    fake.add_row("FBA-2", 0)
    fake.add_row("FBA-3", "--", name="Not counted")
    fake.add_row("FBA-4", "")
    fake.add_row("FBA-5", 250, afn_total_quantity=260)


EXPECTED = {"FBA-1": 12, "FBA-2": 0, "FBA-3": None, "FBA-4": None, "FBA-5": 250}


def pulled(adapter) -> dict[str, int | None]:
    return {lv.sku: lv.quantity for lv in adapter.fetch_levels()}


def test_registry_and_capabilities():
    assert get_adapter_class("amazon") is AmazonFBAAdapter
    assert (AmazonFBAAdapter.role, AmazonFBAAdapter.capabilities.pull) == ("fulfillment", True)


def test_connection_lists_marketplaces(fake, client):
    locations = make(fake, client).test_connection()
    assert ("ATVPDKIKX0DER", "Amazon.com") in [(loc.id, loc.name) for loc in locations]
    call = fake.requests("GET", r"marketplaceParticipations$")[0]
    assert call.headers["x-amz-access-token"] == "***"


@pytest.mark.parametrize(
    ("secret", "refresh"), [("wrong-client-secret-xyz", REFRESH), (SECRET, "Atzr|wrong-refresh-xyz")]
)
def test_refused_credentials_raise_auth_error_without_leaking(fake, client, caplog, secret, refresh):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as info:
        make(fake, client, secret=secret, refresh=refresh).test_connection()
    for value in (secret, refresh):
        assert value not in str(info.value) and value not in caplog.text
    assert len(fake.requests()) == 1  # the token exchange, never retried
    assert not fake.requests(path_regex=r"^/sellers/")


def test_full_pull_by_header_name_in_cp1252():
    clock = VirtualClock()
    with AmazonFake(
        client_id=CLIENT_ID, client_secret=SECRET, refresh_token=REFRESH, clock=clock, extra_columns=True
    ) as fake:
        seed(fake)
        levels = {lv.sku: lv for lv in make(fake, clock.client()).fetch_levels()}
        created = fake.requests("POST", r"/reports$")[0].json()
        polls = fake.requests("GET", r"/reports/2021-06-30/reports/")
        download = fake.requests("GET", r"^/report-documents/")[0]
    assert {sku: lv.quantity for sku, lv in levels.items()} == EXPECTED  # "--" and blank: no count
    assert levels["FBA-1"].name == NAME
    assert created == {"reportType": REPORT_TYPE, "marketplaceIds": ["ATVPDKIKX0DER"]}
    assert len(polls) == 4  # IN_QUEUE, IN_PROGRESS twice, DONE
    assert clock.sleeps == [POLL] * 3
    assert "x-amz-access-token" not in {k.lower() for k in download.headers}  # never sent to storage


def test_gzip_document(client):
    with AmazonFake(
        client_id=CLIENT_ID, client_secret=SECRET, refresh_token=REFRESH, time_scale=SCALE, compress=True
    ) as fake:
        seed(fake)
        assert pulled(make(fake, client)) == EXPECTED


def test_cancelled_report_is_an_empty_pull(fake, client):
    seed(fake)
    fake.queue_outcome("CANCELLED")
    assert pulled(make(fake, client)) == {}
    assert not fake.requests(path_regex=r"/documents/")


def test_fatal_report_is_an_error_with_amazons_reason(fake, client):
    seed(fake)
    fake.queue_outcome("FATAL")
    with pytest.raises(TransientError) as info:
        pulled(make(fake, client))
    assert "FATAL" in str(info.value) and "could not be generated" in str(info.value)


def test_expired_document_url_is_fetched_again(timescale: TimeScale):
    # The slow download must not time out: a read timeout of 5 real seconds.
    client = HttpClient(timeout=(2, 5), sleep=timescale.sleep, clock=timescale.monotonic)
    with AmazonFake(
        client_id=CLIENT_ID, client_secret=SECRET, refresh_token=REFRESH, time_scale=SCALE
    ) as fake:
        seed(fake)
        fake.delay(r"^/report-documents/", 301)  # arrives after the five-minute URL expired
        assert pulled(make(fake, client)) == EXPECTED
        downloads = [r.status for r in fake.requests("GET", r"^/report-documents/")]
        documents = fake.requests("GET", r"/documents/")
    assert sorted(downloads) == [200, 403]
    assert len(documents) == 2  # a fresh URL for the second try


def test_expired_access_token_is_renewed(fake, client):
    seed(fake)
    adapter = make(fake, client)
    adapter.test_connection()
    fake.expire_token()
    assert pulled(adapter) == EXPECTED
    assert len(fake.requests("POST", r"/auth/o2/token$")) == 2


def test_429_quota_storm_waits_for_the_operations_rate():
    clock = VirtualClock()
    quotas = {"getReport": (0.5, 1), "createReport": (0.0167, 1)}
    with AmazonFake(
        client_id=CLIENT_ID, client_secret=SECRET, refresh_token=REFRESH, clock=clock, quotas=quotas
    ) as fake:
        seed(fake)
        adapter = make(fake, clock.client(), poll_interval=0.1)
        assert pulled(adapter) == EXPECTED
        started = clock.now
        assert pulled(adapter) == EXPECTED  # the second report request exceeds createReport's burst
        throttled = [(r.method, r.path) for r in fake.requests() if r.status == 429]
    assert throttled and all(path.startswith("/reports/2021-06-30/reports") for _, path in throttled)
    assert ("POST", "/reports/2021-06-30/reports") in throttled
    # No Retry-After from Amazon: x-amzn-RateLimit-Limit (1 per 60 s) set the wait instead.
    assert clock.now - started >= 60
    assert sum(1 for _, path in throttled if path.endswith("/reports")) == 1  # waited long enough at once


def test_server_error_then_success(fake):
    clock = VirtualClock()
    seed(fake)
    fake.inject(r"/reports/2021-06-30/reports/", 500, times=2)
    assert pulled(make(fake, clock.client())) == EXPECTED
    assert len(clock.sleeps) == 2 + 3  # two backoffs, three poll intervals


def test_timeout_then_success(fake, client):
    seed(fake)
    fake.delay(r"/reports/2021-06-30/documents/", delay_beyond_timeout())
    assert pulled(make(fake, client)) == EXPECTED
    assert len(fake.requests("GET", r"^/report-documents/")) == 1


def test_real_fba_report_file(real_inputs, client):
    data = (real_inputs / "falconer94-FBA_inv_report.txt").read_bytes()
    with AmazonFake(
        client_id=CLIENT_ID, client_secret=SECRET, refresh_token=REFRESH, time_scale=SCALE
    ) as fake:
        fake.raw_report = data
        levels = list(make(fake, client).fetch_levels())
    assert len(levels) == 701
    assert sum(lv.quantity or 0 for lv in levels) == 259642
    names = " ".join(lv.name or "" for lv in levels)
    assert all(ch in names for ch in "\u2026\u2019\u00ae")


# -- reading the file -------------------------------------------------------------------


def test_decoding_falls_back_sensibly():
    text = f"sku\tafn-fulfillable-quantity\tproduct-name\nA\t1\t{NAME}\n"
    for raw, content_type in [
        (text.encode("cp1252"), "text/plain;charset=Cp1252"),
        (text.encode("cp1252"), None),  # undeclared: not UTF-8, so cp1252
        (text.encode("utf-8"), "text/plain;charset=Cp1252"),  # valid UTF-8 wins over a wrong label
        (b"\xef\xbb\xbf" + text.encode("utf-8"), None),
        (text.encode("utf-16"), None),
    ]:
        assert decode_report(raw, content_type) == text


def test_columns_by_name_and_duplicates_summed(caplog):
    text = "product-name\tafn-fulfillable-quantity\tSKU \nWidget\t3\tW-1\nWidget\t4\tW-1\nOther\t--\tO-1\n"
    levels = {lv.sku: lv.quantity for lv in parse_inventory_report(text)}
    assert levels == {"W-1": 7, "O-1": None}
    assert not caplog.records  # "--" is Amazon's way of saying no count: nothing to warn about
    assert parse_inventory_report("sku\tafn-fulfillable-quantity\nH\t5.5\n")[0].quantity is None
    assert "unreadable count '5.5'" in caplog.text


def test_missing_count_column_lists_the_headers_found():
    with pytest.raises(PermanentError) as info:
        parse_inventory_report("sku\tquantity\nA\t1\n")
    assert "afn-fulfillable-quantity" in str(info.value) and "sku, quantity" in str(info.value)
