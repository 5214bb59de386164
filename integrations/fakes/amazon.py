"""A fake Amazon Selling Partner API for the FBA inventory report flow.

It covers the path an FBA pull takes (api_contracts.md §8 and §9):

1. Login with Amazon: ``POST /auth/o2/token`` exchanges a refresh token (plus
   client id and secret) for an access token valid one hour;
2. ``POST /reports/2021-06-30/reports`` → 202 ``{"reportId"}``;
3. ``GET /reports/2021-06-30/reports/{id}``: ``IN_QUEUE`` and ``IN_PROGRESS`` over
   several polls, then ``DONE`` (with ``reportDocumentId``), ``CANCELLED`` (no
   data) or ``FATAL`` (with an error document);
4. ``GET /reports/2021-06-30/documents/{id}`` → a pre-signed URL that expires
   after five minutes of service time, and ``compressionAlgorithm: GZIP`` when
   the fake compresses;
5. the download from that URL: no access token (it is pre-signed); an expired
   URL answers 403 with S3's XML error.

Every Selling Partner call needs ``x-amz-access-token`` (403 ``Unauthorized``
otherwise) and has its own token-bucket quota (rate and burst per operation, as
documented); past it: 429 ``QuotaExceeded``. ``x-amzn-RateLimit-Limit`` is sent
on every answer of a throttled operation.

The report is a tab-separated file with the 21 base columns in Amazon's order
(optionally the extra columns some accounts get), a header row, cells such as
``--`` or blank, and text in cp1252 (``Content-Type: text/plain;charset=Cp1252``).
"""

from __future__ import annotations

import gzip
import itertools
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from .server import FakeServer, HttpError, Request, Response, TokenBucket, json_response, serve_forever

__all__ = [
    "BASE_COLUMNS",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_REFRESH_TOKEN",
    "EXTRA_COLUMNS",
    "REPORT_TYPE",
    "AmazonFake",
    "serve",
]

REPORT_TYPE = "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA"
KNOWN_REPORT_TYPES = frozenset({REPORT_TYPE, "GET_FBA_MYI_ALL_INVENTORY_DATA"})
MARKETPLACES = {
    "ATVPDKIKX0DER": ("Amazon.com", "US"),
    "A2EUQ1WTGCTBG2": ("Amazon.ca", "CA"),
    "A1F83G8C2ARO7P": ("Amazon.co.uk", "GB"),
}
BASE_COLUMNS = (
    "sku",
    "fnsku",
    "asin",
    "product-name",
    "condition",
    "your-price",
    "mfn-listing-exists",
    "mfn-fulfillable-quantity",
    "afn-listing-exists",
    "afn-warehouse-quantity",
    "afn-fulfillable-quantity",
    "afn-unsellable-quantity",
    "afn-reserved-quantity",
    "afn-total-quantity",
    "per-unit-volume",
    "afn-inbound-working-quantity",
    "afn-inbound-shipped-quantity",
    "afn-inbound-receiving-quantity",
    "afn-researching-quantity",
    "afn-reserved-future-supply",
    "afn-future-supply-buyable",
)
EXTRA_COLUMNS = (
    "afn-fulfillable-quantity-local",
    "afn-fulfillable-quantity-remote",
    "afn-fc-transfer-quantity",
    "afn-onhand-buyable-quantity",
    "store",
)
# operation -> (requests per second, burst), from the Reports API usage plans.
QUOTAS = {
    "createReport": (0.0167, 15),
    "getReport": (2.0, 15),
    "getReportDocument": (0.0167, 15),
    "getMarketplaceParticipations": (0.016, 15),
}
# Credentials the demo and ``run_fake amazon`` accept (a fake's, not anyone's secret).
DEMO_CLIENT_ID = "amzn1.application-oa2-client.demo"
DEMO_CLIENT_SECRET = "amazon-demo-secret"
DEMO_REFRESH_TOKEN = "Atzr|amazon-demo-refresh"
URL_TTL = 300  # seconds a pre-signed document URL stays valid
TOKEN_TTL = 3600

QUOTA_EXCEEDED = {
    "errors": [
        {
            "code": "QuotaExceeded",
            "message": "You exceeded your quota for the requested resource.",
            "details": "",
        }
    ]
}


def _unauthorized(details: str = "") -> dict[str, Any]:
    return {
        "errors": [
            {"code": "Unauthorized", "message": "Access to requested resource is denied.", "details": details}
        ]
    }


def _invalid(message: str) -> HttpError:
    return HttpError(400, {"errors": [{"code": "InvalidInput", "message": message, "details": ""}]})


@dataclass
class Report:
    id: str
    marketplace_ids: list[str]
    outcome: str  # DONE | CANCELLED | FATAL
    document: bytes
    created: str
    polls: int = 0
    document_id: str | None = None


@dataclass
class Document:
    id: str
    content: bytes  # as stored: compressed when ``compressed``
    compressed: bool
    content_type: str
    urls: dict[str, float] = field(default_factory=dict)  # signature -> expiry (service seconds)


class AmazonFake(FakeServer):
    name = "amazon"

    def __init__(
        self,
        *,
        client_id: str = DEMO_CLIENT_ID,
        client_secret: str = DEMO_CLIENT_SECRET,
        refresh_token: str = DEMO_REFRESH_TOKEN,
        polls_in_queue: int = 1,
        polls_in_progress: int = 2,
        compress: bool = False,
        extra_columns: bool = False,
        quotas: dict[str, tuple[float, int]] | None = None,
        **kwargs,
    ):
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.polls_in_queue = polls_in_queue
        self.polls_in_progress = polls_in_progress
        self.compress = compress
        self.extra_columns = extra_columns
        self.quotas = {**QUOTAS, **(quotas or {})}
        self.rows: list[dict[str, str]] = []
        self.raw_report: bytes | None = None  # a real report file to serve instead of ``rows``
        self.outcomes: list[str] = []
        self.reports: dict[str, Report] = {}
        self.documents: dict[str, Document] = {}
        self.tokens: dict[str, float] = {}  # access token -> expiry (service seconds)
        self.url_ttl = URL_TTL
        self._seq = itertools.count(50001)
        super().__init__(**kwargs)
        self.buckets = {op: TokenBucket(burst, rate, self.now) for op, (rate, burst) in self.quotas.items()}

    # -- seeding ------------------------------------------------------------------------

    def add_row(self, sku: str, fulfillable: int | str, name: str = "", **cells: Any) -> None:
        """One report row; ``fulfillable`` may be text such as ``"--"`` or ``""``.

        Other cells take keyword names with ``_`` for ``-`` (``afn_total_quantity=4``).
        """
        n = len(self.rows) + 1
        row = {
            "sku": sku,
            "fnsku": f"X00{n:07d}",
            "asin": f"B0{n:08d}",
            "product-name": name or f"Product {sku}",
            "condition": "New",
            "your-price": "19.99",
            "mfn-listing-exists": "No",
            "mfn-fulfillable-quantity": "",
            "afn-listing-exists": "Yes",
            "afn-fulfillable-quantity": str(fulfillable),
        }
        row.update({k.replace("_", "-"): str(v) for k, v in cells.items()})
        with self.lock:
            self.rows.append(row)

    def queue_outcome(self, *outcomes: str) -> None:
        """The next reports end ``CANCELLED`` or ``FATAL`` (in order) instead of ``DONE``."""
        with self.lock:
            self.outcomes.extend(outcomes)

    def expire_token(self, token: str | None = None) -> None:
        """Access tokens age out; this ages them all (or one) now."""
        with self.lock:
            for key in [token] if token else list(self.tokens):
                self.tokens[key] = self.now() - 1

    def seed_demo(self) -> None:
        for n in range(1, 11):
            self.add_row(f"DEMO-{n:03d}", n * 4, name=f"Demo product {n} \u2019 deluxe")
        self.add_row("DEMO-NOCOUNT", "--", name="Demo product with no count")

    def render(self) -> bytes:
        if self.raw_report is not None:
            return self.raw_report
        columns = BASE_COLUMNS + (EXTRA_COLUMNS if self.extra_columns else ())
        lines = ["\t".join(columns)]
        with self.lock:
            for row in self.rows:
                lines.append("\t".join(row.get(c, "0" if c.endswith("quantity") else "") for c in columns))
        return ("\n".join(lines) + "\n").encode("cp1252", errors="replace")

    # -- plumbing -----------------------------------------------------------------------

    def setup_routes(self) -> None:
        self.route("POST", r"/auth/o2/token", self.lwa_token)
        self.route("GET", r"/sellers/v1/marketplaceParticipations", self.participations)
        self.route("POST", r"/reports/2021-06-30/reports", self.create_report)
        self.route("GET", r"/reports/2021-06-30/reports/(?P<id>[^/]+)", self.get_report)
        self.route("GET", r"/reports/2021-06-30/documents/(?P<id>[^/]+)", self.get_document)
        self.route("GET", r"/report-documents/(?P<id>[^/]+)", self.download)

    OPERATIONS = (
        ("POST", "/reports/2021-06-30/reports", "createReport"),
        ("GET", "/reports/2021-06-30/reports/", "getReport"),
        ("GET", "/reports/2021-06-30/documents/", "getReportDocument"),
        ("GET", "/sellers/v1/marketplaceParticipations", "getMarketplaceParticipations"),
    )

    def _operation(self, request: Request) -> str | None:
        for method, prefix, name in self.OPERATIONS:
            if request.method == method and request.path.startswith(prefix):
                return name
        return None

    def not_found(self, request: Request) -> Response:
        return json_response(
            404, {"errors": [{"code": "NotFound", "message": "Resource not found", "details": ""}]}
        )

    def before(self, request: Request) -> Response | None:
        operation = self._operation(request)
        request.operation = operation  # type: ignore[attr-defined]
        if operation is None:
            return None  # login and pre-signed downloads carry no access token
        token = request.headers.get("x-amz-access-token")
        with self.lock:
            expiry = self.tokens.get(token or "")
            if expiry is None:
                return json_response(403, _unauthorized())
            if expiry <= self.now():
                return json_response(403, _unauthorized("The access token you provided has expired."))
            if not self.buckets[operation].try_take(1):
                return json_response(429, QUOTA_EXCEEDED)
        return None

    def after(self, request: Request, response: Response) -> None:
        operation = getattr(request, "operation", None)
        if operation is not None:
            response.headers["x-amzn-RateLimit-Limit"] = f"{self.quotas[operation][0]}"
            response.headers["x-amzn-RequestId"] = str(uuid.uuid4())

    # -- handlers -----------------------------------------------------------------------

    def lwa_token(self, request: Request):
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type", "error_description": "Unsupported grant type"}
        if form.get("refresh_token") != self.refresh_token:
            return 400, {
                "error": "invalid_grant",
                "error_description": "The request has an invalid grant parameter : refresh_token",
            }
        token = "Atza|" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = self.now() + TOKEN_TTL
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": TOKEN_TTL,
            "refresh_token": self.refresh_token,
        }

    def participations(self, request: Request):
        return {
            "payload": [
                {
                    "marketplace": {
                        "id": mid,
                        "name": name,
                        "countryCode": country,
                        "defaultCurrencyCode": "USD",
                        "defaultLanguageCode": "en_US",
                        "domainName": name.lower(),
                    },
                    "participation": {"isParticipating": True, "hasSuspendedListings": False},
                }
                for mid, (name, country) in MARKETPLACES.items()
            ]
        }

    def _now_iso(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(self.wall_time()))

    def create_report(self, request: Request):
        body = request.json()
        if not isinstance(body, dict):
            raise _invalid("The request body must be a JSON object.")
        if body.get("reportType") not in KNOWN_REPORT_TYPES:
            raise _invalid(f"Invalid reportType: {body.get('reportType')!r}.")
        markets = body.get("marketplaceIds")
        if not isinstance(markets, list) or not markets:
            raise _invalid("marketplaceIds is required.")
        unknown = [m for m in markets if m not in MARKETPLACES]
        if unknown:
            raise _invalid(f"Invalid marketplaceIds: {', '.join(map(str, unknown))}.")
        with self.lock:
            report_id = str(next(self._seq))
            outcome = self.outcomes.pop(0) if self.outcomes else "DONE"
            self.reports[report_id] = Report(
                report_id, list(markets), outcome, self.render(), self._now_iso()
            )
        return 202, {"reportId": report_id}

    def _store_document(self, content: bytes, content_type: str, compress: bool) -> str:
        doc_id = f"amzn1.spdoc.1.4.na.{uuid.uuid4()}"
        stored = gzip.compress(content) if compress else content
        self.documents[doc_id] = Document(doc_id, stored, compress, content_type)
        return doc_id

    def get_report(self, request: Request):
        with self.lock:
            report = self.reports.get(request.match.group("id"))
            if report is None:
                raise HttpError(
                    404, {"errors": [{"code": "NotFound", "message": "Report not found", "details": ""}]}
                )
            report.polls += 1
            out: dict[str, Any] = {
                "reportId": report.id,
                "reportType": REPORT_TYPE,
                "marketplaceIds": report.marketplace_ids,
                "createdTime": report.created,
            }
            if report.polls <= self.polls_in_queue:
                out["processingStatus"] = "IN_QUEUE"
                return out
            out["processingStartTime"] = report.created
            if report.polls <= self.polls_in_queue + self.polls_in_progress:
                out["processingStatus"] = "IN_PROGRESS"
                return out
            out["processingStatus"] = report.outcome
            out["processingEndTime"] = self._now_iso()
            if report.outcome == "DONE" and report.document_id is None:
                report.document_id = self._store_document(
                    report.document, "text/plain;charset=Cp1252", self.compress
                )
            elif report.outcome == "FATAL" and report.document_id is None:
                report.document_id = self._store_document(
                    b'{"errorDetails":"The report could not be generated. Please try again later."}',
                    "application/json",
                    False,
                )
            if report.document_id and report.outcome != "CANCELLED":
                out["reportDocumentId"] = report.document_id
            return out

    def get_document(self, request: Request):
        with self.lock:
            doc = self.documents.get(request.match.group("id"))
            if doc is None:
                raise HttpError(
                    404, {"errors": [{"code": "NotFound", "message": "Document not found", "details": ""}]}
                )
            signature = secrets.token_hex(16)
            doc.urls[signature] = self.now() + self.url_ttl
        query = urlencode({"X-Amz-Expires": int(self.url_ttl), "X-Amz-Signature": signature})
        out = {"reportDocumentId": doc.id, "url": f"{self.url}/report-documents/{doc.id}?{query}"}
        if doc.compressed:
            out["compressionAlgorithm"] = "GZIP"
        return out

    def download(self, request: Request):
        with self.lock:
            doc = self.documents.get(request.match.group("id"))
            expiry = doc.urls.get(request.arg("X-Amz-Signature") or "") if doc else None
            if expiry is None:
                return Response(
                    403, _s3_error("AccessDenied", "Access Denied"), {"Content-Type": "application/xml"}
                )
            if expiry <= self.now():
                return Response(
                    403, _s3_error("AccessDenied", "Request has expired"), {"Content-Type": "application/xml"}
                )
            content_type = "application/octet-stream" if doc.compressed else doc.content_type
            return Response(200, doc.content, {"Content-Type": content_type})


def _s3_error(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{uuid.uuid4().hex[:16]}</RequestId></Error>"
    ).encode()


def serve(port: int, host: str = "127.0.0.1", seed_demo: bool = False, **kwargs: Any) -> None:
    """Run the fake in the foreground (``run_fake amazon``); LWA login is at ``/auth/o2/token``."""
    fake = AmazonFake(host=host, port=port, **kwargs)
    if seed_demo:
        fake.seed_demo()
    serve_forever(fake)
