"""GET /metrics: Prometheus text for loopback clients, or for holders of METRICS_TOKEN."""

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db

TOKEN = "m" * 40


def test_loopback_gets_prometheus_text_with_django_metrics(client):
    # given some traffic
    client.get("/healthz")

    # when
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")

    # then
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "no-store" in response["Cache-Control"]
    text = response.content.decode()
    assert "# TYPE django_http_requests_total_by_method_total counter" in text
    assert 'django_http_requests_total_by_method_total{method="GET"}' in text
    assert "django_http_responses_total_by_status_total" in text


@pytest.mark.parametrize("address", ["::1", "127.0.0.42", "::ffff:127.0.0.1"])
def test_every_loopback_address_is_local(client, address):
    assert client.get("/metrics", REMOTE_ADDR=address).status_code == 200


@pytest.mark.parametrize("address", ["10.0.0.7", "172.18.0.1", "2001:db8::1", "", "not-an-ip"])
def test_remote_clients_are_refused_without_a_token(client, address):
    response = client.get("/metrics", REMOTE_ADDR=address)

    assert response.status_code == 403
    assert b"django_http" not in response.content


def test_a_request_forwarded_by_a_local_proxy_is_remote(client):
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")

    assert response.status_code == 403


@override_settings(METRICS_TOKEN=TOKEN)
def test_the_right_bearer_token_passes_from_anywhere(client):
    response = client.get("/metrics", REMOTE_ADDR="10.0.0.7", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 200
    assert b"django_http_requests_total_by_method_total" in response.content


@override_settings(METRICS_TOKEN=TOKEN)
@pytest.mark.parametrize(
    "authorization",
    [None, f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer", "Bearer é"],
)
def test_a_missing_or_wrong_token_is_refused(client, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}

    response = client.get("/metrics", REMOTE_ADDR="10.0.0.7", **headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"django_http" not in response.content


@override_settings(METRICS_TOKEN=TOKEN)
def test_with_a_token_even_loopback_must_present_it(client):
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 401
