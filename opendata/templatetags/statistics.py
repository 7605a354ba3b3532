"""Template filters of the statistics page."""

from django import template
from django.utils.formats import localize
from django.utils.html import format_html
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def stat_value(cell):
    """A published cell: its count, or "secret statistique" (never 0) with a link to the rule.

    A filter rather than an included template: the page shows hundreds of cells, and an include costs
    about ten times as much to render."""
    value = cell.get("value") if isinstance(cell, dict) else getattr(cell, "value", None)
    suppressed = cell.get("suppressed") if isinstance(cell, dict) else getattr(cell, "suppressed", False)
    if suppressed or value is None:
        return format_html(
            '<a class="maillage-secret-cell" href="#secret-statistique">{}</a>', _("secret statistique")
        )
    return localize(value, use_l10n=True)
