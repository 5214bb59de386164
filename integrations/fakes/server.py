"""A small framework for local fake servers of outside services.

Outside services can't be reached from tests or the demo, so each adapter is
proven against a fake that behaves like the real API over real HTTP: same
paths, auth, limits, headers, error shapes and quirks. This module holds what
every fake needs:

* :class:`FakeServer` on ``http.server.ThreadingHTTPServer`` (HTTP/1.1 keep-alive,
  port 0 picks a free port), routing by method + regex, JSON helpers;
* a clock in *service seconds* with a ``time_scale`` (real seconds per service
  second) so rate-limit windows and ``Retry-After`` run faster in tests;
* in-memory state guarded by one lock;
* a request log with secret headers and query values redacted;
* fault injection: :meth:`FakeServer.inject` (status storms) and
  :meth:`FakeServer.delay` (slow replies that trip client timeouts);
* rate limiters with the algorithms real services use.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "FakeServer",
    "FixedWindow",
    "HttpError",
    "LeakyBucket",
    "LoggedRequest",
    "Request",
    "Response",
    "SlidingWindow",
    "TokenBucket",
    "json_response",
    "serve_forever",
]

logger = logging.getLogger("integrations.fakes")

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "cookie",
        "x-shopify-access-token",
        "x-auth-token",
        "x-auth-client",
        "api-key",
        "x-api-key",
        "orderdesk-api-key",
        "x-amz-access-token",
    }
)
SECRET_PARAMS = frozenset(
    {"consumer_key", "consumer_secret", "oauth_signature", "oauth_consumer_key", "access_token", "api_key"}
)


_SECRET_QUERY = re.compile(r"(?i)\b(" + "|".join(sorted(SECRET_PARAMS)) + r")=[^&\s\"]*")


class Headers:
    """Case-insensitive, read-only view of request headers."""

    def __init__(self, items: Iterable[tuple[str, str]]):
        self._items = list(items)
        self._lower = {}
        for key, value in self._items:
            self._lower.setdefault(key.lower(), value)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._lower.get(name.lower(), default)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._lower

    def __getitem__(self, name: str) -> str:
        return self._lower[name.lower()]

    def items(self):
        return list(self._items)

    def __iter__(self):
        return iter(k for k, _ in self._items)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes
    raw_query: str = ""
    match: re.Match | None = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The decoded body; a malformed body is the client's fault (400)."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HttpError(400, {"message": f"Malformed JSON: {exc}"}) from None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(
    status: int,
    payload: Any,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json",
) -> Response:
    body = json.dumps(payload).encode()
    out = {"Content-Type": content_type}
    out.update(headers or {})
    return Response(status, body, out)


class HttpError(Exception):
    """Raised by a handler to answer with an error response."""

    def __init__(
        self,
        status: int,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ):
        super().__init__(status)
        self.response = json_response(status, payload if payload is not None else {}, headers, content_type)


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # secrets redacted
    body: bytes
    status: int | None = None
    at: float = 0.0  # service seconds

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class _Fault:
    pattern: re.Pattern
    method: str | None
    remaining: int
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    seconds: float = 0.0
    skip: int = 0  # matching requests to let through before the fault starts


Handler = Callable[[Request], "Response | tuple | dict | list | None"]


class FakeServer:
    """Base class: subclasses register routes in :meth:`setup_routes`.

    Hooks, in order, for every request: fault injection and delays,
    :meth:`before` (auth, version checks, rate limits; may return a Response),
    the route handler, then :meth:`after` (headers every reply carries).
    """

    name = "fake"
    secret_headers: frozenset[str] = SECRET_HEADERS

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = 1.0,
        clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] | None = None,
    ):
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.host = host
        self.port = port
        self.time_scale = time_scale
        self._real_clock = clock or time.monotonic
        self._wall_clock = wall_clock or time.time
        self._t0 = self._real_clock()
        self.lock = threading.RLock()
        self.log: list[LoggedRequest] = []
        self._faults: list[_Fault] = []
        self._delays: list[_Fault] = []
        self._routes: list[tuple[str, re.Pattern, Handler]] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.setup_routes()

    # -- time ---------------------------------------------------------------------

    def now(self) -> float:
        """Monotonic service seconds since the fake was made."""
        return (self._real_clock() - self._t0) / self.time_scale

    def wall_time(self) -> float:
        """Unix time as the service sees it (for timestamps and date windows)."""
        return self._wall_clock()

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` service seconds; returns early when the fake stops."""
        if seconds > 0:
            self._stopping.wait(seconds * self.time_scale)

    # -- routing ------------------------------------------------------------------

    def setup_routes(self) -> None:
        """Register routes with :meth:`route`."""

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(pattern + r"\Z"), handler))

    def before(self, request: Request) -> Response | None:
        return None

    def after(self, request: Request, response: Response) -> None:
        return None

    def not_found(self, request: Request) -> Response:
        return json_response(404, {"message": "Not Found"})

    def method_not_allowed(self, request: Request) -> Response:
        return json_response(405, {"message": "Method Not Allowed"})

    # -- fault injection -------------------------------------------------------------

    def inject(
        self,
        path_regex: str,
        status: int,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        method: str | None = None,
        skip: int = 0,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (before auth).

        ``skip`` lets that many matching requests through first, so a fault can
        land in the middle of a paged read (page 2 answers 429, say).
        """
        with self.lock:
            self._faults.append(
                _Fault(
                    re.compile(path_regex),
                    method and method.upper(),
                    times,
                    status,
                    dict(headers or {}),
                    body,
                    skip=skip,
                )
            )

    def delay(self, path_regex: str, seconds: float, times: int = 1, method: str | None = None) -> None:
        """Hold the next ``times`` matching requests ``seconds`` service seconds, then serve them.

        The request is still processed after the delay, as a real server would
        after the client has given up, so idempotency matters for retries.
        """
        with self.lock:
            self._delays.append(
                _Fault(re.compile(path_regex), method and method.upper(), times, seconds=seconds)
            )

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()
            self._delays.clear()

    def _take(self, faults: list[_Fault], method: str, path: str) -> _Fault | None:
        with self.lock:
            for fault in faults:
                if fault.remaining > 0 and (fault.method in (None, method)) and fault.pattern.search(path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.remaining -= 1
                    return fault
        return None

    # -- request log ----------------------------------------------------------------

    def requests(self, method: str | None = None, path_regex: str | None = None) -> list[LoggedRequest]:
        """Logged requests, optionally filtered (e.g. writes only)."""
        pattern = re.compile(path_regex) if path_regex else None
        with self.lock:
            return [
                r
                for r in self.log
                if (method is None or r.method == method.upper())
                and (pattern is None or pattern.search(r.path))
            ]

    def clear_log(self) -> None:
        with self.lock:
            self.log.clear()

    def _log(self, request: Request, status: int | None) -> None:
        headers = {k: ("***" if k.lower() in self.secret_headers else v) for k, v in request.headers.items()}
        query = {k: (["***"] if k.lower() in SECRET_PARAMS else v) for k, v in request.query.items()}
        with self.lock:
            self.log.append(
                LoggedRequest(request.method, request.path, query, headers, request.body, status, self.now())
            )

    # -- lifecycle ------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(f"{self.name} fake is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = ThreadingHTTPServer((self.host, self.port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-{self.name}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- dispatch -------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        fault = self._take(self._faults, request.method, request.path)
        if fault is not None:
            body = fault.body if fault.body is not None else {"message": f"injected {fault.status}"}
            if isinstance(body, (bytes, str)):
                raw = body.encode() if isinstance(body, str) else body
                return Response(fault.status, raw, {"Content-Type": "text/plain", **fault.headers})
            return json_response(fault.status, body, fault.headers)
        slow = self._take(self._delays, request.method, request.path)
        if slow is not None:
            self.sleep(slow.seconds)
        try:
            early = self.before(request)
            if early is not None:
                response = early
            else:
                response = self._route(request)
        except HttpError as exc:
            response = exc.response
        self.after(request, response)
        return response

    def _route(self, request: Request) -> Response:
        allowed = False
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if not match:
                continue
            if method != request.method:
                allowed = True
                continue
            request.match = match
            return self._coerce(handler(request))
        return self.method_not_allowed(request) if allowed else self.not_found(request)

    @staticmethod
    def _coerce(result: Any) -> Response:
        if isinstance(result, Response):
            return result
        if result is None:
            return Response(204)
        if isinstance(result, tuple):
            status, payload, *rest = result
            return json_response(status, payload, rest[0] if rest else None)
        return json_response(200, result)

    def _handler_class(self):
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes
            server_version = f"Fake{fake.name.title()}/1.0"
            timeout = 30

            def date_time_string(self, timestamp=None):  # the fake's clock, not the host's
                return formatdate(fake.wall_time() if timestamp is None else timestamp, usegmt=True)

            def log_message(self, fmt, *args):  # keep test output quiet, and credentials out of it
                line = fmt % args
                line = _SECRET_QUERY.sub(lambda m: f"{m.group(1)}=***", line)
                logger.debug("%s %s", fake.name, line)

            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    self.command.upper(),
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    Headers(self.headers.items()),
                    body,
                    parts.query,
                )
                try:
                    response = fake.handle(request)
                except Exception:  # noqa: BLE001 - a fake bug must surface as a 500, not a hang
                    logger.exception("%s fake failed on %s %s", fake.name, request.method, request.path)
                    response = json_response(500, {"message": "fake server error"})
                fake._log(request, response.status)
                try:
                    self.send_response(response.status)
                    for key, value in response.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(response.body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        return _Handler


# -- rate limiters ----------------------------------------------------------------------
# Each takes a clock in service seconds (usually ``fake.now``) and is not itself
# thread-safe: call them under the fake's lock.


class LeakyBucket:
    """Shopify REST style: ``capacity`` requests, leaking ``rate`` per second."""

    def __init__(self, capacity: float, rate: float, clock: Callable[[], float]):
        self.capacity = capacity
        self.rate = rate
        self.clock = clock
        self.level = 0.0
        self._last = clock()

    def _leak(self) -> None:
        now = self.clock()
        self.level = max(0.0, self.level - (now - self._last) * self.rate)
        self._last = now

    def try_add(self, amount: float = 1.0) -> bool:
        self._leak()
        if self.level + amount > self.capacity:
            return False
        self.level += amount
        return True

    def wait_for(self, amount: float = 1.0) -> float:
        self._leak()
        return max(0.0, (self.level + amount - self.capacity) / self.rate)


class TokenBucket:
    """Cost buckets (Shopify GraphQL points): ``capacity`` tokens restoring ``rate``/s."""

    def __init__(self, capacity: float, rate: float, clock: Callable[[], float]):
        self.capacity = capacity
        self.rate = rate
        self.clock = clock
        self.tokens = float(capacity)
        self._last = clock()

    def _restore(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
        self._last = now

    @property
    def available(self) -> float:
        self._restore()
        return self.tokens

    def try_take(self, amount: float) -> bool:
        self._restore()
        if amount > self.tokens:
            return False
        self.tokens -= amount
        return True

    def refund(self, amount: float) -> None:
        self._restore()
        self.tokens = min(self.capacity, self.tokens + amount)

    def drain(self) -> None:
        """Spend every token now, as another app sharing the bucket would."""
        self._restore()
        self.tokens = 0.0


class FixedWindow:
    """BigCommerce style: ``quota`` requests per ``window`` seconds, reset at window end."""

    def __init__(self, quota: int, window: float, clock: Callable[[], float]):
        self.quota = quota
        self.window = window
        self.clock = clock
        self._start = clock()
        self.used = 0

    def _roll(self) -> None:
        now = self.clock()
        if now - self._start >= self.window:
            elapsed = now - self._start
            self._start += (elapsed // self.window) * self.window
            self.used = 0

    def try_take(self) -> bool:
        self._roll()
        if self.used >= self.quota:
            return False
        self.used += 1
        return True

    @property
    def left(self) -> int:
        self._roll()
        return max(0, self.quota - self.used)

    @property
    def reset_in(self) -> float:
        self._roll()
        return max(0.0, self._start + self.window - self.clock())


class SlidingWindow:
    """ShipBob/ShipStation style: at most ``limit`` requests in any ``window`` seconds."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]):
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: deque[float] = deque()

    def _trim(self) -> float:
        now = self.clock()
        while self._hits and now - self._hits[0] >= self.window:
            self._hits.popleft()
        return now

    def try_take(self) -> bool:
        now = self._trim()
        if len(self._hits) >= self.limit:
            return False
        self._hits.append(now)
        return True

    @property
    def left(self) -> int:
        self._trim()
        return max(0, self.limit - len(self._hits))

    @property
    def retry_after(self) -> float:
        now = self._trim()
        if len(self._hits) < self.limit:
            return 0.0
        return max(0.0, self._hits[0] + self.window - now)


def serve_forever(fake: FakeServer) -> None:
    """Run a fake in the foreground until interrupted (management command, demo)."""
    fake.start()
    print(f"{fake.name} fake listening on {fake.url}", flush=True)  # noqa: T201 - operator feedback
    done = threading.Event()

    def _stop(*_):
        done.set()

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop) if in_main else None
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        fake.stop()
