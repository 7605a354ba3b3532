"""``gunicorn identity.sandbox_fs.wsgi:application --workers 1 --threads 8`` (sessions are in memory)."""

from identity.sandbox_fs.app import application_from_env

application = application_from_env()
