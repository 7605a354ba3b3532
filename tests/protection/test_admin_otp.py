"""The admin's second factor: a TOTP code for staff who registered a device, or for all staff with
ADMIN_OTP_REQUIRED."""

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import AGENT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"


def current_code(device: TOTPDevice) -> str:
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
    return f"{code:0{device.digits}d}"


def log_in(client, username: str, otp_token: str | None = None):
    data = {"username": username, "password": AGENT_PASSWORD, "next": "/admin/"}
    if otp_token is not None:
        data["otp_token"] = otp_token
    return client.post(LOGIN, data)


def test_the_login_page_asks_for_the_one_time_code(client):
    html = client.get(LOGIN).content.decode()

    assert 'name="otp_token"' in html
    assert 'autocomplete="one-time-code"' in html
    assert "Administration de Maillage" in html


def test_staff_without_a_device_logs_in_with_the_password_alone(client):
    UserFactory(username="sans-appareil", staff=True)

    response = log_in(client, "sans-appareil")

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_staff_with_a_confirmed_device_logs_in_with_a_valid_code(client):
    device = TOTPDevice.objects.create(
        user=UserFactory(username="avec-appareil", staff=True), name="téléphone"
    )

    response = log_in(client, "avec-appareil", current_code(device))

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize(
    ("token", "message"), [(None, "Saisissez le code"), ("000000", "Code à usage unique incorrect")]
)
def test_staff_with_a_confirmed_device_is_refused_without_a_valid_code(client, token, message):
    device = TOTPDevice.objects.create(
        user=UserFactory(username="avec-appareil", staff=True), name="téléphone"
    )
    if token == current_code(device):  # one chance in a million
        token = "111111"

    response = log_in(client, "avec-appareil", token)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_a_code_of_another_time_step_is_refused(client):
    device = TOTPDevice.objects.create(
        user=UserFactory(username="avec-appareil", staff=True), name="téléphone"
    )
    old = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=-10)
    if f"{old:06d}" == current_code(device):
        pytest.skip("two time steps share a code (one chance in a million)")

    response = log_in(client, "avec-appareil", f"{old:06d}")

    assert response.status_code == 200


def test_a_session_without_the_second_factor_does_not_open_the_admin_once_a_device_exists(client):
    staff = UserFactory(username="tardive", staff=True)
    assert log_in(client, "tardive").status_code == 302
    TOTPDevice.objects.create(user=staff, name="téléphone")

    assert client.get("/admin/").status_code == 302


def test_an_unconfirmed_device_asks_for_nothing(client):
    TOTPDevice.objects.create(
        user=UserFactory(username="brouillon", staff=True), name="en cours", confirmed=False
    )

    assert log_in(client, "brouillon").status_code == 302


def test_when_the_second_factor_is_required_staff_without_a_device_is_refused_with_a_message(
    client, settings
):
    settings.ADMIN_OTP_REQUIRED = True
    UserFactory(username="sans-appareil", staff=True)

    response = log_in(client, "sans-appareil")

    assert response.status_code == 200
    assert (
        "aucun appareil d&#x27;authentification n&#x27;est associé à ce compte" in response.content.decode()
    )
    assert client.get("/admin/").status_code == 302


def test_when_the_second_factor_is_required_staff_with_a_device_enters_with_a_code(client, settings):
    settings.ADMIN_OTP_REQUIRED = True
    device = TOTPDevice.objects.create(
        user=UserFactory(username="avec-appareil", staff=True), name="téléphone"
    )

    assert log_in(client, "avec-appareil", current_code(device)).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_every_staff_user_can_register_a_device_for_themself_only(client):
    staff = UserFactory(username="instructrice", staff=True)  # no model permission at all
    colleague_device = TOTPDevice.objects.create(user=UserFactory(staff=True), name="appareil d'un collègue")
    client.force_login(staff)

    added = client.post(
        "/admin/otp_totp/totpdevice/add/",
        {
            "name": "mon téléphone",
            "key": "3132333435363738393031323334353637383930",
            "step": 30,
            "t0": 0,
            "digits": 6,
            "tolerance": 1,
            "drift": 0,
            "throttling_failure_count": 0,
        },
    )
    mine = TOTPDevice.objects.get(name="mon téléphone")
    listed = client.get("/admin/otp_totp/totpdevice/")
    config = client.get(f"/admin/otp_totp/totpdevice/{mine.pk}/config/")
    colleague = client.get(f"/admin/otp_totp/totpdevice/{colleague_device.pk}/change/")

    assert added.status_code == 302
    assert mine.user == staff
    assert list(listed.context["cl"].result_list) == [mine]
    assert "otpauth://totp/" in config.content.decode()  # without the qrcode package, the URL to type
    assert colleague.status_code == 302  # "does not exist": someone else's device is not listed
    assert client.get(f"/admin/otp_totp/totpdevice/{colleague_device.pk}/config/").status_code == 403


def test_a_newly_confirmed_device_must_be_proven_at_the_next_login(client):
    staff = UserFactory(username="instructrice", staff=True)
    client.force_login(staff)
    device = TOTPDevice.objects.create(user=staff, name="mon téléphone")

    back_to_login = client.get("/admin/")
    logged_in = log_in(client, "instructrice", current_code(device))

    assert back_to_login.status_code == 302
    assert back_to_login["Location"].startswith(LOGIN)
    assert logged_in.status_code == 302
    assert client.get("/admin/").status_code == 200
