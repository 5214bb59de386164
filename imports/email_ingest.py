"""Stock files by email: one service for a piped-in message and for an IMAP mailbox.

``ingest_message`` takes one raw message, however it arrived.  The store comes
from the token in a recipient's address (``stock+TOKEN@domain``: To, Cc, or the
envelope headers a mail server adds), the sender must be on that store's
allow-list, and every spreadsheet attached (also inside a forwarded message)
becomes one import job, analysed and applied at once.  Each store takes each
Message-ID once: a message seen again — a second poll, a redelivery, the same
mail piped and polled — changes nothing.

Recording the message, creating its jobs and applying them is one transaction:
a worker that dies half way leaves no trace, so the next poll or the mail
server's retry does the whole thing again, and two processes that see the same
message at once wait for each other on the unique (store, Message-ID) row.

``poll_mailbox`` reads the unread messages of an IMAP mailbox into the same
service and then marks each one read (or moves it).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import email.utils
import hashlib
import imaplib
import logging
import os
import re
import ssl
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage, Message
from functools import partial

from django.conf import settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from . import services
from .models import ImportJob
from .reading import TEXT_EXTENSIONS, WORKBOOK_EXTENSIONS
from .sources import EmailSource, Mailbox, PasswordUnreadable, ProcessedMessage, tls_context

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
SPREADSHEET_EXTENSIONS = TEXT_EXTENSIONS | WORKBOOK_EXTENSIONS
# Attachments sent without a file name are recognised by their type.
EXTENSION_BY_TYPE = {
    "text/csv": ".csv",
    "text/comma-separated-values": ".csv",
    "text/tab-separated-values": ".tsv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
}
# Envelope headers first: they name the address this copy was delivered to.
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "To", "Cc")
ACCEPTED = "CSV, TSV, TXT, XLSX, XLS or ODS"
# Errors that say "try again later", never "this message is bad".  The pipe
# command answers them with EX_TEMPFAIL; a poll leaves the message unread.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, OSError)
ERRORS_IN_REPLY = 50
IMAP_TIMEOUT = 60
MESSAGES_PER_POLL = 100
# Records of messages that reached no store are kept this long (a mailbox also gets spam).
UNROUTED_KEPT = timedelta(days=30)

DUPLICATE = "duplicate"


def max_message_bytes() -> int:
    return int(getattr(settings, "IMPORT_EMAIL_MAX_BYTES", DEFAULT_MAX_BYTES))


# --- reading a message ---------------------------------------------------------


@dataclass
class Attachment:
    name: str
    content: bytes
    content_type: str

    @property
    def extension(self) -> str:
        return os.path.splitext(self.name)[1].lower()


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def _header_values(message: Message, name: str) -> list[str]:
    """A header's values as text; a malformed header is read as it stands, never fatal."""
    try:
        values = message.get_all(name) or []
    except Exception:  # noqa: BLE001 - the email package raises many kinds on broken headers
        values = [value for key, value in message.raw_items() if key.lower() == name.lower()]
    return [str(value) for value in values]


def addresses(message: Message, *names: str) -> list[str]:
    found = []
    for name in names:
        for _display, address in email.utils.getaddresses(_header_values(message, name)):
            address = address.strip().strip("<>").lower()
            if "@" in address and address not in found:
                found.append(address)
    return found


def message_key(message: Message, raw: bytes) -> str:
    """The Message-ID as sent, or a hash of the whole message when it has none."""
    values = _header_values(message, "Message-ID")
    value = re.sub(r"\s+", "", values[0]) if values else ""
    if not value:
        return "sha256:" + hashlib.sha256(raw).hexdigest()
    if len(value) > 255:
        return "sha256:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()
    return value


def token_of(address: str) -> str | None:
    """The token after the last ``+`` (or ``-``) of the local part, if there is one."""
    local = address.rpartition("@")[0]
    match = re.search(r"[+-]([0-9a-f]{16,40})$", local)
    return match.group(1) if match else None


def sources_for(message: Message, recipients=()) -> list[EmailSource]:
    """The stores whose address is among the recipients.

    Envelope recipients, when the mail server gives them, are the whole answer:
    this copy was delivered for them (a message to two stores arrives once per
    store, and the To: header of one copy must not import it into the other).
    Otherwise the headers say (To, Cc, Delivered-To, …)."""
    if recipients:
        candidates = [address.lower() for address in recipients]
    else:
        candidates = addresses(message, *RECIPIENT_HEADERS)
    tokens = []
    for address in candidates:
        token = token_of(address)
        if token and token not in tokens:
            tokens.append(token)
    if not tokens:
        return []
    by_token = {
        source.token: source
        for source in EmailSource.objects.select_related("store").filter(token__in=tokens)
    }
    return [by_token[token] for token in tokens if token in by_token]


def _clean_filename(name: str) -> str:
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().strip(".")
    if len(name) > 200:
        stem, extension = os.path.splitext(name)
        name = stem[: 200 - len(extension)] + extension
    return name


def attachments(message: Message) -> tuple[list[Attachment], list[tuple[str, str]]]:
    """Spreadsheets attached, and the other attachments with why they are not read.

    Parts of a forwarded message (``message/rfc822``) count like the outer
    message's own.  Body text and inline pictures (a signature's logo) are not
    attachments.
    """
    files, refused = [], []
    for part in message.walk():
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        disposition = part.get_content_disposition()
        try:
            name = part.get_filename() or ""
        except Exception:  # noqa: BLE001 - a broken parameter is a missing name
            name = ""
        name = _clean_filename(str(name))
        if not name:
            if content_type in EXTENSION_BY_TYPE:
                name = "attachment" + EXTENSION_BY_TYPE[content_type]
            elif disposition == "attachment":
                refused.append((f"attachment ({content_type})", f"not a spreadsheet; send {ACCEPTED}"))
                continue
            else:
                continue  # the message text
        elif disposition != "attachment" and part.get("Content-ID") and content_type.startswith("image/"):
            continue  # a picture shown in the text
        if not os.path.splitext(name)[1] and content_type in EXTENSION_BY_TYPE:
            name += EXTENSION_BY_TYPE[content_type]
        extension = os.path.splitext(name)[1].lower()
        if extension not in SPREADSHEET_EXTENSIONS:
            kind = f"{extension} files are" if extension else "files without an extension are"
            refused.append((name, f"{kind} not read; send {ACCEPTED}"))
            continue
        try:
            content = part.get_payload(decode=True) or b""
        except Exception:  # noqa: BLE001 - undecodable transfer encoding
            refused.append((name, "the attachment could not be decoded"))
            continue
        files.append(Attachment(name=name, content=content, content_type=content_type))
    return files, refused


def is_automatic(message: Message) -> bool:
    """RFC 3834: never answer machines (bounces, lists, other auto-replies)."""
    auto = " ".join(_header_values(message, "Auto-Submitted")).strip().lower()
    precedence = " ".join(_header_values(message, "Precedence")).strip().lower()
    senders = addresses(message, "From")
    return (
        (auto not in ("", "no"))
        or precedence in {"bulk", "junk", "list"}
        or bool(_header_values(message, "List-Id"))
        or any(address.split("@")[0] in {"mailer-daemon", "postmaster"} for address in senders)
    )


# --- the service ----------------------------------------------------------------


@dataclass
class Delivery:
    """What became of a message for one store."""

    store_name: str | None
    outcome: str  # "imported", "refused" or "duplicate"
    reason: str = ""
    jobs: list[ImportJob] = field(default_factory=list)
    record: ProcessedMessage | None = None


@dataclass
class IngestResult:
    message_id: str
    sender: str
    deliveries: list[Delivery]

    @property
    def imported(self) -> bool:
        return any(delivery.outcome == ProcessedMessage.IMPORTED for delivery in self.deliveries)

    def summary(self) -> str:
        parts = []
        for delivery in self.deliveries:
            where = delivery.store_name or "no store"
            text = f"{where}: {delivery.outcome}"
            if delivery.jobs:
                text += " (" + ", ".join(f"import {job.pk} {job.status}" for job in delivery.jobs) + ")"
            if delivery.reason and delivery.outcome != ProcessedMessage.IMPORTED:
                text += f" — {delivery.reason}"
            parts.append(text)
        return f"{self.message_id}: " + "; ".join(parts)


@dataclass
class _Context:
    raw: bytes
    message: EmailMessage
    message_id: str
    sender: str
    subject: str
    size: int
    via: str
    mailbox: Mailbox | None


def ingest_message(
    raw: bytes,
    *,
    via: str,
    recipients=(),
    size: int | None = None,
    mailbox: Mailbox | None = None,
) -> IngestResult:
    """Take in one raw message: import its spreadsheets into each store it is addressed to.

    ``recipients`` are envelope recipients known from elsewhere (the mail
    server's ``${recipient}``).  ``size`` is the message's real size when
    ``raw`` holds only its headers (a message too large to fetch or read).
    Database and disk trouble is raised (try again later); everything else
    about the message is an outcome.
    """
    message = parse(raw)
    senders = addresses(message, "From")
    subjects = _header_values(message, "Subject")
    context = _Context(
        raw=raw,
        message=message,
        message_id=message_key(message, raw),
        sender=senders[0] if senders else "",
        subject=(subjects[0] if subjects else "")[:255],
        size=len(raw) if size is None else size,
        via=via,
        mailbox=mailbox,
    )
    sources = sources_for(message, recipients)
    if not sources:
        reason = "No store import address among the recipients."
        ProcessedMessage.objects.create(
            store=None,
            mailbox=mailbox,
            message_id=context.message_id,
            via=via,
            sender=context.sender[:255],
            subject=context.subject,
            outcome=ProcessedMessage.REFUSED,
            detail=reason,
        )
        logger.info("message %s from %s refused: %s", context.message_id, context.sender, reason)
        return IngestResult(
            context.message_id, context.sender, [Delivery(None, ProcessedMessage.REFUSED, reason)]
        )
    deliveries = [_deliver(source, context) for source in sources]
    return IngestResult(context.message_id, context.sender, deliveries)


def _refusal(source: EmailSource, context: _Context) -> tuple[str, bool] | None:
    """Why the message is refused for this store, and whether the sender hears about it."""
    store = source.store
    if not source.enabled:
        return f"Email import is turned off for {store.name}.", False
    if not source.sender_rules():
        return (
            f"No sender is allowed to mail {store.name} yet: add addresses or @domains to its "
            "email import allow-list.",
            False,
        )
    if not source.allows(context.sender):
        return f"{context.sender or 'The sender'} is not on {store.name}'s allow-list.", False
    limit = max_message_bytes()
    if context.size > limit:
        return (
            f"The message is {_size(context.size)}; the limit is {_size(limit)}. "
            "Send a smaller file (XLSX is usually much smaller than CSV) or upload it in the hub.",
            True,
        )
    return None


def _deliver(source: EmailSource, context: _Context) -> Delivery:
    store = source.store
    with transaction.atomic():
        record, created = ProcessedMessage.objects.select_for_update().get_or_create(
            store=store,
            message_id=context.message_id,
            defaults={"via": context.via, "outcome": ProcessedMessage.REFUSED},
        )
        if not created and record.outcome == ProcessedMessage.IMPORTED:
            logger.info("message %s for %s seen again: already imported", context.message_id, store.slug)
            return Delivery(store.name, DUPLICATE, "Imported before.", list(record.jobs.all()), record)
        told_before = "" if created else record.detail
        record.via = context.via
        record.mailbox = context.mailbox
        record.sender = context.sender[:255]
        record.subject = context.subject
        refusal = _refusal(source, context)
        jobs: list[ImportJob] = []
        refused: list[tuple[str, str]] = []
        if refusal is None:
            files, refused = attachments(context.message)
            if not files:
                refusal = (f"No spreadsheet attached; send {ACCEPTED}.", True)
            for attachment in files:
                job, problem = _import(source, context, attachment)
                if job is not None:
                    jobs.append(job)
                else:
                    refused.append((attachment.name, problem))
        reason, tell_sender = refusal if refusal else ("", True)
        # Imported once a file applied.  A message whose every file was refused may be
        # taken again (marked unread after fixing the store's column mapping, say).
        if any(job.status == ImportJob.APPLIED for job in jobs):
            record.outcome = ProcessedMessage.IMPORTED
        else:
            record.outcome = ProcessedMessage.REFUSED
            reason = reason or "No attachment could be imported."
        record.report = {
            "files": [
                {"name": job.original_name, "job": job.pk, "status": job.status, "counts": job.counts}
                for job in jobs
            ],
            "refused": [{"name": name, "reason": why} for name, why in refused],
            "size": context.size,
        }
        record.detail = _detail(reason, jobs, refused)
        record.save()
        record.jobs.add(*jobs)
        logger.info(
            "message %s for %s: %s (%d jobs, %d attachments refused)",
            context.message_id,
            store.slug,
            record.outcome,
            len(jobs),
            len(refused),
        )
        # The same refusal of the same message is answered once: a server delivering it
        # again (or a loop with another robot) must not get a reply each time.
        news = record.detail != told_before
        if news and tell_sender and source.reply_to_sender and context.sender and not is_automatic(context.message):
            transaction.on_commit(partial(_send_reply, source.store.name, context, reason, jobs, refused))
    return Delivery(store.name, record.outcome, reason, jobs, record)


def _import(source: EmailSource, context: _Context, attachment: Attachment) -> tuple[ImportJob | None, str]:
    """One attachment as one job, in its own savepoint: a file that breaks the
    reader is reported and the message's other files still import."""
    try:
        with transaction.atomic():
            job = services.create_job(
                source.store,
                content=attachment.content,
                filename=attachment.name,
                origin=ImportJob.EMAIL,
                mode=source.mode,
                sender=context.sender,
            )
            return services.run(job), ""
    except ValidationError as exc:
        return None, " ".join(exc.messages)
    except TRANSIENT_ERRORS:
        raise
    except Exception:
        logger.exception(
            "attachment %s of message %s could not be imported", attachment.name, context.message_id
        )
        return None, "it could not be read because of an error in the hub (logged for the administrator)"


def _detail(reason: str, jobs: list[ImportJob], refused: list[tuple[str, str]]) -> str:
    lines = [reason] if reason else []
    lines += [f"{job.original_name}: import {job.pk}, {job.get_status_display().lower()}" for job in jobs]
    lines += [f"{name}: not imported: {why}" for name, why in refused]
    return "\n".join(lines)


def _size(count: int) -> str:
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"


# --- the reply -------------------------------------------------------------------


def job_summary(job: ImportJob) -> list[str]:
    """A job's result as plain text lines (the reply mail and the FTP error report)."""
    if job.status == ImportJob.REFUSED:
        return [f"{job.original_name}: not imported. {job.message}"]
    counts = job.counts or {}
    verdict = "applied" if job.status == ImportJob.APPLIED else job.get_status_display().lower()
    lines = [
        f"{job.original_name}: {verdict} (import {job.pk}). {counts.get('rows', 0)} rows: "
        f"{counts.get('changed', 0)} changed, {counts.get('unchanged', 0)} unchanged, "
        f"{counts.get('unknown', 0)} unknown, {counts.get('skipped', 0)} with no count, "
        f"{counts.get('errors', 0)} errors, {counts.get('warnings', 0)} warnings."
    ]
    for label, entries in (("error", job.errors), ("warning", job.warnings)):
        for entry in entries[:ERRORS_IN_REPLY]:
            where = f"row {entry['row']}" if entry.get("row") is not None else "file"
            column = f", column '{entry['column']}'" if entry.get("column") else ""
            lines.append(f"  {label}: {where}{column}: {entry['message']}")
        if len(entries) > ERRORS_IN_REPLY:
            lines.append(f"  … and {len(entries) - ERRORS_IN_REPLY} more {label}s (see import {job.pk}).")
    return lines


def _send_reply(store_name, context: _Context, reason, jobs, refused) -> None:
    """Answer the sender in the same thread; a mail failure never undoes the import."""
    subject = context.subject or "your stock file"
    lines = [f"Your message “{subject}” to {store_name}:", ""]
    if reason:
        lines += [reason, ""]
    for job in jobs:
        lines += job_summary(job) + [""]
    for name, why in refused:
        lines.append(f"{name}: not imported: {why}.")
    references = " ".join(_header_values(context.message, "References")).split()
    message_id = context.message_id if not context.message_id.startswith("sha256:") else ""
    headers = {"Auto-Submitted": "auto-replied"}
    if message_id:
        headers["In-Reply-To"] = message_id
        headers["References"] = " ".join([*references, message_id])
    reply = mail.EmailMessage(
        subject=subject if subject.lower().startswith("re:") else f"Re: {subject}",
        body="\n".join(lines).rstrip() + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[context.sender],
        headers=headers,
    )
    try:
        reply.send()
    except Exception:
        logger.exception("reply to %s about message %s not sent", context.sender, context.message_id)


# --- IMAP ------------------------------------------------------------------------


class PollError(Exception):
    """A poll could not read the mailbox or folder; the message says what to fix."""


@dataclass
class PollReport:
    ok: bool
    message: str
    imported: int = 0
    refused: int = 0
    duplicates: int = 0


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _connect(mailbox: Mailbox) -> imaplib.IMAP4:
    context = tls_context(mailbox.verify_certificate)
    if mailbox.security == Mailbox.SSL:
        conn = imaplib.IMAP4_SSL(mailbox.host, mailbox.port, ssl_context=context, timeout=IMAP_TIMEOUT)
    else:
        conn = imaplib.IMAP4(mailbox.host, mailbox.port, timeout=IMAP_TIMEOUT)
        if mailbox.security == Mailbox.STARTTLS:
            conn.starttls(ssl_context=context)
    try:
        conn.login(mailbox.username, mailbox.password)
    except imaplib.IMAP4.error as exc:
        _close(conn)
        raise PollError(
            f"The server refused the login of {mailbox.username} ({exc}); check the user name and password."
        ) from None
    return conn


def _close(conn: imaplib.IMAP4) -> None:
    with contextlib.suppress(Exception):  # the connection is going away either way
        conn.logout()


def _check(result, what: str):
    typ, data = result
    if typ != "OK":
        detail = b" ".join(part for part in data if isinstance(part, bytes)).decode("utf-8", "replace")
        raise PollError(f"{what} failed: {detail}")
    return data


def _fetch_size(conn: imaplib.IMAP4, uid: bytes) -> int | None:
    data = _check(conn.uid("FETCH", uid, "(RFC822.SIZE)"), "Reading the message size")
    for part in data:
        text = part[0] if isinstance(part, tuple) else part
        if isinstance(text, bytes):
            match = re.search(rb"RFC822\.SIZE (\d+)", text)
            if match:
                return int(match.group(1))
    return None


def _fetch(conn: imaplib.IMAP4, uid: bytes, item: str) -> bytes | None:
    data = _check(conn.uid("FETCH", uid, f"({item})"), "Reading a message")
    for part in data:
        if isinstance(part, tuple) and len(part) == 2:
            return part[1]
    return None  # expunged meanwhile


def _done(conn: imaplib.IMAP4, uid: bytes, mailbox: Mailbox, capabilities: set[str]) -> None:
    """Mark a message read, or move it, so the next poll does not read it again."""
    _check(conn.uid("STORE", uid, "+FLAGS", "(\\Seen)"), "Marking the message read")
    if mailbox.after_import != Mailbox.MOVE:
        return
    target = _quote(mailbox.move_to.strip())
    if "MOVE" in capabilities:
        _check(conn.uid("MOVE", uid, target), f"Moving the message to {mailbox.move_to}")
        return
    _check(conn.uid("COPY", uid, target), f"Copying the message to {mailbox.move_to}")
    _check(conn.uid("STORE", uid, "+FLAGS", "(\\Deleted)"), "Deleting the moved message")
    if "UIDPLUS" in capabilities:
        _check(conn.uid("EXPUNGE", uid), "Removing the moved message")


def poll_mailbox(mailbox: Mailbox) -> PollReport:
    """Read the mailbox's unread messages through :func:`ingest_message`.

    A message is marked read (or moved) only after its import is committed; a
    message whose import hit a transient error stays unread for the next poll.
    Polling twice in a row imports nothing new.
    """
    if not mailbox.enabled:
        return PollReport(False, "This mailbox is turned off.")
    if not mailbox.take_lease():
        return PollReport(True, "Another poll of this mailbox is running.")
    report = PollReport(True, "")
    try:
        conn = _connect(mailbox)
        try:
            _read_messages(conn, mailbox, report)
        finally:
            _close(conn)
    except PollError as exc:
        report.ok, report.message = False, str(exc)
    except PasswordUnreadable as exc:
        report.ok, report.message = False, str(exc)
    except ssl.SSLError as exc:
        report.ok, report.message = (
            False,
            f"TLS with {mailbox.host}:{mailbox.port} failed: {exc.reason or exc}",
        )
    except (imaplib.IMAP4.error, OSError) as exc:
        report.ok, report.message = False, f"IMAP with {mailbox.host}:{mailbox.port} failed: {exc}"
    finally:
        if not report.message:
            report.message = (
                f"{report.imported} imported, {report.refused} refused, {report.duplicates} seen before."
            )
        mailbox.finish_poll(report.ok, report.message)
        logger.info("mailbox %s polled: %s", mailbox.pk, report.message)
    ProcessedMessage.objects.filter(
        store__isnull=True, created_at__lt=timezone.now() - UNROUTED_KEPT
    ).delete()
    return report


def _capabilities(conn: imaplib.IMAP4) -> set[str]:
    """Asked again after login: servers announce MOVE and UIDPLUS only then."""
    typ, data = conn.capability()
    words = set()
    if typ == "OK":
        for line in data:
            if isinstance(line, bytes):
                words.update(line.decode("ascii", "replace").upper().split())
    return words | {str(cap).upper() for cap in conn.capabilities}


def _ensure_folder(conn: imaplib.IMAP4, name: str) -> None:
    """Create the folder messages are moved to; fail before any message is read if it cannot be."""
    typ, data = conn.create(_quote(name))
    if typ == "OK":
        return
    typ, listed = conn.list('""', _quote(name))
    if typ != "OK" or not any(listed):
        detail = b" ".join(part for part in data if isinstance(part, bytes)).decode("utf-8", "replace")
        raise PollError(f"The folder {name} cannot be created: {detail}")


def _read_messages(conn: imaplib.IMAP4, mailbox: Mailbox, report: PollReport) -> None:
    capabilities = _capabilities(conn)
    typ, _data = conn.select(_quote(mailbox.folder.strip() or "INBOX"))
    if typ != "OK":
        raise PollError(f"The folder {mailbox.folder} cannot be opened.")
    if mailbox.after_import == Mailbox.MOVE:
        _ensure_folder(conn, mailbox.move_to.strip())
    data = _check(conn.uid("SEARCH", None, "UNSEEN UNDELETED"), "Searching for unread messages")
    uids = (data[0] or b"").split()[:MESSAGES_PER_POLL]
    limit = max_message_bytes()
    for uid in uids:
        size = _fetch_size(conn, uid)
        too_large = size is not None and size > limit
        raw = _fetch(conn, uid, "BODY.PEEK[HEADER]" if too_large else "BODY.PEEK[]")
        if raw is None:
            continue
        try:
            result = ingest_message(raw, via=ProcessedMessage.IMAP, size=size, mailbox=mailbox)
        except TRANSIENT_ERRORS as exc:
            raise PollError(
                f"A message could not be taken now ({exc}); it stays unread for the next poll."
            ) from exc
        for delivery in result.deliveries:
            if delivery.outcome == ProcessedMessage.IMPORTED:
                report.imported += 1
            elif delivery.outcome == DUPLICATE:
                report.duplicates += 1
            else:
                report.refused += 1
        _done(conn, uid, mailbox, capabilities)


def poll_all_mailboxes() -> list[tuple[Mailbox, PollReport]]:
    return [(mailbox, poll_mailbox(mailbox)) for mailbox in Mailbox.objects.filter(enabled=True)]
