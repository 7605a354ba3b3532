"""Typed readers for the environment: the only place configuration comes from.

Every reader raises ``ConfigurationError`` naming the variable, so a wrong value
stops start-up with a message an operator can act on.
"""

import base64
import binascii
import os
import re
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
        value = generated_secret(generate_into / name.lower())
    if value is not None and len(value) < min_length:
        raise ConfigurationError(name, f"must be at least {min_length} characters long")
    return value


def generated_secret(path: Path, make=lambda: secrets.token_urlsafe(64)) -> str:
    """The secret kept in ``path``, created once (mode 0600 from the start) when missing."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        # O_EXCL: when web, worker and beat start together only one of them writes.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(make())
    return path.read_text(encoding="utf-8").strip()


_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


def env_keyring(
    name: str, *, generate_into: Path, prefix: str, key_bytes: int = 32
) -> list[tuple[str, bytes]]:
    """A rotating set of keys: NAME (or NAME_FILE) = ``id:base64key,id:base64key``, the last one current.

    Unset, one key ``<prefix>1`` is generated once under ``generate_into``. Keys never appear in errors.
    """
    value = env_secret(name)
    if value is None:
        value = generated_secret(
            generate_into / name.lower(),
            lambda: f"{prefix}1:{base64.b64encode(secrets.token_bytes(key_bytes)).decode()}",
        )
    keyring: list[tuple[str, bytes]] = []
    for position, item in enumerate(filter(None, (part.strip() for part in value.split(","))), start=1):
        key_id, separator, encoded = item.partition(":")
        if not separator or not _KEY_ID.match(key_id):
            raise ConfigurationError(
                name, f"entry {position} must look like id:base64key (id: letters, digits, - _)"
            )
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigurationError(
                name, f"the key of entry {position} ({key_id}) is not valid base64"
            ) from None
        if len(key) != key_bytes:
            raise ConfigurationError(
                name, f"the key of entry {position} ({key_id}) must be {key_bytes} bytes"
            )
        if any(key_id == known for known, _ in keyring):
            raise ConfigurationError(name, f"key id {key_id} appears twice")
        keyring.append((key_id, key))
    if not keyring:
        raise ConfigurationError(name, "at least one key is needed")
    return keyring


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
        # django_prometheus's PostgreSQL backend (query metrics) plus the journal's commit hooks.
        "ENGINE": "platform_core.db.backends.postgresql",
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
