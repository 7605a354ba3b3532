import io
import ipaddress
import json
import logging
import socket

import pytest

from platform_core.logging import JsonFormatter, RequestIdFilter

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


@pytest.fixture
def log_lines():
    """Log lines as production writes them: the real filter and JSON formatter on the root logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
