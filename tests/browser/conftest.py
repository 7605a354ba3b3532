import pytest
from django.test import override_settings


@pytest.fixture(scope="session")
def _plain_http_settings(tmp_path_factory):
    """The live server speaks plain HTTP and serves static files from the finders.

    It builds its middleware once, when it starts: these settings must be in place before.
    """
    static_root = tmp_path_factory.mktemp("static")
    with override_settings(
        SECURE_SSL_REDIRECT=False,
        SESSION_COOKIE_SECURE=False,
        CSRF_COOKIE_SECURE=False,
        LANGUAGE_COOKIE_SECURE=False,
        STATIC_ROOT=static_root,
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
    ):
        yield


@pytest.fixture(scope="session")
def live_server(_plain_http_settings, live_server):
    return live_server
