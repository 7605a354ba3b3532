"""django-csp's middleware, with the script nonce drawn for every request; and the policy of API answers
served by the lean handler (platform_core/wsgi.py)."""

from csp.middleware import CSPMiddleware as BaseCSPMiddleware


class CSPMiddleware(BaseCSPMiddleware):
    """django-csp draws the nonce the first time ``request.csp_nonce`` is read, and until then that
    lazy object is falsy: django-dsfr's ``{% dsfr_js nonce=request.csp_nonce %}`` tests it with
    ``{% if %}`` before reading it, so neither its scripts nor the header would get one. Drawing it
    up front costs 16 random bytes and gives every HTML response a nonce its templates can use."""

    def process_request(self, request):
        super().process_request(request)
        str(request.csp_nonce)


# An API answer is data, never a page: nothing in it may load or run, nothing may frame it.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


class ApiCSPMiddleware:
    """The policy of the answers of settings.LEAN_PATH_PREFIXES (the gateway's JSON), in LEAN_MIDDLEWARE
    instead of CSPMiddleware: stricter than the site's, which allows the site's own scripts and styles,
    and one constant string instead of django-csp's policy built for each response around a nonce that
    no script uses (0.2 ms of a gateway call)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", API_POLICY)
        return response
