"""Fixtures shared by every app's tests."""

import email
import os
import socket
from email.policy import default as default_policy
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent
SHARED_DIR = PROJECT_ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"


def need(condition: bool, reason: str):
    """Skip on a laptop that lacks an outside part; in CI a missing part fails."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def real_inputs():
    folder = SHARED_DIR / "real-inputs"
    need(folder.is_dir(), f"the real input files are not at {folder}")
    return folder


@pytest.fixture
def store(db):
    from inventory.models import Store

    return Store.objects.create(name="Main shop", slug="main")


@pytest.fixture
def make_items(db):
    """Create items with stock through the services (so the ledger starts right)."""
    from inventory import services

    def make(store, counts: dict[str, int], **details):
        ids = services.create_items(
            store,
            [{"code": code, "stock": stock, **details} for code, stock in counts.items()],
            source="admin",
        )
        from inventory.models import InventoryItem

        return {item.code: item for item in InventoryItem.objects.filter(pk__in=ids.values())}

    return make


# --- a real SMTP server for sent mail --------------------------------------------------------


class Inbox:
    """An aiosmtpd handler keeping every message it is handed."""

    def __init__(self):
        self.messages = []
        self.refuse = False

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "451 Requested action aborted: try again later"
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append({
            "from": envelope.mail_from,
            "to": sorted(envelope.rcpt_tos),
            "subject": str(message["Subject"]),
            "body": message.get_body(preferencelist=("plain",)).get_content(),
            "headers": dict(message.items()),
        })
        return "250 Message accepted for delivery"

    def take(self):
        messages, self.messages = self.messages, []
        return messages


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def inbox(settings, monkeypatch):
    """aiosmtpd on a free port with Django's SMTP backend pointed at it; tasks run inline."""
    from aiosmtpd.controller import Controller

    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "hub@example.com"
    # Tasks run in this process, inside the test's transaction.
    monkeypatch.setattr("django_q.conf.Conf.SYNC", True)
    yield handler
    controller.stop()
