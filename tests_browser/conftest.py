"""Headless Chromium for the admin's browser tests.

The browser is the Debian ``chromium`` package (``.ci/browser.sh`` installs
it), driven by Playwright for Python; Playwright's own browser downloads are
never used.  Without Chromium or Playwright the tests skip on a laptop and
fail in CI (``need``).

Each test gets a fresh browser context on Django's live server, a ``shot()``
that writes a numbered screenshot to ``test-artifacts/browser/`` so a person
can look at what the test saw, and helpers to log in like a person does.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from conftest import PROJECT_ROOT, need

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "browser"
PASSWORD = "a-long-test-password-9"  # noqa: S105 - the throwaway accounts of the test database
# Playwright waits this long (ms) for a page or an element before failing.
TIMEOUT_MS = 20_000


@pytest.fixture(scope="session")
def browser():
    need(Path(CHROMIUM).is_file() or bool(shutil.which(CHROMIUM)), f"Chromium is not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "the playwright package is not installed")
        return
    # Playwright's sync API keeps an event loop in this thread; the tests' own
    # ORM calls are plain synchronous code all the same.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def fast_passwords(settings):
    """Logging in through the form hashes the password; a cheap hasher keeps that quick."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def media(settings, tmp_path):
    """Uploaded files go to a temporary folder (a qcluster subprocess is pointed at it too)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path


@pytest.fixture
def page(browser, live_server, request, fast_passwords, media):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name).strip("-")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob(f"{name}-*.png"):
        old.unlink()
    counter = iter(range(1, 1000))

    def shot(step: str, *, full_page: bool = True) -> Path | None:
        """A screenshot for people to look at; a page that reloads meanwhile costs the picture, not the test."""
        from playwright.sync_api import Error as PlaywrightError

        path = ARTIFACTS / f"{name}-{next(counter):02d}-{step}.png"
        try:
            tab.screenshot(path=str(path), full_page=full_page, timeout=10_000)
        except PlaywrightError as exc:
            warnings.warn(f"no screenshot {path.name}: {exc}", stacklevel=2)
            return None
        return path

    tab.shot = shot
    problems = []
    tab.on("pageerror", lambda error: problems.append(str(error)))
    yield tab
    context.close()
    assert not problems, f"JavaScript errors on the page: {problems}"


def log_in(page, username: str, password: str = PASSWORD):
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#hub-dashboard")


@pytest.fixture
def boss(django_user_model, transactional_db):
    return django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)


# --- a real task cluster ------------------------------------------------------------------


def database_url() -> str:
    """The test database as a DATABASE_URL, for a subprocess to use the same data."""
    config = connection.settings_dict
    if config["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{config['NAME']}"
    if "postgresql" in config["ENGINE"]:
        auth = quote(config.get("USER") or "")
        if config.get("PASSWORD"):
            auth += ":" + quote(config["PASSWORD"])
        host = config.get("HOST") or "localhost"
        port = config.get("PORT") or 5432
        return f"postgres://{auth}@{host}:{port}/{config['NAME']}"
    raise RuntimeError(f"no DATABASE_URL for {config['ENGINE']}")


@pytest.fixture
def qcluster(transactional_db, settings, media):
    """``manage.py qcluster`` on the test database, stopped after the test."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,  # tasks are signed with it
        "DATA_DIR": str(media),  # the same uploaded files
        "Q_WORKERS": "1",
        "Q_CLUSTER_NAME": settings.Q_CLUSTER["name"],  # the ORM broker's queue: where tasks are put
        "LOG_LEVEL": "WARNING",
    }
    for name in ("DJANGO_ALLOW_ASYNC_UNSAFE", "REDIS_URL"):  # the ORM broker: the test database
        env.pop(name, None)
    log = open(media / "qcluster.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # the cluster stops its own workers
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    log.close()
