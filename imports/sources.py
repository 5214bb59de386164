"""Where stock files arrive by themselves: a mailbox, a store's import address, an FTP folder.

* :class:`Mailbox` — an IMAP mailbox the hub polls.  One mailbox can serve every
  store: each store has its own address (``stock+TOKEN@domain``) and the token
  in a recipient decides the store, so a catch-all or plus-addressed mailbox is
  enough.
* :class:`EmailSource` — a store's import address, its sender allow-list and
  whether the sender gets a reply with the result.
* :class:`FtpSource` — a store's FTP(S) folder and file pattern.
* :class:`ProcessedMessage` / :class:`ProcessedFile` — what has been taken in
  already, with the outcome and the jobs; they make every message and every file
  count once, however often a poll sees it.

Passwords are encrypted at rest and never shown back: the admin only offers to
replace them.  The services live in :mod:`imports.email_ingest` and
:mod:`imports.ftp_ingest`; schedules in :mod:`imports.source_tasks`.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import re
import secrets
import ssl
from datetime import timedelta

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from inventory.models import Store

from .models import ImportJob

DEFAULT_LOCAL_PART = "stock"
# How long one poll may hold a source before another poll may start anyway
# (a worker killed mid-poll never releases it).  Above the cluster's timeout.
LEASE = timedelta(minutes=20)


def import_email_domain() -> str:
    """The domain of the store addresses; defaults to that of DEFAULT_FROM_EMAIL."""
    domain = getattr(settings, "IMPORT_EMAIL_DOMAIN", "") or ""
    if not domain:
        domain = (getattr(settings, "DEFAULT_FROM_EMAIL", "") or "").rpartition("@")[2].strip(" >")
    return domain or "localhost"


def import_email_local_part() -> str:
    return getattr(settings, "IMPORT_EMAIL_LOCAL_PART", "") or DEFAULT_LOCAL_PART


def tls_context(verify: bool = True) -> ssl.SSLContext:
    """The TLS settings for IMAP and FTPS.

    ``IMPORT_TLS_CA_FILE`` adds a private certificate authority (a NAS or an
    office server) to the system's; turning verification off is a per-source
    choice for a server on the seller's own network.
    """
    context = ssl.create_default_context()
    cafile = getattr(settings, "IMPORT_TLS_CA_FILE", "") or ""
    if cafile:
        context.load_verify_locations(cafile=cafile)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


# --- passwords at rest ---------------------------------------------------------


class PasswordUnreadable(Exception):
    """The stored password was encrypted with another key (SECRET_KEY or CREDENTIALS_KEY changed)."""


def _fernet() -> Fernet:
    material = getattr(settings, "CREDENTIALS_KEY", "") or settings.SECRET_KEY
    digest = hashlib.sha256(("import-source-password:" + material).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


class PolledSource(models.Model):
    """What a mailbox and an FTP folder share: a password, a schedule, the last poll."""

    enabled = models.BooleanField(default=True, help_text="Off: never polled, not even by “Poll now”.")
    poll_minutes = models.PositiveIntegerField(
        default=5,
        help_text="Minutes between scheduled polls; 0 = only by “Poll now” or `manage.py poll_sources`.",
    )
    password_encrypted = models.TextField(blank=True, editable=False)
    last_poll_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_poll_ok = models.BooleanField(null=True, editable=False)
    last_poll_message = models.TextField(blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True

    @property
    def password(self) -> str:
        if not self.password_encrypted:
            return ""
        try:
            return _fernet().decrypt(self.password_encrypted.encode()).decode()
        except InvalidToken:
            raise PasswordUnreadable(
                "The stored password cannot be read with the current key; enter it again."
            ) from None

    @password.setter
    def password(self, value: str):
        self.password_encrypted = _fernet().encrypt(value.encode()).decode() if value else ""

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    def take_lease(self) -> bool:
        """Claim the source for one poll; False while another poll holds it."""
        now = timezone.now()
        return bool(
            type(self)
            .objects.filter(pk=self.pk)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .update(lease_until=now + LEASE)
        )

    def finish_poll(self, ok: bool, message: str) -> None:
        """Record the poll's result and release the lease (an update: admin edits made
        meanwhile are kept)."""
        now = timezone.now()
        type(self).objects.filter(pk=self.pk).update(
            lease_until=None, last_poll_at=now, last_poll_ok=ok, last_poll_message=message
        )
        self.lease_until, self.last_poll_at, self.last_poll_ok, self.last_poll_message = (
            None,
            now,
            ok,
            message,
        )


# --- email -----------------------------------------------------------------------


class Mailbox(PolledSource):
    SSL, STARTTLS, PLAIN = "ssl", "starttls", "plain"
    SECURITY = [
        (SSL, "SSL/TLS (port 993)"),
        (STARTTLS, "STARTTLS (port 143)"),
        (PLAIN, "None (only for a server on this machine)"),
    ]
    MARK_SEEN, MOVE = "seen", "move"
    AFTER = [(MARK_SEEN, "Mark as read"), (MOVE, "Move to a folder")]

    name = models.CharField(max_length=100)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=993)
    security = models.CharField(max_length=10, choices=SECURITY, default=SSL)
    verify_certificate = models.BooleanField(
        default=True,
        help_text="Turn off only for a server on your own network with a self-signed certificate.",
    )
    username = models.CharField(max_length=255)
    folder = models.CharField(max_length=200, default="INBOX", help_text="Unread messages here are read.")
    after_import = models.CharField(
        max_length=10,
        choices=AFTER,
        default=MARK_SEEN,
        help_text="What happens to each message once it is taken in (imported or refused).",
    )
    move_to = models.CharField(
        max_length=200, blank=True, default="Imported", help_text="Folder for “Move”; created if missing."
    )

    class Meta:
        verbose_name = "import mailbox"
        verbose_name_plural = "import mailboxes"

    def __str__(self):
        return self.name

    def clean(self):
        for field in ("folder", "move_to"):
            value = getattr(self, field)
            if not value.isascii() or any(ch in value for ch in "\r\n"):
                raise ValidationError({field: "Use a folder name in plain ASCII letters."})
        if self.after_import == self.MOVE and not self.move_to.strip():
            raise ValidationError({"move_to": "Name the folder messages are moved to."})
        if self.after_import == self.MOVE and self.move_to.strip() == self.folder.strip():
            raise ValidationError({"move_to": "Moving into the folder that is read would read them again."})


def new_token() -> str:
    """Lower-case hex: mail servers may change the case of a local part."""
    return secrets.token_hex(12)


class EmailSource(models.Model):
    """A store's import address: mail to it with a spreadsheet attached is imported."""

    store = models.OneToOneField(Store, on_delete=models.CASCADE, related_name="email_source")
    token = models.CharField(max_length=40, unique=True, default=new_token, editable=False)
    enabled = models.BooleanField(default=True)
    allowed_senders = models.TextField(
        blank=True,
        help_text="Addresses (alice@supplier.com) or whole domains (@supplier.com), one per line. "
        "Empty: every message is refused.",
    )
    reply_to_sender = models.BooleanField(
        default=True, help_text="Answer each allowed sender with the import's result and row errors."
    )
    mode = models.CharField(
        max_length=3,
        choices=ImportJob.MODES,
        default=ImportJob.SET,
        help_text="“Add” when the mails carry receipts rather than counts.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "email import address"
        verbose_name_plural = "email import addresses"

    def __str__(self):
        return f"{self.address} ({self.store})"

    @property
    def address(self) -> str:
        return f"{import_email_local_part()}+{self.token}@{import_email_domain()}"

    def sender_rules(self) -> list[str]:
        return [part.lower() for part in re.split(r"[\s,;]+", self.allowed_senders) if part.strip()]

    def allows(self, address: str) -> bool:
        address = (address or "").strip().lower()
        if "@" not in address:
            return False
        domain = address.rpartition("@")[2]
        for rule in self.sender_rules():
            if rule.startswith("@") and domain == rule[1:]:
                return True
            if rule.startswith("*@") and domain == rule[2:]:
                return True
            if "@" not in rule and domain == rule:
                return True
            if rule == address:
                return True
        return False

    def clean(self):
        bad = [
            rule
            for rule in self.sender_rules()
            if not re.fullmatch(r"(\*?@|[^@\s]+@)?[^@\s]+\.[^@\s]+", rule)
        ]
        if bad:
            raise ValidationError({"allowed_senders": f"Not an address or @domain: {', '.join(bad)}."})


class ProcessedMessage(models.Model):
    """One message taken in for one store (or for none: no store address among its recipients)."""

    IMPORTED, REFUSED = "imported", "refused"
    OUTCOMES = [(IMPORTED, "Imported"), (REFUSED, "Refused")]
    PIPE, IMAP = "pipe", "imap"
    VIA = [(PIPE, "Piped in by the mail server"), (IMAP, "IMAP mailbox")]

    store = models.ForeignKey(
        Store, null=True, blank=True, on_delete=models.CASCADE, related_name="processed_messages"
    )
    mailbox = models.ForeignKey(
        Mailbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="processed_messages"
    )
    message_id = models.CharField(max_length=255, help_text="Message-ID, or a hash of a message without one.")
    via = models.CharField(max_length=10, choices=VIA)
    sender = models.CharField(max_length=255, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=10, choices=OUTCOMES)
    detail = models.TextField(blank=True)
    report = models.JSONField(default=dict, blank=True)
    jobs = models.ManyToManyField(ImportJob, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["store", "message_id"], name="message_once_per_store")]

    def __str__(self):
        return f"{self.message_id} ({self.get_outcome_display()})"


# --- FTP ---------------------------------------------------------------------------

# Files that are never taken: editor lock files, hidden files, uploads in progress.
LOCK_PREFIXES = ("~$", ".~lock.", ".")
PARTIAL_SUFFIXES = (".part", ".filepart", ".partial", ".tmp", ".crdownload", ".swp")


class FtpSource(PolledSource):
    """A store's FTP folder: files matching the pattern are imported once, then moved."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="ftp_sources")
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=21)
    username = models.CharField(max_length=255, blank=True, help_text="Empty: anonymous.")
    folder = models.CharField(
        max_length=500, blank=True, default="", help_text="Folder on the server; empty = the login folder."
    )
    pattern = models.CharField(
        max_length=200,
        default="*",
        help_text="File names to take, e.g. “*.csv *.xlsx” (several separated by spaces or commas; "
        "case does not matter).",
    )
    use_tls = models.BooleanField(
        "FTPS", default=False, help_text="Explicit TLS (AUTH TLS), data encrypted too."
    )
    verify_certificate = models.BooleanField(
        default=True,
        help_text="Turn off only for a server on your own network with a self-signed certificate.",
    )
    passive = models.BooleanField(default=True, help_text="Passive mode (works through most firewalls).")
    mode = models.CharField(
        max_length=3,
        choices=ImportJob.MODES,
        default=ImportJob.SET,
        help_text="“Add” when the files carry receipts rather than counts.",
    )

    class Meta:
        verbose_name = "FTP import folder"

    def __str__(self):
        return f"{self.location} ({self.store})"

    @property
    def location(self) -> str:
        port = "" if self.port == 21 else f":{self.port}"
        scheme = "ftps" if self.use_tls else "ftp"
        folder = self.folder.strip().strip("/")
        return f"{scheme}://{self.host}{port}/{folder + '/' if folder else ''}"

    def patterns(self) -> list[str]:
        return [part.lower() for part in re.split(r"[\s,;]+", self.pattern) if part] or ["*"]

    def matches(self, name: str) -> bool:
        lowered = name.lower()
        return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in self.patterns())

    @staticmethod
    def is_lock_or_partial(name: str) -> bool:
        lowered = name.lower()
        return lowered.startswith(LOCK_PREFIXES) or lowered.endswith(PARTIAL_SUFFIXES)


class ProcessedFile(models.Model):
    """One file taken from an FTP folder, known by its name, size and modification time."""

    IMPORTED, REFUSED, FAILED = "imported", "refused", "failed"
    OUTCOMES = [(IMPORTED, "Imported"), (REFUSED, "Refused"), (FAILED, "Failed")]

    source = models.ForeignKey(FtpSource, on_delete=models.CASCADE, related_name="processed_files")
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    modified = models.CharField(
        max_length=32, blank=True, help_text="As the server reports it (YYYYMMDDHHMMSS, UTC)."
    )
    outcome = models.CharField(max_length=10, choices=OUTCOMES)
    detail = models.TextField(blank=True)
    job = models.ForeignKey(ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    moved_to = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "name", "size", "modified"], name="file_once_per_source"
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.get_outcome_display()})"


# --- schedules follow the settings -------------------------------------------------


@receiver(post_save, sender=Mailbox)
@receiver(post_save, sender=FtpSource)
def _keep_schedule(sender, instance, **kwargs):
    from .source_tasks import sync_schedule

    sync_schedule(instance)


@receiver(post_delete, sender=Mailbox)
@receiver(post_delete, sender=FtpSource)
def _drop_schedule(sender, instance, **kwargs):
    from .source_tasks import remove_schedule

    remove_schedule(instance)
