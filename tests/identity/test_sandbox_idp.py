"""The sandbox identity provider, run as its own process and spoken to over HTTP like a real FI."""

import base64
import hashlib
import json
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
from jwcrypto import jwk, jwt
from stdnum.fr import siren

from identity.sandbox_idp.accounts import ACCOUNTS, AGENTS, CITIZENS, COMPANIES
from tests.identity.conftest import CLIENT_ID, POST_LOGOUT, REDIRECT, SECRET


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(issuer: str, login: str, **overrides) -> tuple[httpx.Response, dict]:
    """Run the authorization request and pick ``login``; returns the last response and the request."""
    verifier, challenge = pkce()
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code",
              "scope": "openid profile birth email", "state": secrets.token_urlsafe(16),
              "nonce": secrets.token_urlsafe(24), "code_challenge": challenge,
              "code_challenge_method": "S256", "acr_values": "eidas1", **overrides}  # fmt: skip
    page = httpx.get(f"{issuer}/authorize", params={k: v for k, v in params.items() if v is not None})
    if page.status_code != 200:
        return page, params | {"verifier": verifier}
    transaction = re.search(r'name="transaction" value="([^"]+)"', page.text).group(1)
    chosen = httpx.post(f"{issuer}/authorize", data={"transaction": transaction, "login": login})
    return chosen, params | {"verifier": verifier}


def callback(response: httpx.Response) -> dict:
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def exchange(issuer, code, verifier, auth=(CLIENT_ID, SECRET), **form) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    return httpx.post(f"{issuer}/token", data={**data, **form}, auth=auth)


def test_discovery_describes_each_realm_as_its_own_issuer(idp):
    for realm in (CITIZENS, AGENTS, COMPANIES):
        config = httpx.get(f"{idp}/{realm}/.well-known/openid-configuration").json()

        assert config["issuer"] == f"{idp}/{realm}"
        assert config["code_challenge_methods_supported"] == ["S256"]
        assert config["authorization_response_iss_parameter_supported"] is True
        assert httpx.get(config["jwks_uri"]).json()["keys"][0]["kid"]


def test_a_full_sign_in_gives_a_signed_id_token_and_the_pivot_identity(idp):
    issuer = f"{idp}/{CITIZENS}"
    response, request = authorize(issuer, "tomasz")
    answer = callback(response)
    assert answer["state"] == request["state"] and answer["iss"] == issuer

    tokens = exchange(issuer, answer["code"], request["verifier"]).json()
    keys = jwk.JWKSet.from_json(httpx.get(f"{issuer}/jwks").text)
    id_token = jwt.JWT(
        jwt=tokens["id_token"], key=keys, check_claims={"iss": issuer, "aud": CLIENT_ID, "exp": None}
    )
    claims = json.loads(id_token.claims)
    assert claims["nonce"] == request["nonce"] and claims["acr"] == "eidas1"

    info = httpx.get(
        f"{issuer}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).json()
    assert info["sub"] == claims["sub"]
    assert (info["family_name"], info["birthplace"], info["birthcountry"]) == ("KOWALSKI", "", "99122")


def test_codes_are_single_use_and_bound_to_pkce_client_and_redirect_uri(idp):
    issuer = f"{idp}/{CITIZENS}"
    response, request = authorize(issuer, "angela")
    code = callback(response)["code"]

    assert exchange(issuer, code, "wrong-verifier").json()["error"] == "invalid_grant"
    assert exchange(issuer, code, request["verifier"]).json()["error"] == "invalid_grant"  # burnt

    response, request = authorize(issuer, "angela")
    code = callback(response)["code"]
    assert exchange(issuer, code, request["verifier"], auth=(CLIENT_ID, "wrong")).status_code == 401
    assert (
        exchange(issuer, code, request["verifier"], redirect_uri="http://127.0.0.1:9/other").status_code
        == 400
    )


def test_bad_authorization_requests_are_refused(idp):
    issuer = f"{idp}/{CITIZENS}"

    unregistered, _ = authorize(issuer, "angela", redirect_uri="http://127.0.0.1:9/evil")
    assert unregistered.status_code == 400 and unregistered.json()["error"] == "invalid_request"
    for overrides, error in (
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"nonce": None}, "invalid_request"),
        ({"scope": "profile"}, "invalid_scope"),
    ):
        response, request = authorize(issuer, "angela", **overrides)
        answer = callback(response)
        assert answer["error"] == error and answer["state"] == request["state"]


def test_realms_list_their_own_accounts_and_tokens_stay_in_their_realm(idp):
    agents = httpx.get(f"{idp}/{AGENTS}/authorize", params={"client_id": CLIENT_ID, "redirect_uri": REDIRECT,
                       "response_type": "code", "scope": "openid", "state": "s", "nonce": "n" * 22,
                       "code_challenge": pkce()[1], "code_challenge_method": "S256"}).text  # fmt: skip
    assert "camille.agent" in agents and "angela" not in agents

    response, request = authorize(f"{idp}/{COMPANIES}", "claire.dirigeante")
    tokens = exchange(f"{idp}/{COMPANIES}", callback(response)["code"], request["verifier"]).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert httpx.get(f"{idp}/{COMPANIES}/userinfo", headers=bearer).json()["siren"] == "356000000"
    assert httpx.get(f"{idp}/{CITIZENS}/userinfo", headers=bearer).status_code == 401


def test_logout_returns_only_to_a_registered_address(idp):
    ended = httpx.get(
        f"{idp}/{CITIZENS}/session/end", params={"post_logout_redirect_uri": POST_LOGOUT, "state": "s1"}
    )
    evil = httpx.get(
        f"{idp}/{CITIZENS}/session/end", params={"post_logout_redirect_uri": "http://127.0.0.1:9/x"}
    )

    assert ended.status_code == 302 and ended.headers["location"] == f"{POST_LOGOUT}?state=s1"
    assert evil.status_code == 400


def test_the_accounts_cover_the_cases_service_providers_must_handle():
    citizens = [a for a in ACCOUNTS if a.realm == CITIZENS]
    assert len(ACCOUNTS) >= 12
    assert any(" " in a.claims["given_name"] for a in citizens)  # several given names
    assert any("-" in a.claims["given_name"] for a in citizens)  # compound given name
    assert any(a.claims["preferred_username"] for a in citizens)  # usage name
    assert any(a.claims["birthplace"] == "" and a.claims["birthcountry"] != "99100" for a in citizens)
    assert any(a.claims["birthdate"].endswith("-01-01") for a in citizens)  # presumed birthdate
    assert any(a.claims["birthdate"] > "2008" for a in citizens)  # minor
    assert any(a.deceased for a in citizens)
    assert any(a.acr == "eidas2" for a in citizens)
    assert any(a.realm == AGENTS and a.claims.get("siret") for a in ACCOUNTS)
    companies = [a for a in ACCOUNTS if a.realm == COMPANIES]
    assert any(siren.is_valid(a.claims["siren"]) and a.claims["family_name"] for a in companies)
    assert any(not siren.is_valid(a.claims["siren"]) for a in companies)  # refused by Maillage


def test_make_run_registers_maillage_with_a_secret_kept_in_var(tmp_path):
    from platform_core.runner import sandbox_idp_clients

    first = json.loads(sandbox_idp_clients(tmp_path, "http://127.0.0.1:8000/"))
    again = json.loads(sandbox_idp_clients(tmp_path, "http://127.0.0.1:8000"))

    assert first == again and len(first["maillage"]["secret"]) >= 40
    assert first["maillage"]["redirect_uris"] == ["http://127.0.0.1:8000/identite/fi/callback"]
    assert (tmp_path / "idp_client_secret").stat().st_mode & 0o777 == 0o600
