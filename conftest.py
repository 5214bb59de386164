"""Fixtures shared by every app's tests."""

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent
SHARED_DIR = PROJECT_ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"


def need(condition: bool, reason: str):
    """Skip on a laptop that lacks an outside part; in CI a missing part fails."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def real_inputs():
    folder = SHARED_DIR / "real-inputs"
    need(folder.is_dir(), f"the real input files are not at {folder}")
    return folder


@pytest.fixture
def store(db):
    from inventory.models import Store

    return Store.objects.create(name="Main shop", slug="main")


@pytest.fixture
def make_items(db):
    """Create items with stock through the services (so the ledger starts right)."""
    from inventory import services

    def make(store, counts: dict[str, int], **details):
        ids = services.create_items(
            store,
            [{"code": code, "stock": stock, **details} for code, stock in counts.items()],
            source="admin",
        )
        from inventory.models import InventoryItem

        return {item.code: item for item in InventoryItem.objects.filter(pk__in=ids.values())}

    return make
