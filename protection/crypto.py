"""Authenticated encryption of sensitive columns: AES-256-GCM under a keyring with rotation.

Keys come from ``FIELD_ENCRYPTION_KEYS`` (or ``FIELD_ENCRYPTION_KEYS_FILE``), read once by the
settings through ``platform_core.env.env_keyring``: comma-separated ``key_id:base64(32 bytes)``
entries, the LAST one encrypts, every one decrypts. Unset, one key ``k1`` is generated once into
``var/secrets/field_encryption_keys``. To rotate: append a new entry, restart, run
``manage.py reencrypt_fields --wet-run``, then drop the old entry.

A value is stored as text, versioned and self-describing::

    enc:v1:<key_id>:<base64url without padding (nonce 12 bytes || ciphertext || GCM tag 16 bytes)>

- the nonce is 96 random bits, drawn for every encryption (so equal plaintexts never look alike);
- the associated data is ``enc:v1:<context>`` where the context names the column
  (``app_label.model_name.field_name`` for model fields): a ciphertext copied into another column
  fails to decrypt, as does one whose key id or version was edited.

Errors (``DecryptionError``) name the context and the key id, never a key or a plaintext.
"""

import base64
import binascii
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "enc"
VERSION = "v1"
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


class DecryptionError(Exception):
    """A stored value cannot be decrypted: unknown key, tampered bytes, or a value from another column."""


class Keyring:
    """Ordered keys, the last one active. Holds cipher objects only, so its repr shows key ids alone."""

    def __init__(self, keys: list[tuple[str, bytes]]):
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._ciphers: dict[str, AESGCM] = {}
        for key_id, key in keys:
            if not _KEY_ID.match(key_id) or key_id in self._ciphers:
                raise ValueError(f"invalid or duplicate key id {key_id!r}")
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {key_id} must be {KEY_BYTES} bytes")
            self._ciphers[key_id] = AESGCM(key)
        self.active_key_id = keys[-1][0]

    def __repr__(self) -> str:
        return f"<Keyring {', '.join(self._ciphers)} (active: {self.active_key_id})>"

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.active_key_id].encrypt(nonce, plaintext.encode("utf-8"), _aad(context))
        payload = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
        return f"{PREFIX}:{VERSION}:{self.active_key_id}:{payload}"

    def decrypt(self, token: str, *, context: str) -> str:
        key_id, payload = _split(token, context)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise DecryptionError(f"value of {context} is under key {key_id!r}, absent from the keyring")
        try:
            plaintext = cipher.decrypt(payload[:NONCE_BYTES], payload[NONCE_BYTES:], _aad(context))
        except InvalidTag:
            raise DecryptionError(
                f"value of {context} under key {key_id!r} failed authentication "
                "(altered, or copied from another column)"
            ) from None
        return plaintext.decode("utf-8")

    def is_current(self, token: str) -> bool:
        """Whether a stored value is already under the active key (nothing to re-encrypt)."""
        return token.startswith(active_prefix(self))


def active_prefix(keyring: Keyring) -> str:
    return f"{PREFIX}:{VERSION}:{keyring.active_key_id}:"


def key_id_of(token: str) -> str:
    """The key id a stored value claims, without decrypting it."""
    return _split(token, "value")[0]


def _aad(context: str) -> bytes:
    return f"{PREFIX}:{VERSION}:{context}".encode()


def _split(token: str, context: str) -> tuple[str, bytes]:
    prefix, version, key_id, encoded = (token.split(":", 3) + ["", "", "", ""])[:4]
    if prefix != PREFIX or version != VERSION or not _KEY_ID.match(key_id):
        raise DecryptionError(f"value of {context} is not an {PREFIX}:{VERSION} ciphertext")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise DecryptionError(f"value of {context} has a malformed payload") from None
    if len(payload) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError(f"value of {context} is truncated")
    return key_id, payload


def keyring() -> Keyring:
    """The platform keyring, from settings (read at each call so that tests may override it)."""
    from django.conf import settings

    keys = settings.FIELD_ENCRYPTION_KEYS
    return keys if isinstance(keys, Keyring) else _cached_keyring(tuple(keys))


_keyrings: dict[tuple, Keyring] = {}


def _cached_keyring(keys: tuple) -> Keyring:
    # Settings hold the parsed list from env_keyring; building AESGCM objects once per list is enough.
    found = _keyrings.get(keys)
    if found is None:
        found = _keyrings[keys] = Keyring(list(keys))
    return found


def encrypt(plaintext: str, *, context: str) -> str:
    return keyring().encrypt(plaintext, context=context)


def decrypt(token: str, *, context: str) -> str:
    return keyring().decrypt(token, context=context)
