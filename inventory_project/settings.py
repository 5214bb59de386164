"""Settings for the inventory quantity hub, read from the environment.

Out of the box the hub runs on one machine with nothing else installed: a SQLite
file in ``var/`` and django-q2's ORM broker.  Growing past one machine is a matter
of environment variables (``DATABASE_URL``, ``REDIS_URL``), never of code.

Environment variables:

``DEBUG``            ``1`` for a local run (the default), ``0`` in production.
``SECRET_KEY``       required when ``DEBUG=0``; generated once and kept in
                     ``var/secret_key`` for local runs.
``DATABASE_URL``     e.g. ``postgres://user@host:5432/hub``; default a SQLite file.
``REDIS_URL``        use Redis as the django-q2 broker instead of the database.
``ALLOWED_HOSTS``    comma-separated; default ``localhost,127.0.0.1`` when DEBUG.
``CSRF_TRUSTED_ORIGINS`` comma-separated origins (``https://hub.example.com``).
``Q_WORKERS``        django-q2 worker processes per cluster (default 2).
``EMAIL_HOST`` / ``EMAIL_PORT`` / ``EMAIL_HOST_USER`` / ``EMAIL_HOST_PASSWORD`` /
``EMAIL_USE_TLS`` / ``EMAIL_USE_SSL`` / ``DEFAULT_FROM_EMAIL``  outgoing mail.
``CREDENTIALS_KEY``  key that encrypts integration credentials at rest; derived
                     from ``SECRET_KEY`` when unset.
``DATA_DIR``         where the SQLite file, uploads and the local secret live.
``DATABASE_PREPARE_THRESHOLD``  PostgreSQL: runs after which a hot statement is
                     prepared on its connection (default 5); ``off`` behind a
                     pooler that cannot keep prepared statements (PgBouncer
                     in transaction mode before 1.21).
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default=()):
    value = os.environ.get(name)
    if not value:
        return list(default)
    return [part.strip() for part in value.split(",") if part.strip()]


DEBUG = env_bool("DEBUG", True)
DATA_DIR = Path(os.environ.get("DATA_DIR") or BASE_DIR / "var")
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key():
    """Production must name its key; a local run keeps one generated key.

    Keeping it in a file (not regenerating per start) keeps sessions and
    encrypted credentials valid across restarts of ``make run``.
    """
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG=0.")
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "django_q",
    "inventory",
    "imports",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "inventory.api.middleware.ApiNotFoundMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "inventory_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "inventory_project.wsgi.application"


def _databases():
    default_url = f"sqlite:///{DATA_DIR / 'db.sqlite3'}"
    config = dj_database_url.parse(
        os.environ.get("DATABASE_URL") or default_url, conn_max_age=60, conn_health_checks=True
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # IMMEDIATE takes the write lock when a transaction starts, so two writers
        # queue instead of one failing with "database is locked" half way through.
        # WAL lets readers (the admin, the API) proceed while an import writes.
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        # Tests that run several processes (workers, qcluster, fake servers, a
        # browser) need a file database; an in-memory one is per process.
        # One file per test run, so two runs on one machine never share it.
        config["TEST"] = {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")}
    elif config["ENGINE"] == "django.db.backends.postgresql":
        # Only inventory.sql's cursor binds on the server, so only its statements
        # (the order and stock-change hot path) are ever prepared.
        threshold = os.environ.get("DATABASE_PREPARE_THRESHOLD", "5").strip().lower()
        if threshold not in {"off", "none", ""} and not threshold.isdigit():
            raise ImproperlyConfigured(
                f"DATABASE_PREPARE_THRESHOLD must be a whole number or 'off', not {threshold!r}."
            )
        config.setdefault("OPTIONS", {})["prepare_threshold"] = int(threshold) if threshold.isdigit() else None
    return {"default": config}


DATABASES = _databases()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A store membership (editor or viewer) grants the model permissions its role needs.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "inventory.permissions.StoreRoleBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = DATA_DIR / "media"
# Stock files can be large; uploads above this go to a temporary file, not memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024
IMPORT_MAX_FILE_BYTES = int(os.environ.get("IMPORT_MAX_FILE_BYTES", 200 * 1024 * 1024))
# Files larger than this are read by the task cluster, with progress on the job.
IMPORT_BACKGROUND_BYTES = int(os.environ.get("IMPORT_BACKGROUND_BYTES", 512 * 1024))

LOGIN_URL = "admin:login"

REST_FRAMEWORK = {
    # Scripts send "Authorization: Token <key>"; staff use the browsable API
    # with their admin session (scoped to their stores like the admin).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "inventory.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Inventory quantity hub API",
    "DESCRIPTION": "Stores, items, stock changes, imports and sync read-outs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

# django-q2.  The ORM broker needs nothing but the database; Redis is faster and
# lets many clusters share a queue.  Redis keeps no receipts, so a task lost with
# its worker is gone: every task is idempotent and the next schedule makes it good.
REDIS_URL = os.environ.get("REDIS_URL", "")
Q_CLUSTER = {
    "name": os.environ.get("Q_CLUSTER_NAME", "hub"),
    "workers": int(os.environ.get("Q_WORKERS", 2)),
    "timeout": int(os.environ.get("Q_TIMEOUT", 600)),
    "retry": int(os.environ.get("Q_RETRY", 1800)),
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 1000,
    "queue_limit": 50,
    "label": "Task queue",
    "poll": 0.5,
}
# How long one integration run may hold its lease (a run lost with a killed
# worker blocks the next run of that integration at most this long).
INTEGRATION_LEASE_SECONDS = int(os.environ.get("INTEGRATION_LEASE_SECONDS", Q_CLUSTER["timeout"] + 60))
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 25))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL")
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "hub@localhost")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)

# Stock files by email and FTP (imports/sources.py, email_ingest.py, ftp_ingest.py).
IMPORT_EMAIL_DOMAIN = os.environ.get("IMPORT_EMAIL_DOMAIN", "")  # empty: the domain of DEFAULT_FROM_EMAIL
IMPORT_EMAIL_LOCAL_PART = os.environ.get("IMPORT_EMAIL_LOCAL_PART", "stock")
IMPORT_EMAIL_MAX_BYTES = int(os.environ.get("IMPORT_EMAIL_MAX_BYTES", 25 * 1024 * 1024))
IMPORT_FTP_SETTLE_SECONDS = float(os.environ.get("IMPORT_FTP_SETTLE_SECONDS", 5))
IMPORT_TLS_CA_FILE = os.environ.get("IMPORT_TLS_CA_FILE", "")  # extra CA for IMAP/FTPS servers

CREDENTIALS_KEY = os.environ.get("CREDENTIALS_KEY", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

if not DEBUG:
    # What `manage.py check --deploy` asks for.  Behind a TLS-terminating proxy,
    # set SECURE_PROXY_SSL_HEADER=1 so Django trusts X-Forwarded-Proto.
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31536000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    if env_bool("SECURE_PROXY_SSL_HEADER"):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
