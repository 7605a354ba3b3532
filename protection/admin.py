"""Read-only views of the trust layer for auditors: nothing here can add, change or delete."""

import uuid

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from protection import events
from protection.models import JournalEntry, PurgedBatch, Seal, SigningKey, VerificationRun


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EventTypeFilter(admin.SimpleListFilter):
    title = _("type d'évènement")
    parameter_name = "event_type"

    def lookups(self, request, model_admin):
        return [
            (event_type.code, f"{event_type.label} ({event_type.code})") for event_type in events.all_types()
        ]

    def queryset(self, request, queryset):
        return queryset.filter(event_type=self.value()) if self.value() else queryset


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "occurred_at", "event_label", "actor_type", "actor_label", "contract", "outcome"]
    list_filter = [EventTypeFilter, "actor_type", "outcome", "occurred_at"]
    search_fields = ["actor_id"]  # shows the search box; get_search_results does the searching
    search_help_text = _(
        "Valeur exacte : identifiant d'acteur, d'organisation ou d'habilitation, pseudonyme de la personne "
        "concernée, ou identifiant public de l'entrée."
    )
    date_hierarchy = "occurred_at"
    show_full_result_count = False  # counting millions of rows on every page is not worth it
    list_per_page = 50
    fields = [
        "id", "public_id", "occurred_at", "event_type", "actor_type", "actor_id", "actor_label",
        "organisation_id", "subject", "purpose", "contract", "outcome", "request_id", "data",
        "deferred_disclosure_until",
    ]  # fmt: skip
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        # Exact matches on indexed columns: the admin's "=field" lookups are case-insensitive and
        # compare UPPER(column), which no index serves on millions of rows.
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(actor_id=term) | Q(contract=term) | Q(organisation_id=term) | Q(subject=term)
        try:
            condition |= Q(public_id=uuid.UUID(term))
        except ValueError:
            pass
        return queryset.filter(condition), False

    @admin.display(description=_("évènement"), ordering="event_type")
    def event_label(self, entry):
        try:
            return events.get(entry.event_type).label
        except events.UnknownEventType:
            return entry.event_type


def verification_status(seal: Seal, runs: list[VerificationRun]) -> str:
    """The seal's status given the runs (any order) that may cover its batch."""
    covering = [
        run
        for run in runs
        if run.first_batch is not None and run.first_batch <= seal.batch_number <= run.last_batch
    ]
    if not covering:
        return str(_("Non encore vérifié"))
    latest = max(covering, key=lambda run: run.pk)
    if not latest.ok:
        if latest.failing_batch is None:
            return str(_("Échec"))
        return str(_("Échec (lot %(batch)s)") % {"batch": latest.failing_batch})
    verified = [run for run in covering if run.ok and run.started_at >= seal.sealed_at]
    if not verified:
        return str(_("Non encore vérifié"))
    when = max(run.finished_at for run in verified)
    return str(
        _("Vérifié le %(date)s") % {"date": date_format(timezone.localtime(when), "SHORT_DATETIME_FORMAT")}
    )


class SealChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        # One query for the whole page: the runs overlapping the page's batch range.
        seals = list(self.result_list)
        runs = []
        if seals:
            bounds = {
                "low": min(seal.batch_number for seal in seals),
                "high": max(s.batch_number for s in seals),
            }
            runs = list(
                VerificationRun.objects.filter(
                    first_batch__lte=bounds["high"], last_batch__gte=bounds["low"]
                ).only("started_at", "finished_at", "first_batch", "last_batch", "ok", "failing_batch")
            )
        for seal in seals:
            seal.verification_status = verification_status(seal, runs)


@admin.register(Seal)
class SealAdmin(ReadOnlyAdmin):
    list_display = [
        "batch_number", "first_entry_id", "last_entry_id", "entry_count", "key", "sealed_at", "verification",
    ]  # fmt: skip
    list_filter = ["key", "sealed_at"]
    search_fields = ["=merkle_root", "=seal_hash"]
    date_hierarchy = "sealed_at"

    def get_changelist(self, request, **kwargs):
        return SealChangeList

    @admin.display(description=_("Vérification"))
    def verification(self, seal):
        status = getattr(seal, "verification_status", None)
        if status is None:  # outside the changelist: this seal's runs only
            runs = VerificationRun.objects.filter(
                first_batch__lte=seal.batch_number, last_batch__gte=seal.batch_number
            )
            status = verification_status(seal, list(runs))
        return status


@admin.register(VerificationRun)
class VerificationRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "started_at", "finished_at", "first_batch", "last_batch", "entries_checked", "ok",
        "failing_batch", "failing_entry",
    ]  # fmt: skip
    list_filter = ["ok", "started_at"]
    date_hierarchy = "started_at"
    fields = [
        "started_at", "finished_at", "first_batch", "last_batch", "entries_checked", "ok", "failing_batch",
        "failing_entry", "message",
    ]  # fmt: skip
    readonly_fields = fields


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ["key_id", "created_at", "retired_at"]


@admin.register(PurgedBatch)
class PurgedBatchAdmin(ReadOnlyAdmin):
    list_display = ["seal", "entry_count", "purged_at"]
