"""Reads of the shared kernel that carry rules (filters, visibility)."""

import uuid

from django.db.models import Q, QuerySet
from django.http import Http404

from platform_core.models import Organisation


def organisation_list(
    *, kind: str = "", departement: str = "", region: str = "", q: str = ""
) -> QuerySet[Organisation]:
    """The public directory of organisations: every organisation is public, filters are optional."""
    organisations = Organisation.objects.all()
    if kind:
        organisations = organisations.filter(kind=kind)
    if departement:
        organisations = organisations.filter(departement_code=departement)
    if region:
        organisations = organisations.filter(region_code=region)
    if q:
        digits = "".join(q.split())
        match = Q(name__icontains=q)
        if digits.isdigit():
            match |= Q(siret__startswith=digits)
        organisations = organisations.filter(match)
    return organisations


def get_organisation(public_id: str | uuid.UUID) -> Organisation:
    """The organisation with this public id; Http404 when there is none or the id is not a UUID."""
    try:
        public_id = uuid.UUID(str(public_id))
    except ValueError:
        raise Http404("not a UUID") from None
    try:
        return Organisation.objects.get(public_id=public_id)
    except Organisation.DoesNotExist:
        raise Http404("no such organisation") from None
