"""The keys Maillage signs ID tokens and userinfo with, as the OpenID provider of service providers.

A JWK set kept in one file (OIDC_SIGNING_KEYS_FILE, mode 0600; generated on first use with one ES256
and one RS256 key): each key has its ``kid``, ``alg``, ``created_at`` and, once rotated out,
``retired_at``. One active key per algorithm signs; ``/api/v2/jwks`` publishes the public halves of
the active keys and of those retired less than OIDC_RETIRED_KEY_DAYS ago, so tokens signed just
before a rotation keep verifying at the service providers. ``manage.py rotate_oidc_keys`` rotates.

The file is read once per process and again only when it changes (its mtime), never per request.
"""

import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.conf import settings
from jwcrypto import jwk

ALGORITHMS = ("ES256", "RS256")  # ES256 is the default of service providers
_lock = threading.Lock()
_cache: dict[str, tuple[float, "Keyring"]] = {}


@dataclass(frozen=True)
class SigningKey:
    key: jwk.JWK
    created_at: datetime
    retired_at: datetime | None

    @property
    def kid(self) -> str:
        return self.key["kid"]

    @property
    def alg(self) -> str:
        return self.key["alg"]

    @cached_property
    def _private_key(self):
        """The key as a cryptography object, built once per process (jwcrypto builds it for each token)."""
        return self.key.get_op_key("sign")

    def sign(self, data: bytes) -> bytes:
        """The JWS signature of ``data`` (RFC 7518 §3.3 RS256, §3.4 ES256: r and s, 32 bytes each)."""
        if self.alg == "ES256":
            r, s = decode_dss_signature(self._private_key.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if self.alg == "RS256":
            return self._private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        raise LookupError(f"no signer for {self.alg}")


@dataclass(frozen=True)
class Keyring:
    keys: tuple[SigningKey, ...]

    def active(self, alg: str) -> SigningKey:
        for key in reversed(self.keys):
            if key.alg == alg and key.retired_at is None:
                return key
        raise LookupError(f"no active {alg} signing key")

    def published(self, now: datetime | None = None) -> list[dict]:
        """Public JWKs of the active keys and of those retired within OIDC_RETIRED_KEY_DAYS."""
        now = now or datetime.now(UTC)
        horizon = now - timedelta(days=settings.OIDC_RETIRED_KEY_DAYS)
        return [
            json.loads(key.key.export_public())
            for key in self.keys
            if key.retired_at is None or key.retired_at > horizon
        ]


def _new_key(alg: str) -> jwk.JWK:
    key = (
        jwk.JWK.generate(kty="EC", crv="P-256") if alg == "ES256" else jwk.JWK.generate(kty="RSA", size=2048)
    )
    key.update(kid=key.thumbprint(), alg=alg, use="sig")
    return key


def _write(path: Path, entries: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"keys": entries}, handle)
    os.replace(temporary, path)  # readers see the old file or the new one, never half of one


def _entry(key: jwk.JWK, created_at: datetime, retired_at: datetime | None = None) -> dict:
    return {
        "jwk": json.loads(key.export_private()),
        "created_at": created_at.isoformat(),
        "retired_at": retired_at.isoformat() if retired_at else None,
    }


def _read(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["keys"]


def keyring() -> Keyring:
    """The signing keys (generated on first use), from a per-process cache refreshed when the file changes."""
    path = Path(settings.OIDC_SIGNING_KEYS_FILE)
    with _lock:
        if not path.exists():
            now = datetime.now(UTC)
            _write(path, [_entry(_new_key(alg), now) for alg in ALGORITHMS])
        mtime = path.stat().st_mtime
        cached = _cache.get(str(path))
        if cached and cached[0] == mtime:
            return cached[1]
        ring = Keyring(
            tuple(
                SigningKey(
                    key=jwk.JWK(**entry["jwk"]),
                    created_at=datetime.fromisoformat(entry["created_at"]),
                    retired_at=datetime.fromisoformat(entry["retired_at"]) if entry["retired_at"] else None,
                )
                for entry in _read(path)
            )
        )
        _cache[str(path)] = (mtime, ring)
        return ring


def rotate(now: datetime | None = None) -> list[str]:
    """Retire the active key of each algorithm and add a new one; drop keys long retired. New kids."""
    now = now or datetime.now(UTC)
    keyring()  # creates the file when missing
    path = Path(settings.OIDC_SIGNING_KEYS_FILE)
    horizon = now - timedelta(days=settings.OIDC_RETIRED_KEY_DAYS)
    with _lock:
        entries = []
        for entry in _read(path):
            if entry["retired_at"] is None:
                entry["retired_at"] = now.isoformat()
            if datetime.fromisoformat(entry["retired_at"]) > horizon:
                entries.append(entry)
        new = [_new_key(alg) for alg in ALGORITHMS]
        _write(path, entries + [_entry(key, now) for key in new])
        _cache.pop(str(path), None)
    return [key["kid"] for key in new]
