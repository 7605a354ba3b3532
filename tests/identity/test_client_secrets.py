"""OAuth client secrets are stored as a keyed HMAC, checked by django-oauth-toolkit, rotatable."""

import base64

import pytest
from django.contrib.auth.hashers import check_password, make_password
from oauth2_provider.models import Application
from oauth2_provider.oauth2_validators import OAuth2Validator

from identity.hashers import ClientSecretHasher

pytestmark = pytest.mark.django_db
SECRET = "a-random-secret-" + "x" * 40


def test_an_application_secret_is_stored_as_a_keyed_hash_and_verifies():
    application = Application.objects.create(
        name="Mairie", client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://mairie.example.fr/callback", client_secret=SECRET,
    )  # fmt: skip
    application.refresh_from_db()

    assert application.client_secret.startswith("hmac_sha256$c1$") and SECRET not in application.client_secret
    validator = OAuth2Validator()
    assert validator._check_secret(SECRET, application.client_secret)
    assert not validator._check_secret(SECRET + "!", application.client_secret)


def test_people_keep_django_password_hashers():
    assert make_password("a human password").startswith("pbkdf2_sha256$")


def test_rotation_keeps_old_secrets_valid_and_flags_them_for_rehash(settings):
    old = make_password(SECRET, hasher="hmac_sha256")
    settings.CLIENT_SECRET_KEYS = [*settings.CLIENT_SECRET_KEYS, ("c2", base64.b64decode("A" * 43 + "="))]

    assert check_password(SECRET, old)
    assert ClientSecretHasher().must_update(old)
    assert make_password(SECRET, hasher="hmac_sha256").startswith("hmac_sha256$c2$")
    settings.CLIENT_SECRET_KEYS = settings.CLIENT_SECRET_KEYS[1:]  # the old key is gone
    assert not check_password(SECRET, old)


def test_malformed_stored_values_never_verify():
    hasher = ClientSecretHasher()
    assert not hasher.verify(SECRET, "hmac_sha256$nokey")
    assert not hasher.verify(SECRET, "hmac_sha256$unknown$00")
