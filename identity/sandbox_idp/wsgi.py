"""``gunicorn identity.sandbox_idp.wsgi:application --workers 1 --threads 8`` (state is in memory)."""

from identity.sandbox_idp.app import application_from_env

application = application_from_env()
