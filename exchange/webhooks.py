"""Signatures of Maillage's webhooks (batch completion notifications). Standard library only: consumers
may copy ``verify_signature`` as it is.

The header is ``Maillage-Signature: t=<unix time>,v1=<hex>[,v1=<hex>…]``: each ``v1`` is the
HMAC-SHA256, under one of the consumer's active secrets, of ``f"{t}.{body}"`` (the raw request body,
bytes). One ``v1`` per active secret, so a consumer rotating its secret accepts notifications with either.
The timestamp is signed too: a receiver refuses notifications older (or newer) than ``tolerance``
seconds, so a captured notification cannot be replayed later.
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Maillage-Signature"
DEFAULT_TOLERANCE = 300  # seconds


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secrets: list[str], timestamp: int | None = None) -> str:
    """The header's value for ``body``, one ``v1`` per secret."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={timestamp}", *(f"v1={_digest(secret, timestamp, body)}" for secret in secrets)])


def verify_signature(
    header: str, body: bytes, secrets: list[str], tolerance: int = DEFAULT_TOLERANCE, now: float | None = None
) -> bool:
    """Whether ``header`` (the Maillage-Signature value) signs ``body`` with one of ``secrets``, at a
    time within ``tolerance`` seconds of ``now``. ``body`` is the raw body, before any JSON parsing."""
    timestamp, signatures = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = [_digest(secret, timestamp, body) for secret in secrets]
    # Every comparison in constant time, none cut short: the time taken says nothing about the secrets.
    matches = [hmac.compare_digest(mine, theirs) for mine in expected for theirs in signatures]
    return any(matches)
