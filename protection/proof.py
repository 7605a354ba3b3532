"""Offline verifier of a journal inclusion proof: Python standard library and ``cryptography`` only.

    python -m protection.proof proof.json [--public-key BASE64]

(or copy this file anywhere and run ``python proof.py proof.json``). Exit status 0 and ``OK`` when the
proof holds; 1 and the reason otherwise; 2 when the file cannot be read.

Proof format (GET /api/v1/journal/entries/{public_id}/proof), a JSON object:

- ``entry``: the entry's fifteen fields as a JSON object (id, public_id, occurred_at, event_type,
  actor_type, actor_id, actor_label, organisation_id, subject, purpose, contract, outcome, request_id,
  deferred_disclosure_until, data), datetimes as ``"2026-11-28T21:03:04.123456Z"``,
  deferred_disclosure_until null when there is none, data an object;
- ``canonical``: the exact canonical text of the entry (see protection/canonical.py): the fifteen
  fields in that order joined by U+001F, id in decimal, no datetime -> empty string, data as
  canonical JSON (keys sorted, no whitespace, non-ASCII as is). It must be the canonical form of
  ``entry``;
- ``leaf_hash`` (informative): SHA-256(0x00 || UTF-8 of canonical), hex;
- ``leaf_index``, ``tree_size``: the entry's position in its batch (entries in id order) and the
  number of entries of the batch;
- ``audit_path``: RFC 6962 audit path, hex node hashes, from the leaf's sibling up
  (node = SHA-256(0x01 || left || right));
- ``seal``: batch_number, first_entry_id, last_entry_id, entry_count, merkle_root,
  previous_seal_hash, key_id, sealed_at, seal_hash, signature. seal_hash is the SHA-256 (hex) of the
  canonical JSON of the first eight members; signature the base64 Ed25519 signature of the same bytes;
- ``key_id``, ``public_key``: the signing key and its raw 32-byte public key in base64, as published
  at /api/v1/journal/keys. Pass ``--public-key`` with the key you obtained independently (from that
  endpoint, or from the platform's published key list) to avoid trusting the one inside the proof.

Checks: canonical == canonical form of entry (no field may contain U+001F); the audit path leads
from the leaf hash to seal.merkle_root; tree_size == seal.entry_count and the entry id lies in the
seal's range; seal_hash matches the seal body; the signature verifies under the public key.
"""

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ENTRY_FIELDS = (
    "id",
    "public_id",
    "occurred_at",
    "event_type",
    "actor_type",
    "actor_id",
    "actor_label",
    "organisation_id",
    "subject",
    "purpose",
    "contract",
    "outcome",
    "request_id",
    "deferred_disclosure_until",
    "data",
)
SEPARATOR = "\x1f"
SEAL_BODY_FIELDS = (
    "batch_number",
    "first_entry_id",
    "last_entry_id",
    "entry_count",
    "merkle_root",
    "previous_seal_hash",
    "key_id",
    "sealed_at",
)
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class ProofError(Exception):
    pass


def canonical_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)


def canonical_entry(entry: dict) -> str:
    """The canonical text of an entry: its fields in ENTRY_FIELDS order joined by U+001F."""
    parts = []
    for name in ENTRY_FIELDS:
        value = entry[name]
        if name == "id":
            value = str(_int(value, "entry.id"))
        elif name == "data":
            value = canonical_json(value)
        elif name == "deferred_disclosure_until" and value is None:
            value = ""
        if not isinstance(value, str):
            raise ProofError(f"entry.{name} doit être une chaîne")
        if SEPARATOR in value:
            raise ProofError(f"entry.{name} contient le séparateur U+001F")
        parts.append(value)
    return SEPARATOR.join(parts)


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_audit_path(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        raise ProofError("leaf_index hors de [0, tree_size)")
    fn, sn = index, size - 1
    result = leaf
    for sibling in path:
        if sn == 0:
            raise ProofError("chemin d'audit trop long")
        if fn % 2 == 1 or fn == sn:
            result = _node(sibling, result)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = _node(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("chemin d'audit trop court")
    return result


def _hex(value, what: str) -> bytes:
    if not isinstance(value, str) or not _HEX64.match(value):
        raise ProofError(f"{what} n'est pas une empreinte hexadécimale de 32 octets")
    return bytes.fromhex(value)


def _int(value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProofError(f"{what} doit être un entier")
    return value


def verify_proof(proof: dict, public_key: str | None = None) -> None:
    """Raise ProofError with the reason when the proof does not hold."""
    if not isinstance(proof, dict):
        raise ProofError("la preuve doit être un objet JSON")
    try:
        entry, text, seal = proof["entry"], proof["canonical"], proof["seal"]
        index, size, path = proof["leaf_index"], proof["tree_size"], proof["audit_path"]
    except KeyError as missing:
        raise ProofError(f"membre manquant : {missing}") from None
    if not isinstance(entry, dict) or set(entry) != set(ENTRY_FIELDS):
        raise ProofError("entry doit avoir exactement les quinze champs canoniques")
    if not isinstance(entry["data"], dict):
        raise ProofError("entry.data doit être un objet")
    for name in ("occurred_at", "deferred_disclosure_until"):
        if entry[name] is not None and not (isinstance(entry[name], str) and _DATETIME.match(entry[name])):
            raise ProofError(f"entry.{name} n'est pas au format AAAA-MM-JJTHH:MM:SS.ffffffZ")
    if not isinstance(text, str) or canonical_entry(entry) != text:
        raise ProofError("canonical n'est pas la forme canonique de entry")
    if not isinstance(seal, dict) or not set(SEAL_BODY_FIELDS) | {"seal_hash", "signature"} <= set(seal):
        raise ProofError("seal incomplet")
    index, size = _int(index, "leaf_index"), _int(size, "tree_size")
    if not isinstance(path, list):
        raise ProofError("audit_path doit être une liste")

    leaf = hashlib.sha256(b"\x00" + text.encode("utf-8")).digest()
    if "leaf_hash" in proof and _hex(proof["leaf_hash"], "leaf_hash") != leaf:
        raise ProofError("leaf_hash ne correspond pas à canonical")
    root = root_from_audit_path(leaf, index, size, [_hex(node, "audit_path") for node in path])
    if root != _hex(seal["merkle_root"], "seal.merkle_root"):
        raise ProofError("le chemin d'audit ne mène pas à la racine de Merkle du sceau")
    if size != seal["entry_count"]:
        raise ProofError("tree_size diffère du nombre d'entrées du sceau")
    if not seal["first_entry_id"] <= _int(entry["id"], "entry.id") <= seal["last_entry_id"]:
        raise ProofError("l'identifiant de l'entrée est hors de la plage du sceau")

    body = canonical_json({name: seal[name] for name in SEAL_BODY_FIELDS}).encode("utf-8")
    if hashlib.sha256(body).hexdigest() != seal["seal_hash"]:
        raise ProofError("seal_hash ne correspond pas au contenu du sceau")
    if "key_id" in proof and proof["key_id"] != seal["key_id"]:
        raise ProofError("key_id diffère de la clé nommée par le sceau")
    key = public_key if public_key is not None else proof.get("public_key")
    if not isinstance(key, str):
        raise ProofError("clé publique absente (--public-key)")
    try:
        verifier = Ed25519PublicKey.from_public_bytes(base64.b64decode(key, validate=True))
        verifier.verify(base64.b64decode(seal["signature"], validate=True), body)
    except (binascii.Error, ValueError, TypeError):
        raise ProofError("clé publique ou signature mal formée") from None
    except InvalidSignature:
        raise ProofError(f"signature du sceau invalide pour la clé {seal['key_id']}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Vérifie hors ligne une preuve d'inclusion du journal.")
    parser.add_argument("proof", help="fichier JSON de la preuve (- pour l'entrée standard)")
    parser.add_argument(
        "--public-key", help="clé publique Ed25519 attendue (base64), au lieu de celle de la preuve"
    )
    args = parser.parse_args(argv)
    try:
        if args.proof == "-":
            proof = json.load(sys.stdin)
        else:
            with open(args.proof, encoding="utf-8") as handle:
                proof = json.load(handle)
    except (OSError, ValueError) as error:
        print(f"ÉCHEC : preuve illisible ({error})", file=sys.stderr)
        return 2
    try:
        verify_proof(proof, args.public_key)
    except ProofError as error:
        print(f"ÉCHEC : {error}", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
