"""The sandbox data providers' records: synthetic data about the citizens of the sandbox identity provider.

The people are those of identity/sandbox_idp/accounts.py (their pivot identities are read from there,
one source of truth), minus ``inconnu``, whom no administration knows. What each provider holds:

| account | CAF quotient familial (latest month: 2026-10) | DGFiP revenu fiscal de référence | CNOUS |
| --- | --- | --- | --- |
| angela | 820 (2026-08: 805, 2026-09: 812), couple, no child | 2025: 31 450 €, 2 parts; 2024: 30 120 € | — |
| jean-pierre | 1 140, couple, 2 children | 2025: 58 200 €, 3 parts | — |
| nadia | 610, single parent, 1 child, usage name LEFEBVRE | 2025: 22 870 €, 2 parts | — |
| tomasz | 380, single (born abroad) | 2025: 9 840 €, 1 part, not taxable | boursier, échelon 5 |
| aminata | 455, single parent, 3 children | 2025: 18 300 €, 3.5 parts, not taxable | — |
| lea | — (minor) | — (minor, on her parents' return) | — |
| marcel | — | 2024 only: 24 600 €, 1 part | — |
| sophie | — | 2025: 47 900 €, 1 part | — |
| eloise | — | 2025: 14 260 €, 1 part, not taxable | boursière, échelon 0bis, provisional |
| inconnu | unknown person | unknown person | unknown person |

"—": the person is known but the provider has nothing about them (404 ``no_data``); a month or a year
the table does not list is ``no_data`` too. Without ``annee``/``mois`` (CAF) or ``anneeRevenus``
(DGFiP), the latest period of the person is answered.

Each answer is a flat JSON object shaped like the real API (API Particulier v2 field names), with a
stable ``id``. A gateway masks it per scope: it keeps ``id`` and the top-level fields of the scopes the
contract grants (``SCOPES`` below):

- CAF ``/caf/v1/quotient-familial``: ``quotient_familial`` → regime, quotientFamilial, annee, mois;
  ``allocataires`` → allocataires; ``enfants`` → enfants; ``adresse`` → adresse.
- DGFiP ``/dgfip/v1/revenu-fiscal-reference``: ``revenu_fiscal_reference`` → revenuFiscalReference,
  nombreParts, anneeRevenus, anneeImpots; ``declarants`` → declarant1, declarant2; ``situation_foyer``
  → situationFamille, nombrePersonnesCharge, foyerFiscal; ``impot`` → revenuBrutGlobal, revenuImposable,
  impotRevenuNetAvantCorrections, montantImpot, dateEtablissement, dateRecouvrement.
- CNOUS ``/cnous/v1/statut-etudiant-boursier``: ``identite`` → nom, prenom, prenoms, dateNaissance,
  lieuNaissance, sexe; ``statut_boursier`` → boursier, echelonBourse, statut, statutLibelle,
  anneeUniversitaire, dateDeRentree, dureeVersement; ``etablissement`` → etablissement, ville;
  ``email`` → email.

Pure Python (no Django): served by exchange/sandbox_providers/app.py, read by tests and by the
command that registers these APIs in the catalogue.
"""

import re
import unicodedata
from dataclasses import dataclass

from identity.sandbox_idp.accounts import CITIZENS, accounts_of

UNKNOWN_TO_ALL = "inconnu"  # the sandbox account no administration knows (as for the civil registry)


@dataclass(frozen=True)
class Scope:
    label: str  # French, as the catalogue shows it
    fields: tuple[str, ...]


SCOPES: dict[str, dict[str, Scope]] = {
    "caf": {
        "quotient_familial": Scope(
            "Quotient familial du mois", ("regime", "quotientFamilial", "annee", "mois")
        ),
        "allocataires": Scope("Allocataires du foyer", ("allocataires",)),
        "enfants": Scope("Enfants à charge", ("enfants",)),
        "adresse": Scope("Adresse postale du foyer", ("adresse",)),
    },
    "dgfip": {
        "revenu_fiscal_reference": Scope(
            "Revenu fiscal de référence et nombre de parts",
            ("revenuFiscalReference", "nombreParts", "anneeRevenus", "anneeImpots"),
        ),
        "declarants": Scope("Déclarants du foyer fiscal", ("declarant1", "declarant2")),
        "situation_foyer": Scope(
            "Situation de famille, personnes à charge et adresse du foyer fiscal",
            ("situationFamille", "nombrePersonnesCharge", "foyerFiscal"),
        ),
        "impot": Scope(
            "Revenus imposables et impôt",
            (
                "revenuBrutGlobal",
                "revenuImposable",
                "impotRevenuNetAvantCorrections",
                "montantImpot",
                "dateEtablissement",
                "dateRecouvrement",
            ),
        ),  # fmt: skip
    },
    "cnous": {
        "identite": Scope(
            "Identité de l'étudiant", ("nom", "prenom", "prenoms", "dateNaissance", "lieuNaissance", "sexe")
        ),
        "statut_boursier": Scope(
            "Statut de boursier et échelon",
            (
                "boursier",
                "echelonBourse",
                "statut",
                "statutLibelle",
                "anneeUniversitaire",
                "dateDeRentree",
                "dureeVersement",
            ),
        ),  # fmt: skip
        "etablissement": Scope("Établissement et ville d'études", ("etablissement", "ville")),
        "email": Scope("Adresse électronique", ("email",)),
    },
}


# --- the pivot identity, normalised ------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s\-'’‘ʼ]+")
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE"})


def fold(name: str) -> str:
    """A name compared without regard to case, accents, hyphens or apostrophes ("D'Alembert-Grégoire"
    and "d alembert gregoire" are one name). identity.pivot compares names case-insensitively too, but it
    imports Django: this module must not."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_LIGATURES))
    letters = "".join(character for character in decomposed if not unicodedata.combining(character))
    return " ".join(_SEPARATORS.sub(" ", letters).casefold().split())


def pivot_key(nom_naissance: str, prenoms: str, date_naissance: str, sexe: str, code_lieu_naissance: str,
              code_pays_naissance: str) -> tuple[str, ...]:  # fmt: skip
    """What the providers match a person on: the six pivot fields, names folded."""
    return (fold(nom_naissance), fold(prenoms), date_naissance, sexe.upper(), code_lieu_naissance.upper(),
            code_pays_naissance)  # fmt: skip


def _people() -> dict[tuple[str, ...], str]:
    people = {}
    for account in accounts_of(CITIZENS):
        if account.login == UNKNOWN_TO_ALL:
            continue
        claims = account.claims
        sexe = {"female": "F", "male": "M"}[claims["gender"]]
        key = pivot_key(claims["family_name"], claims["given_name"], claims["birthdate"], sexe,
                        claims["birthplace"], claims["birthcountry"])  # fmt: skip
        people[key] = account.login
    return people


PEOPLE: dict[tuple[str, ...], str] = _people()  # pivot key -> sandbox account login


def find_person(key: tuple[str, ...]) -> str | None:
    """The login of the sandbox citizen with this pivot key, or None."""
    return PEOPLE.get(key)


# --- CAF (CNAF): quotient familial ---------------------------------------------------------------------


def _person(nom_naissance, prenoms, date_naissance, sexe, nom_usage=None) -> dict:
    return {"nomNaissance": nom_naissance, "nomUsage": nom_usage, "prenoms": prenoms,
            "dateNaissance": date_naissance, "sexe": sexe}  # fmt: skip


def _address(identite, voie, code_postal_ville, complement=None) -> dict:
    return {"identite": identite, "complementInformation": complement,
            "complementInformationGeographique": None, "numeroLibelleVoie": voie, "lieuDit": None,
            "codePostalVille": code_postal_ville, "pays": "FRANCE"}  # fmt: skip


# login -> the household (foyer allocataire) the person is an allocataire of, with its monthly quotients.
CAF_HOUSEHOLDS = {
    "angela": {
        "numeroAllocataire": "0412873",
        "quotients": {"2026-08": 805, "2026-09": 812, "2026-10": 820},
        "allocataires": [
            _person("DUBOIS", "Angela Claire Louise", "1962-08-24", "F"),
            _person("DUBOIS", "Michel André", "1960-02-03", "M"),
        ],
        "enfants": [],
        "adresse": _address("MADAME ANGELA DUBOIS", "12 RUE CLER", "75007 PARIS"),
    },
    "jean-pierre": {
        "numeroAllocataire": "6907154",
        "quotients": {"2026-08": 1128, "2026-09": 1128, "2026-10": 1140},
        "allocataires": [
            _person("MARTIN", "Jean-Pierre Marie", "1975-03-12", "M"),
            _person("ROUX", "Claire", "1977-06-21", "F", nom_usage="MARTIN"),
        ],
        "enfants": [
            _person("MARTIN", "Lucas", "2010-09-02", "M"),
            _person("MARTIN", "Emma", "2014-01-18", "F"),
        ],
        "adresse": _address("MONSIEUR JEAN-PIERRE MARTIN", "45 RUE DE LA REPUBLIQUE", "69002 LYON"),
    },
    "nadia": {
        "numeroAllocataire": "3320981",
        "quotients": {"2026-08": 598, "2026-09": 604, "2026-10": 610},
        "allocataires": [_person("BENALI", "Nadia", "1988-11-02", "F", nom_usage="LEFEBVRE")],
        "enfants": [_person("LEFEBVRE", "Inès", "2016-05-07", "F")],
        "adresse": _address("MADAME NADIA LEFEBVRE", "8 RUE SAINTE-CATHERINE", "33000 BORDEAUX"),
    },
    "tomasz": {
        "numeroAllocataire": "3814507",
        "quotients": {"2026-08": 372, "2026-09": 372, "2026-10": 380},
        "allocataires": [_person("KOWALSKI", "Tomasz", "1990-06-15", "M")],
        "enfants": [],
        "adresse": _address(
            "MONSIEUR TOMASZ KOWALSKI",
            "10 AVENUE CENTRALE",
            "38400 SAINT-MARTIN-D'HERES",
            complement="RESIDENCE OUEST BAT B CH 214",
        ),  # fmt: skip
    },
    "aminata": {
        "numeroAllocataire": "9302468",
        "quotients": {"2026-08": 449, "2026-09": 452, "2026-10": 455},
        "allocataires": [_person("DIALLO", "Aminata", "1980-01-01", "F")],
        "enfants": [
            _person("DIALLO", "Moussa", "2008-03-03", "M"),
            _person("DIALLO", "Fatou", "2011-07-19", "F"),
            _person("DIALLO", "Ibrahima", "2015-11-25", "M"),
        ],
        "adresse": _address("MADAME AMINATA DIALLO", "14 RUE DE PARIS", "93100 MONTREUIL"),
    },
}


def _caf_records() -> dict[str, dict[str, dict]]:
    records = {}
    for login, household in CAF_HOUSEHOLDS.items():
        records[login] = {}
        for month, quotient in household["quotients"].items():
            year, number = month.split("-")
            records[login][month] = {
                "id": f"caf-{household['numeroAllocataire']}-{year}{number}",
                "regime": "CNAF",
                "quotientFamilial": quotient,
                "annee": int(year),
                "mois": int(number),
                "allocataires": household["allocataires"],
                "enfants": household["enfants"],
                "adresse": household["adresse"],
            }
    return records


# --- DGFiP: revenu fiscal de référence (avis d'impôt sur le revenu) -------------------------------------


def _declarant(nom, nom_naissance, prenoms, date_naissance) -> dict:
    return {"nom": nom, "nomNaissance": nom_naissance, "prenoms": prenoms, "dateNaissance": date_naissance}


_ISSUED = {2024: ("2025-07-10", "2025-09-15"), 2025: ("2026-07-09", "2026-09-15")}  # établi, recouvré

# login -> income year (anneeRevenus) -> the tax notice. montantImpot is None when not taxable.
DGFIP_NOTICES = {
    "angela": {
        2024: {"referenceAvis": "2575A03987142", "situationFamille": "Marié(e)", "nombreParts": 2.0,
               "nombrePersonnesCharge": 0, "revenuBrutGlobal": 30120, "revenuImposable": 30120,
               "impotRevenuNetAvantCorrections": 892, "montantImpot": 892, "revenuFiscalReference": 30120,
               "declarant1": _declarant("DUBOIS", "DUBOIS", "Angela Claire Louise", "1962-08-24"),
               "declarant2": _declarant("DUBOIS", "DUBOIS", "Michel André", "1960-02-03"),
               "adresse": "12 RUE CLER 75007 PARIS"},
        2025: {"referenceAvis": "2675A04128731", "situationFamille": "Marié(e)", "nombreParts": 2.0,
               "nombrePersonnesCharge": 0, "revenuBrutGlobal": 31450, "revenuImposable": 31450,
               "impotRevenuNetAvantCorrections": 1014, "montantImpot": 1014, "revenuFiscalReference": 31450,
               "declarant1": _declarant("DUBOIS", "DUBOIS", "Angela Claire Louise", "1962-08-24"),
               "declarant2": _declarant("DUBOIS", "DUBOIS", "Michel André", "1960-02-03"),
               "adresse": "12 RUE CLER 75007 PARIS"},
    },
    "jean-pierre": {
        2025: {"referenceAvis": "2669A06907154", "situationFamille": "Marié(e)", "nombreParts": 3.0,
               "nombrePersonnesCharge": 2, "revenuBrutGlobal": 60400, "revenuImposable": 58200,
               "impotRevenuNetAvantCorrections": 3180, "montantImpot": 3180, "revenuFiscalReference": 58200,
               "declarant1": _declarant("MARTIN", "MARTIN", "Jean-Pierre Marie", "1975-03-12"),
               "declarant2": _declarant("MARTIN", "ROUX", "Claire", "1977-06-21"),
               "adresse": "45 RUE DE LA REPUBLIQUE 69002 LYON"},
    },
    "nadia": {
        2025: {"referenceAvis": "2633A03320981", "situationFamille": "Divorcé(e)", "nombreParts": 2.0,
               "nombrePersonnesCharge": 1, "revenuBrutGlobal": 22870, "revenuImposable": 22870,
               "impotRevenuNetAvantCorrections": 96, "montantImpot": 96, "revenuFiscalReference": 22870,
               "declarant1": _declarant("LEFEBVRE", "BENALI", "Nadia", "1988-11-02"),
               "declarant2": None,
               "adresse": "8 RUE SAINTE-CATHERINE 33000 BORDEAUX"},
    },
    "tomasz": {
        2025: {"referenceAvis": "2638A01583207", "situationFamille": "Célibataire", "nombreParts": 1.0,
               "nombrePersonnesCharge": 0, "revenuBrutGlobal": 9840, "revenuImposable": 9840,
               "impotRevenuNetAvantCorrections": 0, "montantImpot": None, "revenuFiscalReference": 9840,
               "declarant1": _declarant("KOWALSKI", "KOWALSKI", "Tomasz", "1990-06-15"),
               "declarant2": None,
               "adresse": "RESIDENCE OUEST BAT B CH 214 10 AVENUE CENTRALE 38400 SAINT-MARTIN-D'HERES"},
    },
    "aminata": {
        2025: {"referenceAvis": "2693A09302468", "situationFamille": "Célibataire", "nombreParts": 3.5,
               "nombrePersonnesCharge": 3, "revenuBrutGlobal": 18300, "revenuImposable": 18300,
               "impotRevenuNetAvantCorrections": 0, "montantImpot": None, "revenuFiscalReference": 18300,
               "declarant1": _declarant("DIALLO", "DIALLO", "Aminata", "1980-01-01"),
               "declarant2": None,
               "adresse": "14 RUE DE PARIS 93100 MONTREUIL"},
    },
    "marcel": {  # deceased: his last notice is for 2024 income
        2024: {"referenceAvis": "2513A07710358", "situationFamille": "Veuf(ve)", "nombreParts": 1.0,
               "nombrePersonnesCharge": 0, "revenuBrutGlobal": 27330, "revenuImposable": 24600,
               "impotRevenuNetAvantCorrections": 1263, "montantImpot": 1263, "revenuFiscalReference": 24600,
               "declarant1": _declarant("DURAND", "DURAND", "Marcel Henri", "1931-02-17"),
               "declarant2": None,
               "adresse": "5 BOULEVARD LONGCHAMP 13001 MARSEILLE"},
    },
    "sophie": {
        2025: {"referenceAvis": "2631A05542019", "situationFamille": "Célibataire", "nombreParts": 1.0,
               "nombrePersonnesCharge": 0, "revenuBrutGlobal": 53220, "revenuImposable": 47900,
               "impotRevenuNetAvantCorrections": 6210, "montantImpot": 6210, "revenuFiscalReference": 47900,
               "declarant1": _declarant("BERNARD", "BERNARD", "Sophie", "1970-09-09"),
               "declarant2": None,
               "adresse": "22 RUE D'ALSACE-LORRAINE 31000 TOULOUSE"},
    },
    "eloise": {
        2025: {"referenceAvis": "2667A06714490", "situationFamille": "Célibataire", "nombreParts": 1.0,
               "nombrePersonnesCharge": 0, "revenuBrutGlobal": 14260, "revenuImposable": 14260,
               "impotRevenuNetAvantCorrections": 0, "montantImpot": None, "revenuFiscalReference": 14260,
               "declarant1": _declarant("D'ALEMBERT-GRÉGOIRE", "D'ALEMBERT-GRÉGOIRE", "Éloïse Anaïs",
                                        "1995-12-31"),
               "declarant2": None,
               "adresse": "3 QUAI DES BATELIERS 67000 STRASBOURG"},
    },
}  # fmt: skip


def _dgfip_records() -> dict[str, dict[str, dict]]:
    records = {}
    for login, notices in DGFIP_NOTICES.items():
        records[login] = {}
        for year, notice in notices.items():
            established, recovered = _ISSUED[year]
            records[login][str(year)] = {
                "id": f"dgfip-{notice['referenceAvis']}",
                "declarant1": notice["declarant1"],
                "declarant2": notice["declarant2"],
                "foyerFiscal": {"annee": year + 1, "adresse": notice["adresse"]},
                "situationFamille": notice["situationFamille"],
                "nombrePersonnesCharge": notice["nombrePersonnesCharge"],
                "nombreParts": notice["nombreParts"],
                "anneeRevenus": year,
                "anneeImpots": year + 1,
                "revenuFiscalReference": notice["revenuFiscalReference"],
                "revenuBrutGlobal": notice["revenuBrutGlobal"],
                "revenuImposable": notice["revenuImposable"],
                "impotRevenuNetAvantCorrections": notice["impotRevenuNetAvantCorrections"],
                "montantImpot": notice["montantImpot"],
                "dateEtablissement": established,
                "dateRecouvrement": recovered,
            }
    return records


# --- CNOUS: statut étudiant boursier ---------------------------------------------------------------------

# login -> the student's grant file (dossier social étudiant) for the 2026-2027 academic year.
# statut: 0 définitif, 1 provisoire (the grant is conditional until enrolment is confirmed).
CNOUS_STUDENTS = {
    "tomasz": {
        "id": "cnous-dse-2026-0358127",
        "nom": "KOWALSKI", "prenom": "Tomasz", "prenoms": "Tomasz", "dateNaissance": "1990-06-15",
        "lieuNaissance": "Cracovie (Pologne)", "sexe": "M",
        "boursier": True, "echelonBourse": "5", "statut": 0, "statutLibelle": "définitif",
        "anneeUniversitaire": "2026-2027", "dateDeRentree": "2026-09-01", "dureeVersement": 10,
        "etablissement": "Université Grenoble Alpes", "ville": "Saint-Martin-d'Hères",
        "email": "tomasz@sandbox.maillage.example",
    },
    "eloise": {
        "id": "cnous-dse-2026-0671594",
        "nom": "D'ALEMBERT-GRÉGOIRE", "prenom": "Éloïse", "prenoms": "Éloïse Anaïs",
        "dateNaissance": "1995-12-31", "lieuNaissance": "Strasbourg", "sexe": "F",
        "boursier": True, "echelonBourse": "0bis", "statut": 1, "statutLibelle": "provisoire",
        "anneeUniversitaire": "2026-2027", "dateDeRentree": "2026-09-07", "dureeVersement": 0,
        "etablissement": "Université de Strasbourg", "ville": "Strasbourg",
        "email": "eloise@sandbox.maillage.example",
    },
}  # fmt: skip


# api -> login -> period ("2026-10", "2025"; "" when the API has none) -> the answer.
RECORDS: dict[str, dict[str, dict[str, dict]]] = {
    "caf": _caf_records(),
    "dgfip": _dgfip_records(),
    "cnous": {login: {"": record} for login, record in CNOUS_STUDENTS.items()},
}


def _check() -> None:
    """Every answer's top-level fields are ``id`` plus exactly the fields of the API's scopes."""
    for api, by_person in RECORDS.items():
        scoped = {name for scope in SCOPES[api].values() for name in scope.fields}
        for by_period in by_person.values():
            for record in by_period.values():
                if set(record) != scoped | {"id"}:
                    raise AssertionError(f"{api}: {sorted(set(record) ^ (scoped | {'id'}))} out of scope")


_check()
