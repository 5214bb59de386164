"""Stock files by email: real message shapes (raw literals as mail programs send them,
and messages built with the email package), the store from the address token, the
sender allow-list, each Message-ID once, the reply, and the pipe command's exit codes."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import textwrap
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from imports import email_ingest, services
from imports.management.commands import ingest_email as ingest_command
from imports.models import ColumnMapping, ImportJob
from imports.sources import EmailSource, ProcessedMessage
from imports.tests.workbooks import xlsx_bytes
from inventory import services as stock_services
from inventory.models import InventoryItem, Store, StoreMembership

PROJECT = Path(__file__).resolve().parents[2]
SUPPLIER = "orders@supplier.example"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMPORT_EMAIL_DOMAIN = "in.hub.example"
    settings.DEFAULT_FROM_EMAIL = "hub@hub.example"


@pytest.fixture
def source(store):
    return EmailSource.objects.create(
        store=store, allowed_senders=f"{SUPPLIER}\nLager@Supplier.example, @warehouse.example"
    )


@pytest.fixture
def take(django_capture_on_commit_callbacks):
    """ingest_message as the pipe does it, with after-commit work (the reply) run."""

    def run(raw, **kwargs):
        kwargs.setdefault("via", ProcessedMessage.PIPE)
        with django_capture_on_commit_callbacks(execute=True):
            return email_ingest.ingest_message(raw, **kwargs)

    return run


def crlf(text: str) -> bytes:
    return textwrap.dedent(text).lstrip("\n").replace("\n", "\r\n").encode("utf-8")


def b64(data: bytes) -> str:
    encoded = base64.b64encode(data).decode()
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def build(
    to: str,
    files=(),
    *,
    sender=SUPPLIER,
    subject="Stock levels",
    body="Stock attached.",
    message_id: str | None = "",
    **headers,
) -> bytes:
    message = EmailMessage()
    message["From"] = f"Supplier <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    if message_id is not None:
        message["Message-ID"] = message_id or make_msgid(domain="supplier.example")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    for name, content, mime in files:
        maintype, subtype = mime.split("/")
        if maintype == "text":
            message.add_attachment(content.decode("utf-8"), subtype=subtype, filename=name)
        else:
            message.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


def csv(text: str, name="stock.csv"):
    return (name, text.encode("utf-8"), "text/csv")




def stocks(store):
    return dict(InventoryItem.objects.filter(store=store).values_list("code", "stock"))


# --- raw messages as mail programs send them -------------------------------------------

# Outlook-style: quoted-printable CSV whose name is RFC 2231 encoded, ; separated, UTF-8.
RAW_QP_RFC2231 = """
Return-Path: <lager@supplier.example>
Delivered-To: {address}
Received: from mx.supplier.example (mx.supplier.example [192.0.2.10])
\tby mail.hub.example with ESMTPS; Tue, 03 Mar 2026 08:15:02 +0100
From: =?UTF-8?Q?Lager_M=C3=BCller?= <Lager@Supplier.example>
To: "Hub Import" <{address}>
Subject: =?UTF-8?Q?Lagerbestand_M=C3=A4rz?=
Date: Tue, 03 Mar 2026 08:15:00 +0100
Message-ID: <20260303081500.4711@supplier.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="----=_Part_0_1234567"

------=_Part_0_1234567
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

Guten Morgen,

anbei der aktuelle Lagerbestand f=C3=BCr M=C3=A4rz.

------=_Part_0_1234567
Content-Type: text/csv; charset=UTF-8; name*=UTF-8''Lagerbestand%20M%C3%A4rz.csv
Content-Transfer-Encoding: quoted-printable
Content-Disposition: attachment; filename*=UTF-8''Lagerbestand%20M%C3%A4rz.csv

Artikelnummer;Bestand;Bezeichnung
0012345;8;M=C3=BCsli 500 g
A-1;1.200;Gr=C3=B6=C3=9Fe L, sehr lange Bezeichnung die =
umbrochen wird
------=_Part_0_1234567--
"""

# Thunderbird/Gmail-style: base64 workbook whose name is an RFC 2047 encoded word.
RAW_BASE64_XLSX = """
From: Warehouse <stock@warehouse.example>
To: {address}
Subject: Daily stock
Date: Wed, 04 Mar 2026 06:00:00 +0000
Message-ID: <CAB=xlsx-0001@mail.warehouse.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="000000000000a1b2c3"

--000000000000a1b2c3
Content-Type: multipart/alternative; boundary="000000000000d4e5f6"

--000000000000d4e5f6
Content-Type: text/plain; charset="UTF-8"

Today's file.

--000000000000d4e5f6
Content-Type: text/html; charset="UTF-8"

<div dir="ltr">Today's file.</div>

--000000000000d4e5f6--
--000000000000a1b2c3
Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;
\tname="=?UTF-8?B?QmVzdGFuZCDDnGJlcnNpY2h0Lnhsc3g=?="
Content-Disposition: attachment;
\tfilename="=?UTF-8?B?QmVzdGFuZCDDnGJlcnNpY2h0Lnhsc3g=?="
Content-Transfer-Encoding: base64
X-Attachment-Id: f_lx1

{workbook}
--000000000000a1b2c3--
"""

# A forwarded message: the spreadsheet sits inside the attached original.
RAW_FORWARDED = """
From: Shop Owner <owner@warehouse.example>
To: {address}
Subject: Fwd: Stock levels
Message-ID: <fwd-7f3a@warehouse.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer-boundary"

--outer-boundary
Content-Type: text/plain; charset=us-ascii

Forwarding the supplier's levels.

--outer-boundary
Content-Type: message/rfc822
Content-Disposition: attachment; filename="Stock levels.eml"

From: Supplier <orders@other-supplier.example>
To: owner@warehouse.example
Subject: Stock levels
Message-ID: <orig-99@other-supplier.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="inner-boundary"

--inner-boundary
Content-Type: text/plain; charset=us-ascii

Attached.

--inner-boundary
Content-Type: text/csv; name="levels.csv"
Content-Disposition: attachment; filename="levels.csv"
Content-Transfer-Encoding: base64

{levels}
--inner-boundary--

--outer-boundary--
"""

# Text and HTML with a signature logo, but nothing attached.
RAW_INLINE_ONLY = """
From: orders@supplier.example
To: {address}
Subject: stock
Message-ID: <inline-only-1@supplier.example>
References: <older-1@hub.example>
MIME-Version: 1.0
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

sku,qty
A-1,5

--alt
Content-Type: text/html; charset=utf-8

<p>sku,qty<br>A-1,5</p><img src="cid:logo@supplier">

--alt--
--rel
Content-Type: image/png; name="logo.png"
Content-Disposition: inline; filename="logo.png"
Content-ID: <logo@supplier>
Content-Transfer-Encoding: base64

iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==
--rel--
"""


def test_quoted_printable_attachment_with_rfc2231_name(store, make_items, source, take, mailoutbox):
    make_items(store, {"0012345": 0, "A-1": 0})
    raw = crlf(RAW_QP_RFC2231.format(address=source.address))

    result = take(raw)

    [delivery] = result.deliveries
    assert delivery.outcome == ProcessedMessage.IMPORTED
    [job] = delivery.jobs
    assert job.original_name == "Lagerbestand März.csv"
    assert job.origin == ImportJob.EMAIL and job.status == ImportJob.APPLIED
    assert job.sender == "lager@supplier.example"  # addresses compare case-insensitively
    assert stocks(store) == {"0012345": 8, "A-1": 1200}
    record = ProcessedMessage.objects.get(store=store)
    assert record.message_id == "<20260303081500.4711@supplier.example>"
    assert record.subject == "Lagerbestand März" and record.via == ProcessedMessage.PIPE
    assert list(record.jobs.all()) == [job]
    [reply] = mailoutbox
    assert reply.to == ["lager@supplier.example"]


def test_base64_workbook_with_encoded_word_name(store, make_items, source, take):
    make_items(store, {"100498": 0, "B-2": 0})
    workbook = xlsx_bytes([["SKU", "Quantity"], [100498, 4], ["B-2", 9]])
    raw = crlf(RAW_BASE64_XLSX.format(address=source.address, workbook=b64(workbook)))

    [delivery] = take(raw).deliveries

    [job] = delivery.jobs
    assert job.original_name == "Bestand Übersicht.xlsx"
    assert job.read_info["file_kind"] == "workbook"
    assert stocks(store) == {"100498": 4, "B-2": 9}


def test_forwarded_message_with_the_spreadsheet_inside(store, make_items, source, take):
    make_items(store, {"A-1": 0})
    raw = crlf(RAW_FORWARDED.format(address=source.address, levels=b64(b"sku,qty\r\nA-1,6\r\n")))

    [delivery] = take(raw).deliveries

    assert delivery.outcome == ProcessedMessage.IMPORTED
    assert [job.original_name for job in delivery.jobs] == ["levels.csv"]
    assert delivery.jobs[0].sender == "owner@warehouse.example"  # the one who forwarded it
    assert stocks(store) == {"A-1": 6}


def test_inline_only_message_is_refused_and_answered(store, make_items, source, take, mailoutbox):
    make_items(store, {"A-1": 0})
    raw = crlf(RAW_INLINE_ONLY.format(address=source.address))

    [delivery] = take(raw).deliveries

    assert delivery.outcome == ProcessedMessage.REFUSED
    assert "No spreadsheet attached" in delivery.reason
    assert not ImportJob.objects.exists() and stocks(store) == {"A-1": 0}
    record = ProcessedMessage.objects.get()
    assert record.report["refused"] == []  # the logo is part of the text, not an attachment
    [reply] = mailoutbox
    assert "No spreadsheet attached" in reply.body and "logo" not in reply.body
    assert reply.extra_headers["In-Reply-To"] == "<inline-only-1@supplier.example>"
    assert reply.extra_headers["References"] == "<older-1@hub.example> <inline-only-1@supplier.example>"
    take(raw)  # delivered again: the same refusal is not answered twice
    assert len(mailoutbox) == 1


# --- built messages ------------------------------------------------------------------------


def test_several_attachments_are_several_jobs_and_others_are_reported(
    store, make_items, source, take, mailoutbox
):
    make_items(store, {"A-1": 0, "B-2": 0})
    raw = build(
        source.address,
        [
            csv("sku,qty\nA-1,5\n", "shop.csv"),
            ("warehouse.tsv", b"sku\tqty\nB-2\t7\n", "text/tab-separated-values"),
            ("invoice.pdf", b"%PDF-1.4 ...", "application/pdf"),
            ("stock.xlsx", xlsx_bytes([["sku", "qty"], ["B-2", 8]]), "application/octet-stream"),
        ],
        subject="Three files",
    )

    [delivery] = take(raw).deliveries

    assert [job.original_name for job in delivery.jobs] == ["shop.csv", "warehouse.tsv", "stock.xlsx"]
    assert all(job.status == ImportJob.APPLIED for job in delivery.jobs)
    assert stocks(store) == {"A-1": 5, "B-2": 8}
    record = ProcessedMessage.objects.get()
    assert record.report["refused"] == [
        {"name": "invoice.pdf", "reason": ".pdf files are not read; send CSV, TSV, TXT, XLSX, XLS or ODS"}
    ]
    [reply] = mailoutbox
    assert reply.subject == "Re: Three files"
    assert "shop.csv: applied" in reply.body and "warehouse.tsv: applied" in reply.body
    assert "invoice.pdf: not imported: .pdf files are not read" in reply.body


def test_reply_lists_row_errors_and_is_threaded(store, make_items, source, take, mailoutbox):
    make_items(store, {"0017": 1, "A-1": 0})
    raw = build(
        source.address,
        [csv("sku,qty\nA-1,5\n17,4\nA-1,x\n")],
        message_id="<m-42@supplier.example>",
        References="<m-40@supplier.example>",
    )

    take(raw)

    [reply] = mailoutbox
    assert reply.from_email == "hub@hub.example"
    headers = reply.message()
    assert headers["In-Reply-To"] == "<m-42@supplier.example>"
    assert headers["References"] == "<m-40@supplier.example> <m-42@supplier.example>"
    assert headers["Auto-Submitted"] == "auto-replied"
    assert "row 3, column 'sku': SKU 17 is not in Main shop" in reply.body
    assert "0017 exists" in reply.body
    assert "row 4" in reply.body


def test_attachment_without_a_name_is_known_by_its_type(store, make_items, source, take):
    make_items(store, {"A-1": 0})
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SUPPLIER, source.address, "feed"
    message["Message-ID"] = make_msgid()
    message.set_content("feed")
    message.add_attachment("sku,qty\nA-1,3\n", subtype="csv")  # no file name
    [delivery] = take(message.as_bytes()).deliveries
    assert [job.original_name for job in delivery.jobs] == ["attachment.csv"]
    assert stocks(store) == {"A-1": 3}


def test_add_mode_source(store, make_items, source, take):
    make_items(store, {"A-1": 10})
    source.mode = ImportJob.ADD
    source.save()
    take(build(source.address, [csv("sku,qty\nA-1,5\n")]))
    assert stocks(store) == {"A-1": 15}


def test_skip_pull_items_are_left_alone_by_email(store, make_items, source, take):
    items = make_items(store, {"A-1": 2, "B-2": 2})
    stock_services.set_metadata(items["A-1"], {"skip_pull": "true"})

    [delivery] = take(build(source.address, [csv("sku,qty\nA-1,50\nB-2,50\n")])).deliveries

    assert stocks(store) == {"A-1": 2, "B-2": 50}
    [job] = delivery.jobs
    assert any("A-1 has skip_pull set" in warning["message"] for warning in job.warnings)


# --- who may send, and to which store --------------------------------------------------------


def test_disallowed_sender_is_refused_without_a_reply(store, make_items, source, take, mailoutbox):
    make_items(store, {"A-1": 0})
    raw = build(source.address, [csv("sku,qty\nA-1,5\n")], sender="mallory@elsewhere.example")

    [delivery] = take(raw).deliveries

    assert delivery.outcome == ProcessedMessage.REFUSED
    assert "mallory@elsewhere.example is not on Main shop's allow-list" in delivery.reason
    assert not ImportJob.objects.exists() and stocks(store) == {"A-1": 0}
    assert mailoutbox == []  # no mail to addresses nobody vouched for
    record = ProcessedMessage.objects.get()
    assert record.outcome == ProcessedMessage.REFUSED and "allow-list" in record.detail


def test_empty_allow_list_refuses_everyone_with_a_hint(store, make_items, take, mailoutbox):
    make_items(store, {"A-1": 0})
    source = EmailSource.objects.create(store=store)
    [delivery] = take(build(source.address, [csv("sku,qty\nA-1,5\n")])).deliveries
    assert delivery.outcome == ProcessedMessage.REFUSED
    assert "No sender is allowed to mail Main shop yet" in delivery.reason
    assert "allow-list" in delivery.reason and mailoutbox == []


@pytest.mark.parametrize(
    ("sender", "allowed"),
    [
        ("orders@supplier.example", True),
        ("ORDERS@Supplier.Example", True),
        ("sales@supplier.example", False),
        ("anyone@warehouse.example", True),
        ("anyone@eu.warehouse.example", False),
        ("anyone@evilwarehouse.example", False),
        ("", False),
    ],
)
def test_allow_list_rules(source, sender, allowed):
    assert source.allows(sender) is allowed


def test_a_refused_message_is_taken_when_it_comes_again_after_allowing(store, make_items, source, take):
    make_items(store, {"A-1": 0})
    raw = build(source.address, [csv("sku,qty\nA-1,5\n")], sender="new@partner.example")
    assert take(raw).deliveries[0].outcome == ProcessedMessage.REFUSED
    source.allowed_senders += "\nnew@partner.example"
    source.save()

    assert take(raw).deliveries[0].outcome == ProcessedMessage.IMPORTED
    assert stocks(store) == {"A-1": 5}
    assert ProcessedMessage.objects.count() == 1


def test_wrong_token_is_refused_for_every_store(store, make_items, source, take, mailoutbox):
    make_items(store, {"A-1": 0})
    wrong = source.address.replace(source.token, "0" * 24)

    result = take(build(wrong, [csv("sku,qty\nA-1,5\n")]))

    assert [d.outcome for d in result.deliveries] == [ProcessedMessage.REFUSED]
    assert result.deliveries[0].store_name is None
    assert not ImportJob.objects.exists() and mailoutbox == []
    record = ProcessedMessage.objects.get()
    assert record.store is None and "No store import address" in record.detail


def test_store_found_in_envelope_headers_or_the_mail_servers_recipient(store, make_items, source, take):
    make_items(store, {"A-1": 0, "B-2": 0})
    via_header = build("team@supplier.example", [csv("sku,qty\nA-1,5\n")], X_Original_To=source.address)
    assert take(via_header).deliveries[0].outcome == ProcessedMessage.IMPORTED
    bcc = build("team@supplier.example", [csv("sku,qty\nB-2,6\n")])
    assert take(bcc).deliveries[0].store_name is None
    assert take(bcc, recipients=[source.address]).deliveries[0].outcome == ProcessedMessage.IMPORTED
    assert stocks(store) == {"A-1": 5, "B-2": 6}


def test_token_in_cc_with_changed_case(store, make_items, source, take):
    make_items(store, {"A-1": 0})
    raw = build("buyer@shop.example", [csv("sku,qty\nA-1,5\n")], Cc=f"Hub <{source.address.upper()}>")
    assert take(raw).deliveries[0].outcome == ProcessedMessage.IMPORTED


def test_one_message_to_two_stores_imports_into_each_once(store, make_items, source, take):
    other = Store.objects.create(name="Outlet", slug="outlet")
    other_source = EmailSource.objects.create(store=other, allowed_senders=SUPPLIER)
    make_items(store, {"A-1": 0})
    make_items(other, {"A-1": 0})
    raw = build(f"{source.address}, {other_source.address}", [csv("sku,qty\nA-1,5\n")])

    result = take(raw)
    assert sorted(d.store_name for d in result.deliveries) == ["Main shop", "Outlet"]
    assert stocks(store) == {"A-1": 5} and stocks(other) == {"A-1": 5}
    # The mail server delivers a copy per address: the second copy changes nothing.
    again = take(raw, recipients=[other_source.address])
    assert {d.outcome for d in again.deliveries} == {email_ingest.DUPLICATE}
    assert [d.store_name for d in again.deliveries] == ["Outlet"]  # the copy's envelope, not its To:
    assert ImportJob.objects.count() == 2


def test_the_envelope_recipient_wins_over_the_headers(store, make_items, source, take):
    make_items(store, {"A-1": 0})
    raw = build(source.address, [csv("sku,qty\nA-1,5\n")])
    wrong = source.address.replace(source.token, "0" * 24)
    result = take(raw, recipients=[wrong])
    assert [d.store_name for d in result.deliveries] == [None] and stocks(store) == {"A-1": 0}


def test_disabled_address_refuses(store, source, take):
    source.enabled = False
    source.save()
    [delivery] = take(build(source.address, [csv("sku,qty\nA-1,5\n")])).deliveries
    assert delivery.outcome == ProcessedMessage.REFUSED and "turned off" in delivery.reason


# --- each message once -----------------------------------------------------------------------


def test_duplicate_message_id_is_imported_once(store, make_items, source, take, mailoutbox):
    items = make_items(store, {"A-1": 0})
    raw = build(source.address, [csv("sku,qty\nA-1,5\n")], message_id="<once@supplier.example>")
    assert take(raw).deliveries[0].outcome == ProcessedMessage.IMPORTED
    stock_services.set_stock({items["A-1"].pk: 1}, source="admin")

    again = take(raw)
    resent = take(build(source.address, [csv("sku,qty\nA-1,9\n")], message_id="<once@supplier.example>"))

    assert again.deliveries[0].outcome == email_ingest.DUPLICATE
    assert resent.deliveries[0].outcome == email_ingest.DUPLICATE
    assert stocks(store) == {"A-1": 1}
    assert ImportJob.objects.count() == 1 and ProcessedMessage.objects.count() == 1
    assert len(mailoutbox) == 1  # only the first one is answered


def test_message_without_message_id_is_known_by_its_hash(store, make_items, source, take):
    make_items(store, {"A-1": 0})
    raw = build(source.address, [csv("sku,qty\nA-1,5\n")], message_id=None)
    first = take(raw)
    assert first.message_id.startswith("sha256:")
    assert take(raw).deliveries[0].outcome == email_ingest.DUPLICATE
    other = build(source.address, [csv("sku,qty\nA-1,6\n")], message_id=None)
    assert take(other).deliveries[0].outcome == ProcessedMessage.IMPORTED
    assert stocks(store) == {"A-1": 6}


def test_a_message_whose_files_were_all_refused_may_be_taken_again(store, make_items, source, take):
    """After the store's column mapping is fixed, say, and the message marked unread."""
    make_items(store, {"A-1": 0})
    raw = build(source.address, [csv("article,count\nA-1,5\n")])
    [delivery] = take(raw).deliveries
    assert delivery.outcome == ProcessedMessage.REFUSED
    assert [job.status for job in delivery.jobs] == [ImportJob.REFUSED]
    ColumnMapping.objects.create(store=store, sku_column="article", qty_columns="count")

    [delivery] = take(raw).deliveries

    assert delivery.outcome == ProcessedMessage.IMPORTED and stocks(store) == {"A-1": 5}
    assert ProcessedMessage.objects.count() == 1 and ImportJob.objects.count() == 2
    assert ProcessedMessage.objects.get().jobs.count() == 2  # the refused one stays listed


def test_oversize_message_is_refused_and_answered(store, make_items, source, take, settings, mailoutbox):
    make_items(store, {"A-1": 0})
    settings.IMPORT_EMAIL_MAX_BYTES = 2000
    raw = build(source.address, [csv("sku,qty\nA-1,5\n" + "#" * 3000 + "\n")])

    [delivery] = take(raw).deliveries

    assert delivery.outcome == ProcessedMessage.REFUSED and "the limit is" in delivery.reason
    assert not ImportJob.objects.exists()
    [reply] = mailoutbox
    assert f"The message is {len(raw) / 1024:.1f} KiB; the limit is 2.0 KiB" in reply.body


def test_no_reply_to_machines_or_when_turned_off(store, make_items, source, take, mailoutbox):
    make_items(store, {"A-1": 0})
    take(build(source.address, [csv("sku,qty\nA-1,5\n")], Auto_Submitted="auto-generated"))
    take(build(source.address, [csv("sku,qty\nA-1,6\n")], Precedence="bulk"))
    source.reply_to_sender = False
    source.save()
    take(build(source.address, [csv("sku,qty\nA-1,7\n")]))
    assert mailoutbox == [] and stocks(store) == {"A-1": 7}


def test_a_file_that_breaks_the_reader_does_not_stop_the_others(
    store, make_items, source, take, monkeypatch, caplog
):
    make_items(store, {"A-1": 0, "B-2": 0})
    real_run = services.run

    def run(job, **kwargs):
        if job.original_name == "bad.csv":
            raise RuntimeError("reader bug")
        return real_run(job, **kwargs)

    monkeypatch.setattr(services, "run", run)
    raw = build(source.address, [csv("sku,qty\nA-1,5\n", "good.csv"), csv("sku,qty\nB-2,5\n", "bad.csv")])

    [delivery] = take(raw).deliveries

    assert [job.original_name for job in delivery.jobs] == ["good.csv"]
    assert ImportJob.objects.count() == 1  # the broken one's job went with its savepoint
    assert stocks(store) == {"A-1": 5, "B-2": 0}
    assert (
        "bad.csv: not imported: it could not be read because of an error in the hub" in delivery.record.detail
    )
    assert "reader bug" in caplog.text


def test_a_transient_error_leaves_no_trace_so_a_retry_imports(store, make_items, source, take, monkeypatch):
    make_items(store, {"A-1": 0, "B-2": 0})
    real_run = services.run

    def run(job, **kwargs):
        if job.original_name == "second.csv":
            raise OperationalError("database is locked")
        return real_run(job, **kwargs)

    monkeypatch.setattr(services, "run", run)
    raw = build(source.address, [csv("sku,qty\nA-1,5\n", "first.csv"), csv("sku,qty\nB-2,5\n", "second.csv")])
    with pytest.raises(OperationalError):
        take(raw)
    assert stocks(store) == {"A-1": 0, "B-2": 0}
    assert not ProcessedMessage.objects.exists() and not ImportJob.objects.exists()

    monkeypatch.setattr(services, "run", real_run)
    assert take(raw).deliveries[0].outcome == ProcessedMessage.IMPORTED
    assert stocks(store) == {"A-1": 5, "B-2": 5}


# --- the address ------------------------------------------------------------------------------


def test_address_format_and_default_domain(store, settings):
    source = EmailSource.objects.create(store=store)
    assert len(source.token) == 24 and source.token == source.token.lower()
    assert source.address == f"stock+{source.token}@in.hub.example"
    settings.IMPORT_EMAIL_DOMAIN = ""
    settings.DEFAULT_FROM_EMAIL = "Hub <hub@shop.example>"
    assert source.address.endswith("@shop.example")
    settings.IMPORT_EMAIL_LOCAL_PART = "inventory"
    assert source.address.startswith("inventory+")
    assert EmailSource.objects.create(store=Store.objects.create(name="B", slug="b")).token != source.token


# --- the pipe command ---------------------------------------------------------------------------


class Stdin:
    def __init__(self, data: bytes):
        self.buffer = io.BytesIO(data)


def pipe(monkeypatch, raw: bytes, *args) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", Stdin(raw))
    out = io.StringIO()
    try:
        call_command("ingest_email", *args, stdout=out, stderr=io.StringIO())
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


def test_ingest_email_command_imports_from_stdin(store, make_items, source, monkeypatch):
    make_items(store, {"A-1": 0})
    raw = build("list@supplier.example", [csv("sku,qty\nA-1,5\n")], message_id="<pipe-1@supplier.example>")

    code, out = pipe(monkeypatch, raw, "--recipient", source.address)

    assert code == 0 and "<pipe-1@supplier.example>: Main shop: imported (import" in out
    assert stocks(store) == {"A-1": 5}
    code, out = pipe(monkeypatch, raw, "--recipient", source.address)
    assert code == 0 and "<pipe-1@supplier.example>: Main shop: duplicate" in out


def test_ingest_email_command_refusals_exit_zero(store, source, monkeypatch):
    code, out = pipe(monkeypatch, build(source.address, [], sender="x@y.example"))
    assert code == 0 and "refused" in out
    code, _out = pipe(monkeypatch, b"")
    assert code == 0


def test_ingest_email_command_reads_past_an_oversize_message(store, source, monkeypatch, settings):
    settings.IMPORT_EMAIL_MAX_BYTES = 1000
    raw = build(source.address, [csv("sku,qty\n" + "A-1,5\n" * 2000)])
    stream = io.BytesIO(raw)
    data, size = ingest_command.read_message(stream, 1000)
    assert len(data) == 1001 and size == len(raw) and stream.read() == b""
    code, out = pipe(monkeypatch, raw)
    assert code == 0 and "refused" in out
    assert ProcessedMessage.objects.get().report["size"] == len(raw)


def test_ingest_email_command_temporary_failure_is_75(source, monkeypatch):
    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(email_ingest, "ingest_message", locked)
    assert pipe(monkeypatch, build(source.address, []))[0] == 75


def test_ingest_email_command_unexpected_error_is_70(source, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("bug")

    monkeypatch.setattr(email_ingest, "ingest_message", broken)
    assert pipe(monkeypatch, build(source.address, []))[0] == 70


def test_ingest_email_exits_75_when_the_database_is_down(tmp_path):
    """The real command as a mail server runs it: the MTA must keep the message."""
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://hub@127.0.0.1:9/nowhere",
        "DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "ERROR",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "ingest_email"],
        input=build("stock+" + "a" * 24 + "@in.hub.example", []),
        cwd=PROJECT,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 75, done.stderr.decode()[-2000:]
    assert b"Temporary failure" in done.stderr


# --- admin ------------------------------------------------------------------------------------------


@pytest.fixture
def editor(db, store, django_user_model):
    user = django_user_model.objects.create_user("clerk", password=None, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="imports"))
    StoreMembership.objects.create(store=store, user=user, role=StoreMembership.EDITOR)
    client = Client()
    client.force_login(user)
    return client


def test_admin_shows_the_address_and_warns_about_an_empty_allow_list(store, editor):
    source = EmailSource.objects.create(store=store)
    page = editor.get(reverse("admin:imports_emailsource_change", args=[source.pk])).content.decode()
    assert source.address in page and "user-select:all" in page
    assert "No sender is allowed yet" in page
    listing = editor.get(reverse("admin:imports_emailsource_changelist")).content.decode()
    assert "none: every message is refused" in listing


def test_admin_recent_messages_link_their_jobs(store, make_items, source, take, editor):
    make_items(store, {"A-1": 0})
    take(build(source.address, [csv("sku,qty\nA-1,5\n")]))
    job = ImportJob.objects.get()
    page = editor.get(reverse("admin:imports_emailsource_change", args=[source.pk])).content.decode()
    assert reverse("admin:imports_importjob_change", args=[job.pk]) in page


def test_admin_new_address_action(store, source, editor):
    old = source.address
    response = editor.post(
        reverse("admin:imports_emailsource_changelist"),
        {"action": "new_address", "_selected_action": [source.pk]},
        follow=True,
    )
    source.refresh_from_db()
    assert source.address != old and source.address in response.content.decode()


def test_admin_mailboxes_are_for_superusers_only(editor):
    assert editor.get(reverse("admin:imports_mailbox_changelist")).status_code == 403


def test_admin_other_stores_addresses_are_hidden(store, editor):
    other = EmailSource.objects.create(store=Store.objects.create(name="Outlet", slug="outlet"))
    assert editor.get(reverse("admin:imports_emailsource_change", args=[other.pk])).status_code == 404


@pytest.mark.parametrize("model", ["emailsource", "ftpsource", "mailbox"])
def test_admin_add_pages_render(admin_client, model):
    page = admin_client.get(reverse(f"admin:imports_{model}_add"))
    assert page.status_code == 200


def test_admin_adds_an_address_for_a_store(admin_client, store):
    response = admin_client.post(
        reverse("admin:imports_emailsource_add"),
        {"store": store.pk, "enabled": "on", "allowed_senders": "@supplier.example", "mode": "set"},
    )
    assert response.status_code == 302
    assert EmailSource.objects.get(store=store).allows("anyone@supplier.example")
    refused = admin_client.post(
        reverse("admin:imports_emailsource_add"),
        {
            "store": Store.objects.create(name="B", slug="b").pk,
            "allowed_senders": "not an address",
            "mode": "set",
        },
    )
    assert "Not an address or @domain: not, an, address." in refused.content.decode()
