"""Helpers for tests that start a server process on loopback."""

import signal
import socket
import subprocess


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_gunicorn(process: subprocess.Popen | None) -> None:
    """SIGINT, gunicorn's quick shutdown: its graceful one (SIGTERM) waits about 2 s for idle keep-alive
    connections, at the end of every module that starts a server. Killed if it is not gone in 3 s (seen
    once in a full run); its workers then leave on their own, seeing their parent gone."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=3)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
