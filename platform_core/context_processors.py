"""Template context shared by every page of the portal.

Nothing here may touch the database: the 500 page builds the same context by hand (see
platform_core.views.errors) when the database may be the reason for the error.
"""

from dataclasses import dataclass

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    path: str
    # Pages that do not exist yet keep a stable path; once their URL is named, it wins.
    url_name: str = ""

    def href(self) -> str:
        if self.url_name:
            try:
                return reverse(self.url_name)
            except NoReverseMatch:
                pass
        return self.path


MAIN_NAVIGATION = (
    NavItem(_("Accueil"), "/", "home"),
    NavItem(_("Statistiques"), "/statistiques", "opendata:statistics"),
    NavItem(_("Catalogue des API"), "/catalogue/", "exchange:catalogue"),
    NavItem(_("Documentation de l'API"), "/api/docs/", "api-docs"),
    NavItem(_("Administration"), "/admin/", "admin:index"),
)


def main_navigation(current_path: str) -> list[dict]:
    """The header menu, with the entry holding the current page marked for aria-current."""
    items = []
    for item in MAIN_NAVIGATION:
        href = item.href()
        if href == "/":
            current = current_path == "/"
        else:
            current = current_path == href or current_path.startswith(href.rstrip("/") + "/")
        items.append({"label": item.label, "href": href, "current": current})
    return items


def skip_links() -> list[dict]:
    return [
        {"link": "#content", "label": _("Contenu")},
        {"link": "#fr-navigation", "label": _("Menu")},
        {"link": "#footer", "label": _("Pied de page")},
    ]


def platform_context(current_path: str, next_url: str = "/") -> dict:
    return {
        "PLATFORM_NAME": settings.PLATFORM_NAME,
        "PUBLIC_URL": settings.PUBLIC_URL,
        "main_navigation": main_navigation(current_path),
        "skiplinks": skip_links(),
        # Where the language switcher comes back to: the same page, in the other language.
        "language_switch_next": next_url,
    }


def platform(request):
    return platform_context(request.path, request.get_full_path())
