"""docker-compose.yml, Dockerfile and .dockerignore, checked without a Docker engine.

The compose file is parsed with PyYAML and its ${VAR} interpolation resolved here the way
Compose does it; `docker compose config -q` also runs when the Docker CLI has the plugin.
"""

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

BASE_DIR = Path(__file__).resolve().parents[2]
COMPOSE_FILE = BASE_DIR / "docker-compose.yml"
DOCKERFILE = BASE_DIR / "Dockerfile"
DOCKERIGNORE = BASE_DIR / ".dockerignore"

APP_SERVICES = ("web", "worker", "beat", "migrate")
LONG_RUNNING = ("postgres", "redis", "web", "worker", "beat")
REQUIRED_IN_PRODUCTION = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "PUBLIC_URL"}
SECRETS = {"SECRET_KEY": "s" * 64, "POSTGRES_PASSWORD": "p" * 48}

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}; $$ escapes a dollar.
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
CONTAINER_VARIABLE = re.compile(r"\$\$\{?(?P<name>[A-Za-z_][A-Za-z0-9_]*)")
SETTINGS_READER = re.compile(
    r"\b(?P<reader>env_str|env_bool|env_int|env_list|env_choice|env_secret)\(\s*\"(?P<name>[A-Z][A-Z0-9_]*)\""
)
OS_ENVIRON = re.compile(r"os\.environ(?:\.get\(|\[)\s*\"(?P<name>[A-Z][A-Z0-9_]*)\"")


class MissingVariable(Exception):
    pass


def interpolate(value: str, host: dict[str, str]) -> str:
    """Resolve Compose interpolation in one string against the host environment."""

    def replace(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        present = name in host and (host[name] != "" or not (op or "").startswith(":"))
        if present:
            return host[name]
        if op in {":-", "-"}:
            return arg
        if op in {":?", "?"}:
            raise MissingVariable(name)
        return ""

    parts = value.split("$$")  # an escaped dollar is never the start of an interpolation
    return "$".join(INTERPOLATION.sub(replace, part) for part in parts)


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def anchor(compose) -> dict:
    return compose["x-environment"]


def service_environment(service: dict, host: dict[str, str]) -> dict[str, str]:
    environment = service.get("environment") or {}
    assert isinstance(environment, dict), "environment must be a mapping (NAME: value)"
    return {name: interpolate(str(value), host) for name, value in environment.items()}


def variables_read_by_settings() -> dict[str, str]:
    """{variable: reader} for every environment variable the settings read."""
    found = {}
    settings_source = (BASE_DIR / "platform_core" / "settings.py").read_text(encoding="utf-8")
    for match in SETTINGS_READER.finditer(settings_source):
        found.setdefault(match["name"], match["reader"])
    # settings.py reads var_dir() and url() from embedded_db, which read the environment directly.
    embedded_db = (BASE_DIR / "platform_core" / "embedded_db.py").read_text(encoding="utf-8")
    for match in OS_ENVIRON.finditer(embedded_db):
        found.setdefault(match["name"], "os.environ")
    return found


def compose_comments() -> str:
    return "\n".join(
        line.split("#", 1)[1] for line in COMPOSE_FILE.read_text(encoding="utf-8").splitlines() if "#" in line
    )


# --- services ---------------------------------------------------------------------------------


def test_every_service_is_present_with_a_healthcheck(compose):
    services = compose["services"]

    for name in LONG_RUNNING:
        assert name in services, name
        healthcheck = services[name].get("healthcheck")
        assert healthcheck, f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), name
        assert healthcheck["test"][0] in {"CMD", "CMD-SHELL"}, name
        assert healthcheck.get("interval") and healthcheck.get("timeout"), name


def test_restart_policies(compose):
    services = compose["services"]

    for name in LONG_RUNNING:
        assert services[name].get("restart") in {"unless-stopped", "always"}, name
    assert services["migrate"]["restart"] == "no"  # a one-shot job


def test_depends_on_waits_for_health_and_migrations(compose):
    services = compose["services"]

    for name, service in services.items():
        for dependency, options in (service.get("depends_on") or {}).items():
            assert isinstance(options, dict), f"{name} -> {dependency}: use the long form with a condition"
            condition = options.get("condition")
            assert condition in {"service_healthy", "service_completed_successfully"}, (name, dependency)
            if condition == "service_healthy":
                assert services[dependency].get("healthcheck"), (name, dependency)
    for name in ("web", "worker", "beat"):
        depends_on = services[name]["depends_on"]
        assert depends_on["postgres"]["condition"] == "service_healthy"
        assert depends_on["redis"]["condition"] == "service_healthy"
        assert depends_on["migrate"]["condition"] == "service_completed_successfully"


def test_commands(compose):
    services = compose["services"]

    assert "migrate" in " ".join(services["migrate"]["command"])
    web = services["web"]["command"]
    assert web[0] == "gunicorn"
    assert "platform_core.wsgi" in web
    assert "0.0.0.0:8000" in web
    if "--config" in web:  # python:module.name must name a module of the project
        module = web[web.index("--config") + 1].removeprefix("python:")
        assert (BASE_DIR / (module.replace(".", "/") + ".py")).is_file(), module
    assert services["worker"]["command"][:4] == ["celery", "-A", "platform_core", "worker"]
    beat = services["beat"]["command"]
    assert beat[:4] == ["celery", "-A", "platform_core", "beat"]
    assert "django_celery_beat.schedulers:DatabaseScheduler" in beat
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])


def test_images_are_pinned_to_a_major_version(compose):
    for name, service in compose["services"].items():
        if "build" in service:
            continue
        image = service["image"]
        assert re.fullmatch(r"[a-z0-9./_-]+:\d+(\.\d+)*(-[a-z0-9.]+)?", image), f"{name}: {image}"
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.upper().startswith("FROM "):
            image = line.split()[1]
            assert re.fullmatch(r"[a-z0-9./_-]+:\d+(\.\d+)*(-[a-z0-9.]+)?", image), image


# --- environment ------------------------------------------------------------------------------


def test_every_interpolated_variable_has_a_default_or_a_required_message(compose):
    # Compose interpolates ${VAR} from the host environment (or .env), never from x-environment:
    # a bare ${VAR} would silently become an empty string, so every one needs :- or :?.
    for text in strings(compose):
        for part in text.split("$$"):
            for match in INTERPOLATION.finditer(part):
                assert match["op"], f"${{{match['name']}}} has no default (:-) nor required message (:?)"
            assert re.search(r"\$[A-Za-z_]", part) is None, f"use ${{VAR}} or $$VAR, not $VAR: {text!r}"


def test_only_secrets_are_required(compose):
    required = {
        match["name"]
        for text in strings(compose)
        for part in text.split("$$")
        for match in INTERPOLATION.finditer(part)
        if match["op"] in {":?", "?"}
    }
    assert required == set(SECRETS)


def test_container_variables_in_commands_are_defined(compose):
    standard = {"HOSTNAME", "HOME", "PATH"}
    for name, service in compose["services"].items():
        environment = set(service.get("environment") or {})
        for text in strings([service.get("command"), service.get("healthcheck")]):
            for match in CONTAINER_VARIABLE.finditer(text):
                assert match["name"] in environment | standard, f"{name}: $${match['name']} is not defined"


def test_production_variables_are_set_for_every_app_service(compose):
    for name in APP_SERVICES:
        assert compose["services"][name]["environment"]["DEBUG"] == "0", (
            f"{name}: DEBUG must not be overridable"
        )
        environment = service_environment(compose["services"][name], SECRETS)
        missing = REQUIRED_IN_PRODUCTION - set(environment)
        assert not missing, f"{name} lacks {sorted(missing)}"
        assert environment["DEBUG"] == "0", name
        assert environment["SECRET_KEY"] == SECRETS["SECRET_KEY"]
        assert SECRETS["POSTGRES_PASSWORD"] in environment["DATABASE_URL"]


def test_every_variable_the_settings_read_is_set_or_documented(anchor):
    comments = compose_comments()
    for variable, reader in variables_read_by_settings().items():
        if variable in anchor:
            default = interpolate(str(anchor[variable]), SECRETS)
            # An empty value is not "unset" for these readers: it would mean False or [].
            assert default or reader not in {"env_bool", "env_list"}, f"{variable}: empty {reader} value"
        else:
            assert re.search(rf"\b{variable}\b", comments), (
                f"{variable} is read by the settings but neither set nor documented in docker-compose.yml"
            )


def test_the_default_environment_gives_production_settings(compose, tmp_path):
    # given the environment web gets with only the two secrets provided
    environment = service_environment(compose["services"]["web"], SECRETS)
    process_environment = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "platform_core.settings",
        **environment,
        "VAR_DIR": str(tmp_path),  # the image sets VAR_DIR=/app/var
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),  # a tmpfs mount in the container
    }
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'DEBUG': s.DEBUG, 'ALLOWED_HOSTS': s.ALLOWED_HOSTS, 'PUBLIC_URL': s.PUBLIC_URL, "
        "'CSRF_TRUSTED_ORIGINS': s.CSRF_TRUSTED_ORIGINS, 'SECURE_SSL_REDIRECT': s.SECURE_SSL_REDIRECT, "
        "'SESSION_COOKIE_SECURE': s.SESSION_COOKIE_SECURE, 'REDIS_URL': s.REDIS_URL, "
        "'CELERY_BROKER_URL': s.CELERY_BROKER_URL, 'METRICS_TOKEN': s.METRICS_TOKEN, "
        "'DATABASE': {k: s.DATABASES['default'][k] for k in ('NAME', 'HOST', 'PORT', 'OPTIONS')}}))"
    )

    # when the settings are imported with it (nothing connects)
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env=process_environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # then
    assert result.returncode == 0, result.stderr[-3000:]
    settings = json.loads(result.stdout.strip().splitlines()[-1])
    assert settings["DEBUG"] is False
    assert settings["SECURE_SSL_REDIRECT"] is True
    assert settings["SESSION_COOKIE_SECURE"] is True
    public_host = settings["PUBLIC_URL"].split("://", 1)[1].split("/")[0].split(":")[0]
    assert public_host in settings["ALLOWED_HOSTS"]  # the web healthcheck sends this Host
    assert settings["CSRF_TRUSTED_ORIGINS"] == [settings["PUBLIC_URL"]]
    assert settings["REDIS_URL"] == settings["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert settings["METRICS_TOKEN"] is None
    assert settings["DATABASE"] == {
        "NAME": "maillage",
        "HOST": "postgres",
        "PORT": "5432",
        "OPTIONS": {"connect_timeout": "5"},
    }


def test_postgres_credentials_match_the_database_url(compose):
    postgres = service_environment(compose["services"]["postgres"], SECRETS)
    database_url = service_environment(compose["services"]["web"], SECRETS)["DATABASE_URL"]

    expected = f"postgres://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}@postgres:5432/"
    assert database_url.startswith(expected + postgres["POSTGRES_DB"])


# --- Dockerfile -------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def is_ignored(path: str, patterns: list[str]) -> bool:
    parts = Path(path).parts
    prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        for prefix in prefixes:
            if fnmatch.fnmatch(prefix, pattern) or (
                pattern.startswith("**/") and fnmatch.fnmatch(prefix.split("/")[-1], bare)
            ):
                return True
    return False


def test_dockerfile_copies_files_that_exist_and_are_not_ignored():
    patterns = dockerignore_patterns()
    copied = []
    for keyword, arguments in dockerfile_instructions():
        if keyword not in {"COPY", "ADD"}:
            continue
        words = shlex.split(arguments)
        if any(word.startswith("--from") for word in words):
            continue
        sources = [word for word in words if not word.startswith("--")][:-1]
        for source in sources:
            if source == ".":
                continue
            copied.append(source)
            assert (BASE_DIR / source).exists(), f"COPY {source}: no such file"
            assert not is_ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
    assert "requirements/base.txt" in copied
    assert {"package.json", "package-lock.json"} <= set(copied)


def test_dockerfile_stages_and_user():
    instructions = dockerfile_instructions()
    stages = [arguments for keyword, arguments in instructions if keyword == "FROM"]
    assert [stage.split()[0].split(":")[0] for stage in stages] == ["node", "python"]
    assert stages[1].split()[0].startswith("python:3.11-slim")
    runs = " ".join(arguments for keyword, arguments in instructions if keyword == "RUN")
    assert "npm ci" in runs
    assert re.search(r"pip install --require-hashes -r \S*requirements", runs)
    assert "collectstatic" in runs

    users = [
        (index, arguments) for index, (keyword, arguments) in enumerate(instructions) if keyword == "USER"
    ]
    assert users and users[-1][1] not in {"root", "0"}
    pip_index = next(index for index, (k, a) in enumerate(instructions) if k == "RUN" and "pip install" in a)
    assert any(index < pip_index for index, _ in users), "pip install must run as the unprivileged user"
    assert any(
        keyword == "COPY" and "--from=assets" in arguments and "node_modules" in arguments
        for keyword, arguments in instructions
    )


def test_dockerignore_excludes_local_state():
    patterns = dockerignore_patterns()
    for path in (".venv", "var", "node_modules", ".git", ".env", "platform_core/__pycache__"):
        assert is_ignored(path, patterns), path
    for path in ("platform_core/settings.py", "manage.py", "requirements/base.txt", "static", "templates"):
        assert not is_ignored(path, patterns), path


# --- docker compose itself, when installed ----------------------------------------------------


def test_docker_compose_config_accepts_the_file():
    try:
        available = (
            subprocess.run(
                ["docker", "compose", "version"], capture_output=True, timeout=30, check=False
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        available = False
    if not available:
        pytest.skip("the docker compose plugin is not installed")

    environment = {**os.environ, **SECRETS}
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr

    without_secrets = {name: value for name, value in os.environ.items() if name not in SECRETS}
    refused = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        env=without_secrets,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert "SECRET_KEY" in refused.stderr or "POSTGRES_PASSWORD" in refused.stderr
