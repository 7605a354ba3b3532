"""Shared fixtures of the exchange tests: a provider, a consumer and a stranger organisation, one API
with two scopes, and members in every role."""

import uuid
from datetime import date

import pytest

from exchange.models import ApiProduct, ApiScope
from exchange.services import habilitation_create
from platform_core.enums import MembershipRole
from tests.factories import MembershipFactory, OrganisationFactory, UserFactory


@pytest.fixture(autouse=True)
def _own_rate_limits(settings):
    # Every test its own counters: calls from 127.0.0.1 would add up across tests within a minute.
    settings.RATE_LIMIT_CACHE_PREFIX = f"test-ratelimit-{uuid.uuid4().hex}"


CONTACTS = {
    role: {"name": f"Contact {role}", "email": f"{role}@mairie.example.fr"}
    for role in ("business", "technical", "dpo", "controller")
}


def member(organisation, role):
    user = UserFactory()
    MembershipFactory(user=user, organisation=organisation, role=role)
    return user


@pytest.fixture
def world():
    provider, consumer, other = OrganisationFactory(name="DGFiP"), OrganisationFactory(name="Mairie"), None
    other = OrganisationFactory(name="Autre mairie")
    api = ApiProduct.objects.create(
        slug="impots", name="Impôt particulier", provider=provider, description="RFR",
        upstream_base_url="http://127.0.0.1:9/dgfip",
    )  # fmt: skip
    income = ApiScope.objects.create(api=api, code="dgfip_rfr", label="RFR", fields=["revenuFiscalReference"])
    parts = ApiScope.objects.create(api=api, code="dgfip_parts", label="Parts", fields=["nombreParts"])
    return {
        "provider": provider, "consumer": consumer, "other": other, "api": api,
        "income": income, "parts": parts,
        "applicant": member(consumer, MembershipRole.AGENT),
        "colleague": member(consumer, MembershipRole.ADMIN),
        "instructor": member(provider, MembershipRole.INSTRUCTOR),
        "reporter": member(provider, MembershipRole.REPORTER),
        "stranger": member(other, MembershipRole.ADMIN),
    }  # fmt: skip


def draft(world, **overrides):
    fields = {
        "title": "Tarification de la cantine",
        "purpose": "Calculer le tarif selon le revenu fiscal de référence.",
        "legal_basis_nature": "deliberation",
        "legal_basis_url": "https://mairie.example.fr/deliberation-2026-12.pdf",
        "retention_months": 12,
        "production_date": date(2027, 1, 4),
        "contacts": CONTACTS,
        **overrides,
    }
    return habilitation_create(
        applicant=world["applicant"], consumer=world["consumer"], api=world["api"], scopes=[world["income"]],
        **fields,
    )  # fmt: skip
