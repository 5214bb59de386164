"""The shared HTTP client: retries, hints, pacing, errors and redaction."""

from __future__ import annotations

import logging
import socket
from email.utils import formatdate

import pytest

from integrations.adapters import ADAPTERS
from integrations.adapters.base import (
    Adapter,
    AdapterError,
    AuthError,
    Capabilities,
    PermanentError,
    TransientError,
    chunked,
    content_key,
)
from integrations.adapters.http import HttpClient, VirtualTime, parse_retry_after, scrub
from integrations.fakes.server import FakeServer, FixedWindow, SlidingWindow, TokenBucket

from .conftest import SCALE, delay_beyond_timeout

SECRET = "sk_live_very_secret_token"


class EchoFake(FakeServer):
    name = "echo"

    def setup_routes(self):
        self.route("GET", r"/ok", lambda r: {"ok": True})
        self.route("POST", r"/ok", lambda r: (201, {"made": r.json()}))
        self.route("GET", r"/bad", lambda r: (422, {"errors": {"quantity": ["must be a number"]}}))
        self.route("GET", r"/problem", lambda r: (422, {"title": "Item C is gone", "detail": "gone"}))
        self.route("GET", r"/auth", lambda r: (401, {"message": f"token {SECRET} refused"}))
        self.route("GET", r"/moved", lambda r: (301, {}, {"Location": "https://elsewhere.example/x"}))


@pytest.fixture
def echo():
    with EchoFake(time_scale=SCALE) as fake:
        yield fake


class Recorder:
    def __init__(self):
        self.sleeps = []

    def __call__(self, seconds):
        self.sleeps.append(seconds)


def test_retry_after_seconds_and_date():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("nonsense") is None
    import time as _time

    later = formatdate(_time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(later) <= 31


def test_429_honours_retry_after_then_succeeds(echo):
    sleeps = Recorder()
    client = HttpClient(sleep=sleeps, rng=lambda: 1.0)
    echo.inject("/ok", 429, times=2, headers={"Retry-After": "3"})
    assert client.request("GET", f"{echo.url}/ok").json() == {"ok": True}
    assert sleeps.sleeps == [3.0, 3.0]
    assert [r.status for r in echo.requests()] == [429, 429, 200]


def test_service_reset_header_in_milliseconds(echo):
    sleeps = Recorder()
    client = HttpClient(sleep=sleeps)
    echo.inject("/ok", 429, times=1, headers={"X-Rate-Limit-Time-Reset-Ms": "1500"})
    client.request("GET", f"{echo.url}/ok", retry_after_headers=[("X-Rate-Limit-Time-Reset-Ms", 0.001)])
    assert sleeps.sleeps == [1.5]


def test_5xx_backoff_is_exponential_full_jitter(echo):
    sleeps = Recorder()
    client = HttpClient(sleep=sleeps, rng=lambda: 1.0, backoff_base=0.5, backoff_max=3, max_attempts=6)
    echo.inject("/ok", 503, times=5)
    client.request("GET", f"{echo.url}/ok")
    assert sleeps.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]
    jittered = HttpClient(sleep=Recorder(), rng=lambda: 0.25)
    assert jittered.backoff(3) == 0.25 * 2.0


def test_5xx_gives_up_as_transient(echo):
    client = HttpClient(sleep=Recorder(), max_attempts=3)
    echo.inject("/ok", 502, times=10)
    with pytest.raises(TransientError) as info:
        client.request("GET", f"{echo.url}/ok")
    assert "3 attempts" in str(info.value)
    assert len(echo.requests()) == 3


def test_other_4xx_never_retried_and_message_extracted(echo):
    client = HttpClient(sleep=Recorder())
    with pytest.raises(PermanentError) as info:
        client.request("GET", f"{echo.url}/bad")
    assert "quantity: must be a number" in str(info.value)
    assert info.value.status == 422
    with pytest.raises(PermanentError) as info:
        client.request("GET", f"{echo.url}/problem")
    assert "Item C is gone" in str(info.value)
    assert len(echo.requests()) == 2


def test_redirects_are_not_followed(echo):
    with pytest.raises(PermanentError) as info:
        HttpClient(sleep=Recorder()).request("GET", f"{echo.url}/moved")
    assert "elsewhere.example" in str(info.value)


def test_timeout_retried(echo, timescale):
    client = HttpClient(timeout=(1, 0.3), sleep=timescale.sleep, clock=timescale.monotonic)
    echo.delay("/ok", delay_beyond_timeout(), times=1)
    retries = []
    client.on_retry = lambda attempt, delay, reason: retries.append(reason)
    assert client.request("GET", f"{echo.url}/ok").json() == {"ok": True}
    assert retries == ["timed out"]


def test_connection_refused_is_transient():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = HttpClient(sleep=Recorder(), max_attempts=2, timeout=(0.5, 0.5))
    with pytest.raises(TransientError) as info:
        client.request("GET", f"http://127.0.0.1:{port}/x")
    assert "connection failed" in str(info.value)


def test_throttle_hook_retries_a_200(echo):
    sleeps = Recorder()
    seen = []

    def throttle(response):
        seen.append(1)
        return 1.25 if len(seen) == 1 else None

    HttpClient(sleep=sleeps).request("GET", f"{echo.url}/ok", throttle=throttle)
    assert sleeps.sleeps == [1.25] and len(echo.requests()) == 2


def test_pacing_hook_waits_before_the_next_call(echo):
    vt = VirtualTime()
    client = HttpClient(sleep=vt.sleep, clock=vt.monotonic)
    client.request("GET", f"{echo.url}/ok", pace=lambda r: 5.0)
    assert vt.slept == 0
    client.request("GET", f"{echo.url}/ok")
    assert vt.slept == 5.0


def test_secrets_never_in_errors_or_logs(echo, caplog):
    caplog.set_level(logging.DEBUG)
    client = HttpClient(sleep=Recorder(), max_attempts=2)
    headers = {"Authorization": f"Bearer {SECRET}", "X-Auth-Token": SECRET}
    with pytest.raises(AuthError) as info:
        client.request(
            "GET", f"{echo.url}/auth", headers=headers, params={"consumer_secret": SECRET}, secrets=[SECRET]
        )
    assert SECRET not in str(info.value) and "consumer_secret=***" in str(info.value)
    echo.inject("/ok", 500, times=5, body={"message": f"backend saw {SECRET}"})
    with pytest.raises(TransientError) as info:
        client.request(
            "GET", f"{echo.url}/ok", headers=headers, params={"consumer_key": SECRET}, secrets=[SECRET]
        )
    assert SECRET not in str(info.value)
    assert SECRET not in caplog.text
    logged = echo.requests()[0]
    assert logged.headers["Authorization"] == "***" and logged.query["consumer_secret"] == ["***"]
    assert SECRET not in repr(client)


def test_scrub_handles_basic_and_query():
    text = scrub("Authorization: Basic Y2tfMTIzOmNzXzQ1Ng== url?consumer_key=ck_1&x=2", ["cs_456"])
    assert "Y2tf" not in text and "ck_1" not in text and "x=2" in text


def test_limiters_and_helpers():
    now = [0.0]
    clock = lambda: now[0]  # noqa: E731
    window = FixedWindow(2, 30, clock)
    assert window.try_take() and window.try_take() and not window.try_take()
    now[0] = 30
    assert window.left == 2
    sliding = SlidingWindow(2, 60, clock)
    assert sliding.try_take() and sliding.try_take() and not sliding.try_take()
    assert sliding.retry_after == 60
    bucket = TokenBucket(10, 5, clock)
    assert bucket.try_take(10) and not bucket.try_take(1)
    now[0] += 1
    assert bucket.try_take(5)
    assert [len(c) for c in chunked(range(7), 3)] == [3, 3, 1]
    assert content_key({"a": 1, "b": 2}) == content_key({"b": 2, "a": 1}) != content_key({"a": 2})


def test_fake_request_log_and_post(echo):
    client = HttpClient(sleep=Recorder())
    assert client.request("POST", f"{echo.url}/ok", json={"x": 1}).json() == {"made": {"x": 1}}
    assert echo.requests("POST")[0].json() == {"x": 1}
    assert echo.requests("GET") == []


# -- the adapter base contract ----------------------------------------------------------------


class _Minimal(Adapter):
    kind = "minimal"
    role = "cart"
    display_name = "Minimal"
    capabilities = Capabilities(
        pull=False, push=False, replaced_skus=False, batch_limit=None, rate_limit="none"
    )
    credential_fields = ("token",)
    secret_fields = ("token",)

    def test_connection(self):
        return []


def test_base_defaults_are_clear_errors_and_repr_is_safe():
    adapter = _Minimal(base_url="https://x.example/", credentials={"token": SECRET})
    assert adapter.base_url == "https://x.example"
    for call in (
        lambda: list(adapter.fetch_levels()),
        lambda: adapter.push([]),
        lambda: adapter.lookup([]),
        lambda: adapter.read_levels([]),
        lambda: list(adapter.fetch_products()),
        lambda: adapter.verify_webhook({}, b"", "s"),
        lambda: adapter.parse_webhook({}, b""),
    ):
        with pytest.raises(AdapterError, match="Minimal does not support"):
            call()
    assert SECRET not in repr(adapter) and adapter.secret_values == (SECRET,)
    with pytest.raises(AuthError, match="missing credential"):
        _Minimal(base_url="https://x.example", credentials={"token": " "})


def test_every_registered_adapter_declares_the_contract():
    for kind, cls in ADAPTERS.items():
        assert cls.kind == kind and cls.role in ("cart", "fulfillment")
        assert isinstance(cls.capabilities, Capabilities) and cls.display_name
    for kind in ("shopify", "woocommerce", "bigcommerce", "square"):
        caps = ADAPTERS[kind].capabilities
        assert caps.push and caps.replaced_skus and caps.webhooks and ADAPTERS[kind].role == "cart"
