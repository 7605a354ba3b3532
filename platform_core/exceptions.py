"""Domain errors a user can cause. The API turns them into problem+json with a stable type."""


class DomainError(Exception):
    """Base class: ``code`` becomes the problem type, ``status`` the HTTP status."""

    code = "domain-error"
    status = 400
    title = "Requête refusée"

    def __init__(self, detail: str, *, errors: list[dict] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class InvalidInput(DomainError):
    code = "validation-error"
    status = 400
    title = "Données invalides"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = "Conflit"
