"""Import the spreadsheets of one mail message read from standard input.

Meant for a mail server's pipe (a Postfix alias or transport, procmail,
fetchmail's ``mda``), so the exit status follows sysexits(3), which mail
servers understand:

* 0 — imported, seen before, or politely refused (unknown address, sender not
  allowed, no spreadsheet, too large): the mail server must not retry; the
  outcome is recorded in the hub and, where it helps, answered by mail.
* 75 (EX_TEMPFAIL) — the database or the disk is unavailable: the mail server
  keeps the message and tries again later.
* 70 (EX_SOFTWARE) — an unexpected error in the hub (logged); the mail server
  returns the message to its sender.
"""

import logging
import sys

from django.core.management.base import BaseCommand

from imports import email_ingest
from imports.models import ProcessedMessage

logger = logging.getLogger(__name__)

EX_OK = 0
EX_SOFTWARE = 70
EX_TEMPFAIL = 75
CHUNK = 1024 * 1024


def read_message(stream, limit: int) -> tuple[bytes, int]:
    """Up to ``limit`` bytes (+1, to know it is more) and the full size.

    The rest of a message that is too large is read and dropped: a mail server
    whose pipe is closed early counts that as a failed delivery.
    """
    data = stream.read(limit + 1)
    size = len(data)
    if size > limit:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
    return data, size


class Command(BaseCommand):
    help = (
        "Import the spreadsheets attached to one raw mail message on standard input. Exit status 0 when "
        "imported or refused (see the hub), 75 when the hub cannot take it now (the mail server retries), "
        "70 on an unexpected error."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--recipient",
            action="append",
            default=[],
            help="Envelope recipient from the mail server (Postfix: ${recipient}); may repeat. "
            "Needed when the store's address is only in the envelope (Bcc).",
        )

    def handle(self, *args, **opts):
        try:
            raw, size = read_message(sys.stdin.buffer, email_ingest.max_message_bytes())
            if not raw.strip():
                self.stderr.write("No message on standard input.")
                raise SystemExit(EX_OK)
            result = email_ingest.ingest_message(
                raw, via=ProcessedMessage.PIPE, recipients=opts["recipient"], size=size
            )
        except email_ingest.TRANSIENT_ERRORS as exc:
            logger.warning("message not taken now, the mail server will retry: %s", exc)
            self.stderr.write(f"Temporary failure, try again later: {exc}")
            raise SystemExit(EX_TEMPFAIL) from None
        except SystemExit:
            raise
        except Exception:
            logger.exception("piped message could not be handled")
            self.stderr.write("The hub could not handle this message (the error is logged).")
            raise SystemExit(EX_SOFTWARE) from None
        self.stdout.write(result.summary())
