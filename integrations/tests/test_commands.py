"""``run_fake`` and ``run_local`` refuse bad ports with a message, never a traceback."""

import socket

import pytest
from django.core.management import CommandError, call_command

from integrations.models import Integration
from inventory.management.commands import run_local


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
