"""Stock files from a store's FTP folder: each file imported once, then moved aside.

A poll lists the folder twice, a few seconds apart (``IMPORT_FTP_SETTLE_SECONDS``),
and takes only files whose size and modification time did not change in
between: a file still being uploaded is left for the next poll.  Editor lock
files (``~$stock.xlsx``, ``.~lock.stock.ods#``), hidden files and partial
uploads (``*.part``, ``*.filepart``) are never taken.

A file is known by its name, size and modification time.  Its import and that
record are committed together; only then is the file moved to ``processed/``
(or to ``failed/`` with ``<name>.errors.txt`` beside it).  If the move fails,
the next poll finds the record and only moves the file, so a file is never
imported twice; a poll that dies before the commit leaves the file where it
was and the next poll imports it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ftplib
import hashlib
import io
import logging
import posixpath
import ssl
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from . import services
from .email_ingest import TRANSIENT_ERRORS, job_summary
from .models import ImportJob
from .sources import FtpSource, PasswordUnreadable, ProcessedFile, tls_context

logger = logging.getLogger(__name__)

PROCESSED_DIR = "processed"
FAILED_DIR = "failed"
FTP_TIMEOUT = 60
FILES_PER_POLL = 50
DEFAULT_SETTLE_SECONDS = 5.0


def settle_seconds() -> float:
    return float(getattr(settings, "IMPORT_FTP_SETTLE_SECONDS", DEFAULT_SETTLE_SECONDS))


class ReusingFTP_TLS(ftplib.FTP_TLS):  # noqa: N801 - named after ftplib's class
    """FTPS whose data connections resume the control connection's TLS session.

    vsftpd (``require_ssl_reuse``, on by default) and FileZilla Server refuse
    data connections that do not, and plain ``ftplib`` does not.
    """

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)  # noqa: S321 - TLS is added just below
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size


@dataclass(frozen=True)
class Entry:
    name: str
    size: int
    modified: str  # YYYYMMDDHHMMSS[.fff] as the server says (UTC), or ""


@dataclass
class PollReport:
    ok: bool
    message: str = ""
    imported: int = 0
    failed: int = 0
    moved_again: int = 0
    waiting: int = 0


class PollError(Exception):
    """The folder could not be read; the message says what to fix."""


def _connect(source: FtpSource) -> ftplib.FTP:
    if source.use_tls:
        ftp = ReusingFTP_TLS(context=tls_context(source.verify_certificate), timeout=FTP_TIMEOUT)
    else:
        ftp = ftplib.FTP(timeout=FTP_TIMEOUT)  # noqa: S321 - plain FTP is the seller's choice
    ftp.connect(source.host, source.port)
    try:
        ftp.login(source.username or "anonymous", source.password if source.username else "anonymous@")
    except ftplib.error_perm as exc:
        ftp.close()
        raise PollError(
            f"The server refused the login of {source.username or 'anonymous'} ({exc}); "
            "check the user name, the password and whether the server wants FTPS."
        ) from None
    if source.use_tls:
        ftp.prot_p()
    ftp.set_pasv(source.passive)
    folder = source.folder.strip()
    if folder:
        try:
            ftp.cwd(folder)
        except ftplib.error_perm:
            ftp.close()
            raise PollError(f"The folder {folder} does not exist on {source.host}.") from None
    return ftp


def _close(ftp: ftplib.FTP) -> None:
    try:
        ftp.quit()
    except Exception:  # noqa: BLE001 - the connection is going away either way
        ftp.close()


def listing(ftp: ftplib.FTP) -> dict[str, Entry]:
    """Files (not folders) in the current folder with size and modification time.

    MLSD where the server has it; otherwise NLST with SIZE and MDTM per file.
    """
    entries = {}
    try:
        for name, facts in ftp.mlsd(facts=["type", "size", "modify"]):
            if facts.get("type", "file").lower() != "file" or "/" in name:
                continue
            entries[name] = Entry(name, int(facts.get("size", 0) or 0), facts.get("modify", ""))
        return entries
    except ftplib.error_perm as exc:
        if not str(exc).startswith(("500", "501", "502", "504")):
            raise
    names = ftp.nlst()
    ftp.voidcmd("TYPE I")  # SIZE is refused in ASCII mode, which NLST switched to
    for path in names:
        name = posixpath.basename(path.rstrip("/"))
        try:
            size = ftp.size(name)
        except ftplib.error_perm:
            continue  # a folder
        try:
            modified = ftp.voidcmd(f"MDTM {name}").split(maxsplit=1)[1].strip()
        except (ftplib.error_perm, IndexError):
            modified = ""
        entries[name] = Entry(name, int(size or 0), modified)
    return entries


def listing_of(source: FtpSource) -> dict[str, Entry]:
    """The folder's files as a poll sees them: for trying a source's settings."""
    ftp = _connect(source)
    try:
        return listing(ftp)
    finally:
        _close(ftp)


def _names_in(ftp: ftplib.FTP, folder: str) -> set[str] | None:
    """The names in a subfolder, or None when it does not exist."""
    try:
        return {posixpath.basename(path.rstrip("/")) for path in ftp.nlst(folder)}
    except ftplib.error_perm:
        return None
    except ftplib.error_temp:  # some servers answer an empty folder with 450
        return set()


class _Mover:
    """Moves files into processed/ or failed/, creating them and never overwriting."""

    def __init__(self, ftp: ftplib.FTP):
        self.ftp = ftp
        self.known: dict[str, set[str]] = {}

    def _names(self, folder: str) -> set[str]:
        if folder not in self.known:
            names = _names_in(self.ftp, folder)
            if names is None:
                # Made by someone else meanwhile, perhaps; the rename says if not.
                with contextlib.suppress(ftplib.error_perm):
                    self.ftp.mkd(folder)
                names = set()
            self.known[folder] = names
        return self.known[folder]

    def free_name(self, folder: str, name: str) -> str:
        names = self._names(folder)
        if name not in names and f"{name}.errors.txt" not in names:
            return name
        stem, extension = posixpath.splitext(name)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        candidate, n = f"{stem}.{stamp}{extension}", 1
        while candidate in names:
            n += 1
            candidate = f"{stem}.{stamp}-{n}{extension}"
        return candidate

    def move(self, name: str, folder: str, report_text: str | None = None) -> str:
        target = self.free_name(folder, name)
        self.ftp.rename(name, f"{folder}/{target}")
        self.known[folder].add(target)
        if report_text is not None:
            report_name = f"{target}.errors.txt"
            self.ftp.storbinary(f"STOR {folder}/{report_name}", io.BytesIO(report_text.encode("utf-8")))
            self.known[folder].add(report_name)
        return f"{folder}/{target}"


def _download(ftp: ftplib.FTP, name: str) -> bytes:
    buffer = io.BytesIO()
    ftp.retrbinary(f"RETR {name}", buffer.write)
    return buffer.getvalue()


def poll_ftp(source: FtpSource, *, settle: float | None = None) -> PollReport:
    """Import the folder's settled files that match the pattern, each once."""
    if not source.enabled:
        return PollReport(False, "This FTP folder is turned off.")
    if not source.take_lease():
        return PollReport(True, "Another poll of this folder is running.")
    report = PollReport(True)
    try:
        ftp = _connect(source)
        try:
            _poll(ftp, source, report, settle_seconds() if settle is None else settle)
        finally:
            _close(ftp)
    except (PollError, PasswordUnreadable) as exc:
        report.ok, report.message = False, str(exc)
    except ssl.SSLError as exc:
        report.ok, report.message = False, f"TLS with {source.host}:{source.port} failed: {exc.reason or exc}"
    except ftplib.all_errors as exc:
        report.ok, report.message = False, f"FTP with {source.host}:{source.port} failed: {exc}"
    finally:
        if not report.message:
            report.message = (
                f"{report.imported} imported, {report.failed} failed, {report.waiting} still arriving."
            )
        source.finish_poll(report.ok, report.message)
        logger.info("ftp source %s polled: %s", source.pk, report.message)
    return report


def _poll(ftp: ftplib.FTP, source: FtpSource, report: PollReport, settle: float) -> None:
    first = listing(ftp)
    if settle > 0:
        time.sleep(settle)
        second = listing(ftp)
    else:
        second = first
    mover = _Mover(ftp)
    taken = 0
    # Oldest first: of two count files waiting, the newer one decides.
    for entry in sorted(second.values(), key=lambda entry: (entry.modified, entry.name)):
        name = entry.name
        if not source.matches(name) or FtpSource.is_lock_or_partial(name):
            continue
        if first.get(name) != entry:
            report.waiting += 1  # appeared or changed between the two listings
            continue
        if taken >= FILES_PER_POLL:
            break
        taken += 1
        _take(ftp, source, entry, mover, report)


def _take(ftp: ftplib.FTP, source: FtpSource, entry: Entry, mover: _Mover, report: PollReport) -> None:
    limit = settings.IMPORT_MAX_FILE_BYTES
    data = None
    if not entry.modified and entry.size <= limit:
        # A server that tells no modification time: the content stands in for it, so
        # tomorrow's stock.csv of the same size is still a new file.
        data = _download(ftp, entry.name)
        entry = dataclasses.replace(entry, modified="sha256:" + hashlib.sha256(data).hexdigest()[:24])
    known = ProcessedFile.objects.filter(
        source=source, name=entry.name, size=entry.size, modified=entry.modified
    ).first()
    if known is not None:
        # Imported by an earlier poll whose move did not happen: only move it now.
        folder = PROCESSED_DIR if known.outcome == ProcessedFile.IMPORTED else FAILED_DIR
        known.moved_to = mover.move(entry.name, folder)
        known.save(update_fields=["moved_to"])
        report.moved_again += 1
        return
    if data is None and entry.size <= limit:
        data = _download(ftp, entry.name)
    if data is not None and len(data) != entry.size:
        report.waiting += 1  # it changed while we read it
        return
    try:
        record, job, problem = _record(source, entry, data, limit)
    except TRANSIENT_ERRORS as exc:
        raise PollError(f"{entry.name} could not be taken now ({exc}); the next poll tries again.") from exc
    if record is None:
        return  # another poll took it at the same moment
    imported = record.outcome == ProcessedFile.IMPORTED
    report_text = _report_text(source, entry, job, problem)
    if imported and not job.errors:
        report_text = None
    record.moved_to = mover.move(entry.name, PROCESSED_DIR if imported else FAILED_DIR, report_text)
    record.save(update_fields=["moved_to"])
    if imported:
        report.imported += 1
    else:
        report.failed += 1


def _record(source: FtpSource, entry: Entry, data: bytes | None, limit: int):
    """Import the file and record it, in one transaction: both or neither."""
    with transaction.atomic():
        record, created = ProcessedFile.objects.select_for_update().get_or_create(
            source=source,
            name=entry.name,
            size=entry.size,
            modified=entry.modified,
            defaults={"outcome": ProcessedFile.FAILED},
        )
        if not created:
            return None, None, ""
        if data is None:
            job, outcome, problem = (
                None,
                ProcessedFile.REFUSED,
                f"The file is {entry.size:,} bytes; the limit is {limit:,}.",
            )
        else:
            job, outcome, problem = _import(source, entry, data)
        record.job, record.outcome, record.detail = job, outcome, problem
        record.save()
    return record, job, problem


def _import(source: FtpSource, entry: Entry, data: bytes) -> tuple[ImportJob | None, str, str]:
    """The job (if one was made), the file's outcome and what went wrong."""
    try:
        with transaction.atomic():
            job = services.create_job(
                source.store,
                content=data,
                filename=entry.name,
                origin=ImportJob.FTP,
                mode=source.mode,
                sender=(source.location + entry.name)[:255],
            )
            job = services.run(job)
    except ValidationError as exc:
        return None, ProcessedFile.REFUSED, " ".join(exc.messages)
    except TRANSIENT_ERRORS:
        raise
    except Exception:
        logger.exception("%s from ftp source %s could not be imported", entry.name, source.pk)
        return (
            None,
            ProcessedFile.FAILED,
            "The file could not be read because of an error in the hub (logged for the administrator).",
        )
    if job.status == ImportJob.APPLIED:
        return job, ProcessedFile.IMPORTED, ""
    if job.status == ImportJob.REFUSED:
        return job, ProcessedFile.REFUSED, job.message
    return job, ProcessedFile.FAILED, job.message or f"The import ended {job.get_status_display().lower()}."


def _report_text(source: FtpSource, entry: Entry, job: ImportJob | None, problem: str) -> str:
    lines = [
        f"{entry.name} from {source.location} for {source.store.name}, {timezone.now():%Y-%m-%d %H:%M} UTC",
        "",
    ]
    if job is not None:
        lines += job_summary(job)
    else:
        lines.append(f"{entry.name}: not imported. {problem}")
    return "\n".join(lines) + "\n"


def poll_all_ftp(store=None, *, settle: float | None = None) -> list[tuple[FtpSource, PollReport]]:
    sources = FtpSource.objects.filter(enabled=True).select_related("store")
    if store is not None:
        sources = sources.filter(store=store)
    return [(source, poll_ftp(source, settle=settle)) for source in sources]
