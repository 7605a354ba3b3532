"""Sessions live in Redis when there is one (the cache), in PostgreSQL without it; either way a sign-in
gets a new session key and a session ends with its cookie's age."""

import time
from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.auth import login

from tests.factories import UserFactory
from tests.platform_core.test_configuration import start_django

SHOW_ENGINE = ["shell", "-c", "from django.conf import settings; print(settings.SESSION_ENGINE)"]


@pytest.mark.parametrize(
    ("redis_url", "engine"),
    [("redis://127.0.0.1:6379/0", "django.contrib.sessions.backends.cache"),
     (None, "django.contrib.sessions.backends.db")],
)  # fmt: skip
def test_sessions_are_in_redis_with_redis_url_and_in_postgresql_without(tmp_path, redis_url, engine):
    result = start_django(tmp_path, SHOW_ENGINE, REDIS_URL=redis_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == engine


@pytest.mark.django_db
def test_signing_in_gives_a_new_session_key_and_drops_the_old_one(rf):
    store = import_module(settings.SESSION_ENGINE).SessionStore
    request = rf.get("/")
    request.session = store()
    request.session["op_pending"] = {"abc": {"at": 1}}  # a waiting sign-in survives it
    request.session.create()
    before = request.session.session_key

    login(request, UserFactory(), backend="django.contrib.auth.backends.ModelBackend")

    assert request.session.session_key != before
    assert not store().exists(before)
    assert store(request.session.session_key).load()["op_pending"] == {"abc": {"at": 1}}


@pytest.mark.django_db
def test_a_session_ends_with_its_age(settings):
    settings.SESSION_COOKIE_AGE = 1
    store = import_module(settings.SESSION_ENGINE).SessionStore
    session = store()
    session["op_pending"] = {"abc": {"at": 1}}
    session.create()
    assert store(session.session_key).load() == {"op_pending": {"abc": {"at": 1}}}
    time.sleep(1.5)
    assert store(session.session_key).load() == {}
