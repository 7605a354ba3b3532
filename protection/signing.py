"""Ed25519 keys that sign the journal's seals.

JOURNAL_SIGNING_KEYS (or JOURNAL_SIGNING_KEYS_FILE) lists ``key_id:base64(32-byte private seed)``
entries, comma-separated; the last one signs, the others are kept only so that their public halves
stay published. Unset, one key ``j1`` is generated once into var/secrets (platform_core.env.env_keyring).
Private keys are loaded once per process and never leave it; the database holds the public halves
(SigningKey), which /api/v1/journal/keys publishes. Rotation: ``manage.py rotate_journal_key``.
"""

import base64
import binascii
import threading
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from protection.models import SigningKey

ALGORITHM = "Ed25519"


@dataclass(frozen=True)
class Keyring:
    private_keys: dict[str, Ed25519PrivateKey]
    public_keys: dict[str, str]  # key id -> base64 of the 32-byte raw public key
    active_key_id: str

    def __repr__(self) -> str:  # never show key material, even by accident
        return f"Keyring(keys={list(self.public_keys)}, active={self.active_key_id})"

    def sign(self, body: bytes) -> tuple[str, str]:
        """(key id, base64 signature) of ``body`` by the active key."""
        signature = self.private_keys[self.active_key_id].sign(body)
        return self.active_key_id, base64.b64encode(signature).decode("ascii")


_lock = threading.Lock()
_cache: dict[int, tuple[object, Keyring]] = {}


def keyring() -> Keyring:
    """The keyring of JOURNAL_SIGNING_KEYS, built once per process (again only if the setting changes)."""
    configured = settings.JOURNAL_SIGNING_KEYS
    cached = _cache.get(id(configured))
    if cached is not None and cached[0] is configured:
        return cached[1]
    with _lock:
        private_keys = {key_id: Ed25519PrivateKey.from_private_bytes(seed) for key_id, seed in configured}
        if not private_keys:
            raise ImproperlyConfigured("JOURNAL_SIGNING_KEYS holds no key")
        public_keys = {key_id: public_key_of(key) for key_id, key in private_keys.items()}
        ring = Keyring(private_keys, public_keys, configured[-1][0])
        _cache.clear()
        _cache[id(configured)] = (configured, ring)
        return ring


def public_key_of(private_key: Ed25519PrivateKey) -> str:
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def verify_signature(public_key: str, body: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64) is a valid Ed25519 signature of ``body`` by ``public_key`` (base64)."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        key.verify(base64.b64decode(signature, validate=True), body)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def sync_signing_keys(ring: Keyring | None = None) -> SigningKey:
    """Publish the public half of every configured key; retire those no longer active. Returns the active one.

    Refuses to go on when a published key id now names a different key: seals signed under that id
    would stop verifying.
    """
    ring = ring or keyring()
    now = timezone.now()
    active = None
    for key_id, public_key in ring.public_keys.items():
        row, _created = SigningKey.objects.get_or_create(key_id=key_id, defaults={"public_key": public_key})
        if row.public_key != public_key:
            raise ImproperlyConfigured(
                f"JOURNAL_SIGNING_KEYS: key {key_id} does not match the public key already published "
                "under that id; give a new key a new id"
            )
        if key_id == ring.active_key_id:
            active = row
            if row.retired_at is not None:
                row.retired_at = None
                row.save(update_fields=["retired_at", "updated_at"])
    SigningKey.objects.filter(retired_at__isnull=True).exclude(key_id=ring.active_key_id).update(
        retired_at=now, updated_at=now
    )
    return active


def published_public_keys() -> dict[str, str]:
    return dict(SigningKey.objects.values_list("key_id", "public_key"))
