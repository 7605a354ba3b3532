"""Configuration comes from the environment only; a wrong value stops start-up naming the variable."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from platform_core import env
from platform_core.env import ConfigurationError

BASE_DIR = Path(__file__).resolve().parents[2]
VALID_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/maillage"


def start_django(
    tmp_path: Path, command: list[str] | None = None, **variables: str
) -> subprocess.CompletedProcess:
    """Start a fresh process with exactly these variables, as an operator would."""
    environment = {
        "PATH": os.environ["PATH"],
        "VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": VALID_DATABASE_URL,
        "DJANGO_SETTINGS_MODULE": "platform_core.settings",
    }
    environment.update(variables)
    environment = {name: value for name, value in environment.items() if value is not None}
    return subprocess.run(
        [sys.executable, "manage.py", *(command or ["check"])],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "value", "hint"),
    [
        ("DEBUG", "maybe", "expected a boolean"),
        ("DATABASE_URL", "mysql://root@localhost/maillage", "postgres://"),
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/", "database name"),
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:port/maillage", "not a valid URL"),
        ("REDIS_URL", "http://127.0.0.1:6379/0", "redis://"),
        ("PUBLIC_URL", "maillage.gouv.fr", "absolute http(s) URL"),
        ("SECRET_KEY", "too-short", "at least 50 characters"),
        ("SECRET_KEY_FILE", "/nonexistent/secret", "cannot read"),
        ("ALLOWED_HOSTS", " , ", "at least one host"),
        ("MAX_REQUEST_BODY_BYTES", "lots", "expected an integer"),
        ("MAX_REQUEST_BODY_BYTES", "12", "at least 1024"),
        ("LOG_LEVEL", "CHATTY", "expected one of"),
    ],
)
def test_a_wrong_value_stops_start_up_naming_the_variable(tmp_path, variable, value, hint):
    result = start_django(tmp_path, **{variable: value})

    assert result.returncode != 0
    assert f"Invalid environment variable {variable}:" in result.stderr
    assert hint in result.stderr


def test_without_database_url_nor_embedded_database_start_up_says_what_to_do(tmp_path):
    result = start_django(tmp_path, DATABASE_URL=None)

    assert result.returncode != 0
    assert "Invalid environment variable DATABASE_URL: not set" in result.stderr
    assert "embedded_db start" in result.stderr


def test_secret_key_and_secret_key_file_together_are_refused(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("x" * 60)

    result = start_django(tmp_path, SECRET_KEY="y" * 60, SECRET_KEY_FILE=str(secret_file))

    assert result.returncode != 0
    assert "set either SECRET_KEY or SECRET_KEY_FILE" in result.stderr


def test_production_settings_pass_the_deployment_checklist_without_any_warning(tmp_path):
    result = start_django(
        tmp_path,
        ["check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="0",
        ALLOWED_HOSTS="maillage.example.gouv.fr",
        PUBLIC_URL="https://maillage.example.gouv.fr",
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_missing_secret_key_is_generated_once_into_var_and_kept(tmp_path):
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = start_django(tmp_path, ["shell", "--no-imports", "-c", code])
    second = start_django(tmp_path, ["shell", "--no-imports", "-c", code])

    secret_file = tmp_path / "var" / "secrets" / "secret_key"
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert first.stdout.strip() == secret_file.read_text().strip()
    assert len(first.stdout.strip()) >= 50
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600


def test_a_secret_is_read_from_its_file_variant(tmp_path, monkeypatch):
    secret_file = tmp_path / "token"
    secret_file.write_text("from-a-docker-secret\n")
    monkeypatch.setenv("METRICS_TOKEN_FILE", str(secret_file))

    assert env.env_secret("METRICS_TOKEN") == "from-a-docker-secret"


def test_database_url_becomes_django_settings():
    config = env.database_config(
        "DATABASE_URL", "postgresql://maillage:p%40ss@db.internal:6432/maillage_prod?sslmode=require"
    )

    assert config["NAME"] == "maillage_prod"
    assert (config["USER"], config["PASSWORD"]) == ("maillage", "p@ss")
    assert (config["HOST"], config["PORT"]) == ("db.internal", "6432")
    assert config["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("yes", True), ("off", False), ("", False)])
def test_booleans_accept_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("FEATURE_X", raw)

    assert env.env_bool("FEATURE_X") is expected


def test_integer_bounds_are_enforced(monkeypatch):
    monkeypatch.setenv("WORKERS", "70000")

    with pytest.raises(ConfigurationError, match="WORKERS: must be at most 65535"):
        env.env_int("WORKERS", 1, maximum=65535)


def test_gunicorn_threads_come_from_web_threads(monkeypatch):
    import importlib

    import platform_core.gunicorn_conf as conf

    monkeypatch.delenv("WEB_THREADS", raising=False)
    assert importlib.reload(conf).threads == 16  # calls waiting for a provider hold a thread each
    assert conf.worker_tmp_dir == conf._SHARED_MEMORY  # the workers' heartbeat files, in memory
    monkeypatch.setenv("WEB_THREADS", "32")
    assert importlib.reload(conf).threads == 32
    monkeypatch.setenv("WEB_THREADS", "0")
    with pytest.raises(ConfigurationError, match="WEB_THREADS"):
        importlib.reload(conf)
    monkeypatch.delenv("WEB_THREADS")
    importlib.reload(conf)
