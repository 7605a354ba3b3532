"""Data scopes ("dites-le-nous une fois"): beside the identity claims, a service provider may ask for a
data provider's data about the person (``cnaf_quotient_familial``…), which it then fetches through the
exchange gateway with the person's access token instead of asking the person for a document.

Those scopes are the exchange hub's API scopes and identity never imports the hub: it asks the resolver
named by ``settings.IDENTITY_DATA_SCOPES`` (a dotted path to a callable ``(codes, service) -> {code:
DataScope}``) about the codes that are not identity scopes. The resolver says what each is and whether
the service's organisation holds an active authorization (a contract) covering it; a code it does not
know is absent from its answer. Unset, there are no data scopes.
"""

from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from identity.claims import CLAIMS_BY_SCOPE


@dataclass(frozen=True)
class DataScope:
    code: str
    label: str  # what the person reads on the consent page: "Quotient familial"
    provider: str  # who holds the data: "Caisse nationale des allocations familiales"
    authorized: bool  # the service's organisation holds an active authorization covering it


@cache
def _resolver():
    path = getattr(settings, "IDENTITY_DATA_SCOPES", "")
    return import_string(path) if path else None


def others(scopes) -> list[str]:
    """The scopes that are not identity scopes (data scopes, or unknown)."""
    return [scope for scope in scopes if scope not in CLAIMS_BY_SCOPE]


def resolve(scopes, service=None) -> dict[str, DataScope]:
    """The data scopes among ``scopes``, for ``service`` (None: only what they are)."""
    codes = others(scopes)
    resolver = _resolver()
    if not codes or resolver is None:
        return {}
    return resolver(codes, service)


def label(code: str) -> str:
    scope = resolve([code]).get(code)
    return f"{scope.label} ({scope.provider})" if scope else code
