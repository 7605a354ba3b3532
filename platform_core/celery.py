import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_core.settings")

app = Celery("maillage")
# Settings are read lazily, so importing this module does not configure Django.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
