"""gunicorn settings: its own logs in the application's format (LOG_FORMAT, JSON by default).

    gunicorn -c python:platform_core.gunicorn_conf platform_core.wsgi

Logging and the threads per worker (WEB_THREADS) live here; bind, workers (WEB_CONCURRENCY, which
gunicorn reads itself) and timeouts stay on the command line.
"""

import logging
import os

from platform_core.env import env_choice, env_int
from platform_core.logging import FORMATS, LEVELS, base_config, stream_handler

_LEVEL = env_choice("LOG_LEVEL", "INFO", LEVELS)
_FORMAT = env_choice("LOG_FORMAT", "json", FORMATS)

# Threads per worker process (gthread). An exchange call spends most of its time waiting for the provider,
# tens to hundreds of milliseconds for real ones, and holds its thread meanwhile: 4 per worker capped the
# platform at 8 calls in flight. Each thread keeps its own database connection (CONN_MAX_AGE).
threads = env_int("WEB_THREADS", 16, minimum=1, maximum=256)

# gunicorn 27 otherwise shares one control socket in $HOME between every gunicorn of the machine.
control_socket_disable = True

# Each worker's heartbeat touches a file of this directory after every request: in memory rather than on
# a disk-backed /tmp, where gunicorn warns it can stall a worker (the Dockerfile passes the same).
_SHARED_MEMORY = "/dev/shm"  # noqa: S108 - gunicorn makes its files there with mkstemp, private to it
if os.path.isdir(_SHARED_MEMORY):
    worker_tmp_dir = _SHARED_MEMORY

# Python warnings would otherwise reach stderr as bare text lines, between the JSON ones.
logging.captureWarnings(True)

# The message of an access line; JsonFormatter also spreads its parts into fields, and takes the
# request id from the response header since the line is written after the request's context ends.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'

# gunicorn merges this into its defaults key by key: every key is given in full.
logconfig_dict = {
    **base_config(),
    "handlers": {
        "console": stream_handler(_FORMAT, "ext://sys.stdout"),
        "error_console": stream_handler(_FORMAT, "ext://sys.stderr"),
    },
    "root": {"level": _LEVEL, "handlers": ["error_console"]},
    "loggers": {
        # No propagation: Django later gives the root logger its own handler, which would repeat them.
        "gunicorn.error": {"level": _LEVEL, "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}
