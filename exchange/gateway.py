"""The exchange gateway, ``/api/v1/gateway/{api}/{path}``: every call is checked against its contract,
forwarded to the provider, masked to the granted fields and journaled.

In order: the quota (counted in Redis while PostgreSQL reads the token's credential and the person: both
round trips overlap) → the bearer token (client credentials) → its credential (usable, address allowed)
→ the API is the authorization's → ``recipient`` (the consumer's SIRET or one of the authorization's
recipients) and ``purpose`` (the authorization's or the habilitation's public id) → the upstream call
(pooled connections, 10 s) → the answer reduced to the fields of the token's scopes. Refusals are
problem+json and journaled as refused (over the quota, the first refusal of each window); the person
concerned (designated by the pivot identity parameters) is journaled by pseudonym, the citizen's own
when Maillage knows them.
"""

import atexit
import hashlib
import json
import re
import threading
import time
from urllib.parse import quote, urlencode

import httpcore
from django.http import JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from exchange import events
from exchange.models import ApiProduct, Credential, UpstreamAuth
from exchange.oauth import address_allowed
from exchange.services import credential_usable
from exchange.token_cache import KEEPS_GRANTED_FIELDS, token_lookup
from platform_core.api.errors import problem_response
from platform_core.exceptions import DomainError
from protection import journal
from protection.pseudonyms import pseudonym_for
from protection.ratelimit import client_ip, rate_limited
from protection.selectors import pivot_identifier

# connect 3 s, then 10 s for each of the rest (httpcore's timeouts: seconds per phase).
UPSTREAM_TIMEOUTS = {"connect": 3.0, "read": 10.0, "write": 10.0, "pool": 10.0}
# The pivot identity parameters that designate the person a call is about (API Particulier style).
CONTEXT_PARAMETERS = ("recipient", "purpose", "case_id")
# What may stay as it is in a path forwarded to a provider (RFC 3986 pchar and "/"); the rest is escaped.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_pool: httpcore.ConnectionPool | None = None
_lock = threading.Lock()


def upstream() -> httpcore.ConnectionPool:
    """One pool per process: connections to providers are reused across calls.

    httpcore, httpx's own transport, rather than an httpx.Client: the gateway needs none of what the
    client adds (URL model, cookies, redirects, authentication flows, content decoding), which cost
    about half a millisecond per call, a sixth of the gateway's own budget. With no cookie jar, a
    provider's Set-Cookie is never replayed on another consumer's call; no redirect is ever followed."""
    global _pool
    if _pool is None:
        with _lock:
            if _pool is None:
                _pool = httpcore.ConnectionPool(max_connections=100, max_keepalive_connections=20)
                atexit.register(_pool.close)  # its pooled connections, closed cleanly
    return _pool


class GatewayRefusal(DomainError):
    code = "gateway-refused"
    status = 403
    title = _("Appel refusé par la passerelle")


class GatewayUnauthenticated(GatewayRefusal):
    code = "gateway-unauthenticated"
    status = 401
    title = _("Identifiant d'accès absent ou invalide")


class CitizenToken(GatewayUnauthenticated):
    """The bearer token is a person's, issued to a service provider at sign-in ("dites-le-nous une fois",
    exchange/citizen.py), not a consumer credential's."""

    def __init__(self, access):
        super().__init__(str(_("Ce jeton n'est pas celui d'un identifiant d'accès.")))
        self.access = access


class GatewayContext(GatewayRefusal):
    code = "gateway-context"
    status = 400
    title = _("Contexte de l'appel invalide")
    description = _("recipient (SIRET destinataire) et purpose (référence de l'habilitation) sont requis.")


class UpstreamFailure(GatewayRefusal):
    code = "upstream-failure"
    status = 502
    title = _("Le fournisseur de données a mal répondu")


class UpstreamNotFound(GatewayRefusal):
    code = "upstream-not-found"
    status = 404
    title = _("Le fournisseur n'a pas de données pour cette demande")


class UpstreamRejected(GatewayRefusal):
    code = "upstream-rejected"
    status = 400
    title = _("Le fournisseur a refusé la demande")


class UpstreamTimeout(GatewayRefusal):
    code = "upstream-timeout"
    status = 504
    title = _("Le fournisseur de données ne répond pas")


def _credential_for(request) -> tuple[Credential, list[str]]:
    credential, scopes, _rows = _credential_with(request)
    return credential, scopes


def _credential_with(request, along=()) -> tuple[Credential, list[str], list]:
    """The request's credential and the scopes its token grants, and the rows of the ``along`` reads
    (``(sql, params)``), read in the same round trip as the token's versions."""
    scheme, _space, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise GatewayUnauthenticated(str(_("Envoyez un jeton d'accès (Authorization: Bearer).")))
    from oauth2_provider.models import AccessToken

    checksum = hashlib.sha256(value.strip().encode()).hexdigest()
    # The token and the credential it was issued to, with what the checks below read, in one query; kept
    # in the process while none of those rows changes (exchange/token_cache.py: revocation still counts).
    credential_path = "application__exchange_credential"
    access, rows = token_lookup(
        checksum,
        lambda: (
            AccessToken.objects.filter(token_checksum=checksum)
            .select_related(
                f"{credential_path}__authorization__consumer",
                f"{credential_path}__habilitation__consumer",
                f"{credential_path}__habilitation__api__provider",
            )
            .first()
        ),
        along=along,
    )
    if access is None or access.is_expired():
        raise GatewayUnauthenticated(str(_("Jeton d'accès inconnu ou expiré.")))
    credential = getattr(access.application, "exchange_credential", None)
    if credential is None and access.user_id is not None:
        raise CitizenToken(access)
    if credential is None or not credential_usable(credential):
        raise GatewayUnauthenticated(str(_("Cet identifiant d'accès n'est pas (ou plus) valide.")))
    if not address_allowed(credential, client_ip(request)):
        raise GatewayRefusal(str(_("Cette adresse n'est pas autorisée pour cet identifiant d'accès.")))
    scopes = sorted(set(access.scope.split()) & set(credential.authorization.scopes))
    return credential, scopes, rows


def _check_context(request, credential: Credential) -> dict:
    get = request.GET.get
    return check_context(credential, recipient=get("recipient", ""), purpose=get("purpose", ""),
                         case_id=get("case_id", ""))  # fmt: skip


def check_context(credential: Credential, *, recipient: str, purpose: str, case_id: str = "") -> dict:
    """The call's context, checked against the credential's contract (also a batch's, exchange/batches.py)."""
    return contract_context(credential.authorization, credential.habilitation.public_id, recipient=recipient,
                            purpose=purpose, case_id=case_id)  # fmt: skip


def contract_context(
    authorization, habilitation_public_id, *, recipient: str, purpose: str, case_id: str = "", errors=None
) -> dict:
    """``recipient`` (the consumer's SIRET or one of the authorization's recipients) and ``purpose`` (the
    authorization's or the habilitation's id) against the contract; GatewayContext names every fault,
    ``errors`` (the caller's own) included."""
    recipient = recipient.replace(" ", "")
    purpose = purpose.strip()
    errors = list(errors or [])
    if not recipient:
        errors.append(
            {"field": "recipient", "code": "required", "message": str(_("SIRET destinataire requis."))}
        )
    elif recipient != authorization.consumer.siret and recipient not in authorization.recipients:
        errors.append({"field": "recipient", "code": "not_allowed",
                       "message": str(_("Ce destinataire n'est pas prévu par l'habilitation."))})  # fmt: skip
    references = {str(authorization.public_id), str(habilitation_public_id)}
    if not purpose:
        message = str(_("Référence de l'habilitation requise."))
        errors.append({"field": "purpose", "code": "required", "message": message})
    elif purpose not in references:
        message = str(_("purpose doit être l'identifiant de l'habilitation ou de l'autorisation."))
        errors.append({"field": "purpose", "code": "not_allowed", "message": message})
    if errors:
        raise GatewayContext(str(_("Contexte de l'appel invalide.")), errors=errors)
    return {"recipient": recipient, "purpose": purpose, "case_id": case_id[:100]}


def _person(digest: str, citizen_public_id) -> object:
    """The pseudonym of the person a call is about (``digest``: of their pivot identity): the citizen's
    own when Maillage knows them, else one derived from the identity; their dashboard lists both
    (protection.selectors.person_identifiers)."""
    return pseudonym_for(str(citizen_public_id) if citizen_public_id else pivot_identifier(digest))


def person_pseudonyms(params_list) -> list:
    """The pseudonyms (``_person``) of many calls' persons with one query (batch items)."""
    from identity.selectors import citizen_public_ids

    digests = [_pivot_digest(params) for params in params_list]
    citizens = citizen_public_ids({digest for digest in digests if digest})
    return [None if digest is None else _person(digest, citizens.get(digest)) for digest in digests]


def _pivot_digest(params) -> str | None:
    from identity.pivot import PivotIdentityError, identity_hash, normalise

    if not params.get("nomNaissance"):
        return None
    claims = {
        "family_name": params.get("nomNaissance", ""),
        "given_name": " ".join(params.getlist("prenoms")),
        "birthdate": params.get("dateNaissance", ""),
        "gender": {"M": "male", "F": "female"}.get(params.get("sexe", ""), params.get("sexe", "")),
        "birthplace": params.get("codeLieuNaissance", ""),
        "birthcountry": params.get("codePaysNaissance", ""),
    }
    try:
        return identity_hash(normalise(claims))
    except PivotIdentityError:
        return None


def _upstream_headers(api: ApiProduct, request_id: str) -> dict:
    # No content coding: the answer is read as it comes, without decompression.
    headers = {"Accept": "application/json", "Accept-Encoding": "identity", "X-Request-ID": request_id}
    if api.upstream_auth == UpstreamAuth.BEARER and api.upstream_secret:
        headers["Authorization"] = f"Bearer {api.upstream_secret}"
    elif api.upstream_auth == UpstreamAuth.API_KEY and api.upstream_secret:
        headers[api.upstream_header or "X-Api-Key"] = api.upstream_secret
    return headers


def _masked(body, fields: set[str]):
    if isinstance(body, dict):
        return {key: value for key, value in body.items() if key in fields or key == "id"}
    return body


def _refused(request, error: DomainError, credential=None, api_slug="", started=None, extra=None):
    return refusal(
        request,
        error,
        actor=credential.application if credential else None,
        organisation=credential.habilitation.consumer if credential else None,
        contract=credential.authorization if credential else None,
        api=api_slug,
        started=started,
        extra=extra,
    )


def refusal(
    request,
    error: DomainError,
    *,
    actor,
    organisation,
    contract,
    api: str,
    started=None,
    person=None,
    extra=None,
):
    """A refused call: journaled as such in its contract, answered as problem+json."""
    journal.record(
        events.GATEWAY_CALL.code,
        actor=actor,
        organisation=organisation,
        contract=contract,
        subject=person,
        outcome="failure",
        data={"api": api, "reason": error.code, "status": error.status,
              "latency_ms": round((time.monotonic() - started) * 1000) if started else 0, **(extra or {})},
    )  # fmt: skip
    return problem_response(request, error.status, error.code, error.detail, errors=error.errors)


def _client_of(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    return hashlib.sha256(header.encode()).hexdigest()[:32] if header else None


class GatewayThrottled(GatewayRefusal):
    code = "throttled"
    status = 429
    title = _("Trop de requêtes")


def _too_many(request, along):
    """Over the quota: 429. The first refused call of each window of a counter is journaled as refused,
    under its contract when the token is a credential's; the calls refused after it in the same window
    are not, so that a client looping on 429 cannot turn the quota into a write load on the journal
    (those it counted are still in Redis until the window ends)."""
    counter = request.rate_limit
    detail = str(_("Quota d'appels atteint : réessayez dans %(seconds)s s.")
                 % {"seconds": counter.reset})  # fmt: skip
    if counter.count != counter.limit + 1:
        return problem_response(request, 429, "throttled", detail)
    # _reads gave (digest, (credential, scopes, rows)), or raised: no credential to name
    credential = None if along.error is not None else along.value[1][0]
    api = request.resolver_match.kwargs.get("api", "") if request.resolver_match else ""
    return _refused(request, GatewayThrottled(detail), credential, api, along.started,
                    extra={"quota": counter.kind, "limit": counter.limit})  # fmt: skip


def granted_fields(product: ApiProduct, scopes: list[str]) -> set[str]:
    # Remembered on a product token_cache keeps (the versions it checks include the scopes' rows).
    memo = product.__dict__.get(KEEPS_GRANTED_FIELDS)
    key = tuple(scopes)
    if memo is None or key not in memo:
        fields = frozenset(
            field for scope in product.scopes.filter(code__in=scopes) for field in scope.fields
        )
        if memo is None:
            return set(fields)
        memo[key] = fields
    return set(memo[key])


class GatewayPath(GatewayRefusal):
    code = "gateway-path"
    status = 400
    title = _("Chemin invalide")
    description = _("Le chemin après l'API ne peut pas contenir de segment « . » ou « .. ».")


def has_dot_segment(path: str) -> bool:
    return any(segment in (".", "..") for segment in path.split("/"))


def upstream_url(product: ApiProduct, path: str, query: list[tuple[str, str]]) -> str:
    """The provider's URL of a call: the path stays under the API's base URL (no dot segment, which a
    provider would resolve to another of its APIs, called with this one's secret), escaped as needed."""
    if has_dot_segment(path):
        raise GatewayPath(str(GatewayPath.description))
    url = f"{product.upstream_base_url.rstrip('/')}/{quote(path.lstrip('/'), safe=_PATH_SAFE)}"
    return f"{url}?{urlencode(query, quote_via=quote)}" if query else url


def forward(product: ApiProduct, path: str, query: list[tuple[str, str]], request_id: str = ""):
    """One call to the provider with the pooled connections: ``(status, JSON body)``; upstream faults
    (unreachable, silent for 10 s, 5xx, not JSON) raise UpstreamFailure or UpstreamTimeout."""
    url = upstream_url(product, path, query)
    headers = _upstream_headers(product, request_id)
    try:
        answer = upstream().request("GET", url, headers=headers, extensions={"timeout": UPSTREAM_TIMEOUTS})
    except httpcore.TimeoutException:
        raise UpstreamTimeout(str(_("Le fournisseur n'a pas répondu dans les 10 secondes."))) from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, httpcore.ProxyError):
        raise UpstreamFailure(str(_("Le fournisseur est injoignable."))) from None
    if answer.status >= 500:
        detail = _("Le fournisseur a répondu par une erreur (%(status)s).") % {"status": answer.status}
        raise UpstreamFailure(str(detail))
    try:
        return answer.status, json.loads(answer.content)
    except ValueError:  # UnicodeDecodeError included
        raise UpstreamFailure(str(_("Le fournisseur a répondu autre chose que du JSON."))) from None


def answer_for(status: int, body, fields: set[str]):
    """What the consumer receives: a success reduced to the granted fields; an error as it came."""
    return _masked(body, fields) if status < 400 else body


def journal_exchange(
    credential: Credential,
    *,
    person,
    status: int,
    answer,
    context: dict,
    latency_ms: int,
    api: str,
    extra: dict | None = None,
) -> None:
    """The exchange of a consumer credential, journaled for the person it was about."""
    record_exchange(credential.application, credential.authorization, title=credential.habilitation.title,
                    person=person, status=status, answer=answer, context=context, latency_ms=latency_ms,
                    api=api, extra=extra)  # fmt: skip


def record_exchange(
    actor,
    authorization,
    *,
    title,
    person,
    status: int,
    answer,
    context: dict,
    latency_ms: int,
    api: str,
    extra: dict | None = None,
) -> None:
    """The exchange, journaled under its contract for the person it was about (their dashboard lists it)."""
    journal.record(
        events.GATEWAY_CALL.code,
        actor=actor,
        organisation=authorization.consumer,
        contract=authorization,
        subject=person,
        purpose=str(title)[:200],
        outcome="success" if status < 400 else "failure",
        data={
            "api": api,
            "status": status,
            "fields": sorted(answer) if status < 400 and isinstance(answer, dict) else [],
            "recipient": context["recipient"],
            "case_id": context["case_id"],
            "latency_ms": latency_ms,
            **(extra or {}),
        },
    )  # fmt: skip


def _reads(request):
    """A call's reads, done while Redis counts its quota: the token's credential and, in the same round
    trip to PostgreSQL, the person the call is about."""
    from identity.selectors import citizen_query

    digest = _pivot_digest(request.GET)
    return digest, _credential_with(request, (citizen_query(digest),) if digest else ())


@csrf_exempt
@require_GET
@rate_limited("gateway", client=_client_of, refusal=_too_many, along=_reads)
def gateway(request, api: str, path: str = "", *, along):
    from identity.selectors import citizen_from_rows

    started = along.started
    credential = None
    try:
        try:
            digest, (credential, scopes, rows) = along.get()
        except CitizenToken as presented:
            from exchange.citizen import citizen_call

            return citizen_call(request, presented.access, api, path, started)
        product = credential.habilitation.api
        if product.slug != api:
            raise GatewayRefusal(str(_("Cet identifiant d'accès ne donne pas accès à cette API.")))
        if not scopes:
            raise GatewayRefusal(str(_("Le jeton ne porte aucun scope de cette habilitation.")))
        context = _check_context(request, credential)
        query = [
            (key, item)
            for key, values in request.GET.lists()
            if key not in CONTEXT_PARAMETERS
            for item in values
        ]
        status, body = forward(product, path, query, getattr(request, "request_id", "") or "")
    except DomainError as error:
        return _refused(request, error, credential, api, started)
    answer = answer_for(status, body, granted_fields(product, scopes))
    journal_exchange(
        credential,
        person=None if digest is None else _person(digest, citizen_from_rows(rows[0])),
        status=status,
        answer=answer,
        context=context,
        latency_ms=round((time.monotonic() - started) * 1000),
        api=product.slug,
    )
    return exchange_response(request, status, answer)


def exchange_response(request, status: int, answer):
    """The consumer's answer: the granted fields, or the provider's refusal as problem+json like every
    error of the API. A provider refusing Maillage itself (401, 403, 429…) is a 502 for the consumer."""
    if status < 400:
        response = JsonResponse(answer, status=status, safe=False)
    else:
        body = answer if isinstance(answer, dict) else {}
        detail = body.get("detail") if isinstance(body.get("detail"), str) else ""
        # A code, not text: only these characters reach a header and the problem's errors.
        reason = re.sub(r"[^A-Za-z0-9_.-]", "", str(body.get("reason") or body.get("error") or ""))[:64]
        parameter = body.get("parameter") if isinstance(body.get("parameter"), str) else ""
        if status == 404:
            error = UpstreamNotFound(detail[:300] or str(UpstreamNotFound.title))
        elif status in (400, 422):
            errors = [{"field": parameter[:64], "code": reason or "invalid", "message": detail[:300]}]
            error = UpstreamRejected(
                detail[:300] or str(UpstreamRejected.title), errors=errors if parameter else None
            )
        else:
            error = UpstreamFailure(
                str(_("Le fournisseur a refusé l'accès de Maillage (%(status)s).") % {"status": status})
            )
        response = problem_response(request, error.status, error.code, error.detail, errors=error.errors)
        if reason:
            # The provider's own reason (unknown_person, no_data…), for clients to branch on.
            response["X-Upstream-Reason"] = reason
    response["Cache-Control"] = "no-store"
    return response
