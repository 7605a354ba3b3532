"""The Redis cache keeps one client per connection pool, and still behaves as Django's."""

import threading
import uuid

import pytest
from django.core.cache import cache, caches

from platform_core.cache import RedisCache


@pytest.fixture
def redis_cache(settings):
    if not isinstance(caches["default"], RedisCache):
        pytest.skip("REDIS_URL is not set")  # .ci/run and make test set it
    return caches["default"]


def test_one_client_serves_every_operation(redis_cache):
    first = redis_cache._cache.get_client("a")
    assert redis_cache._cache.get_client("b") is first
    assert redis_cache._cache.get_client("c", write=True) is first  # one server: one pool


def test_it_is_still_djangos_cache(redis_cache):
    key = f"test-cache-{uuid.uuid4().hex}"
    assert cache.get(key) is None
    assert cache.add(key, {"n": 1}, 30) and not cache.add(key, {"n": 2}, 30)
    assert cache.get(key) == {"n": 1}
    cache.set(key, 5, 30)
    assert cache.incr(key) == 6
    cache.delete(key)
    assert cache.get(key, "gone") == "gone"


def test_threads_share_nothing_but_redis(redis_cache):
    key = f"test-cache-{uuid.uuid4().hex}"
    cache.set(key, 0, 30)

    def add() -> None:
        own = caches["default"]  # each thread has its own backend, pool and client
        try:
            for _ in range(50):
                own.incr(key)
        finally:
            own._cache.get_client().connection_pool.disconnect()

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.get(key) == 200
