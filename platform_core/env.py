"""Typed readers for the environment: the only place configuration comes from.

Every reader raises ``ConfigurationError`` naming the variable, so a wrong value
stops start-up with a message an operator can act on.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off", ""}


class ConfigurationError(ImproperlyConfigured):
    def __init__(self, name: str, problem: str):
        self.variable = name
        super().__init__(f"Invalid environment variable {name}: {problem}")


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None else value.strip()


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in TRUE_VALUES:
        return True
    if lowered in FALSE_VALUES:
        return False
    raise ConfigurationError(name, f"expected a boolean (1/0, true/false, yes/no, on/off), got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ConfigurationError(name, f"expected an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ConfigurationError(name, f"must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ConfigurationError(name, f"must be at most {maximum}, got {number}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = (os.environ.get(name) or default).strip()
    if value not in choices:
        raise ConfigurationError(name, f"expected one of {', '.join(sorted(choices))}, got {value!r}")
    return value


def env_secret(name: str, *, generate_into: Path | None = None, min_length: int = 0) -> str | None:
    """Read a secret from NAME, from the file named by NAME_FILE, or generate it once.

    Generated secrets are written (mode 0600) under ``generate_into`` so that every
    process of the platform (web, worker, beat) shares them and restarts keep them.
    """
    value = os.environ.get(name)
    file_name = os.environ.get(f"{name}_FILE")
    if value is not None and file_name is not None:
        raise ConfigurationError(name, f"set either {name} or {name}_FILE, not both")
    if file_name is not None:
        try:
            value = Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigurationError(f"{name}_FILE", f"cannot read {file_name!r}: {error.strerror}") from None
    if value is None and generate_into is not None:
        value = _generated_secret(generate_into / name.lower())
    if value is not None and len(value) < min_length:
        raise ConfigurationError(name, f"must be at least {min_length} characters long")
    return value


def _generated_secret(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        # O_EXCL: when web, worker and beat start together only one of them writes.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(64))
    return path.read_text(encoding="utf-8").strip()


def database_config(name: str, url: str) -> dict:
    """Turn ``postgres://user:password@host:port/dbname?sslmode=…`` into Django's DATABASES entry."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ConfigurationError(name, f"not a valid URL ({error})") from None
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ConfigurationError(name, f"scheme must be postgres:// or postgresql:// (got {parts.scheme!r})")
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ConfigurationError(name, "the database name is missing (postgres://user@host:5432/NAME)")
    options = {}
    for pair in filter(None, parts.query.split("&")):
        key, _, option = pair.partition("=")
        options[key] = unquote(option)
    return {
        "ENGINE": "django_prometheus.db.backends.postgresql",  # PostgreSQL, with query metrics
        "NAME": database,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": unquote(parts.hostname or ""),
        "PORT": str(port or ""),
        "OPTIONS": options,
    }


def redis_url(name: str, url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a non-numeric port
    except ValueError as error:
        raise ConfigurationError(name, f"not a valid URL ({error})") from None
    if parts.scheme not in {"redis", "rediss", "unix"}:
        raise ConfigurationError(
            name, f"scheme must be redis://, rediss:// or unix:// (got {parts.scheme!r})"
        )
    return url


def public_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigurationError(
            name, f"expected an absolute http(s) URL such as https://maillage.example.gouv.fr, got {url!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(name, "must not contain a query string or a fragment")
    return url.rstrip("/")
