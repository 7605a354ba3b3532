"""Client secrets of service providers, stored as a fast keyed hash.

django-oauth-toolkit hashes client secrets with Django's password hashers (CLIENT_SECRET_HASHER).
PBKDF2 or Argon2 are made slow to protect low-entropy human passwords; client secrets are random
and high-entropy (DOT generates 128 characters), so a slow hash only costs every token request a few
hundred milliseconds. This hasher is HMAC-SHA256 keyed with CLIENT_SECRET_KEYS, the newest key for
new secrets: a stolen database without the key gives nothing to brute-force offline.

Format: ``hmac_sha256$<key id>$<hex digest>``. Rotation: append a key; secrets hashed with an older
one keep verifying as long as it is in the keyring.
"""

import hashlib
import hmac

from django.conf import settings
from django.contrib.auth.hashers import BasePasswordHasher
from django.utils.translation import gettext_noop as _

ALGORITHM = "hmac_sha256"


class ClientSecretHasher(BasePasswordHasher):
    algorithm = ALGORITHM

    def salt(self) -> str:
        return ""  # the secret itself is random; the key does what a salt would

    def encode(self, password: str, salt: str = "") -> str:
        key_id, key = settings.CLIENT_SECRET_KEYS[-1]
        return f"{ALGORITHM}${key_id}${self._digest(key, password)}"

    @staticmethod
    def _digest(key: bytes, password: str) -> str:
        return hmac.new(key, password.encode("utf-8"), hashlib.sha256).hexdigest()

    def decode(self, encoded: str) -> dict:
        algorithm, key_id, digest = encoded.split("$", 2)
        return {"algorithm": algorithm, "key_id": key_id, "hash": digest, "salt": ""}

    def verify(self, password: str, encoded: str) -> bool:
        try:
            decoded = self.decode(encoded)
        except ValueError:
            return False
        key = dict(settings.CLIENT_SECRET_KEYS).get(decoded["key_id"])
        if key is None or decoded["algorithm"] != ALGORITHM:
            return False
        return hmac.compare_digest(self._digest(key, password), decoded["hash"])

    def safe_summary(self, encoded: str) -> dict:
        decoded = self.decode(encoded)
        return {
            _("algorithme"): decoded["algorithm"],
            _("clé"): decoded["key_id"],
            _("empreinte"): decoded["hash"][:6],
        }

    def must_update(self, encoded: str) -> bool:
        return self.decode(encoded)["key_id"] != settings.CLIENT_SECRET_KEYS[-1][0]

    def harden_runtime(self, password: str, encoded: str) -> None:
        pass  # constant cost already
