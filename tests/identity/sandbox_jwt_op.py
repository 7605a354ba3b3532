"""The sandbox identity provider answering userinfo as a signed JWT, as FranceConnect v2 and Maillage's
own provider do, for the demo service provider's tests
(``gunicorn tests.identity.sandbox_jwt_op:application``).

``POST /_mode`` (body: a mode name) makes it misbehave on purpose until the next switch: ``signed`` (the
default), ``json``, ``wrong-sub``, ``foreign-key``, ``text``, and the ID token ones (``ID_TOKEN_MODES``:
HS256, another audience, issuer or nonce, a foreign key, an unknown kid, expired, unsigned).
"""

import base64
import json
import os

from jwcrypto import jwk, jwt

from identity.sandbox_idp.app import SandboxProvider, clients_from_json, load_key

ID_TOKEN_MODES = {
    "id-token-hs256", "id-token-audience", "id-token-issuer", "id-token-nonce", "id-token-foreign-key",
    "id-token-unknown-kid", "id-token-expired", "id-token-unsigned",
}  # fmt: skip
MODES = {"signed", "json", "wrong-sub", "foreign-key", "text", *ID_TOKEN_MODES}


class MisbehavingProvider(SandboxProvider):
    mode = "signed"

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/_mode" and environ["REQUEST_METHOD"] == "POST":
            mode = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)).decode()
            status = "204 No Content" if mode in MODES else "400 Bad Request"
            if mode in MODES:
                self.mode = mode
            start_response(status, [])
            return [b""]
        return super().__call__(environ, start_response)

    def _sign(self, claims: dict, key: jwk.JWK, alg: str) -> str:
        token = jwt.JWT(header={"alg": alg, "kid": key.get("kid", ""), "typ": "JWT"}, claims=claims)
        token.make_signed_token(key)
        return token.serialize()

    def token(self, realm, environ):
        status, headers, body = super().token(realm, environ)
        if status != 200 or self.mode not in ID_TOKEN_MODES:
            return status, headers, body
        answer = json.loads(body)
        claims = json.loads(jwt.JWT(jwt=answer["id_token"], key=self.key).claims)
        if self.mode == "id-token-hs256":
            # The classic confusion: an HMAC "signature" keyed with something the attacker knows.
            secret = next(iter(self.clients.values())).secret
            key = jwk.JWK.from_password(secret)
            key.update(kid=self.key["kid"])
            answer["id_token"] = self._sign(claims, key, "HS256")
        elif self.mode == "id-token-audience":
            answer["id_token"] = self._sign({**claims, "aud": "another-service"}, self.key, self.alg)
        elif self.mode == "id-token-issuer":
            answer["id_token"] = self._sign({**claims, "iss": "https://fi.example/other"}, self.key, self.alg)
        elif self.mode == "id-token-nonce":
            answer["id_token"] = self._sign({**claims, "nonce": "not-the-one-sent"}, self.key, self.alg)
        elif self.mode == "id-token-expired":
            expired = {**claims, "iat": claims["iat"] - 7200, "exp": claims["iat"] - 3600}
            answer["id_token"] = self._sign(expired, self.key, self.alg)
        elif self.mode in {"id-token-foreign-key", "id-token-unknown-kid"}:
            foreign = jwk.JWK.generate(kty="EC", crv="P-256")
            same_kid = self.mode == "id-token-foreign-key"
            foreign.update(kid=self.key["kid"] if same_kid else "unknown-kid")
            answer["id_token"] = self._sign(claims, foreign, "ES256")
        else:  # unsigned ("alg": "none")
            header = json.dumps({"alg": "none", "typ": "JWT"}).encode()
            parts = [base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in
                     (header, json.dumps(claims).encode())]  # fmt: skip
            answer["id_token"] = ".".join([*parts, ""])
        return status, headers, json.dumps(answer).encode()

    def userinfo(self, realm, environ):
        status, headers, body = super().userinfo(realm, environ)
        if status != 200 or self.mode == "json":
            return status, headers, body
        if self.mode == "text":
            return status, [("Content-Type", "text/plain")], body
        claims = {**json.loads(body), "iss": self.issuer(realm), "aud": next(iter(self.clients))}
        key, alg = self.key, self.alg
        if self.mode == "wrong-sub":
            claims["sub"] = "someone-else"
        elif self.mode == "foreign-key":
            key = jwk.JWK.generate(kty="EC", crv="P-256")
            key.update(kid=self.key["kid"])
            alg = "ES256"
        return status, [("Content-Type", "application/jwt")], self._sign(claims, key, alg).encode()


def application_from_env() -> MisbehavingProvider:
    alg = os.environ.get("SANDBOX_IDP_ALG", "ES256")
    return MisbehavingProvider(
        os.environ["SANDBOX_IDP_PUBLIC_URL"],
        clients_from_json(os.environ["SANDBOX_IDP_CLIENTS"]),
        load_key(os.environ.get("SANDBOX_IDP_KEY_FILE"), alg),
    )


application = application_from_env()
