"""The sandbox identity provider's test accounts: one per case a service provider must handle.

Pivot identity claims follow FranceConnect: ``given_name`` holds the given names separated by spaces,
``birthplace`` a 5-character INSEE commune code (empty when born abroad), ``birthcountry`` an INSEE
country code (99100 for France), ``birthdate`` YYYY-MM-DD (presumed dates as YYYY-01-01).
``deceased`` is not a claim: the sandbox civil registry reads it to refuse the sign-in.
"""

import hashlib
from dataclasses import dataclass, field

CITIZENS = "usagers"
AGENTS = "agents"
COMPANIES = "entreprises"
REALMS = (CITIZENS, AGENTS, COMPANIES)


@dataclass(frozen=True)
class Account:
    login: str
    realm: str
    description: str
    acr: str = "eidas1"
    claims: dict = field(default_factory=dict)
    deceased: bool = False


def _citizen(login, description, *, given_name, family_name, birthdate, gender, birthplace, birthcountry,
             preferred_username="", email=None, acr="eidas1", deceased=False) -> Account:  # fmt: skip
    claims = {
        "given_name": given_name,
        "family_name": family_name,
        "birthdate": birthdate,
        "gender": gender,
        "birthplace": birthplace,
        "birthcountry": birthcountry,
        "preferred_username": preferred_username,
        "email": email or f"{login}@sandbox.maillage.example",
    }
    return Account(login, CITIZENS, description, acr, claims, deceased)


ACCOUNTS = (
    _citizen("angela", "Cas simple", given_name="Angela Claire Louise", family_name="DUBOIS",
             birthdate="1962-08-24", gender="female", birthplace="75107", birthcountry="99100"),
    _citizen("jean-pierre", "Prénoms composés", given_name="Jean-Pierre Marie", family_name="MARTIN",
             birthdate="1975-03-12", gender="male", birthplace="69123", birthcountry="99100"),
    _citizen("nadia", "Nom d'usage différent du nom de naissance", given_name="Nadia",
             family_name="BENALI", preferred_username="LEFEBVRE", birthdate="1988-11-02",
             gender="female", birthplace="33063", birthcountry="99100"),
    _citizen("tomasz", "Né à l'étranger (lieu de naissance vide)", given_name="Tomasz",
             family_name="KOWALSKI", birthdate="1990-06-15", gender="male", birthplace="",
             birthcountry="99122"),
    _citizen("aminata", "Date de naissance présumée", given_name="Aminata", family_name="DIALLO",
             birthdate="1980-01-01", gender="female", birthplace="", birthcountry="99341"),
    _citizen("lea", "Mineure", given_name="Léa", family_name="PETIT", birthdate="2012-04-30",
             gender="female", birthplace="59350", birthcountry="99100"),
    _citizen("marcel", "Décédé : refusé par le registre d'état civil", given_name="Marcel Henri",
             family_name="DURAND", birthdate="1931-02-17", gender="male", birthplace="13055",
             birthcountry="99100", deceased=True),
    _citizen("sophie", "Identité vérifiée en face à face", given_name="Sophie",
             family_name="BERNARD", birthdate="1970-09-09", gender="female", birthplace="31555",
             birthcountry="99100", acr="eidas2"),
    _citizen("eloise", "Caractères accentués et apostrophe", given_name="Éloïse Anaïs",
             family_name="D'ALEMBERT-GRÉGOIRE", birthdate="1995-12-31", gender="female",
             birthplace="67482", birthcountry="99100"),
    _citizen("inconnu", "Inconnu du registre d'état civil", given_name="Personne",
             family_name="INCONNUE", birthdate="1999-09-09", gender="male", birthplace="75056",
             birthcountry="99100"),
    Account("camille.agent", AGENTS, "Agente publique (DINUM, avec SIRET)", "eidas1", {
        "given_name": "Camille", "usual_name": "ROUSSEAU", "email": "camille.rousseau@numerique.gouv.fr",
        "uid": "agent-0001", "siret": "13002526500013",
    }),
    Account("hugo.agent", AGENTS, "Agent d'une commune (Lyon)", "eidas1", {
        "given_name": "Hugo", "usual_name": "MOREL", "email": "hugo.morel@mairie-lyon.fr",
        "uid": "agent-0002", "siret": "21690123100011",
    }),
    # Maillage's own sandbox accounts (platform_core/sandbox), agents who sign in here as they would
    # with ProConnect: manage.py load_sandbox_providers links each login to the Maillage user of that
    # name, so the habilitation journey can be played after `make run`.
    Account("demo.agent", AGENTS, "Léa Girard, agente de la Ville de Lyon (demande des habilitations)",
            "eidas1", {
        "given_name": "Léa", "usual_name": "GIRARD", "email": "demo.agent@example.gouv.fr",
        "uid": "agent-0003", "siret": "21690123100011",
    }),
    Account("demo.instructeur", AGENTS, "Julien Moreau, instructeur (CNAF, DGFiP, CNOUS)",
            "eidas1", {
        "given_name": "Julien", "usual_name": "MOREAU", "email": "demo.instructeur@example.gouv.fr",
        "uid": "agent-0004", "siret": "18003502400017",
    }),
    Account("demo.rapporteur", AGENTS, "Sophie Lambert, rapporteure au Département de la Gironde",
            "eidas1", {
        "given_name": "Sophie", "usual_name": "LAMBERT", "email": "demo.rapporteur@example.gouv.fr",
        "uid": "agent-0005", "siret": "22330001300016",
    }),
    Account("demo.entreprise", COMPANIES, "Paul Mercier, représentant de La Poste", "eidas1", {
        "given_name": "Paul", "family_name": "MERCIER", "email": "demo.entreprise@example.com",
        "uid": "company-0003", "siren": "356000000",
    }),
    Account("claire.dirigeante", COMPANIES, "Représentante d'une entreprise (avec SIREN)", "eidas1", {
        "given_name": "Claire", "family_name": "FONTAINE", "email": "claire.fontaine@example.fr",
        "uid": "company-0001", "siren": "356000000",
    }),
    Account("marc.dirigeant", COMPANIES, "SIREN invalide : refusé", "eidas1", {
        "given_name": "Marc", "family_name": "LEROY", "email": "marc.leroy@example.fr",
        "uid": "company-0002", "siren": "356000001",
    }),
)  # fmt: skip


def subject_of(realm: str, login: str) -> str:
    """The ``sub`` this provider gives an account: stable per account and realm, opaque, as a real FI's."""
    return hashlib.sha256(f"{realm}:{login}".encode()).hexdigest()[:32]


def accounts_of(realm: str) -> list[Account]:
    return [account for account in ACCOUNTS if account.realm == realm]


def find(realm: str, login: str) -> Account | None:
    return next((a for a in ACCOUNTS if a.realm == realm and a.login == login), None)
