"""Run the web server and a django-q2 cluster together, for a local install."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from .setup_demo import DEMO_FAKES


def wait_for_port(port: int, timeout: float = 30.0) -> bool:
    """Wait until something listens on 127.0.0.1:port, so the first sync finds it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def any_free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def point_demo_integration(kind: str, port: int) -> None:
    """Move the demo store's fake integration to ``port`` (only while it still points at a local fake)."""
    from integrations.models import Integration

    Integration.objects.filter(
        store__slug="demo", slug=f"demo-{kind}", base_url__startswith="http://127.0.0.1:"
    ).update(base_url=f"http://127.0.0.1:{port}")


class Command(BaseCommand):
    help = "Start the web server, a task cluster and the demo's fake services; Ctrl-C stops them all."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-demo-fakes",
            action="store_true",
            help="Do not start the fake ShipBob and Shopify the demo store talks to.",
        )

    def handle(self, *args, host, port, no_demo_fakes, **options):
        if not port_is_free(host, port):
            raise CommandError(
                f"Port {port} on {host} is in use (another copy running?). Choose another: make run PORT={port + 1}"
            )
        manage = [sys.executable, "manage.py"]
        processes = []
        if not no_demo_fakes:
            # The demo store's integrations point at these (see setup_demo); a port
            # taken by something else moves the fake, and the integration with it.
            fake_ports = {}
            for kind, fake_port in DEMO_FAKES.items():
                if not port_is_free("127.0.0.1", fake_port):
                    fake_port = any_free_port()
                    self.stdout.write(f"Port {DEMO_FAKES[kind]} is taken: the fake {kind} uses {fake_port}.")
                point_demo_integration(kind, fake_port)
                fake_ports[kind] = fake_port
                processes.append(
                    subprocess.Popen(
                        [*manage, "run_fake", kind, "--port", str(fake_port), "--seed-store", "demo"],
                        start_new_session=True,
                    )
                )
            for fake_port in fake_ports.values():
                wait_for_port(fake_port)
        # Each child leads its own process group, so stopping one stops what it started
        # too (the cluster's worker processes), and Ctrl-C reaches only this command.
        processes += [
            subprocess.Popen([*manage, "qcluster"], start_new_session=True),
            subprocess.Popen([*manage, "runserver", f"{host}:{port}", "--noreload"], start_new_session=True),
        ]
        self.stdout.write(self.style.SUCCESS(f"Admin: http://{host}:{port}/admin/  (Ctrl-C stops)"))

        def signal_groups(signum):
            for process in processes:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signum)

        def wait_all(seconds):
            deadline = time.monotonic() + seconds
            for process in processes:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))

        def stop(*_, status=0):
            # What Ctrl-C sends, to every group: the cluster stops its workers after the
            # task in hand (they ignore SIGINT and wait for it).
            signal_groups(signal.SIGINT)
            wait_all(3)
            # A child that ignores SIGINT (started from a shell without job control).
            for process in processes:
                if process.poll() is None:
                    process.terminate()
            wait_all(7)
            signal_groups(signal.SIGKILL)  # whatever is left, the cluster's workers included
            raise SystemExit(status)

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(process.poll() is None for process in processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            stop()
        ended = next(process for process in processes if process.poll() is not None)
        self.stderr.write(
            f"{' '.join(ended.args[1:3])} stopped (exit {ended.returncode}); stopping the others."
        )
        # Ctrl-C may reach a child first (it exits 0, or by SIGINT): that is a stop, not a failure.
        stop(status=0 if ended.returncode in (0, -signal.SIGINT, 128 + signal.SIGINT) else 1)
