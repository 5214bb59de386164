"""Amazon FBA: pull fulfillable counts from the "Manage FBA Inventory" report.

Amazon has no "list my FBA stock" call that scales, so a pull is the report flow
of the Reports API 2021-06-30 (api_contracts.md §8):

1. exchange the refresh token for an access token (Login with Amazon);
2. request ``GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA`` for the marketplace (the
   integration's location; ``ATVPDKIKX0DER``, amazon.com, when none is set);
3. poll the report every ``poll_interval`` seconds (option, default 30) while it
   is ``IN_QUEUE``/``IN_PROGRESS``, giving up after ``max_wait`` (default 1800);
   ``CANCELLED`` means Amazon had no data: an empty pull, not an error;
   ``FATAL`` is an error carrying Amazon's own explanation when it gives one;
4. fetch the document's pre-signed URL and download it without our token (the
   URL is signed; the token must not travel to the storage host). URLs expire
   after five minutes, so a 403 on download fetches a fresh URL and tries again.
   ``GZIP`` documents are decompressed.

The file is read by header name, never by position: accounts get extra
columns, and columns have come and gone. Text is decoded as UTF-8 when it is
valid UTF-8 (cp1252 text practically never is), else in the charset the
download declares, else cp1252, the encoding Amazon uses for North American
reports, so names keep ``…’®``. ``afn-fulfillable-quantity`` is the count; a
blank or ``--`` cell is "no count" (``None``), never 0.

Amazon's 429s carry no ``Retry-After``; the operation's rate from
``x-amzn-RateLimit-Limit`` (requests per second) sets how long to wait instead.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import logging
import math
import re
from collections.abc import Iterator
from typing import Any, ClassVar

import requests

from .base import (
    Adapter,
    AdapterError,
    AuthError,
    Capabilities,
    Level,
    Location,
    PermanentError,
    TransientError,
)

__all__ = ["AmazonFBAAdapter", "decode_report", "parse_inventory_report"]

logger = logging.getLogger("integrations.amazon")

REPORT_TYPE = "GET_FBA_MYI_UNSUPPRESSED_INVENTORY_DATA"
DEFAULT_MARKETPLACE = "ATVPDKIKX0DER"
LWA_URL = "https://api.amazon.com/auth/o2/token"
REPORTS = "/reports/2021-06-30"
SKU_COLUMN = "sku"
QUANTITY_COLUMN = "afn-fulfillable-quantity"
NAME_COLUMN = "product-name"
ID_COLUMN = "asin"
NO_COUNT = frozenset({"", "--"})
DOWNLOAD_ATTEMPTS = 3
TOKEN_MARGIN = 60  # renew the access token this many seconds before it expires
MAX_QUOTA_WAIT = 120

_INTEGER = re.compile(r"[+-]?\d+")


def decode_report(data: bytes, content_type: str | None = None) -> str:
    """Report bytes as text: BOMs first, then valid UTF-8, the declared charset, cp1252."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    declared = None
    if content_type:
        match = re.search(r"charset=\"?([\w.:-]+)", content_type, re.IGNORECASE)
        declared = match.group(1) if match else None
    for encoding in ("utf-8", declared, "cp1252"):
        if not encoding:
            continue
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")  # every byte is something; never lose a row


def _quantity(raw: str, sku: str) -> int | None:
    text = raw.strip()
    if text in NO_COUNT:
        return None
    if _INTEGER.fullmatch(text):
        return int(text)
    logger.warning("FBA report: SKU %s has an unreadable count %r; treated as no count", sku, text)
    return None


def parse_inventory_report(text: str) -> list[Level]:
    """Levels from the report text, by header name; a SKU listed twice is summed."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    if header is None:
        return []
    columns = {name.strip().lstrip("\ufeff").lower(): i for i, name in enumerate(header)}
    missing = [c for c in (SKU_COLUMN, QUANTITY_COLUMN) if c not in columns]
    if missing:
        found = ", ".join(h.strip() for h in header if h.strip()) or "none"
        raise PermanentError(
            f"the FBA inventory report has no {' or '.join(missing)} column (headers found: {found})"
        )

    def cell(row: list[str], name: str) -> str:
        i = columns.get(name)
        return row[i] if i is not None and i < len(row) else ""

    levels: dict[str, Level] = {}
    for row in reader:
        sku = cell(row, SKU_COLUMN).strip()
        if not sku:
            continue
        quantity = _quantity(cell(row, QUANTITY_COLUMN), sku)
        earlier = levels.get(sku)
        if earlier is not None:
            if earlier.quantity is not None and quantity is not None:
                quantity += earlier.quantity
            elif quantity is None:
                quantity = earlier.quantity
        levels[sku] = Level(
            sku,
            quantity,
            cell(row, NAME_COLUMN).strip() or (earlier.name if earlier else None),
            cell(row, ID_COLUMN).strip() or (earlier.remote_id if earlier else None),
        )
    return list(levels.values())


class AmazonFBAAdapter(Adapter):
    kind: ClassVar[str] = "amazon"
    role: ClassVar[str] = "fulfillment"
    display_name: ClassVar[str] = "Amazon FBA"
    capabilities: ClassVar[Capabilities] = Capabilities(
        pull=True,
        push=False,
        replaced_skus=False,
        batch_limit=None,
        rate_limit="Reports API quotas: createReport 1/min (burst 15), getReport 2/s (burst 15)",
    )
    credential_fields: ClassVar[tuple[str, ...]] = ("client_id", "client_secret", "refresh_token")
    secret_fields: ClassVar[tuple[str, ...]] = ("client_secret", "refresh_token")
    default_base_url: ClassVar[str] = "https://sellingpartnerapi-na.amazon.com"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._token: str | None = None
        self._token_expires = 0.0

    @property
    def marketplace_id(self) -> str:
        return (self.location_id or DEFAULT_MARKETPLACE).strip()

    def _option_seconds(self, name: str, default: float) -> float:
        try:
            value = float(self.options.get(name, default))
        except (TypeError, ValueError):
            raise AdapterError(f"Amazon FBA option {name} must be a number of seconds") from None
        return max(0.0, value)

    # -- authentication ------------------------------------------------------------------

    def _secrets(self) -> tuple[str, ...]:
        return self.secret_values + ((self._token,) if self._token else ())

    def _access_token(self) -> str:
        if self._token and self.client.clock() < self._token_expires:
            return self._token
        try:
            response = self.client.request(
                "POST",
                str(self.options.get("lwa_url") or LWA_URL),
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": self.credential("refresh_token"),
                    "client_id": self.credential("client_id"),
                    "client_secret": self.credential("client_secret"),
                },
                expect=(200,),
                secrets=self._secrets(),
                label="Login with Amazon token exchange",
            )
        except PermanentError as exc:
            if exc.status == 400:  # invalid_grant: a revoked or mistyped refresh token
                raise AuthError(exc.message, status=400, code=exc.code) from None
            raise
        try:
            body = response.json()
            self._token = str(body["access_token"])
            lifetime = float(body.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError):
            raise AuthError("Login with Amazon answered without an access token") from None
        self._token_expires = self.client.clock() + max(0.0, lifetime - TOKEN_MARGIN)
        return self._token

    @staticmethod
    def _quota_pause(response: requests.Response) -> float | None:
        """After a 429, wait one request's worth of the operation's rate (Amazon sends no Retry-After)."""
        if response.status_code != 429:
            return None
        try:
            rate = float(response.headers.get("x-amzn-RateLimit-Limit") or 0)
        except ValueError:
            return None
        if rate <= 0:
            return None
        # One request's worth of the rate, with a small margin so the token has surely come back.
        return min(MAX_QUOTA_WAIT, math.ceil(10.5 / rate) / 10)

    def _api(self, method: str, path: str, *, body: Any = None, expect=(200,)) -> dict[str, Any]:
        def send(token: str) -> requests.Response:
            return self.client.request(
                method,
                self.base_url + path,
                headers={"x-amz-access-token": token},
                json=body,
                expect=expect,
                pace=self._quota_pause,
                secrets=self._secrets(),
            )

        token = self._access_token()  # refused credentials raise here, once
        try:
            response = send(token)
        except AuthError:
            self._token = None  # the token may have aged out early: one fresh token, once
            response = send(self._access_token())
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise PermanentError(f"Amazon answered {method} {path} with no JSON object")
        return payload

    # -- contract -----------------------------------------------------------------------

    def test_connection(self) -> list[Location]:
        """Lists the marketplaces the seller takes part in (the integration's location)."""
        body = self._api("GET", "/sellers/v1/marketplaceParticipations")
        out = []
        for entry in body.get("payload") or []:
            market = entry.get("marketplace") or {}
            if market.get("id") and (entry.get("participation") or {}).get("isParticipating", True):
                out.append(Location(str(market["id"]), str(market.get("name") or market["id"])))
        return out

    def fetch_levels(self) -> Iterator[Level]:
        report = self._wait_for_report(self._request_report())
        status = report.get("processingStatus")
        if status == "CANCELLED":
            logger.info("FBA report %s was cancelled: Amazon had no data", report.get("reportId"))
            return iter(())
        if status == "FATAL":
            detail = self._error_details(report.get("reportDocumentId"))
            raise TransientError(
                "Amazon could not build the FBA inventory report (FATAL)" + (f": {detail}" if detail else "")
            )
        document_id = report.get("reportDocumentId")
        if not document_id:
            raise PermanentError("Amazon reported DONE without a reportDocumentId")
        data, content_type = self._download(str(document_id))
        return iter(parse_inventory_report(decode_report(data, content_type)))

    # -- the report flow -------------------------------------------------------------------

    def _request_report(self) -> str:
        body = self._api(
            "POST",
            f"{REPORTS}/reports",
            body={"reportType": REPORT_TYPE, "marketplaceIds": [self.marketplace_id]},
            expect=(202, 200),
        )
        report_id = body.get("reportId")
        if not report_id:
            raise PermanentError("Amazon accepted the report request without a reportId")
        return str(report_id)

    def _wait_for_report(self, report_id: str) -> dict[str, Any]:
        interval = self._option_seconds("poll_interval", 30)
        deadline = self.client.clock() + self._option_seconds("max_wait", 1800)
        while True:
            report = self._api("GET", f"{REPORTS}/reports/{report_id}")
            status = report.get("processingStatus")
            if status in ("DONE", "CANCELLED", "FATAL"):
                return report
            if status not in ("IN_QUEUE", "IN_PROGRESS"):
                raise PermanentError(f"Amazon report {report_id} has an unknown status {status!r}")
            if self.client.clock() + interval > deadline:
                raise TransientError(f"Amazon report {report_id} is still {status} after the longest wait")
            self.client.sleep(interval)

    def _document(self, document_id: str) -> dict[str, Any]:
        doc = self._api("GET", f"{REPORTS}/documents/{document_id}")
        if not doc.get("url"):
            raise PermanentError(f"Amazon report document {document_id} has no URL")
        return doc

    def _download(self, document_id: str) -> tuple[bytes, str | None]:
        for _ in range(DOWNLOAD_ATTEMPTS):
            doc = self._document(document_id)
            response = self.client.request(
                "GET", str(doc["url"]), expect=(200, 403), label="download of the FBA report document"
            )
            if response.status_code == 403:
                logger.info("FBA report document URL refused (expired?); fetching a fresh one")
                continue
            data = response.content
            if str(doc.get("compressionAlgorithm") or "").upper() == "GZIP":
                try:
                    data = gzip.decompress(data)
                except (OSError, EOFError):
                    raise PermanentError("the FBA report document is not valid GZIP") from None
            return data, response.headers.get("Content-Type")
        raise TransientError("the FBA report document URL kept being refused (expired) on download")

    def _error_details(self, document_id: Any) -> str:
        """Amazon's explanation of a FATAL report, when it left one; never fails the caller."""
        if not document_id:
            return ""
        try:
            data, content_type = self._download(str(document_id))
        except AdapterError:
            return ""
        text = decode_report(data, content_type).strip()
        match = re.search(r'"errorDetails"\s*:\s*"([^"]*)"', text)
        return (match.group(1) if match else text)[:300]
