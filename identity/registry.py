"""Identity verification against the civil registry (RNIPP-like): a sign-in is refused for a person
the registry does not know or records as deceased.

The registry is an HTTP service at CIVIL_REGISTRY_URL taking the six pivot fields as JSON and
answering ``{"status": "found" | "deceased" | "unknown"}`` (under `make run`, the sandbox provider's
``/registre/verification``). Unset, verification is off, and every sign-in is journaled as unchecked.
"""

from dataclasses import asdict

import httpx
from django.conf import settings

from identity import federation
from identity.pivot import PIVOT_FIELDS, PivotIdentity

VERIFIED, DECEASED, UNKNOWN, UNCHECKED = "found", "deceased", "unknown", "unchecked"


class RegistryRefusal(Exception):
    """The registry refused the identity (``code``: deceased, unknown_person, registry_unavailable)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def verify(identity: PivotIdentity) -> str:
    """VERIFIED or UNCHECKED; RegistryRefusal for a refused identity or an unavailable registry."""
    url = settings.CIVIL_REGISTRY_URL
    if not url:
        return UNCHECKED
    query = {name: value for name, value in asdict(identity).items() if name in PIVOT_FIELDS}
    try:
        response = federation.http().post(url, json=query, headers={"Accept": "application/json"})
        status = response.json().get("status") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        status = None
    if status == VERIFIED:
        return VERIFIED
    if status == DECEASED:
        raise RegistryRefusal("deceased", "the civil registry records this person as deceased")
    if status == UNKNOWN:
        raise RegistryRefusal("unknown_person", "the civil registry does not know this person")
    raise RegistryRefusal("registry_unavailable", "the civil registry did not answer usably")
