"""API quotas: per IP, per client and per route group, counted in Redis, announced in RateLimit-* headers.

Each test counts under a key prefix of its own, so counters never leak between tests (they also expire
with their window). Limits are per day so that no window boundary falls inside a test in practice.
"""

import json
import os
import socket
import subprocess
import sys
import uuid

import pytest
import redis
from django.conf import settings as django_settings
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from tests.factories import UserFactory
from tests.platform_core.test_configuration import BASE_DIR, start_django

pytestmark = pytest.mark.django_db

ORGANISATIONS = "/api/v1/organisations/"
EXPORTS = "/api/test/exports"
DAY = 86_400


class ExportsApi(APIView):
    """A route of another group, mounted for these tests only."""

    permission_classes = [AllowAny]
    throttle_scope = "exports"

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("api/test/exports", ExportsApi.as_view()), path("", include("platform_core.urls"))]


@pytest.fixture
def limits(settings):
    """Returns a setter of RATE_LIMITS; the counters of this test live under their own prefix."""
    assert "RedisCache" in settings.CACHES["default"]["BACKEND"], (
        "these tests need the real Redis (REDIS_URL)"
    )
    settings.RATE_LIMIT_CACHE_PREFIX = f"test-ratelimit-{uuid.uuid4().hex}"

    def set_limits(**groups):
        settings.RATE_LIMITS = groups

    return set_limits


def rate_headers(response) -> tuple[int, int, int]:
    return (
        int(response["RateLimit-Limit"]),
        int(response["RateLimit-Remaining"]),
        int(response["RateLimit-Reset"]),
    )


def test_every_api_response_carries_the_rate_limit_headers_and_remaining_decreases(client, limits):
    limits(default={"client": "100/day", "ip": "5/day"})

    responses = [client.get(ORGANISATIONS, REMOTE_ADDR="10.1.0.1") for _ in range(3)]

    assert [response.status_code for response in responses] == [200, 200, 200]
    assert [rate_headers(response)[:2] for response in responses] == [(5, 4), (5, 3), (5, 2)]
    assert all(0 < rate_headers(response)[2] <= DAY for response in responses)


def test_over_the_limit_is_a_429_problem_with_retry_after_and_rate_limit_headers(client, limits):
    limits(default={"ip": "2/day"})

    for _ in range(2):
        assert client.get(ORGANISATIONS, REMOTE_ADDR="10.1.0.2").status_code == 200
    response = client.get(ORGANISATIONS, REMOTE_ADDR="10.1.0.2")

    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    problem = json.loads(response.content)
    assert problem["type"].endswith("/api/problems/throttled")
    assert problem["status"] == 429
    limit, remaining, reset = rate_headers(response)
    assert (limit, remaining) == (2, 0)
    assert 0 < reset <= DAY
    assert int(response["Retry-After"]) == reset


def test_each_ip_has_its_own_counter_and_x_forwarded_for_is_not_believed_by_default(client, limits):
    limits(default={"ip": "1/day"})

    assert client.get(ORGANISATIONS, REMOTE_ADDR="10.1.0.3").status_code == 200
    spoofed = client.get(ORGANISATIONS, REMOTE_ADDR="10.1.0.3", HTTP_X_FORWARDED_FOR="192.0.2.77")
    other_ip = client.get(ORGANISATIONS, REMOTE_ADDR="10.1.0.4")

    assert spoofed.status_code == 429
    assert other_ip.status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(client, limits, settings):
    limits(default={"ip": "1/day"})
    settings.RATE_LIMIT_TRUSTED_PROXIES = ["10.2.0.0/16"]

    first = client.get(ORGANISATIONS, REMOTE_ADDR="10.2.0.1", HTTP_X_FORWARDED_FOR="192.0.2.1, 10.2.0.9")
    same_client = client.get(ORGANISATIONS, REMOTE_ADDR="10.2.0.2", HTTP_X_FORWARDED_FOR="192.0.2.1")
    other_client = client.get(ORGANISATIONS, REMOTE_ADDR="10.2.0.1", HTTP_X_FORWARDED_FOR="192.0.2.2")

    assert [first.status_code, same_client.status_code, other_client.status_code] == [200, 429, 200]


def test_each_signed_in_client_has_its_own_counter(client, limits):
    limits(default={"client": "2/day", "ip": "100/day"})
    camille, dominique = UserFactory(), UserFactory()

    client.force_login(camille)
    camille_statuses = [client.get(ORGANISATIONS, REMOTE_ADDR="10.1.0.5").status_code for _ in range(3)]
    client.force_login(dominique)
    dominique_response = client.get(ORGANISATIONS, REMOTE_ADDR="10.1.0.5")

    assert camille_statuses == [200, 200, 429]
    assert dominique_response.status_code == 200
    assert rate_headers(dominique_response)[:2] == (2, 1)  # the client counter is the tighter one


@pytest.mark.urls(__name__)
def test_each_route_group_has_its_own_limits_and_counters(client, limits):
    limits(default={"ip": "1/day"}, exports={"ip": "3/day"})

    organisations = [client.get(ORGANISATIONS, REMOTE_ADDR="10.1.0.6").status_code for _ in range(2)]
    exports = [client.get(EXPORTS, REMOTE_ADDR="10.1.0.6") for _ in range(4)]

    assert organisations == [200, 429]
    assert [response.status_code for response in exports] == [200, 200, 200, 429]
    assert [rate_headers(response)[:2] for response in exports] == [(3, 2), (3, 1), (3, 0), (3, 0)]


def test_operations_endpoints_are_not_rate_limited(client, limits):
    limits(default={"client": "1/day", "ip": "1/day"})

    responses = [client.get(url, REMOTE_ADDR="127.0.0.1") for url in ["/healthz", "/metrics"] * 3]

    assert all(response.status_code != 429 for response in responses)
    assert all("RateLimit-Limit" not in response for response in responses)


# The other process asks through Django's test client, with the settings read from its environment.
OTHER_PROCESS = """
from django.conf import settings
from django.test import Client

settings.RATE_LIMIT_CACHE_PREFIX = {prefix!r}
client = Client(SERVER_NAME="localhost", REMOTE_ADDR="10.1.0.7")
for _ in range(2):
    response = client.get("/api/v1/organisations/")
    print(response.status_code, response["RateLimit-Remaining"])
"""


@pytest.mark.django_db(transaction=True)
def test_two_processes_share_the_counters(client, limits):
    limits(default={"ip": "5/day"})
    database = django_settings.DATABASES["default"]
    environment = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "REDIS_URL": django_settings.REDIS_URL,
        "VAR_DIR": str(django_settings.VAR_DIR),
        "RATE_LIMIT_DEFAULT_IP": "5/day",
    }
    code = OTHER_PROCESS.format(prefix=django_settings.RATE_LIMIT_CACHE_PREFIX)

    other = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    here = client.get(ORGANISATIONS, REMOTE_ADDR="10.1.0.7")

    assert other.returncode == 0, other.stderr
    assert other.stdout.split() == ["200", "4", "200", "3"]
    assert rate_headers(here)[:2] == (5, 2)


def test_a_malformed_limit_stops_start_up_naming_the_variable(tmp_path):
    result = start_django(tmp_path, RATE_LIMIT_DEFAULT_CLIENT="lots")

    assert result.returncode != 0
    assert "RATE_LIMIT_DEFAULT_CLIENT" in result.stderr
    assert "N/min" in result.stderr


@pytest.mark.parametrize("backend", ["django.core.cache.backends.locmem.LocMemCache", None])
def test_a_counter_counts_from_one_and_expires_with_its_window(settings, backend):
    # given Redis (one MULTI round trip per hit) or any other cache (add + incr)
    from django.core.cache import cache

    from protection.ratelimit import hit

    if backend:
        settings.CACHES = {"default": {"BACKEND": backend}}
    settings.RATE_LIMIT_CACHE_PREFIX = f"test-ratelimit-{uuid.uuid4().hex}"

    # when one address is counted three times in one window
    counts = [hit("default", "ip", "10.9.0.1", "10/min", now=120.5).count for _ in range(3)]

    # then the counter goes 1, 2, 3, reads as an integer through the cache, and lives one window more
    assert counts == [1, 2, 3]
    key = f"{settings.RATE_LIMIT_CACHE_PREFIX}:default:ip:10.9.0.1:60:2"
    assert cache.get(key) == 3
    if backend is None:
        ttl = cache._cache.get_client(write=True).ttl(cache.make_and_validate_key(key))
        assert 0 < ttl <= 61


def _redis_counting(settings, key):
    from protection.ratelimit import begin_all

    settings.RATE_LIMIT_CACHE_PREFIX = f"test-ratelimit-{uuid.uuid4().hex}"
    return lambda: begin_all("default", {"ip": key}, {"ip": "100/day"}, now=120.5)


def test_counts_sent_before_another_wait_are_read_after_it_in_any_order(settings):
    # given two counts sent to Redis, each on its own connection, whose replies are not read yet
    begin = _redis_counting(settings, "10.9.1.1")
    first, second = begin(), begin()

    # when the second is read first
    second_count, first_count = second.counters()[0].count, first.counters()[0].count

    # then each reads its own reply, one count each (Redis serves two connections in the order it reads
    # them: almost always the order they were sent, which a loaded machine does not promise)
    assert sorted([first_count, second_count]) == [1, 2]


def test_an_abandoned_count_leaves_no_reply_behind_for_the_next_user_of_the_connection(settings):
    # given a count sent, then abandoned before its reply was read (its caller failed meanwhile)
    begin = _redis_counting(settings, "10.9.1.2")
    begin().abandon()

    # when the pool's connections serve the next counts
    counts = [begin().counters()[0].count for _ in range(3)]

    # then none of them reads the abandoned reply: Redis counted it (it was sent), nothing else
    assert counts == [2, 3, 4]


def test_a_script_that_redis_lost_is_loaded_again(settings):
    # given Redis that has forgotten its scripts (restarted, or SCRIPT FLUSH)
    from django.core.cache import cache

    begin = _redis_counting(settings, "10.9.1.3")
    assert begin().counters()[0].count == 1
    cache._cache.get_client(write=True).script_flush()

    # when a request is counted
    counts = [begin().counters()[0].count for _ in range(2)]

    # then the script is loaded again, and the counter goes on
    assert counts == [2, 3]


def _along_view(request, along):
    from django.http import JsonResponse

    return JsonResponse({"read": along.get(), "began": along.started > 0})


def test_a_view_s_first_read_runs_while_redis_counts_and_reaches_the_view_or_its_refusal(rf, limits):
    # given a view whose first read is done while its quota is counted, and a refusal that sees it
    from django.http import JsonResponse

    from protection.ratelimit import rate_limited

    limits(reads={"ip": "2/day"})
    read = []
    view = rate_limited(
        "reads",
        along=lambda request: read.append(request.path) or f"row of {request.path}",
        refusal=lambda request, along: JsonResponse({"refused_with": along.get()}, status=429),
    )(_along_view)

    # when it is called three times from one address
    responses = [view(rf.get("/reads/1", REMOTE_ADDR="10.9.1.4")) for _ in range(3)]

    # then the read ran for every call; the view got it under the quota, the refusal over it
    assert read == ["/reads/1"] * 3
    assert [json.loads(response.content) for response in responses] == [
        {"read": "row of /reads/1", "began": True},
        {"read": "row of /reads/1", "began": True},
        {"refused_with": "row of /reads/1"},
    ]
    assert responses[2].status_code == 429 and int(responses[2]["Retry-After"]) > 0


def test_a_read_that_fails_fails_in_the_view_as_if_the_view_had_made_it(rf, limits):
    from protection.ratelimit import rate_limited

    limits(reads={"ip": "5/day"})

    def failing(request):
        raise LookupError("no such row")

    view = rate_limited("reads", along=failing)(_along_view)

    with pytest.raises(LookupError, match="no such row"):
        view(rf.get("/reads/2", REMOTE_ADDR="10.9.1.5"))


def test_connections_redis_dropped_are_opened_again_for_the_next_counts(settings):
    # given the pool's connections, closed by Redis (a restart, a failover: CLIENT KILL here)
    from django.core.cache import cache

    begin = _redis_counting(settings, "10.9.1.6")
    first, second = begin(), begin()  # two connections in the pool
    assert [first.counters()[0].count, second.counters()[0].count] == [1, 2]
    client = cache._cache.get_client(write=True)
    pooled = list(client.connection_pool._available_connections)
    admin = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    for connection in pooled:
        admin.client_kill("{}:{}".format(*connection._sock.getsockname()))

    # when requests are counted
    counts = [begin().counters()[0].count for _ in range(2)]

    # then they are, on new connections
    assert counts == [3, 4]


def test_a_connection_that_breaks_before_the_reply_counts_again_through_redis_py(settings):
    # given a count sent, whose connection can no longer be read (it broke before the reply came)
    begin = _redis_counting(settings, "10.9.1.7")
    counting = begin()
    counting._sent.connection._sock.shutdown(socket.SHUT_RD)

    # when its counters are read
    count = counting.counters()[0].count

    # then the request is counted again by redis-py's usual call, on another connection: once, or twice
    # when Redis also ran the first command (it may not have: closing the broken connection can reset it)
    assert count in (1, 2)
    following = begin().counters()[0].count
    assert following in (count + 1, 3)  # a fresh reply, never the broken connection's (1)
