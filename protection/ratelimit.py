"""Quotas for the whole API: one DRF throttle, counted in Django's cache so every process shares it.

Each request to a DRF view is counted against up to two counters of its route group (the view's
``throttle_scope``, "default" when it has none):

- ``client``: the OAuth2 application (``client_id``) when the request carries an access token,
  otherwise the signed-in user (``public_id``); anonymous requests have no client counter;
- ``ip``: the client address, ``REMOTE_ADDR`` unless it is one of RATE_LIMIT_TRUSTED_PROXIES.

Windows are fixed and aligned on the period (a "300/min" counter restarts at every full minute, UTC
epoch), which allows a burst of up to twice the limit across a window boundary: the price of one
atomic ``cache.add`` + ``cache.incr`` per counter, with no clock shared between processes other
than the wall clock. With Redis (REDIS_URL) both are counted at once, by one Lua script for all the
counters of a request: one round trip (Django's own add() and incr() take three per counter), and a
key cannot expire between them. The fallback database cache (no REDIS_URL) is shared by all processes
but its ``incr`` is a read then a write: concurrent requests may be under-counted, never refused
wrongly.

The most constraining counter is kept on the request; ``RateLimitHeadersMiddleware`` writes it as
``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds) on every limited
response, the 429 problem included (its Retry-After comes from DRF's Throttled exception).
"""

import hashlib
import ipaddress
import math
import re
import time
from dataclasses import dataclass
from functools import lru_cache, wraps

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework.throttling import BaseThrottle

DEFAULT_GROUP = "default"
PERIODS = {"s": 1, "min": 60, "h": 3600, "day": 86400}
_RATE = re.compile(r"^([1-9][0-9]*)/(s|min|h|day)$")
# Identifiers used as they are in cache keys; anything else is hashed (keys stay short and clean).
_PLAIN_IDENTIFIER = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


@dataclass(frozen=True)
class Counter:
    kind: str
    limit: int
    count: int
    reset: int  # seconds until the window ends

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit


@lru_cache(maxsize=64)
def parse_rate(rate: str) -> tuple[int, int]:
    """``"300/min"`` → ``(300, 60)``."""
    match = _RATE.match(rate.strip())
    if not match:
        raise ValueError(f"invalid rate {rate!r}: expected N/s, N/min, N/h or N/day")
    return int(match.group(1)), PERIODS[match.group(2)]


def rates_for(group: str) -> dict[str, str]:
    """The rates of a group; kinds it does not set (or an undeclared group) take the default's."""
    limits = settings.RATE_LIMITS
    return {**limits.get(DEFAULT_GROUP, {}), **limits.get(group, {})}


def client_identifier(request) -> str | None:
    # Imported here: this module is loaded with DRF's settings, before the apps registry is ready.
    from oauth2_provider.models import AbstractAccessToken

    if isinstance(request.auth, AbstractAccessToken) and request.auth.application_id:
        return f"app:{request.auth.application.client_id}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{getattr(user, 'public_id', None) or user.pk}"
    return None


def client_ip(request) -> str:
    """REMOTE_ADDR, or behind trusted proxies the last X-Forwarded-For address they did not add."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = _trusted_networks(tuple(settings.RATE_LIMIT_TRUSTED_PROXIES))
    if not proxies or not _is_trusted(remote, proxies):
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for address in reversed([part for part in forwarded if part]):
        if not _is_trusted(address, proxies):
            return address
    return remote


@lru_cache(maxsize=8)
def _trusted_networks(proxies: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _is_trusted(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _key_part(identifier: str) -> str:
    if _PLAIN_IDENTIFIER.match(identifier):
        return identifier
    return hashlib.sha256(identifier.encode()).hexdigest()[:32]


def hit(group: str, kind: str, identifier: str, rate: str, now: float | None = None) -> Counter:
    """Count one request in the current window of this counter and return its state."""
    return hit_all(group, {kind: identifier}, {kind: rate}, now)[0]


def hit_all(group: str, identities: dict, rates: dict, now: float | None = None) -> list[Counter]:
    """Count one request in each counter of ``identities`` (kind: identifier, None for none) that has a
    rate; with Redis in one round trip for all of them."""
    return begin_all(group, identities, rates, now).counters()


def begin_all(group: str, identities: dict, rates: dict, now: float | None = None) -> "Counting":
    """``hit_all``, whose counts are read later: with Redis the command is sent now and its reply read by
    ``counters()``, so that the caller can wait for another server meanwhile (both round trips overlap)."""
    now = time.time() if now is None else now
    windows = []
    for kind, identifier in identities.items():
        if identifier and kind in rates:
            limit, period = parse_rate(rates[kind])
            window = int(now // period)
            key = (
                f"{settings.RATE_LIMIT_CACHE_PREFIX}:{group}:{kind}:{_key_part(identifier)}:{period}:{window}"
            )
            windows.append((kind, limit, period, window, key))
    # A key outlives its window by at most one period.
    return Counting(windows, now, [(key, period + 1) for _kind, _limit, period, _window, key in windows])


class Counting:
    """Counters being counted (``begin_all``). ``counters()`` reads them, once; ``abandon()`` forgets a
    reply never read (the caller failed meanwhile), so that no connection goes back to the pool with an
    unread reply on it."""

    def __init__(self, windows: list, now: float, keys: list[tuple[str, int]]):
        self.windows, self.now = windows, now
        self._counts = None
        self._sent = _send_count(keys) if keys else None
        if self._sent is None:
            self._counts = _count_all(keys)

    def counters(self) -> list[Counter]:
        if self._counts is None:
            sent, self._sent = self._sent, None
            self._counts = sent.reply()
        return [
            Counter(kind=kind, limit=limit, count=count,
                    reset=max(1, math.ceil((window + 1) * period - self.now)))
            for (kind, limit, period, window, _key), count in zip(self.windows, self._counts, strict=True)
        ]  # fmt: skip

    def abandon(self) -> None:
        if self._sent is not None:
            sent, self._sent = self._sent, None
            sent.drop()


def _count_all(keys: list[tuple[str, int]]) -> list[int]:
    """Add one to each counter (key, timeout), created at 0 for ``timeout`` seconds when missing; the new
    counts."""
    if not keys:
        return []
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        names, args, client = _script_call(backend, keys)
        return [int(count) for count in _counting_script(client)(keys=names, args=args, client=client)]
    return [_count(key, timeout) for key, timeout in keys]


def _script_call(backend, keys: list[tuple[str, int]]):
    # The keys as Django's cache names them (prefix, version), and their integers as Django stores them,
    # so that cache.get() reads a counter like any other value. One script for all: atomic as a MULTI
    # block, and a third of its cost (one command to send and one reply to parse).
    names = [backend.make_and_validate_key(key) for key, _timeout in keys]
    return names, [timeout for _key, timeout in keys], backend._cache.get_client(names[0], write=True)


class _SentCount:
    """The counting script sent on a connection of the pool, its reply not read yet."""

    def __init__(self, client, names: list[str], args: list[int]):
        self.client, self.names, self.args = client, names, args
        self.script = _counting_script(client)
        self.pool = client.connection_pool
        self.connection = self.pool.get_connection()
        try:
            self.connection.send_command("EVALSHA", self.script.sha, len(names), *names, *args)
        except BaseException:
            self.drop()
            raise

    def reply(self) -> list[int]:
        try:
            counts = self.connection.read_response()
        except NoScriptError:  # Redis restarted or flushed its scripts: redis-py loads it again
            self.pool.release(self.connection)
            return self._again()
        except (RedisConnectionError, RedisTimeoutError):
            # The connection broke before the reply (Redis restarting, a failover): counted again through
            # redis-py's usual call and its retries (twice, if Redis had run it: a quota errs high).
            self.drop()
            return self._again()
        except BaseException:
            self.drop()
            raise
        self.pool.release(self.connection)
        return [int(count) for count in counts]

    def _again(self) -> list[int]:
        return [int(count) for count in self.script(keys=self.names, args=self.args, client=self.client)]

    def drop(self) -> None:
        # Its reply may still come: the connection is closed rather than reused with it unread.
        self.connection.disconnect()
        self.pool.release(self.connection)


def _send_count(keys: list[tuple[str, int]]) -> "_SentCount | None":
    """The counting script sent to Redis (None with another cache, which counts at once); a connection
    that fails at sending is left to redis-py's retries, through the script's usual call."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if not isinstance(backend, RedisCache):
        return None
    names, args, client = _script_call(backend, keys)
    try:
        return _SentCount(client, names, args)
    except (RedisConnectionError, RedisTimeoutError):
        return None


# For each key: created at 0 for ARGV[i] seconds when missing, then incremented; the new counts.
_COUNT_LUA = """
local counts = {}
for i, key in ipairs(KEYS) do
  redis.call('SET', key, 0, 'EX', ARGV[i], 'NX')
  counts[i] = redis.call('INCR', key)
end
return counts
"""
_script = None


def _counting_script(client):
    """The script, registered once per process (EVALSHA, loaded again by redis-py if Redis lost it)."""
    global _script
    if _script is None:
        _script = client.register_script(_COUNT_LUA)
    return _script


def _count(key: str, timeout: int) -> int:
    """Add one to the counter ``key`` in a cache other than Redis (see the module's docstring)."""
    cache.add(key, 0, timeout=timeout)  # a no-op when it already exists
    try:
        return cache.incr(key)
    except ValueError:  # expired (or evicted) between add and incr: this request opens it again
        cache.set(key, 1, timeout=timeout)
        return 1


def most_constraining(counters: list[Counter]) -> Counter:
    exceeded = [counter for counter in counters if counter.exceeded]
    if exceeded:
        return max(exceeded, key=lambda counter: counter.reset)
    return min(counters, key=lambda counter: (counter.remaining, -counter.reset))


class RateLimitThrottle(BaseThrottle):
    """The API's only throttle (REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"])."""

    def allow_request(self, request, view) -> bool:
        group = getattr(view, "throttle_scope", None) or DEFAULT_GROUP
        rates = rates_for(group)
        identities = {"client": client_identifier(request), "ip": client_ip(request)}
        counters = hit_all(group, identities, rates)
        if not counters:
            return True
        self.counter = most_constraining(counters)
        # On the Django request: the middleware sees it, whatever DRF's Request wrapper does.
        request._request.rate_limit = self.counter
        return not self.counter.exceeded

    def wait(self) -> float | None:
        return self.counter.reset


class RateLimitHeadersMiddleware:
    """Writes the RateLimit-* headers of the counter the throttle kept (success and 429 alike)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        counter = getattr(request, "rate_limit", None)
        if counter is not None:
            response["RateLimit-Limit"] = str(counter.limit)
            response["RateLimit-Remaining"] = str(counter.remaining)
            response["RateLimit-Reset"] = str(counter.reset)
        return response


class Along:
    """What ``along(request)`` returned or raised, for the view to take with ``get()``."""

    __slots__ = ("value", "error", "started")

    def __init__(self, work, request):
        self.value = self.error = None
        self.started = time.monotonic()  # when the work began (time.monotonic())
        try:
            self.value = work(request)
        except Exception as error:  # the view's to handle, as if it had called work() itself
            self.error = error

    def get(self):
        if self.error is not None:
            raise self.error
        return self.value


def rate_limited(group: str, *, client=None, refusal=None, along=None):
    """The same quotas for views outside DRF: over the limit, a readable 429 page with Retry-After
    (or ``refusal(request)``'s answer, e.g. JSON for OAuth endpoints); the RateLimit-* headers either
    way (RateLimitHeadersMiddleware). ``client(request)`` names the client counter's identity (the
    signed-in user by default).

    ``along(request)``: the view's first read, done while Redis counts (its round trip and the read's
    overlap; a refused request has then cost that read too), given to the view as ``along=``, an Along,
    and to ``refusal(request, along)``."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            rates = rates_for(group)
            user = getattr(request, "user", None)
            identities = {
                "client": client(request)
                if client is not None
                else (str(user.public_id) if user is not None and user.is_authenticated else None),
                "ip": client_ip(request),
            }
            counting = begin_all(group, identities, rates)
            if along is not None:
                try:
                    kwargs["along"] = Along(along, request)
                except BaseException:
                    counting.abandon()
                    raise
            counters = counting.counters()
            if counters:
                request.rate_limit = most_constraining(counters)
                if request.rate_limit.exceeded and refusal is not None:
                    response = refusal(request, kwargs["along"]) if along is not None else refusal(request)
                    response["Retry-After"] = str(request.rate_limit.reset)
                    return response
                if request.rate_limit.exceeded:
                    page = {
                        "status": 429,
                        "title": _("Trop de tentatives"),
                        "lead": _("Vous avez fait trop de demandes en peu de temps."),
                        "explanation": _("Patientez un peu avant de réessayer."),
                        "pictogram": "system/warning",
                    }
                    response = render(request, "errors/error.html", page, status=429)
                    response["Retry-After"] = str(request.rate_limit.reset)
                    return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
