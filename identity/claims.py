"""What a service provider receives about a person: FranceConnect v2 scopes, claims and subjects.

Scopes grant claims (``CLAIMS_BY_SCOPE``): ``openid`` the subject; ``profile``, ``birth`` and
``identite_pivot`` groups of the pivot identity; ``email``; and one scope per claim. Formats follow
FranceConnect: ``gender`` male/female, ``birthdate`` YYYY-MM-DD (presumed dates YYYY-01-01),
``birthplace`` the INSEE commune code, empty when born abroad, ``birthcountry`` the INSEE country code
(99100 for France), ``given_name_array`` the given names as a list.

The subject is pairwise: one per sector (the host of the service's redirect URIs, or its
``sector_identifier_uri``'s), derived from the person's identity hash and a platform secret. The
same person signing in through any identity provider gets the same ``sub`` at one service, and
different ``sub`` values at services of different sectors, which cannot link them.
"""

import hashlib
import hmac
from urllib.parse import urlsplit

from django.conf import settings

from identity.pivot import PivotIdentity

PIVOT_CLAIMS = ("given_name", "family_name", "birthdate", "gender", "birthplace", "birthcountry")
CLAIMS_BY_SCOPE = {
    "openid": ("sub",),
    "profile": ("given_name", "given_name_array", "family_name", "birthdate", "gender", "preferred_username"),
    "birth": ("birthplace", "birthcountry"),
    "identite_pivot": (*PIVOT_CLAIMS, "given_name_array"),
    "email": ("email",),
    **{
        claim: (claim,)
        for claim in (*PIVOT_CLAIMS, "given_name_array", "preferred_username", "idp_birthdate", "amr")
    },
    # Agents and company representatives (ProConnect-like claims).
    **{claim: (claim,) for claim in ("usual_name", "uid", "siret", "siren")},
}
SUPPORTED_SCOPES = tuple(CLAIMS_BY_SCOPE)


class UnknownScope(ValueError):
    pass


def granted_claims(scopes: list[str] | tuple[str, ...]) -> set[str]:
    """The claims a set of scopes grants; UnknownScope for a scope Maillage does not know."""
    claims = set()
    for scope in scopes:
        if scope not in CLAIMS_BY_SCOPE:
            raise UnknownScope(scope)
        claims.update(CLAIMS_BY_SCOPE[scope])
    return claims


def sector_of(redirect_uris: list[str], sector_identifier_uri: str = "") -> str:
    """The sector a service's subjects are computed for: its sector_identifier_uri's host when set,
    else the host all its redirect URIs share (several hosts need a sector_identifier_uri)."""
    if sector_identifier_uri:
        host = urlsplit(sector_identifier_uri).hostname
        if not host:
            raise ValueError("sector_identifier_uri must be an absolute URL")
        return host
    hosts = {urlsplit(uri).hostname for uri in redirect_uris}
    if len(hosts) != 1 or None in hosts:
        raise ValueError("redirect URIs on several hosts need a sector_identifier_uri")
    return hosts.pop()


def pairwise_subject(sector: str, identity_hash: str) -> str:
    """sub = HMAC(platform secret, sector || identity hash), hex: stable per sector and person."""
    message = f"{sector}\x1f{identity_hash}".encode()
    return hmac.new(settings.IDENTITY_HASH_KEY.encode(), b"sub\x1f" + message, hashlib.sha256).hexdigest()


def claims_for(
    identity: PivotIdentity,
    scopes: list[str] | tuple[str, ...],
    *,
    subject: str,
    idp_birthdate: str | None = None,
    amr: list[str] | None = None,
) -> dict:
    """The claims the scopes allow, in FranceConnect formats, and nothing else."""
    values = {
        "sub": subject,
        "given_name": identity.given_name,
        "given_name_array": identity.given_name_array,
        "family_name": identity.family_name,
        "birthdate": identity.birthdate,
        "gender": identity.gender,
        "birthplace": identity.birthplace,
        "birthcountry": identity.birthcountry,
        "preferred_username": identity.preferred_username,
        "email": identity.email,
        "idp_birthdate": idp_birthdate or identity.birthdate,
        "amr": amr or [],
    }
    # Professional claims (siret, uid…) have no value for a citizen: they are left out, not invented.
    return {claim: values[claim] for claim in sorted(granted_claims(scopes)) if claim in values}
