"""Sync trouble reaches people once per incident (design §8), from real failing runs:
the engine against a fake ShipBob over HTTP, mail through a real SMTP server."""

from __future__ import annotations

import pytest

from integrations import services
from integrations.fakes.shipbob import ShipBobFake
from integrations.models import Integration, SyncRun
from inventory.alerts import SyncIncident

from .conftest import SCALE


@pytest.fixture(autouse=True)
def scaled_adapters(monkeypatch, client):
    original = services.build_adapter
    monkeypatch.setattr(services, "build_adapter", lambda integration, client_=None: original(integration, client))


@pytest.fixture
def shipbob():
    with ShipBobFake(time_scale=SCALE) as fake:
        yield fake


@pytest.fixture
def warehouse(store, shipbob):
    store.low_stock_recipients = "ops@example.com"
    store.save()
    integration = Integration(
        store=store,
        kind="shipbob",
        role=Integration.FULFILLMENT,
        name="ShipBob",
        slug="shipbob",
        base_url=shipbob.url,
        inventory_sync=True,
        schedule_minutes=0,
    )
    integration.credentials = {"token": shipbob.token}
    integration.save()
    return integration


def break_server(fake, times=100):
    fake.inject(r".*", 503, times=times)


def test_refused_credentials_are_mailed_at_once_and_once(inbox, warehouse, shipbob):
    warehouse.credentials = {"token": "revoked-token-1234"}
    warehouse.save()
    assert services.pull(warehouse).status == SyncRun.FAILED
    assert services.pull(warehouse).status == SyncRun.FAILED
    [message] = inbox.take()
    assert message["to"] == ["ops@example.com"]
    assert "ShipBob" in message["subject"]
    assert "revoked-token-1234" not in message["body"]  # never a secret in mail


def test_repeated_failures_mail_on_the_third_then_a_success_closes_the_incident(inbox, warehouse, shipbob):
    break_server(shipbob)
    for expected_mails in (0, 0, 1, 0):
        warehouse.refresh_from_db()
        assert services.pull(warehouse).status == SyncRun.FAILED
        assert len(inbox.take()) == expected_mails
    incident = SyncIncident.objects.get()
    assert incident.is_open and incident.occurrences == 2  # the third and fourth failures

    shipbob.clear_faults()
    warehouse.refresh_from_db()
    assert services.pull(warehouse).status == SyncRun.OK
    incident.refresh_from_db()
    assert not incident.is_open
    warehouse.refresh_from_db()
    assert (warehouse.status, warehouse.consecutive_failures) == (Integration.OK, 0)

    # A new run of failures is a new incident and a new mail.
    break_server(shipbob)
    for _ in range(3):
        warehouse.refresh_from_db()
        services.pull(warehouse)
    assert len(inbox.take()) == 1
