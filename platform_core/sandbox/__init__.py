"""Demo data of the shared kernel, loaded by `manage.py load_sandbox` (and so by `make run`).

Never imported by production code paths: only the command reads it. As the seed of the whole
platform it may name every app's enums (identity's account kinds here).

The organisations are real public bodies and companies with their real SIREN (but for the two
"bac à sable" data providers, whose SIRENs are made up), and geography
codes from the 2024 Code officiel géographique. DINUM's, Ville de Lyon's and La Poste's SIRET are
their known establishments; for the others the establishment number (NIC) was chosen to pass
the SIRET check, so treat those SIRETs as demo values.
"""

from dataclasses import dataclass

from identity.enums import UserKind
from platform_core.enums import MembershipRole, OrganisationKind


@dataclass(frozen=True)
class SandboxOrganisation:
    key: str
    name: str
    siret: str
    kind: str
    commune_code: str
    departement_code: str
    region_code: str


@dataclass(frozen=True)
class SandboxUser:
    username: str
    first_name: str
    last_name: str
    email: str
    kind: str
    memberships: tuple[tuple[str, str], ...]  # (organisation key, role)
    superuser: bool = False


@dataclass(frozen=True)
class SandboxCitizen:
    username: str
    first_name: str
    last_name: str
    email: str


ORGANISATIONS = (
    SandboxOrganisation(
        key="dinum",
        name="Direction interministérielle du numérique (DINUM)",
        siret="13002526500013",
        kind=OrganisationKind.MINISTRY,
        commune_code="75056",  # Paris
        departement_code="75",
        region_code="11",
    ),
    SandboxOrganisation(
        key="cnaf",
        name="Caisse nationale des allocations familiales",
        siret="18003502400017",
        kind=OrganisationKind.STATE_OPERATOR,
        commune_code="75056",  # Paris
        departement_code="75",
        region_code="11",
    ),
    # The providers of exchange/sandbox_providers besides the CNAF (manage.py load_sandbox_exchange):
    # fictitious SIRENs that pass the check, as these are not the real administrations.
    SandboxOrganisation(
        key="dgfip",
        name="Direction générale des finances publiques (bac à sable)",
        siret="13009990600013",
        kind=OrganisationKind.MINISTRY,
        commune_code="75056",  # Paris
        departement_code="75",
        region_code="11",
    ),
    SandboxOrganisation(
        key="cnous",
        name="Centre national des œuvres universitaires et scolaires (bac à sable)",
        siret="18009990500010",
        kind=OrganisationKind.STATE_OPERATOR,
        commune_code="75056",  # Paris
        departement_code="75",
        region_code="11",
    ),
    SandboxOrganisation(
        key="gironde",
        name="Département de la Gironde",
        siret="22330001300016",
        kind=OrganisationKind.DEPARTEMENT,
        commune_code="33063",  # Bordeaux, the seat of the département
        departement_code="33",
        region_code="75",
    ),
    SandboxOrganisation(
        key="lyon",
        name="Ville de Lyon",
        siret="21690123100011",
        kind=OrganisationKind.COMMUNE,
        commune_code="69123",
        departement_code="69",
        region_code="84",
    ),
    SandboxOrganisation(
        key="la-poste",
        name="La Poste",
        siret="35600000000048",  # SIREN 356000000: the sandbox FI's claire.dirigeante represents it
        kind=OrganisationKind.COMPANY,
        commune_code="75056",  # Paris
        departement_code="75",
        region_code="11",
    ),
    SandboxOrganisation(
        key="croix-rouge",
        name="Croix-Rouge française",
        siret="77567227200017",
        kind=OrganisationKind.ASSOCIATION,
        commune_code="92049",  # Montrouge
        departement_code="92",
        region_code="11",
    ),
)

USERS = (
    SandboxUser(
        username="demo.admin",
        first_name="Nadia",
        last_name="Benali",
        email="demo.admin@example.gouv.fr",
        kind=UserKind.STAFF,
        memberships=(("dinum", MembershipRole.ADMIN),),
        superuser=True,
    ),
    SandboxUser(
        username="demo.instructeur",
        first_name="Julien",
        last_name="Moreau",
        email="demo.instructeur@example.gouv.fr",
        kind=UserKind.AGENT,
        # Instructs the habilitations to the three sandbox data providers' APIs.
        memberships=(
            ("cnaf", MembershipRole.INSTRUCTOR),
            ("dgfip", MembershipRole.INSTRUCTOR),
            ("cnous", MembershipRole.INSTRUCTOR),
        ),
    ),
    SandboxUser(
        username="demo.rapporteur",
        first_name="Sophie",
        last_name="Lambert",
        email="demo.rapporteur@example.gouv.fr",
        kind=UserKind.AGENT,
        memberships=(("gironde", MembershipRole.REPORTER),),
    ),
    SandboxUser(
        username="demo.developpeur",
        first_name="Thomas",
        last_name="Nguyen",
        email="demo.developpeur@example.com",
        kind=UserKind.DEVELOPER,
        memberships=(("la-poste", MembershipRole.DEVELOPER), ("croix-rouge", MembershipRole.DEVELOPER)),
    ),
    SandboxUser(
        username="demo.agent",
        first_name="Léa",
        last_name="Girard",
        email="demo.agent@example.gouv.fr",
        kind=UserKind.AGENT,
        memberships=(("lyon", MembershipRole.AGENT), ("gironde", MembershipRole.AGENT)),
    ),
    SandboxUser(
        username="demo.entreprise",
        first_name="Paul",
        last_name="Mercier",
        email="demo.entreprise@example.com",
        kind=UserKind.COMPANY,
        memberships=(("la-poste", MembershipRole.REPRESENTATIVE),),
    ),
)

CITIZENS = (
    SandboxCitizen(
        username="demo.usager",
        first_name="Marie",
        last_name="Dupont",
        email="demo.usager@example.org",
    ),
)
