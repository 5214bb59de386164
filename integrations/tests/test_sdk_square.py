"""The Square fake driven by Square's own Python SDK (squareup), a test-only dependency.

The SDK accepts a ``base_url``, so it talks to the fake exactly as it talks to
Square: same paths, headers (``Square-Version``, Bearer) and bodies.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

square = pytest.importorskip("square", reason="squareup is a test-only dependency")
from square.core.api_error import ApiError  # noqa: E402

TOKEN = "sq_fake_token"


def client(fake, token=TOKEN):
    return square.Square(base_url=fake.url, token=token, timeout=5)


def test_sdk_search_write_and_read(square_fake):
    vid = square_fake.add_item("SDK-1", 2)["variation_id"]
    sdk = client(square_fake)
    assert [loc.name for loc in sdk.locations.list().locations] == ["Main store"]
    found = sdk.catalog.search(
        object_types=["ITEM_VARIATION"],
        query={"exact_query": {"attribute_name": "sku", "attribute_value": "SDK-1"}},
    )
    assert [obj.id for obj in found.objects] == [vid]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    change = {
        "type": "PHYSICAL_COUNT",
        "physical_count": {
            "catalog_object_id": vid,
            "location_id": square_fake.default_location,
            "state": "IN_STOCK",
            "quantity": "15",
            "occurred_at": now,
        },
    }
    answer = sdk.inventory.batch_create_changes(idempotency_key="sdk-1", changes=[change])
    assert answer.counts[0].quantity == "15"
    again = sdk.inventory.batch_create_changes(idempotency_key="sdk-1", changes=[change])
    assert again.counts[0].quantity == "15" and square_fake.applied_batches == 1
    counts = list(sdk.inventory.batch_get_counts(catalog_object_ids=[vid]))
    assert [c.quantity for c in counts] == ["15"]
    assert square_fake.requests()[0].headers["Square-Version"]


def test_sdk_sees_squares_errors(square_fake):
    vid = square_fake.add_item("SDK-1", 2)["variation_id"]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    change = {
        "type": "PHYSICAL_COUNT",
        "physical_count": {
            "catalog_object_id": vid,
            "location_id": square_fake.default_location,
            "state": "IN_STOCK",
            "quantity": "1",
            "occurred_at": now,
        },
    }
    sdk = client(square_fake)
    sdk.inventory.batch_create_changes(idempotency_key="k", changes=[change])
    change["physical_count"]["quantity"] = "2"
    with pytest.raises(ApiError) as info:
        sdk.inventory.batch_create_changes(idempotency_key="k", changes=[change])
    assert info.value.status_code == 400 and "IDEMPOTENCY_KEY_REUSED" in str(info.value.body)
    with pytest.raises(ApiError) as info:
        client(square_fake, token="wrong").locations.list()
    assert info.value.status_code == 401
