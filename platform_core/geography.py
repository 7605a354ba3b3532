"""French administrative geography codes (INSEE, Code officiel géographique 2024).

Only what the shared kernel needs to validate an organisation's location; the full
reference data (names, communes, history) lives in commons.referentials.
"""

import re

REGION_NAMES = {
    "01": "Guadeloupe",
    "02": "Martinique",
    "03": "Guyane",
    "04": "La Réunion",
    "06": "Mayotte",
    "11": "Île-de-France",
    "24": "Centre-Val de Loire",
    "27": "Bourgogne-Franche-Comté",
    "28": "Normandie",
    "32": "Hauts-de-France",
    "44": "Grand Est",
    "52": "Pays de la Loire",
    "53": "Bretagne",
    "75": "Nouvelle-Aquitaine",
    "76": "Occitanie",
    "84": "Auvergne-Rhône-Alpes",
    "93": "Provence-Alpes-Côte d'Azur",
    "94": "Corse",
}

_DEPARTEMENTS_BY_REGION = {
    "01": "971",
    "02": "972",
    "03": "973",
    "04": "974",
    "06": "976",
    "11": "75 77 78 91 92 93 94 95",
    "24": "18 28 36 37 41 45",
    "27": "21 25 39 58 70 71 89 90",
    "28": "14 27 50 61 76",
    "32": "02 59 60 62 80",
    "44": "08 10 51 52 54 55 57 67 68 88",
    "52": "44 49 53 72 85",
    "53": "22 29 35 56",
    "75": "16 17 19 23 24 33 40 47 64 79 86 87",
    "76": "09 11 12 30 31 32 34 46 48 65 66 81 82",
    "84": "01 03 07 15 26 38 42 43 63 69 73 74",
    "93": "04 05 06 13 83 84",
    "94": "2A 2B",
}

REGION_OF_DEPARTEMENT = {
    departement: region for region, codes in _DEPARTEMENTS_BY_REGION.items() for departement in codes.split()
}

COMMUNE_CODE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")


def departement_of_commune(commune_code: str) -> str:
    """The département part of a commune code: 3 characters overseas (97x), 2 elsewhere."""
    return commune_code[:3] if commune_code.startswith("97") else commune_code[:2]
