"""Polling an import mailbox on a real IMAP server: Dovecot from the Debian packages
(``.ci/imap_server.sh install``), started here with a throwaway config on 127.0.0.1.

Messages are delivered with IMAP APPEND, then read the way a scheduled poll reads
them: plain, STARTTLS and SSL, marked read or moved, each Message-ID once.
"""

from __future__ import annotations

import grp
import imaplib
import logging
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from django.db import OperationalError
from django.urls import reverse
from django_q.models import Schedule

from conftest import need
from imports import email_ingest, source_tasks
from imports.models import ImportJob
from imports.sources import EmailSource, Mailbox, ProcessedMessage
from inventory import services as stock_services
from inventory.models import InventoryItem

from .test_email_ingest import build, csv
from .test_ftp_ingest import make_certificate

PASSWORD = "imap-pass-0d9f"
USERS = 50
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Dovecot:
    """One Dovecot instance in a temporary folder: users from a passwd-file, maildirs.

    As root, the mail processes run as ``nobody`` (Dovecot refuses root for mail)
    and the helpers as Dovecot's own users; as anyone else, everything runs as
    that user.  Nothing listens beyond 127.0.0.1.
    """

    def __init__(self, binary: str):
        self.root = Path(tempfile.mkdtemp(prefix="hub-dovecot-"))
        self.root.chmod(0o755)
        self.port, self.ssl_port = free_port(), free_port()
        self.cert, key = make_certificate(self.root)
        # Users are made up front: Dovecot notices a changed passwd-file only by its
        # modification second, so users added during the tests may go unseen.
        self.users = [f"user{n}" for n in range(USERS)]
        self.passwd = self.root / "passwd"
        self.passwd.write_text("".join(f"{user}:{{PLAIN}}{PASSWORD}::::::\n" for user in self.users))
        home = self.root / "home"
        home.mkdir()
        if os.geteuid() == 0:
            mail_user = pwd.getpwnam("nobody")
            uid, gid = mail_user.pw_uid, mail_user.pw_gid
            internal, group, login = "dovecot", "dovecot", "dovenull"
            os.chown(home, uid, gid)
        else:
            uid, gid = os.geteuid(), os.getegid()
            internal = login = pwd.getpwuid(uid).pw_name
            group = grp.getgrgid(gid).gr_name
        self.config = self.root / "dovecot.conf"
        self.config.write_text(
            f"""
protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
ssl = yes
ssl_cert = <{self.cert}
ssl_key = <{key}
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={home}/%u
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.ssl_port}
    ssl = yes
  }}
}}
"""
        )
        self.process = subprocess.Popen(
            [binary, "-F", "-c", str(self.config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            self._wait()
        except Exception:
            self.stop()
            raise

    def _wait(self):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot stopped: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.ssl_port), timeout=0.5):
                    pass
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not start: {self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        output = self.process.stdout.read().decode() if self.process.poll() is not None else ""
        return output + (path.read_text() if path.exists() else "")

    def take_user(self) -> str:
        return self.users.pop()

    def client(self, user: str) -> imaplib.IMAP4:
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        conn.login(user, PASSWORD)
        return conn

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def dovecot():
    binary = shutil.which("dovecot", path=SBIN)
    need(
        binary is not None and os.path.exists("/usr/lib/dovecot/imap"),
        "Dovecot is not installed (.ci/imap_server.sh install)",
    )
    server = Dovecot(binary)
    yield server
    server.stop()


@pytest.fixture
def account(dovecot):
    """A fresh user (and so an empty mailbox) per test."""
    return dovecot.take_user()


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMPORT_EMAIL_DOMAIN = "in.hub.example"


@pytest.fixture
def source(store):
    return EmailSource.objects.create(store=store, allowed_senders="orders@supplier.example")


def make_mailbox(dovecot, account, **fields) -> Mailbox:
    values = {"name": "Imports", "host": "127.0.0.1", "port": dovecot.port, "security": Mailbox.PLAIN}
    values.update(fields)
    mailbox = Mailbox(username=account, **values)
    mailbox.password = values.pop("password", PASSWORD)
    mailbox.save()
    return mailbox


def deliver(dovecot, account, *messages: bytes, folder="INBOX"):
    conn = dovecot.client(account)
    try:
        for raw in messages:
            typ, _ = conn.append(folder, None, None, raw)
            assert typ == "OK"
    finally:
        conn.logout()


def folder_state(dovecot, account, folder="INBOX") -> dict[str, int]:
    conn = dovecot.client(account)
    try:
        typ, _ = conn.select(folder, readonly=True)
        if typ != "OK":
            return {}
        total = len(conn.search(None, "ALL")[1][0].split())
        unseen = len(conn.search(None, "UNSEEN")[1][0].split())
        return {"total": total, "unseen": unseen}
    finally:
        conn.logout()


def stocks(store):
    return dict(InventoryItem.objects.filter(store=store).values_list("code", "stock"))


def test_poll_imports_unread_messages_and_marks_them_read(store, make_items, source, dovecot, account):
    make_items(store, {"A-1": 0, "B-2": 0})
    deliver(
        dovecot,
        account,
        build(source.address, [csv("sku,qty\nA-1,5\n")], message_id="<one@supplier.example>"),
        build("stock+" + "0" * 24 + "@in.hub.example", [csv("sku,qty\nB-2,9\n")]),
    )
    mailbox = make_mailbox(dovecot, account)

    report = email_ingest.poll_mailbox(mailbox)

    assert report.ok, report.message
    assert (report.imported, report.refused, report.duplicates) == (1, 1, 0)
    assert stocks(store) == {"A-1": 5, "B-2": 0}
    assert folder_state(dovecot, account) == {"total": 2, "unseen": 0}
    record = ProcessedMessage.objects.get(store=store)
    assert record.via == ProcessedMessage.IMAP and record.mailbox == mailbox
    assert record.jobs.get().origin == ImportJob.EMAIL
    mailbox.refresh_from_db()
    assert mailbox.last_poll_ok and mailbox.last_poll_message == "1 imported, 1 refused, 0 seen before."

    again = email_ingest.poll_mailbox(mailbox)
    assert (again.imported, again.refused, again.duplicates) == (0, 0, 0)
    assert ImportJob.objects.count() == 1


def test_a_message_polled_again_is_imported_once(store, make_items, source, dovecot, account):
    """Someone marks it unread, or the mark was lost with a dying worker."""
    items = make_items(store, {"A-1": 0})
    deliver(dovecot, account, build(source.address, [csv("sku,qty\nA-1,5\n")]))
    mailbox = make_mailbox(dovecot, account)
    email_ingest.poll_mailbox(mailbox)
    stock_services.set_stock({items["A-1"].pk: 2}, source="admin")
    conn = dovecot.client(account)
    conn.select("INBOX")
    conn.store("1:*", "-FLAGS", "(\\Seen)")
    conn.logout()

    report = email_ingest.poll_mailbox(mailbox)

    assert (report.imported, report.duplicates) == (0, 1)
    assert stocks(store) == {"A-1": 2} and ImportJob.objects.count() == 1
    assert folder_state(dovecot, account)["unseen"] == 0


def test_the_same_message_piped_and_polled_counts_once(store, make_items, source, dovecot, account):
    make_items(store, {"A-1": 0})
    raw = build(source.address, [csv("sku,qty\nA-1,5\n")])
    email_ingest.ingest_message(raw, via=ProcessedMessage.PIPE)
    deliver(dovecot, account, raw)
    report = email_ingest.poll_mailbox(make_mailbox(dovecot, account))
    assert report.duplicates == 1 and ImportJob.objects.count() == 1


def test_a_transient_error_leaves_the_message_unread(store, source, dovecot, account, monkeypatch):
    deliver(dovecot, account, build(source.address, [csv("sku,qty\nA-1,5\n")]))
    mailbox = make_mailbox(dovecot, account)

    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(email_ingest, "ingest_message", locked)
    report = email_ingest.poll_mailbox(mailbox)

    assert not report.ok and "stays unread" in report.message
    assert folder_state(dovecot, account)["unseen"] == 1
    mailbox.refresh_from_db()
    assert mailbox.last_poll_ok is False and mailbox.lease_until is None


def test_move_to_a_folder(store, make_items, source, dovecot, account):
    make_items(store, {"A-1": 0})
    deliver(dovecot, account, build(source.address, [csv("sku,qty\nA-1,5\n")]), build(source.address, []))
    mailbox = make_mailbox(dovecot, account, after_import=Mailbox.MOVE, move_to="Stock files")

    report = email_ingest.poll_mailbox(mailbox)

    assert report.ok and report.imported == 1 and report.refused == 1, report.message
    assert folder_state(dovecot, account) == {"total": 0, "unseen": 0}
    assert folder_state(dovecot, account, '"Stock files"') == {"total": 2, "unseen": 0}
    assert stocks(store) == {"A-1": 5}


def test_starttls_with_a_verified_certificate(store, make_items, source, dovecot, account, settings):
    settings.IMPORT_TLS_CA_FILE = str(dovecot.cert)
    make_items(store, {"A-1": 0})
    deliver(dovecot, account, build(source.address, [csv("sku,qty\nA-1,5\n")]))
    report = email_ingest.poll_mailbox(make_mailbox(dovecot, account, security=Mailbox.STARTTLS))
    assert report.ok and report.imported == 1, report.message


def test_ssl_with_a_verified_certificate(store, make_items, source, dovecot, account, settings):
    settings.IMPORT_TLS_CA_FILE = str(dovecot.cert)
    make_items(store, {"A-1": 0})
    deliver(dovecot, account, build(source.address, [csv("sku,qty\nA-1,5\n")]))
    mailbox = make_mailbox(dovecot, account, security=Mailbox.SSL, port=dovecot.ssl_port)
    report = email_ingest.poll_mailbox(mailbox)
    assert report.ok and report.imported == 1, report.message
    assert stocks(store) == {"A-1": 5}


def test_an_unknown_certificate_is_refused_unless_verification_is_off(store, source, dovecot, account):
    deliver(dovecot, account, build(source.address, [csv("sku,qty\nA-1,5\n")]))
    mailbox = make_mailbox(dovecot, account, security=Mailbox.SSL, port=dovecot.ssl_port)

    report = email_ingest.poll_mailbox(mailbox)
    assert not report.ok and "certificate" in report.message.lower()
    assert folder_state(dovecot, account)["unseen"] == 1

    mailbox.verify_certificate = False
    mailbox.save()
    assert email_ingest.poll_mailbox(mailbox).ok


@pytest.fixture
def own_dovecot(dovecot):
    """A server of the test's own: after a failed login Dovecot delays the next
    logins from that address for seconds, which would slow the other tests."""
    server = Dovecot(shutil.which("dovecot", path=SBIN))
    yield server
    server.stop()


def test_wrong_password_is_reported_and_never_shown(source, own_dovecot, caplog):
    caplog.set_level(logging.DEBUG)
    account = own_dovecot.take_user()
    mailbox = make_mailbox(own_dovecot, account, password="wrong-imap-password")

    report = email_ingest.poll_mailbox(mailbox)

    assert not report.ok and f"refused the login of {account}" in report.message
    mailbox.refresh_from_db()
    assert mailbox.last_poll_ok is False and mailbox.lease_until is None
    assert "wrong-imap-password" not in caplog.text + mailbox.last_poll_message + mailbox.password_encrypted


def test_missing_folder_is_reported(source, dovecot, account):
    report = email_ingest.poll_mailbox(make_mailbox(dovecot, account, folder="Nope"))
    assert not report.ok and "Nope cannot be opened" in report.message


def test_a_folder_that_cannot_be_made_stops_the_poll_before_any_import(store, source, dovecot, account):
    deliver(dovecot, account, build(source.address, [csv("sku,qty\nA-1,5\n")]))
    mailbox = make_mailbox(dovecot, account, after_import=Mailbox.MOVE, move_to="a/b")  # "/" is not allowed
    report = email_ingest.poll_mailbox(mailbox)
    assert not report.ok and "a/b cannot be created" in report.message
    assert not ImportJob.objects.exists() and folder_state(dovecot, account)["unseen"] == 1


def test_oversize_message_is_refused_from_its_headers(store, source, dovecot, account, settings, mailoutbox):
    settings.IMPORT_EMAIL_MAX_BYTES = 3000
    raw = build(source.address, [csv("sku,qty\n" + "A-1,5\n" * 1000)], message_id="<big@supplier.example>")
    deliver(dovecot, account, raw)

    report = email_ingest.poll_mailbox(make_mailbox(dovecot, account))

    assert report.refused == 1 and not ImportJob.objects.exists()
    record = ProcessedMessage.objects.get()
    assert record.message_id == "<big@supplier.example>" and "the limit is" in record.detail
    assert record.report["size"] >= len(raw)
    assert folder_state(dovecot, account)["unseen"] == 0


def test_task_and_schedule(store, make_items, source, dovecot, account):
    make_items(store, {"A-1": 0})
    deliver(dovecot, account, build(source.address, [csv("sku,qty\nA-1,5\n")]))
    mailbox = make_mailbox(dovecot, account, poll_minutes=3)
    schedule = Schedule.objects.get(name=source_tasks.schedule_name(mailbox))
    assert (schedule.func, schedule.args, schedule.minutes) == (
        "imports.source_tasks.poll_mailbox_task",
        repr((mailbox.pk,)),
        3,
    )

    assert source_tasks.poll_mailbox_task(mailbox.pk).startswith("1 imported")
    assert source_tasks.poll_mailbox_task(mailbox.pk).startswith("0 imported")
    assert ImportJob.objects.count() == 1
    mailbox.delete()
    assert not Schedule.objects.filter(name=source_tasks.schedule_name(mailbox)).exists()


def test_poll_sources_command_polls_the_mailbox(store, make_items, source, dovecot, account, capsys):
    from django.core.management import call_command

    make_items(store, {"A-1": 0})
    deliver(dovecot, account, build(source.address, [csv("sku,qty\nA-1,5\n")]))
    mailbox = make_mailbox(dovecot, account)
    call_command("poll_sources", "--mailbox", str(mailbox.pk))
    assert "mailbox Imports: 1 imported" in capsys.readouterr().out
    assert stocks(store) == {"A-1": 5}


def test_admin_mailbox_form_keeps_the_password_hidden_and_polls_now(
    store, make_items, source, dovecot, account, admin_client
):
    make_items(store, {"A-1": 0})
    deliver(dovecot, account, build(source.address, [csv("sku,qty\nA-1,5\n")]))
    form = {
        "name": "Imports", "enabled": "on", "poll_minutes": 4, "host": "127.0.0.1", "port": dovecot.port,
        "security": Mailbox.PLAIN, "verify_certificate": "on", "username": account, "new_password": PASSWORD,
        "folder": "INBOX", "after_import": Mailbox.MARK_SEEN, "move_to": "Imported",
    }  # fmt: skip
    response = admin_client.post(reverse("admin:imports_mailbox_add"), form)
    assert response.status_code == 302, response.content.decode()[:3000]
    mailbox = Mailbox.objects.get()
    assert mailbox.password == PASSWORD and PASSWORD not in mailbox.password_encrypted
    assert Schedule.objects.get(name=source_tasks.schedule_name(mailbox)).minutes == 4

    page = admin_client.get(reverse("admin:imports_mailbox_change", args=[mailbox.pk])).content.decode()
    assert PASSWORD not in page and "A password is stored" in page

    response = admin_client.post(
        reverse("admin:imports_mailbox_changelist"),
        {"action": "poll_now", "_selected_action": [mailbox.pk]},
        follow=True,
    )
    assert "1 imported" in response.content.decode()
    page = admin_client.get(reverse("admin:imports_mailbox_change", args=[mailbox.pk])).content.decode()
    job = ImportJob.objects.get()
    assert reverse("admin:imports_importjob_change", args=[job.pk]) in page
    assert stocks(store) == {"A-1": 5}


def test_tls_context_trusts_the_ca_file_and_the_system(settings, dovecot):
    from imports.sources import tls_context

    settings.IMPORT_TLS_CA_FILE = str(dovecot.cert)
    context = tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert any("hub test server" in str(cert.get("subject")) for cert in context.get_ca_certs())
