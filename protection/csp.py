"""django-csp's middleware, with the script nonce drawn for every request."""

from csp.middleware import CSPMiddleware as BaseCSPMiddleware


class CSPMiddleware(BaseCSPMiddleware):
    """django-csp draws the nonce the first time ``request.csp_nonce`` is read, and until then that
    lazy object is falsy: django-dsfr's ``{% dsfr_js nonce=request.csp_nonce %}`` tests it with
    ``{% if %}`` before reading it, so neither its scripts nor the header would get one. Drawing it
    up front costs 16 random bytes and gives every HTML response a nonce its templates can use."""

    def process_request(self, request):
        super().process_request(request)
        str(request.csp_nonce)
