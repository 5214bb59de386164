"""Run the web server and a django-q2 cluster together, for a local install."""

import signal
import socket
import subprocess
import sys
import time

from django.core.management.base import BaseCommand

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


class Command(BaseCommand):
    help = "Start the web server and a task cluster; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-demo-fakes",
            action="store_true",
            help="Do not start the fake ShipBob and Shopify the demo store talks to.",
        )

    def handle(self, *args, host, port, no_demo_fakes, **options):
        manage = [sys.executable, "manage.py"]
        processes = []
        if not no_demo_fakes:
            # The demo store's integrations point at these (see setup_demo).
            for kind, fake_port in DEMO_FAKES.items():
                processes.append(
                    subprocess.Popen(
                        [*manage, "run_fake", kind, "--port", str(fake_port), "--seed-store", "demo"]
                    )
                )
            for fake_port in DEMO_FAKES.values():
                wait_for_port(fake_port)
        processes += [
            subprocess.Popen([*manage, "qcluster"]),
            subprocess.Popen([*manage, "runserver", f"{host}:{port}", "--noreload"]),
        ]
        self.stdout.write(self.style.SUCCESS(f"Admin: http://{host}:{port}/admin/  (Ctrl-C stops)"))

        def stop(*_):
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 15
            for process in processes:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(process.poll() is None for process in processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        stop()
