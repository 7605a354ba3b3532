"""The pivot identity: the six fields that identify a person across identity providers.

Given names, family name, birthdate, gender, birthplace and birth country, as FranceConnect defines
them. Providers differ in case, spacing and Unicode form; ``normalise`` irons that out before the
keyed ``identity_hash`` is computed, so one person is one hash whichever provider vouched for them.
"""

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from stdnum.fr import siren as siren_number
from stdnum.fr import siret as siret_number

PIVOT_FIELDS = ("given_name", "family_name", "birthdate", "gender", "birthplace", "birthcountry")
_SPACES = re.compile(r"\s+")
_INSEE = re.compile(r"^[0-9][0-9AB][0-9]{3}$")  # communes (2A/2B for Corsica) and countries (99xxx)


class PivotIdentityError(ValueError):
    """The provider's claims do not make a usable pivot identity; ``field`` names the culprit."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class PivotIdentity:
    given_name: str
    family_name: str
    birthdate: str
    gender: str
    birthplace: str
    birthcountry: str
    preferred_username: str = ""
    email: str = ""

    @property
    def given_name_array(self) -> list[str]:
        return self.given_name.split(" ")


def _text(claims: dict, name: str, *, required: bool = True) -> str:
    value = claims.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise PivotIdentityError(name, "must be a string")
    value = _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()
    if required and not value:
        raise PivotIdentityError(name, "is missing")
    if len(value) > 255:
        raise PivotIdentityError(name, "is too long")
    return value


def normalise(claims: dict) -> PivotIdentity:
    """The pivot identity from an identity provider's claims; PivotIdentityError when unusable."""
    birthdate = _text(claims, "birthdate")
    try:
        date.fromisoformat(birthdate)
    except ValueError:
        raise PivotIdentityError("birthdate", "must be YYYY-MM-DD") from None
    if len(birthdate) != 10:
        raise PivotIdentityError("birthdate", "must be YYYY-MM-DD")
    gender = _text(claims, "gender").lower()
    if gender not in {"male", "female"}:
        raise PivotIdentityError("gender", "must be male or female")
    birthcountry = _text(claims, "birthcountry")
    birthplace = _text(claims, "birthplace", required=False)
    if not _INSEE.match(birthcountry) or not birthcountry.startswith("99"):
        raise PivotIdentityError("birthcountry", "must be an INSEE country code (99xxx)")
    if birthcountry == "99100" and not _INSEE.match(birthplace):
        raise PivotIdentityError("birthplace", "must be an INSEE commune code for people born in France")
    if birthcountry != "99100" and birthplace:
        raise PivotIdentityError("birthplace", "must be empty for people born abroad")
    return PivotIdentity(
        given_name=_text(claims, "given_name"),
        family_name=_text(claims, "family_name"),
        birthdate=birthdate,
        gender=gender,
        birthplace=birthplace,
        birthcountry=birthcountry,
        preferred_username=_text(claims, "preferred_username", required=False),
        email=_text(claims, "email", required=False),
    )


def identity_hash(identity: PivotIdentity) -> str:
    """Keyed SHA-256 of the six pivot fields, names compared without regard to case."""
    parts = [
        identity.given_name.casefold(),
        identity.family_name.casefold(),
        identity.birthdate,
        identity.gender,
        identity.birthplace,
        identity.birthcountry,
    ]
    message = "\x1f".join(parts).encode("utf-8")
    return hmac.new(settings.IDENTITY_HASH_KEY.encode("utf-8"), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AgentIdentity:
    """A public agent as an agents' identity provider (ProConnect-like) describes them."""

    given_name: str
    usual_name: str
    email: str
    uid: str
    siret: str


def normalise_agent(claims: dict) -> AgentIdentity:
    """The agent's identity from the FI's claims; PivotIdentityError when unusable."""
    siret = _text(claims, "siret").replace(" ", "")
    if not siret_number.is_valid(siret):
        raise PivotIdentityError("siret", "is not a valid SIRET")
    return AgentIdentity(
        given_name=_text(claims, "given_name"),
        usual_name=_text(claims, "usual_name"),
        email=_email(claims),
        uid=_text(claims, "uid"),
        siret=siret,
    )


def _email(claims: dict) -> str:
    email = _text(claims, "email")
    if "@" not in email:
        raise PivotIdentityError("email", "is not an e-mail address")
    return email[:254]


@dataclass(frozen=True)
class CompanyRepresentative:
    """A company's representative as a companies' identity provider describes them."""

    email: str
    given_name: str
    family_name: str
    uid: str
    siren: str


def normalise_company(claims: dict) -> CompanyRepresentative:
    """The representative's identity from the FI's claims (``usual_name`` when there is no
    ``family_name``); PivotIdentityError when unusable."""
    siren = siren_number.compact(_text(claims, "siren"))  # as written, with spaces or dots
    if not siren_number.is_valid(siren):
        raise PivotIdentityError("siren", "is not a valid SIREN")
    family_name = _text(claims, "family_name", required=False) or _text(claims, "usual_name", required=False)
    if not family_name:
        raise PivotIdentityError("family_name", "is missing")
    return CompanyRepresentative(
        email=_email(claims),
        given_name=_text(claims, "given_name"),
        family_name=family_name,
        uid=_text(claims, "uid"),
        siren=siren,
    )
