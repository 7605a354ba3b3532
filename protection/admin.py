"""Read-only views of the trust layer for auditors: nothing here can add, change or delete."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from protection import events
from protection.models import JournalEntry, PurgedBatch, Seal, SigningKey


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
    search_fields = ["=actor_id", "=contract", "=organisation_id", "=request_id", "=subject", "=public_id"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False  # counting millions of rows on every page is not worth it
    list_per_page = 50
    fields = [
        "id", "public_id", "occurred_at", "event_type", "actor_type", "actor_id", "actor_label",
        "organisation_id", "subject", "purpose", "contract", "outcome", "request_id", "data",
        "deferred_disclosure_until",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description=_("évènement"), ordering="event_type")
    def event_label(self, entry):
        try:
            return events.get(entry.event_type).label
        except events.UnknownEventType:
            return entry.event_type


@admin.register(Seal)
class SealAdmin(ReadOnlyAdmin):
    list_display = ["batch_number", "first_entry_id", "last_entry_id", "entry_count", "key", "sealed_at"]
    list_filter = ["key", "sealed_at"]
    search_fields = ["=merkle_root", "=seal_hash"]
    date_hierarchy = "sealed_at"


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ["key_id", "created_at", "retired_at"]


@admin.register(PurgedBatch)
class PurgedBatchAdmin(ReadOnlyAdmin):
    list_display = ["seal", "entry_count", "purged_at"]
