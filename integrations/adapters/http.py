"""The one HTTP client every adapter uses.

Carts and fulfillment services fail in the same few ways: rate limits (429,
sometimes a 200 with a throttle marker), overloaded servers (5xx), timeouts and
dropped connections. Handling them once here keeps each adapter about its
service's data, and gives every adapter the same guarantees:

* a timeout on every call;
* 429, 5xx, timeouts and connection errors retried with exponential backoff and
  full jitter, honouring ``Retry-After`` and the service's own reset headers;
* other 4xx never retried: 401/403 raise :class:`AuthError`, the rest
  :class:`PermanentError` carrying the service's message;
* no credentials in any message or log line.

Time is injectable (``sleep`` and ``clock``) so that tests run rate-limit
windows at a fraction of real time instead of sleeping real seconds.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from .base import AdapterError, AuthError, PermanentError, TransientError

__all__ = [
    "DEFAULT_SECRET_HEADERS",
    "DEFAULT_SECRET_PARAMS",
    "HttpClient",
    "TimeScale",
    "VirtualTime",
    "error_message",
    "parse_retry_after",
    "scrub",
]

logger = logging.getLogger("integrations.http")

#: Headers whose values are credentials; they never appear in messages or logs.
DEFAULT_SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-shopify-access-token",
        "x-auth-token",
        "x-auth-client",
        "api-key",
        "x-api-key",
        "orderdesk-api-key",
        "x-amz-access-token",
        "x-amz-security-token",
    }
)

#: Query parameters whose values are credentials (WooCommerce query-string auth, OAuth1).
DEFAULT_SECRET_PARAMS = frozenset(
    {
        "consumer_key",
        "consumer_secret",
        "oauth_consumer_key",
        "oauth_signature",
        "oauth_token",
        "access_token",
        "api_key",
        "apikey",
        "token",
        "key",
        "secret",
        "password",
    }
)

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})

# A throttle hook returns the seconds to wait before retrying (0 = "use backoff"),
# or None when the response is a real answer.
ThrottleHook = Callable[[requests.Response], "float | None"]
# A pacing hook returns the seconds to wait before the *next* call, or None.
PaceHook = Callable[[requests.Response], "float | None"]
# Header name (seconds) or (header name, multiplier to seconds), e.g. ("X-Reset-Ms", 0.001).
RetryHeader = "str | tuple[str, float]"


class _RedactingFilter(logging.Filter):
    """Scrubs credential query values from urllib3's DEBUG request lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


if not any(isinstance(f, _RedactingFilter) for f in logging.getLogger("urllib3.connectionpool").filters):
    logging.getLogger("urllib3.connectionpool").addFilter(_RedactingFilter())


class TimeScale:
    """Service seconds mapped onto real time: ``factor`` real seconds per service second.

    Pass ``sleep=ts.sleep, clock=ts.monotonic`` to :class:`HttpClient` and the
    same factor as a fake server's ``time_scale``; a ``Retry-After: 2`` then
    costs ``2 * factor`` real seconds while every computation stays in the
    service's own units.
    """

    def __init__(self, factor: float = 1.0):
        if factor <= 0:
            raise ValueError("factor must be positive")
        self.factor = factor
        self.slept = 0.0  # service seconds spent sleeping, for assertions

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.slept += seconds
            time.sleep(seconds * self.factor)

    def monotonic(self) -> float:
        return time.monotonic() / self.factor


class VirtualTime:
    """A clock that moves only when someone sleeps on it (tests and benchmarks).

    Shared by a client (``sleep=vt.sleep, clock=vt.monotonic``) and a fake server
    (``clock=vt.monotonic``), it makes rate-limit behaviour independent of how
    fast the machine is: between two calls no service time passes unless the
    client waited, exactly as if requests took no time at all.
    """

    def __init__(self, start: float = 0.0):
        self._now = float(start)
        self._lock = threading.Lock()
        self.slept = 0.0

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._now += seconds
                self.slept += seconds
        time.sleep(0)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove secret values and credential-bearing query parameters from text."""
    if not text:
        return text
    for value in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        text = text.replace(value, "***")
    pattern = "|".join(re.escape(p) for p in sorted(DEFAULT_SECRET_PARAMS, key=len, reverse=True))
    text = re.sub(rf"(?i)\b({pattern})=([^&\s'\"<>]*)", r"\1=***", text)
    text = re.sub(r"(?i)(\bbasic|\bbearer)\s+[A-Za-z0-9._~+/=-]+", r"\1 ***", text)
    return text


def safe_url(url: str) -> str:
    """The URL with credential-bearing query values replaced, for messages."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [
        (k, "***" if k.lower() in DEFAULT_SECRET_PARAMS else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe=",:*")))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "; ".join(t for t in (_text_of(v) for v in value) if t)
    if isinstance(value, dict):
        for key in ("message", "detail", "title", "error_description", "error"):
            if value.get(key):
                return _text_of(value[key])
        parts = []
        for key, inner in value.items():
            text = _text_of(inner)
            if text:
                parts.append(f"{key}: {text}")
        return "; ".join(parts)
    return "" if value is None else str(value)


def error_message(response: requests.Response) -> str:
    """The service's own explanation from an error response, in the common shapes.

    Handles ``{"message"}``, ``{"errors": "..."|[...]|{field: [...]}}``,
    problem+json ``{"title", "detail"}`` and ``{"error": {...}}``; falls back to
    the start of the body text.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    text = ""
    if isinstance(body, dict):
        for key in ("errors", "message", "title", "detail", "error", "error_description"):
            if body.get(key):
                text = _text_of(body[key])
                if key == "title" and body.get("detail"):
                    text = f"{text}: {_text_of(body['detail'])}"
                if text:
                    break
    elif isinstance(body, list):
        text = _text_of(body)
    if not text:
        text = (response.text or "").strip()[:300]
    return text or (response.reason or f"HTTP {response.status_code}")


class HttpClient:
    """``requests`` with timeouts, retries, pacing and redaction built in.

    One client belongs to one adapter instance (its pacing state is per service
    account). ``on_retry(attempt, delay, reason)`` is called before each wait so
    the caller can count retries or show progress.
    """

    def __init__(
        self,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = (5, 30),
        max_attempts: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 60,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        on_retry: Callable[[int, float, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        retry_after_max: float = 900,
        user_agent: str = "inventory-hub/1.0",
    ):
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_attempts = max(1, int(max_attempts))
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.sleep = sleep
        self.rng = rng
        self.on_retry = on_retry
        self.clock = clock
        self.retry_after_max = retry_after_max
        self.user_agent = user_agent
        self._ready_at = 0.0  # clock() value before which the next call must wait
        self.calls = 0  # HTTP requests actually sent (including retries)

    def __repr__(self) -> str:
        return f"<HttpClient timeout={self.timeout!r} max_attempts={self.max_attempts}>"

    # -- pacing -------------------------------------------------------------------

    def wait_before_next(self, seconds: float) -> None:
        """Ask that the next call on this client wait ``seconds`` (service units)."""
        if seconds and seconds > 0:
            self._ready_at = max(self._ready_at, self.clock() + seconds)

    def _honour_pacing(self) -> None:
        wait = self._ready_at - self.clock()
        if wait > 0:
            self.sleep(wait)

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**(attempt-1))]."""
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** max(0, attempt - 1)))
        return self.rng() * ceiling

    # -- the call -----------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Any = None,
        expect: Iterable[int] = (200, 201, 202, 204),
        retry_after_headers: Sequence[Any] = (),
        throttle: ThrottleHook | None = None,
        pace: PaceHook | None = None,
        auth: Any = None,
        secrets: Iterable[str] = (),
        message: Callable[[requests.Response], str] | None = None,
        timeout: float | tuple[float, float] | None = None,
        label: str | None = None,
    ) -> requests.Response:
        """Send one logical request, retrying what is worth retrying.

        ``secrets`` are values (tokens, keys) to scrub from any text this call
        raises or logs, on top of the standard credential headers and params.
        ``label`` names the call in messages instead of the URL.
        """
        expected = frozenset(expect)
        secrets = tuple(s for s in secrets if s)
        method = method.upper()
        what = label or f"{method} {safe_url(self._display_url(url, params))}"
        base_headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        base_headers.update(headers or {})
        last_reason = ""
        attempt = 0
        while True:
            attempt += 1
            self._honour_pacing()
            hint: float | None = None
            try:
                self.calls += 1
                response = self.session.request(
                    method,
                    url,
                    headers=base_headers,
                    params=params,
                    json=json,
                    data=data,
                    auth=auth,
                    timeout=timeout if timeout is not None else self.timeout,
                    allow_redirects=False,
                )
            except requests.Timeout:
                last_reason = "timed out"
            except requests.ConnectionError as exc:
                last_reason = "connection failed: " + scrub(type(exc).__name__, secrets)
            except requests.RequestException as exc:  # invalid URL and the like
                raise PermanentError(scrub(f"{what}: {type(exc).__name__}: {exc}", secrets)) from None
            else:
                if pace is not None:
                    self.wait_before_next(pace(response) or 0)
                status = response.status_code
                if status in expected:
                    wait = throttle(response) if throttle is not None else None
                    if wait is None:
                        return response
                    last_reason = "throttled"
                    hint = wait if wait > 0 else None
                elif status in RETRYABLE_STATUSES or status >= 500:
                    last_reason = f"HTTP {status}"
                    hint = self._retry_hint(response, retry_after_headers)
                    detail = self._safe_message(response, message, secrets)
                    if detail:
                        last_reason = f"HTTP {status}: {detail[:200]}"
                else:
                    self._raise_for(response, what, message, secrets)
            if attempt >= self.max_attempts:
                logger.warning("%s gave up after %d attempts: %s", what, attempt, last_reason)
                raise TransientError(
                    scrub(f"{what}: still failing after {attempt} attempts ({last_reason})", secrets)
                )
            if hint is not None and hint > self.retry_after_max:
                raise TransientError(
                    scrub(f"{what}: {last_reason}; the service asks to wait {hint:.0f}s", secrets)
                )
            delay = hint if hint is not None else self.backoff(attempt)
            logger.info("%s: %s; retry %d in %.2fs", what, scrub(last_reason, secrets), attempt, delay)
            if self.on_retry is not None:
                self.on_retry(attempt, delay, last_reason)
            self.sleep(delay)

    # -- internals ----------------------------------------------------------------

    @staticmethod
    def _display_url(url: str, params: Any) -> str:
        if not params:
            return url
        try:
            query = urlencode(list(params.items()) if isinstance(params, Mapping) else list(params))
        except TypeError:
            return url
        return f"{url}{'&' if '?' in url else '?'}{query}"

    def _retry_hint(self, response: requests.Response, extra: Sequence[Any]) -> float | None:
        hints = []
        for spec in extra:
            name, scale = (spec, 1.0) if isinstance(spec, str) else (spec[0], float(spec[1]))
            raw = response.headers.get(name)
            if raw is None:
                continue
            try:
                hints.append(max(0.0, float(raw.strip()) * scale))
            except ValueError:
                parsed = parse_retry_after(raw)
                if parsed is not None:
                    hints.append(parsed)
        standard = parse_retry_after(response.headers.get("Retry-After"))
        if standard is not None:
            hints.append(standard)
        return max(hints) if hints else None

    @staticmethod
    def _safe_message(response, message, secrets) -> str:
        try:
            text = message(response) if message is not None else error_message(response)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError):  # keep the status
            text = ""
        return scrub(text or "", secrets)

    def _raise_for(self, response, what, message, secrets) -> None:
        status = response.status_code
        detail = self._safe_message(response, message, secrets)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        code = _error_code(payload)
        text = scrub(f"{what}: HTTP {status}: {detail}", secrets)
        logger.info("%s", text)
        if status in (401, 403):
            raise AuthError(text, status=status, code=code)  # no payload: it may echo what was refused
        if 300 <= status < 400:
            location = safe_url(response.headers.get("Location", ""))
            raise PermanentError(
                scrub(f"{what}: redirected to {location or 'elsewhere'}; use that URL", secrets),
                status=status,
            )
        raise PermanentError(text, status=status, code=code, payload=payload)


def _error_code(body: Any) -> str | None:
    """The service's machine-readable error code, if the body carries one."""
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, dict):
        return None
    candidates = [body.get("code")]
    if isinstance(body.get("error"), dict):
        candidates.append(body["error"].get("code"))
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        candidates.append(errors[0].get("code"))
        candidates.append((errors[0].get("extensions") or {}).get("code"))
    for value in candidates:
        if isinstance(value, str) and value:
            return value
    return None


def is_adapter_error(value: Any) -> bool:
    return isinstance(value, AdapterError)
