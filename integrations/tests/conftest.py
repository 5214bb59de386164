"""Fixtures that start each fake on a free port and build adapters pointed at it.

Every fake and client share one :class:`TimeScale`: service seconds run at
``SCALE`` real seconds each, so a ``Retry-After: 2`` costs a few milliseconds
while every header and computation keeps its real units.
"""

from __future__ import annotations

import pytest

from integrations.adapters.http import HttpClient, TimeScale, VirtualTime
from integrations.fakes.bigcommerce import BigCommerceFake
from integrations.fakes.shopify import ShopifyFake
from integrations.fakes.square import SquareFake
from integrations.fakes.woocommerce import WooCommerceFake

SCALE = 0.002  # real seconds per service second
READ_TIMEOUT = 0.4  # real seconds; fakes' delay() goes beyond it to trip timeouts


@pytest.fixture
def timescale() -> TimeScale:
    return TimeScale(SCALE)


@pytest.fixture
def client(timescale: TimeScale) -> HttpClient:
    return HttpClient(
        timeout=(2, READ_TIMEOUT),
        max_attempts=8,
        sleep=timescale.sleep,
        clock=timescale.monotonic,
    )


def delay_beyond_timeout() -> float:
    """Service seconds a fake must hold a request so the client's read timeout fires."""
    return (READ_TIMEOUT * 2) / SCALE


@pytest.fixture
def shopify_fake():
    with ShopifyFake(time_scale=SCALE) as fake:
        yield fake


@pytest.fixture
def woo_fake():
    with WooCommerceFake(time_scale=SCALE) as fake:
        yield fake


@pytest.fixture
def bc_fake():
    with BigCommerceFake(time_scale=SCALE) as fake:
        yield fake


@pytest.fixture
def square_fake():
    with SquareFake(time_scale=SCALE) as fake:
        yield fake


def virtual_client(read_timeout: float = 2.0) -> tuple[VirtualTime, HttpClient]:
    """A client on virtual time: pass ``clock=vt.monotonic`` to the fake too.

    Rate-limit tests use it so that whether a limit is hit never depends on how
    busy the machine is: service time passes only while the client waits.
    """
    vt = VirtualTime()
    client = HttpClient(timeout=(2, read_timeout), max_attempts=8, sleep=vt.sleep, clock=vt.monotonic)
    return vt, client
