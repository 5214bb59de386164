"""The Shopify fake driven by Shopify's own Python SDK (ShopifyAPI), a test-only dependency.

If the fake only understood our adapter's queries, it could agree with our
mistakes; the vendor's client speaking to it shows the protocol is the real one.
"""

from __future__ import annotations

import json

import pytest

shopify = pytest.importorskip("shopify", reason="ShopifyAPI is a test-only dependency")

TOKEN = "shpat_fake_token"
VERSION = "2026-04"


@pytest.fixture
def sdk(shopify_fake):
    session = shopify.Session("demo-shop.myshopify.com", VERSION, TOKEN)
    shopify.ShopifyResource.activate_session(session)
    # The SDK always builds https://{shop}.myshopify.com; point its site at the fake instead.
    shopify.ShopifyResource.site = f"{shopify_fake.url}/admin/api/{VERSION}"
    try:
        yield shopify
    finally:
        shopify.ShopifyResource.clear_session()


def test_sdk_graphql_lookup_and_idempotent_write(shopify_fake, sdk):
    shopify_fake.add_product("SDK-1", 2)
    shopify_fake.add_product("SDK-10", 9)
    location = f"gid://shopify/Location/{shopify_fake.default_location}"
    lookup = """
      query Find($q: String!, $loc: ID!) {
        productVariants(first: 10, query: $q) {
          edges { node { sku inventoryItem { id inventoryLevel(locationId: $loc) {
            quantities(names: ["available"]) { name quantity } } } } }
        }
      }"""
    answer = json.loads(sdk.GraphQL().execute(lookup, {"q": "sku:SDK-1", "loc": location}))
    nodes = [edge["node"] for edge in answer["data"]["productVariants"]["edges"]]
    assert sorted(n["sku"] for n in nodes) == ["SDK-1", "SDK-10"]  # loose search, as the real one
    assert answer["extensions"]["cost"]["throttleStatus"]["restoreRate"] == 100.0
    item = next(n for n in nodes if n["sku"] == "SDK-1")["inventoryItem"]["id"]
    mutation = """
      mutation Set($input: InventorySetQuantitiesInput!) {
        inventorySetQuantities(input: $input) @idempotent(key: "sdk-key-1") {
          inventoryAdjustmentGroup { changes { name delta } }
          userErrors { code field message }
        }
      }"""
    payload = {
        "input": {
            "name": "available",
            "reason": "correction",
            "quantities": [
                {"inventoryItemId": item, "locationId": location, "quantity": 12, "changeFromQuantity": 2}
            ],
        }
    }
    first = json.loads(sdk.GraphQL().execute(mutation, payload))
    assert first["data"]["inventorySetQuantities"]["userErrors"] == []
    assert first["data"]["inventorySetQuantities"]["inventoryAdjustmentGroup"]["changes"][0]["delta"] == 10
    again = json.loads(sdk.GraphQL().execute(mutation, payload))
    assert again["data"] == first["data"] and shopify_fake.applied_writes == 1
    assert shopify_fake.level("SDK-1") == 12


def test_sdk_rest_resources(shopify_fake, sdk):
    ids = shopify_fake.add_product("SDK-R", 1)
    locations = sdk.Location.find()
    assert [loc.name for loc in locations] == ["Shop location"]
    level = sdk.InventoryLevel.set(shopify_fake.default_location, ids["inventory_item_id"], 33)
    assert level.available == 33 and shopify_fake.level("SDK-R") == 33
