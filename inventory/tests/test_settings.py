"""Settings come from the environment; production mode passes Django's deploy checks."""

import os
import secrets
import subprocess
import sys

from conftest import PROJECT_ROOT


def manage(env_overrides, *args):
    # A clean environment: no test-run settings (the browser tests allow async-unsafe ORM calls).
    dropped = {"DEBUG", "SECRET_KEY", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_production_settings_pass_check_deploy(tmp_path):
    result = manage(
        {"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(64), "ALLOWED_HOSTS": "hub.example.com",
         "DATA_DIR": str(tmp_path)},
        "check", "--deploy", "--fail-level", "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = manage({"DEBUG": "0", "DATA_DIR": str(tmp_path)}, "check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_local_secret_key_is_generated_once_and_kept(tmp_path):
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = manage({"DATA_DIR": str(tmp_path)}, "shell", "-v0", "-c", code)
    second = manage({"DATA_DIR": str(tmp_path)}, "shell", "-v0", "-c", code)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and len(first.stdout.strip()) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_broker_follows_redis_url(tmp_path):
    code = "from django.conf import settings; print(sorted(k for k in ('orm', 'redis') if k in settings.Q_CLUSTER))"
    assert manage({"DATA_DIR": str(tmp_path)}, "shell", "-v0", "-c", code).stdout.strip() == "['orm']"
    with_redis = manage({"DATA_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:6379/3"}, "shell", "-v0",
                        "-c", code)
    assert with_redis.stdout.strip() == "['redis']"


def test_prepare_threshold_comes_from_the_environment(tmp_path):
    code = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS']['prepare_threshold'])"
    pg = {"DATA_DIR": str(tmp_path), "DATABASE_URL": "postgres://hub@db.example.com:5432/hub"}
    assert manage(pg, "shell", "-v0", "-c", code).stdout.strip() == "5"
    assert manage({**pg, "DATABASE_PREPARE_THRESHOLD": "off"}, "shell", "-v0", "-c", code).stdout.strip() == "None"
    refused = manage({**pg, "DATABASE_PREPARE_THRESHOLD": "soon"}, "shell", "-v0", "-c", code)
    assert refused.returncode != 0
    assert "DATABASE_PREPARE_THRESHOLD must be a whole number or 'off', not 'soon'" in refused.stderr
