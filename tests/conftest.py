import ipaddress
import socket

import pytest

pytest_plugins = ["tests.celery_worker"]

_real_connect = socket.socket.connect


def _loopback_only(self, address):
    """The network is closed to tests: only loopback and local sockets are reachable."""
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            allowed = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            allowed = False
        if not allowed:
            raise RuntimeError(f"tests may not reach {host!r}: the network is blocked except loopback")
    return _real_connect(self, address)


@pytest.fixture(autouse=True, scope="session")
def _block_network():
    socket.socket.connect = _loopback_only
    yield
    socket.socket.connect = _real_connect


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()
