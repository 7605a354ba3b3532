"""The WSGI application: Django's handler, and for the paths of settings.LEAN_PATH_PREFIXES (the
exchange gateway's calls) a second Django handler with settings.LEAN_MIDDLEWARE, the same stack less
what only browsers use (sessions, CSRF, authentication by session, messages, static files)."""

import os

from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_core.settings")


class LeanHandler(WSGIHandler):
    """Django's WSGI handler with its own middleware list (BaseHandler.load_middleware reads the
    setting once, when the handler is built)."""

    def __init__(self, middleware: list[str]):
        self.middleware = middleware
        super().__init__()

    def load_middleware(self, is_async=False):
        from django.conf import settings

        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = self.middleware  # only while this handler is built, at start-up
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


class Application:
    """What gunicorn serves: each request to the handler of its path."""

    def __init__(self):
        self.django_handler = get_wsgi_application()  # django.setup() included
        from django.conf import settings

        self.lean_handler = LeanHandler(settings.LEAN_MIDDLEWARE)
        self.lean_prefixes = tuple(settings.LEAN_PATH_PREFIXES)

    def handler_for(self, path: str) -> WSGIHandler:
        return self.lean_handler if path.startswith(self.lean_prefixes) else self.django_handler

    def __call__(self, environ, start_response):
        return self.handler_for(environ.get("PATH_INFO", ""))(environ, start_response)


application = Application()
