"""The audit trail, read-only: nobody edits or deletes an event through the admin."""

from django.contrib import admin

from keys import display
from keys.admin.base import ReadOnlyAdmin
from keys.admin.filters import client_id_search_q
from keys.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only for everyone, superusers included: the trail is only ever appended to."""

    # The address is on the event's page: the list keeps room for what happened.
    list_display = ["at_shown", "actor", "action", "institution", "credential_label", "reason_short", "detail"]
    list_filter = ["action", ("at", admin.DateFieldListFilter)]
    search_fields = ["actor", "institution__name", "institution__slug", "reason", "detail"]
    list_select_related = ["institution", "credential__institution"]
    list_per_page = 100
    show_full_result_count = False
    fields = ["at", "actor", "action", "institution", "credential", "reason", "ip", "detail"]
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        filtered = queryset
        queryset, duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            # A credential by its whole Client ID or what its mask shows, never by any part of it.
            queryset = queryset | filtered.filter(client_id_search_q(search_term.strip(), "credential__client_id"))
        return queryset, duplicates

    @admin.display(description="When", ordering="at")
    def at_shown(self, event):
        return display.moment_html(event.at, event.institution)

    @admin.display(description="Credential")
    def credential_label(self, event):
        if event.credential is None:
            return "—"
        return f"{event.credential.kind_spec.label} {event.credential.masked_client_id}"

    @admin.display(description="Reason")
    def reason_short(self, event):
        return event.reason if len(event.reason) <= 80 else event.reason[:79] + "…"
