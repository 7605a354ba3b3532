"""Scopes, claims and pairwise subjects as service providers will receive them."""

import pytest

from identity.claims import UnknownScope, claims_for, granted_claims, pairwise_subject, sector_of
from identity.pivot import PivotIdentityError, identity_hash, normalise

TOMASZ = {"given_name": "Tomasz Jan", "family_name": "KOWALSKI", "birthdate": "1990-06-15", "gender": "male",
          "birthplace": "", "birthcountry": "99122", "email": "t@example.org"}  # fmt: skip


def test_each_scope_grants_its_claims_and_nothing_more():
    identity = normalise(TOMASZ)

    assert claims_for(identity, ["openid"], subject="s") == {"sub": "s"}
    assert claims_for(identity, ["openid", "birth"], subject="s") == {
        "sub": "s", "birthplace": "", "birthcountry": "99122",
    }  # fmt: skip
    profile = claims_for(identity, ["openid", "profile"], subject="s")
    assert (
        profile["given_name_array"] == ["Tomasz", "Jan"]
        and "email" not in profile
        and "birthplace" not in profile
    )
    pivot = claims_for(identity, ["openid", "identite_pivot"], subject="s")
    assert set(pivot) == {"sub", "given_name", "given_name_array", "family_name", "birthdate", "gender",
                          "birthplace", "birthcountry"}  # fmt: skip
    assert claims_for(identity, ["openid", "family_name"], subject="s") == {
        "sub": "s",
        "family_name": "KOWALSKI",
    }


def test_unknown_scopes_are_refused():
    with pytest.raises(UnknownScope):
        granted_claims(["openid", "nir"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"gender": "m"}, "gender"),
        ({"birthdate": "15/06/1990"}, "birthdate"),
        ({"birthcountry": "99100", "birthplace": ""}, "birthplace"),  # born in France needs a commune
        ({"birthplace": "75056"}, "birthplace"),  # born abroad has none
        ({"family_name": "  "}, "family_name"),
    ],
)
def test_malformed_pivot_identities_are_refused(change, field):
    with pytest.raises(PivotIdentityError) as error:
        normalise({**TOMASZ, **change})
    assert error.value.field == field


def test_presumed_birthdates_and_corsican_communes_are_valid():
    identity = normalise(
        {**TOMASZ, "birthdate": "1980-01-01", "birthcountry": "99100", "birthplace": "2A004"}
    )
    assert (identity.birthdate, identity.birthplace) == ("1980-01-01", "2A004")


def test_subjects_are_pairwise_per_sector_and_stable_per_person():
    person = identity_hash(normalise(TOMASZ))
    same_person = identity_hash(normalise({**TOMASZ, "family_name": "kowalski", "given_name": "Tomasz  Jan"}))
    other = identity_hash(normalise({**TOMASZ, "birthdate": "1990-06-16"}))

    mairie = sector_of(["https://mairie.example.fr/callback", "https://mairie.example.fr/other"])
    caf = sector_of(["https://caf.example.fr/cb"])
    assert pairwise_subject(mairie, person) == pairwise_subject(mairie, same_person)
    assert pairwise_subject(mairie, person) != pairwise_subject(caf, person)
    assert pairwise_subject(mairie, person) != pairwise_subject(mairie, other)


def test_several_hosts_need_a_sector_identifier_uri():
    uris = ["https://a.example.fr/cb", "https://b.example.fr/cb"]
    with pytest.raises(ValueError, match="sector_identifier_uri"):
        sector_of(uris)
    assert sector_of(uris, "https://sector.example.fr/uris.json") == "sector.example.fr"


def test_agent_identities_need_a_valid_siret_and_email():
    from identity.pivot import normalise_agent

    agent = {"given_name": "Camille", "usual_name": "ROUSSEAU", "email": "c@numerique.gouv.fr", "uid": "a1",
             "siret": "130 025 265 00013"}  # fmt: skip
    assert normalise_agent(agent).siret == "13002526500013"
    for change, field in (
        ({"siret": "13002526500014"}, "siret"),
        ({"email": "nobody"}, "email"),
        ({"uid": ""}, "uid"),
    ):
        with pytest.raises(PivotIdentityError) as error:
            normalise_agent({**agent, **change})
        assert error.value.field == field


def test_company_representatives_need_a_valid_siren():
    from identity.pivot import normalise_company

    representative = {"given_name": "Claire", "family_name": "FONTAINE", "email": "c@example.fr",
                      "uid": "c1", "siren": "356 000 000"}  # fmt: skip
    normalised = normalise_company(representative)
    assert (normalised.siren, normalised.family_name) == ("356000000", "FONTAINE")
    usual_name_only = {**representative, "family_name": "", "usual_name": "FONTAINE-ROY"}
    assert normalise_company(usual_name_only).family_name == "FONTAINE-ROY"
    for change, field in (
        ({"siren": "356000001"}, "siren"),  # wrong check digit
        ({"siren": "35600000"}, "siren"),
        ({"siren": None}, "siren"),
        ({"email": "nobody"}, "email"),
        ({"uid": ""}, "uid"),
        ({"family_name": ""}, "family_name"),
    ):
        with pytest.raises(PivotIdentityError) as error:
            normalise_company({**representative, **change})
        assert error.value.field == field
