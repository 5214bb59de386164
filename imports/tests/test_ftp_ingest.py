"""FTP folders against a real FTP server (pyftpdlib on 127.0.0.1), plain and FTPS:
each file imported once, moved to processed/ or failed/ with a report, files
still growing and lock files left alone, schedules kept in step with sources."""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError
from django.test import Client
from django.urls import reverse
from django_q.models import Schedule
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
from pyftpdlib.servers import FTPServer

from imports import ftp_ingest, services, source_tasks
from imports.models import ImportJob
from imports.sources import FtpSource, ProcessedFile
from inventory import services as stock_services
from inventory.models import InventoryItem, StoreMembership

USER, PASSWORD = "shop", "s3cret-ftp-pass"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMPORT_FTP_SETTLE_SECONDS = 0  # tests that look at the wait set it themselves


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost; it is its own CA in the tests."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hub test server")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class FtpServer:
    """pyftpdlib in a thread: one user whose home is ``root``."""

    def __init__(self, root: Path, *, tls: bool = False, cert=None, without=()):
        authorizer = DummyAuthorizer()
        authorizer.add_user(USER, PASSWORD, str(root), perm="elradfmwMT")
        base = TLS_FTPHandler if tls else FTPHandler
        attrs = {"authorizer": authorizer, "banner": "hub test ftp", "auth_failed_timeout": 0.01}
        if tls:
            attrs.update(
                certfile=str(cert[0]), keyfile=str(cert[1]), tls_control_required=True, tls_data_required=True
            )
        if without:
            attrs["proto_cmds"] = {k: v for k, v in base.proto_cmds.items() if k not in without}
        handler = type("Handler", (base,), attrs)
        self.server = FTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.address[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            self.server.ioloop.loop(timeout=0.02, blocking=False)
        self.server.close_all()

    def close(self):
        self.stop.set()
        self.thread.join(5)


@pytest.fixture
def ftp_root(tmp_path) -> Path:
    root = tmp_path / "ftp"
    (root / "stock").mkdir(parents=True)
    return root


@pytest.fixture
def cert(tmp_path):
    return make_certificate(tmp_path)


@pytest.fixture
def start_ftp(ftp_root, cert):
    servers = []

    def start(**kwargs):
        server = FtpServer(ftp_root, cert=cert, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def plain_ftp(start_ftp):
    return start_ftp()


def ftp_source(store, server, **fields) -> FtpSource:
    source = FtpSource(
        store=store, host="127.0.0.1", port=server.port, username=USER, folder="/stock", **fields
    )
    source.password = fields.pop("password", PASSWORD)
    source.save()
    return source


def put(root: Path, name: str, content: str | bytes, *, age: float = 60) -> Path:
    path = root / "stock" / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def stocks(store):
    return dict(InventoryItem.objects.filter(store=store).values_list("code", "stock"))


def listing(root: Path, sub: str = "") -> list[str]:
    folder = root / "stock" / sub
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# --- importing and moving --------------------------------------------------------


def test_file_is_imported_once_and_moved_to_processed(store, make_items, ftp_root, plain_ftp):
    make_items(store, {"A-1": 0, "B-2": 0})
    put(ftp_root, "stock.csv", "sku,qty\nA-1,5\nB-2,7\n")
    source = ftp_source(store, plain_ftp)

    report = ftp_ingest.poll_ftp(source, settle=0)

    assert report.ok and report.imported == 1, report.message
    assert stocks(store) == {"A-1": 5, "B-2": 7}
    assert listing(ftp_root) == ["processed"]
    assert listing(ftp_root, "processed") == ["stock.csv"]
    record = ProcessedFile.objects.get(source=source)
    assert (record.name, record.size, record.outcome) == ("stock.csv", 20, ProcessedFile.IMPORTED)
    assert len(record.modified) >= 14 and record.moved_to == "processed/stock.csv"
    job = record.job
    assert job.origin == ImportJob.FTP and job.status == ImportJob.APPLIED
    assert job.sender == f"ftp://127.0.0.1:{plain_ftp.port}/stock/stock.csv"
    source.refresh_from_db()
    assert source.last_poll_ok is True and "1 imported" in source.last_poll_message
    assert source.lease_until is None

    again = ftp_ingest.poll_ftp(source, settle=0)
    assert again.ok and again.imported == 0
    assert ImportJob.objects.count() == 1


def test_a_new_upload_under_the_same_name_is_a_new_file(store, make_items, ftp_root, plain_ftp):
    make_items(store, {"A-1": 0})
    source = ftp_source(store, plain_ftp)
    put(ftp_root, "stock.csv", "sku,qty\nA-1,5\n", age=3600)
    ftp_ingest.poll_ftp(source, settle=0)
    put(ftp_root, "stock.csv", "sku,qty\nA-1,9\n", age=60)  # same name and size, later time

    report = ftp_ingest.poll_ftp(source, settle=0)

    assert report.imported == 1
    assert stocks(store) == {"A-1": 9}
    processed = listing(ftp_root, "processed")
    assert len(processed) == 2 and "stock.csv" in processed  # the first one is never overwritten
    assert ProcessedFile.objects.filter(source=source).count() == 2


def test_several_files_apply_oldest_first(store, make_items, ftp_root, plain_ftp):
    make_items(store, {"A-1": 0})
    put(ftp_root, "b-monday.csv", "sku,qty\nA-1,3\n", age=7200)
    put(ftp_root, "a-tuesday.csv", "sku,qty\nA-1,4\n", age=60)

    ftp_ingest.poll_ftp(ftp_source(store, plain_ftp), settle=0)

    assert stocks(store) == {"A-1": 4}


def test_pattern_lock_files_and_partial_uploads(store, make_items, ftp_root, plain_ftp):
    make_items(store, {"A-1": 0})
    put(ftp_root, "stock.CSV", "sku,qty\nA-1,5\n")
    put(ftp_root, "notes.txt", "sku,qty\nA-1,99\n")
    put(ftp_root, "~$stock.csv", b"\x00lock")
    put(ftp_root, ".~lock.stock.csv#", "lock")
    put(ftp_root, "upload.csv.filepart", "sku,qty\nA-1,77\n")
    source = ftp_source(store, plain_ftp, pattern="*.csv, *.xlsx")

    report = ftp_ingest.poll_ftp(source, settle=0)

    assert report.imported == 1 and report.failed == 0
    assert stocks(store) == {"A-1": 5}
    assert listing(ftp_root) == [
        ".~lock.stock.csv#",
        "notes.txt",
        "processed",
        "upload.csv.filepart",
        "~$stock.csv",
    ]


def test_a_file_still_growing_waits_for_the_next_poll(store, make_items, ftp_root, plain_ftp, monkeypatch):
    make_items(store, {"A-1": 0, "B-2": 0})
    path = put(ftp_root, "stock.csv", "sku,qty\nA-1,5\n", age=0)
    source = ftp_source(store, plain_ftp)
    naps = []

    def upload_continues(seconds):  # between the two listings, more of the file arrives
        naps.append(seconds)
        with path.open("a") as handle:
            handle.write("B-2,7\n")

    monkeypatch.setattr(ftp_ingest.time, "sleep", upload_continues)
    report = ftp_ingest.poll_ftp(source, settle=3)
    assert naps == [3]
    assert report.ok and report.imported == 0 and report.waiting == 1
    assert listing(ftp_root) == ["stock.csv"] and not ImportJob.objects.exists()

    monkeypatch.setattr(ftp_ingest.time, "sleep", lambda seconds: None)  # the upload has finished
    report = ftp_ingest.poll_ftp(source, settle=3)
    assert report.imported == 1
    assert stocks(store) == {"A-1": 5, "B-2": 7}


def test_settle_time_comes_from_the_settings(store, ftp_root, plain_ftp, monkeypatch, settings):
    settings.IMPORT_FTP_SETTLE_SECONDS = 0.25
    naps = []
    monkeypatch.setattr(ftp_ingest.time, "sleep", naps.append)
    ftp_ingest.poll_ftp(ftp_source(store, plain_ftp))
    assert naps == [0.25]


def test_refused_file_goes_to_failed_with_a_report(store, make_items, ftp_root, plain_ftp):
    make_items(store, {"A-1": 3})
    put(ftp_root, "prices.csv", "article,price\nA-1,9.99\n")
    source = ftp_source(store, plain_ftp)

    report = ftp_ingest.poll_ftp(source, settle=0)

    assert report.failed == 1 and report.imported == 0
    assert listing(ftp_root) == ["failed"]
    assert listing(ftp_root, "failed") == ["prices.csv", "prices.csv.errors.txt"]
    text = (ftp_root / "stock" / "failed" / "prices.csv.errors.txt").read_text()
    assert "prices.csv: not imported." in text and "article" in text
    record = ProcessedFile.objects.get(source=source)
    assert record.outcome == ProcessedFile.REFUSED and record.job.status == ImportJob.REFUSED
    assert record.moved_to == "failed/prices.csv"
    assert stocks(store) == {"A-1": 3}


def test_row_errors_are_reported_beside_the_processed_file(store, make_items, ftp_root, plain_ftp):
    make_items(store, {"A-1": 0, "0017": 1})
    put(ftp_root, "stock.csv", "sku,qty\nA-1,5\n17,4\nA-1x,5.5\n")

    ftp_ingest.poll_ftp(ftp_source(store, plain_ftp), settle=0)

    assert listing(ftp_root, "processed") == ["stock.csv", "stock.csv.errors.txt"]
    text = (ftp_root / "stock" / "processed" / "stock.csv.errors.txt").read_text()
    assert "stock.csv: applied" in text
    assert "row 3" in text and "0017 exists" in text
    assert stocks(store)["A-1"] == 5


def test_too_large_file_is_refused_without_reading_it(store, ftp_root, plain_ftp, settings):
    settings.IMPORT_MAX_FILE_BYTES = 10
    put(ftp_root, "stock.csv", "sku,qty\nA-1,5\n")

    report = ftp_ingest.poll_ftp(ftp_source(store, plain_ftp), settle=0)

    assert report.failed == 1 and not ImportJob.objects.exists()
    assert "the limit is 10" in (ftp_root / "stock" / "failed" / "stock.csv.errors.txt").read_text()


def test_skip_pull_items_are_left_alone(store, make_items, ftp_root, plain_ftp):
    items = make_items(store, {"A-1": 2, "B-2": 2})
    stock_services.set_metadata(items["A-1"], {"skip_pull": "yes"})
    put(ftp_root, "stock.csv", "sku,qty\nA-1,50\nB-2,50\n")

    ftp_ingest.poll_ftp(ftp_source(store, plain_ftp), settle=0)

    assert stocks(store) == {"A-1": 2, "B-2": 50}
    job = ImportJob.objects.get()
    assert any("skip_pull" in warning["message"] for warning in job.warnings)


def test_a_file_imported_but_not_moved_is_only_moved_next_time(store, make_items, ftp_root, plain_ftp):
    """The import committed, then the connection dropped before the move."""
    make_items(store, {"A-1": 0})
    put(ftp_root, "stock.csv", "sku,qty\nA-1,5\n")
    source = ftp_source(store, plain_ftp)
    entry = ftp_ingest.listing_of(source)["stock.csv"]
    ProcessedFile.objects.create(
        source=source,
        name=entry.name,
        size=entry.size,
        modified=entry.modified,
        outcome=ProcessedFile.IMPORTED,
    )

    report = ftp_ingest.poll_ftp(source, settle=0)

    assert report.moved_again == 1 and report.imported == 0
    assert not ImportJob.objects.exists() and stocks(store) == {"A-1": 0}
    assert listing(ftp_root, "processed") == ["stock.csv"]


def test_listing_without_mlsd_uses_size_and_mdtm(store, make_items, ftp_root, start_ftp):
    make_items(store, {"A-1": 0})
    put(ftp_root, "stock.csv", "sku,qty\nA-1,5\n")
    (ftp_root / "stock" / "processed").mkdir()
    server = start_ftp(without={"MLSD", "MLST"})
    source = ftp_source(store, server)

    entries = ftp_ingest.listing_of(source)
    assert list(entries) == ["stock.csv"]  # the processed folder is not a file
    assert entries["stock.csv"].size == 14 and len(entries["stock.csv"].modified) >= 14

    report = ftp_ingest.poll_ftp(source, settle=0)
    assert report.imported == 1 and listing(ftp_root, "processed") == ["stock.csv"]


def test_without_modification_times_the_content_tells_files_apart(store, make_items, ftp_root, start_ftp):
    make_items(store, {"A-1": 0})
    server = start_ftp(without={"MLSD", "MLST", "MDTM"})
    source = ftp_source(store, server)
    put(ftp_root, "stock.csv", "sku,qty\nA-1,5\n")
    assert ftp_ingest.poll_ftp(source, settle=0).imported == 1
    put(ftp_root, "stock.csv", "sku,qty\nA-1,6\n")  # same name, same size, next day

    assert ftp_ingest.poll_ftp(source, settle=0).imported == 1

    assert stocks(store) == {"A-1": 6}
    assert all(m.startswith("sha256:") for m in ProcessedFile.objects.values_list("modified", flat=True))


def test_a_transient_error_leaves_the_file_for_the_next_poll(
    store, make_items, ftp_root, plain_ftp, monkeypatch
):
    make_items(store, {"A-1": 0})
    put(ftp_root, "stock.csv", "sku,qty\nA-1,5\n")
    source = ftp_source(store, plain_ftp)
    real_run = services.run

    def locked(job, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(services, "run", locked)
    report = ftp_ingest.poll_ftp(source, settle=0)
    assert not report.ok and "could not be taken now (database is locked)" in report.message
    assert listing(ftp_root) == ["stock.csv"]
    assert not ProcessedFile.objects.exists() and not ImportJob.objects.exists()

    monkeypatch.setattr(services, "run", real_run)
    assert ftp_ingest.poll_ftp(source, settle=0).imported == 1


def test_active_mode(store, make_items, ftp_root, plain_ftp):
    make_items(store, {"A-1": 0})
    put(ftp_root, "stock.csv", "sku,qty\nA-1,5\n")
    report = ftp_ingest.poll_ftp(ftp_source(store, plain_ftp, passive=False), settle=0)
    assert report.imported == 1 and stocks(store) == {"A-1": 5}


# --- FTPS ---------------------------------------------------------------------------


def test_ftps_with_a_verified_certificate(store, make_items, ftp_root, start_ftp, cert, settings):
    settings.IMPORT_TLS_CA_FILE = str(cert[0])
    make_items(store, {"A-1": 0})
    put(ftp_root, "stock.csv", "sku,qty\nA-1,5\n")
    server = start_ftp(tls=True)  # refuses plain control and data connections
    source = ftp_source(store, server, use_tls=True)

    report = ftp_ingest.poll_ftp(source, settle=0)

    assert report.ok and report.imported == 1, report.message
    assert stocks(store) == {"A-1": 5}
    assert listing(ftp_root, "processed") == ["stock.csv"]
    assert ProcessedFile.objects.get().job.sender.startswith(f"ftps://127.0.0.1:{server.port}/stock/")


def test_ftps_with_an_unknown_certificate_is_refused_unless_verification_is_off(
    store, make_items, ftp_root, start_ftp
):
    make_items(store, {"A-1": 0})
    put(ftp_root, "stock.csv", "sku,qty\nA-1,5\n")
    server = start_ftp(tls=True)
    source = ftp_source(store, server, use_tls=True)

    report = ftp_ingest.poll_ftp(source, settle=0)
    assert not report.ok and "certificate" in report.message.lower()
    assert listing(ftp_root) == ["stock.csv"]

    source.verify_certificate = False
    source.save()
    assert ftp_ingest.poll_ftp(source, settle=0).imported == 1


def test_plain_ftp_against_a_server_that_requires_tls_fails_clearly(store, ftp_root, start_ftp):
    server = start_ftp(tls=True)
    report = ftp_ingest.poll_ftp(ftp_source(store, server), settle=0)
    assert not report.ok and "refused the login" in report.message and "TLS" in report.message


# --- errors, secrets ---------------------------------------------------------------


def test_wrong_password_is_reported_and_never_shown(store, ftp_root, plain_ftp, caplog):
    caplog.set_level(logging.DEBUG)
    source = ftp_source(store, plain_ftp, password="not-the-right-one")

    report = ftp_ingest.poll_ftp(source, settle=0)

    assert not report.ok and "refused the login of shop" in report.message
    source.refresh_from_db()
    assert source.last_poll_ok is False and source.lease_until is None
    assert "not-the-right-one" not in caplog.text and "not-the-right-one" not in source.last_poll_message
    assert "not-the-right-one" not in source.password_encrypted
    assert source.password == "not-the-right-one"


def test_missing_folder_is_reported(store, plain_ftp):
    source = ftp_source(store, plain_ftp)
    source.folder = "/nowhere"
    source.save()
    report = ftp_ingest.poll_ftp(source, settle=0)
    assert not report.ok and "/nowhere does not exist" in report.message


def test_a_poll_already_running_is_not_doubled(store, ftp_root, plain_ftp):
    put(ftp_root, "stock.csv", "sku,qty\nA-1,5\n")
    source = ftp_source(store, plain_ftp)
    assert source.take_lease()
    report = ftp_ingest.poll_ftp(source, settle=0)
    assert report.ok and "running" in report.message
    assert listing(ftp_root) == ["stock.csv"]


def test_disabled_source_is_not_polled(store, ftp_root, plain_ftp):
    put(ftp_root, "stock.csv", "sku,qty\nA-1,5\n")
    report = ftp_ingest.poll_ftp(ftp_source(store, plain_ftp, enabled=False), settle=0)
    assert not report.ok and listing(ftp_root) == ["stock.csv"]


# --- tasks, schedules, command --------------------------------------------------------


def test_task_polls_and_a_second_run_imports_nothing(store, make_items, ftp_root, plain_ftp):
    make_items(store, {"A-1": 0})
    put(ftp_root, "stock.csv", "sku,qty\nA-1,5\n")
    source = ftp_source(store, plain_ftp)

    assert source_tasks.poll_ftp_task(source.pk).startswith("1 imported")
    assert source_tasks.poll_ftp_task(source.pk).startswith("0 imported")
    assert ImportJob.objects.count() == 1
    assert source_tasks.poll_ftp_task(999999) == "gone"


def test_schedule_follows_the_source(store, plain_ftp):
    source = ftp_source(store, plain_ftp, poll_minutes=7)
    name = source_tasks.schedule_name(source)
    schedule = Schedule.objects.get(name=name)
    assert (schedule.func, schedule.args, schedule.minutes) == (
        "imports.source_tasks.poll_ftp_task",
        repr((source.pk,)),
        7,
    )
    assert schedule.schedule_type == Schedule.MINUTES and schedule.repeats == -1

    source.poll_minutes = 15
    source.save()
    source.save()
    assert list(Schedule.objects.filter(name=name).values_list("minutes", flat=True)) == [15]

    source_tasks.sync_all_schedules()
    source_tasks.sync_all_schedules()
    assert Schedule.objects.filter(name=name).count() == 1

    source.enabled = False
    source.save()
    assert not Schedule.objects.filter(name=name).exists()
    source.enabled, source.poll_minutes = True, 0
    source.save()
    assert not Schedule.objects.filter(name=name).exists()
    source.poll_minutes = 5
    source.save()
    assert Schedule.objects.filter(name=name).exists()
    source.delete()
    assert not Schedule.objects.filter(name=name).exists()


def test_sync_all_removes_schedules_of_deleted_sources(store, plain_ftp):
    Schedule.objects.create(name="imports-poll-ftp-424242", func="imports.source_tasks.poll_ftp_task")
    Schedule.objects.create(name="something-else", func="x.y")
    source = ftp_source(store, plain_ftp)
    kept = source_tasks.sync_all_schedules()
    assert [s.name for s in kept] == [source_tasks.schedule_name(source)]
    names = set(Schedule.objects.values_list("name", flat=True))
    assert "imports-poll-ftp-424242" not in names and {kept[0].name, "something-else"} <= names


def test_poll_sources_command(store, make_items, ftp_root, plain_ftp, capsys):
    make_items(store, {"A-1": 0})
    put(ftp_root, "stock.csv", "sku,qty\nA-1,5\n")
    source = ftp_source(store, plain_ftp)
    broken = ftp_source(store, plain_ftp, password="wrong")

    call_command("poll_sources", "--ftp", str(source.pk), "--settle", "0")
    assert "1 imported" in capsys.readouterr().out
    with pytest.raises(CommandError, match="1 poll"):
        call_command("poll_sources", "--store", store.slug, "--settle", "0")
    assert "refused the login" in capsys.readouterr().out
    broken.delete()
    call_command("poll_sources", "--schedules")
    assert "1 schedules" in capsys.readouterr().out


def test_poll_sources_refuses_what_does_not_exist_and_says_when_nothing_matches(store, capsys):
    with pytest.raises(CommandError, match="No store with slug 'nosuch'"):
        call_command("poll_sources", "--store", "nosuch")
    with pytest.raises(CommandError, match="No FTP source with id 998, 999"):
        call_command("poll_sources", "--ftp", "999", "--ftp", "998")
    with pytest.raises(CommandError, match="No mailbox with id 5"):
        call_command("poll_sources", "--mailbox", "5")
    call_command("poll_sources", "--store", store.slug)
    assert "Nothing to poll" in capsys.readouterr().out


# --- admin ---------------------------------------------------------------------------------


@pytest.fixture
def editor(db, store, django_user_model):
    user = django_user_model.objects.create_user("clerk", password=None, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="imports"))
    StoreMembership.objects.create(store=store, user=user, role=StoreMembership.EDITOR)
    client = Client()
    client.force_login(user)
    return client


def test_admin_never_renders_the_password_and_keeps_it_when_left_empty(store, plain_ftp, editor):
    source = ftp_source(store, plain_ftp)
    url = reverse("admin:imports_ftpsource_change", args=[source.pk])
    page = editor.get(url).content.decode()
    assert PASSWORD not in page and source.password_encrypted not in page
    assert "A password is stored" in page

    form = {
        "store": store.pk, "enabled": "on", "poll_minutes": 10, "host": "127.0.0.1", "port": plain_ftp.port,
        "passive": "on", "verify_certificate": "on", "username": USER, "new_password": "", "folder": "/stock",
        "pattern": "*.csv", "mode": "set",
    }  # fmt: skip
    response = editor.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    source.refresh_from_db()
    assert source.password == PASSWORD and source.poll_minutes == 10
    assert Schedule.objects.get(name=source_tasks.schedule_name(source)).minutes == 10

    editor.post(url, {**form, "new_password": "changed-pass"})
    source.refresh_from_db()
    assert source.password == "changed-pass"


def test_admin_poll_now_and_recent_files(store, make_items, ftp_root, plain_ftp, editor):
    make_items(store, {"A-1": 0})
    put(ftp_root, "stock.csv", "sku,qty\nA-1,5\n")
    source = ftp_source(store, plain_ftp)

    response = editor.post(
        reverse("admin:imports_ftpsource_changelist"),
        {"action": "poll_now", "_selected_action": [source.pk]},
        follow=True,
    )
    assert "1 imported" in response.content.decode()
    assert stocks(store) == {"A-1": 5}
    page = editor.get(reverse("admin:imports_ftpsource_change", args=[source.pk])).content.decode()
    job = ImportJob.objects.get()
    assert reverse("admin:imports_importjob_change", args=[job.pk]) in page
    assert "processed/stock.csv" in page
