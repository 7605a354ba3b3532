"""Consumers' credentials on Maillage's OAuth server: the client credentials grant of exchange/models.
Credential, layered on the identity provider's validator (identity/op.py), which knows nothing of
the exchange hub (identity never imports exchange).

A credential authenticates with one of its valid secrets (two during a rotation's grace period), only
while it is usable (not revoked, not expired, its authorization active) and from an allowed address;
the scopes it may get are its authorization's.
"""

import ipaddress
from types import SimpleNamespace

from exchange import events
from exchange.models import Credential
from exchange.services import credential_secret_matches, credential_usable
from identity import op
from protection import journal
from protection.ratelimit import client_ip


def _credential_of(application) -> Credential | None:
    if application is None:
        return None
    return (
        Credential.objects.select_related("authorization", "habilitation__api", "habilitation__consumer")
        .filter(application=application)
        .first()
    )


def address_allowed(credential: Credential, address: str) -> bool:
    if not credential.ip_allowlist:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in credential.ip_allowlist)


class ExchangeValidator(op.MaillageValidator):
    def _presented(self, request) -> tuple[str, str] | None:
        """(client_id, secret) from HTTP Basic, or else from the body."""
        basic = self._extract_basic_auth(request)
        if basic:
            return op.basic_credentials(basic)
        client_id, secret = getattr(request, "client_id", None), getattr(request, "client_secret", None)
        return (client_id, secret) if client_id and secret else None

    def authenticate_client(self, request, *args, **kwargs):
        presented = self._presented(request)
        if presented is not None and request.grant_type == "client_credentials":
            client_id, secret = presented
            if self._load_application(client_id, request) is None:
                return False
            credential = _credential_of(request.client)
            if credential is None:
                return False
            # oauthlib's request carries the WSGI environment (REMOTE_ADDR, X-Forwarded-For) as headers.
            address = client_ip(SimpleNamespace(META=dict(request.headers)))
            if not (
                credential_usable(credential)
                and credential_secret_matches(credential, secret)
                and address_allowed(credential, address)
            ):
                return False
            request.exchange_credential = credential
            return True
        return super().authenticate_client(request, *args, **kwargs)

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        credential = getattr(request, "exchange_credential", None)
        if credential is not None:
            return set(scopes) <= set(credential.authorization.scopes)
        return super().validate_scopes(client_id, scopes, client, request, *args, **kwargs)

    def get_default_scopes(self, client_id, request, *args, **kwargs):
        credential = getattr(request, "exchange_credential", None)
        if credential is not None:
            return list(credential.authorization.scopes)
        return super().get_default_scopes(client_id, request, *args, **kwargs)

    def _save_bearer_token(self, token, request, *args, **kwargs):
        super()._save_bearer_token(token, request, *args, **kwargs)
        credential = getattr(request, "exchange_credential", None)
        if credential is not None:
            journal.record(
                events.CREDENTIAL_ACCESS_GRANTED.code,
                actor=request.client,
                organisation=credential.habilitation.consumer,
                contract=credential.authorization,
                data={"client_id": credential.client_id, "scopes": sorted(request.scopes)},
            )


class Scopes(op.Scopes):
    """A credential may get its authorization's scopes. (All scopes stay the identity ones: the exchange
    scopes live in the database, and the API schema lists these without a query.)"""

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        credential = _credential_of(application)
        if credential is not None:
            return list(credential.authorization.scopes)
        return super().get_available_scopes(application, request, *args, **kwargs)
