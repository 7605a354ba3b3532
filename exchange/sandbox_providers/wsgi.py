"""``gunicorn exchange.sandbox_providers.wsgi:application --workers 1 --worker-class gthread --threads 8``
(the flaky fault's counters are in memory)."""

from exchange.sandbox_providers.app import application_from_env

application = application_from_env()
