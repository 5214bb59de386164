"""``run_fake`` and ``run_local`` refuse bad ports with a message, never a traceback;
``run_fake`` says which credentials each fake accepts."""

import io
import socket
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from integrations.management.commands import run_fake
from integrations.models import Integration
from inventory.management.commands import run_local

README = Path(__file__).resolve().parents[2] / "README.md"


def test_run_fake_refuses_a_port_out_of_range(db):
    with pytest.raises(CommandError, match="1 to 65535"):
        call_command("run_fake", "shopify", "--port", "99999")


def test_run_fake_refuses_an_unknown_store(db):
    with pytest.raises(CommandError, match="no store with that slug"):
        call_command("run_fake", "shopify", "--port", "8799", "--seed-store", "nosuch")


def test_run_fake_says_when_its_port_is_taken(db):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match=f"Cannot listen on 127.0.0.1:{port}"):
            call_command("run_fake", "shopify", "--port", str(port))


def test_run_local_refuses_a_web_port_in_use(db):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert not run_local.port_is_free("127.0.0.1", port)
        with pytest.raises(CommandError, match=f"make run PORT={port + 1}"):
            call_command("run_local", "--port", str(port), "--no-demo-fakes")


def test_a_demo_fake_moved_to_another_port_takes_its_integration_along(store):
    store.slug = "demo"
    store.save()
    integration = Integration.objects.create(
        store=store, kind="shopify", role=Integration.CART, name="Demo Shopify", slug="demo-shopify",
        base_url="http://127.0.0.1:8702",
    )
    run_local.point_demo_integration("shopify", 43210)
    integration.refresh_from_db()
    assert integration.base_url == "http://127.0.0.1:43210"


# --- which credentials each fake accepts: shown, documented, and true ---------------------------------


def setup_for(kind, url):
    """The address and options SETUP_NOTES tell a user to give the integration."""
    base = f"{url}/api/v2" if kind == "orderdesk" else url
    options = {"lwa_url": f"{url}/auth/o2/token"} if kind == "amazon" else {}
    return base, options


@pytest.mark.parametrize("kind", run_fake.KINDS)
def test_each_fake_accepts_the_credentials_run_fake_shows(kind):
    from integrations.adapters import get_adapter_class
    from integrations.adapters.http import HttpClient

    credentials = run_fake.accepted_credentials(kind)
    assert set(credentials) == set(get_adapter_class(kind).credential_fields) and all(credentials.values())
    with run_fake.fake_class(kind)() as fake:
        base, options = setup_for(kind, fake.url.rstrip("/"))
        adapter = get_adapter_class(kind)(
            base_url=base, credentials=credentials, options=options, client=HttpClient(max_attempts=1)
        )
        adapter.test_connection()  # raises AuthError on credentials the fake refuses


def test_run_fake_prints_the_credentials_it_accepts(db, monkeypatch):
    monkeypatch.setattr(run_fake, "serve_forever", lambda fake: fake.stop())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = io.StringIO()
    call_command("run_fake", "woocommerce", "--port", str(port), stdout=out)
    assert "    consumer_key=ck_fake_key\n    consumer_secret=cs_fake_secret\n" in out.getvalue()
    out = io.StringIO()
    call_command("run_fake", "orderdesk", "--port", str(port), stdout=out)
    assert "api_key=orderdesk-demo-key" in out.getvalue()
    assert f"Also set: address http://127.0.0.1:{port}/api/v2" in out.getvalue()
    help_text = run_fake.Command().create_parser("manage.py", "run_fake").format_help()
    assert "shopify      access_token=shpat_fake_token\n" in help_text


def test_readme_lists_the_credentials_of_every_fake():
    section = README.read_text().split("### Trying it without real accounts", 1)[1].split("\n## ", 1)[0]
    section = section.replace("\\|", "|")  # a | inside a Markdown table cell
    for kind in run_fake.KINDS:
        row = next((line for line in section.splitlines() if line.startswith(f"| `{kind}` |")), "")
        for key, value in run_fake.accepted_credentials(kind).items():
            assert f"`{key}={value}`" in row, (kind, key)
