"""The credentials list and each credential's page.

No list or change page decrypts a secret; the ciphertext is not even loaded (``defer``). A secret
is opened only by the reveal view (credential_views.py), with the permission, a stated reason and
an audit event written first. Pending submissions are invisible here: every credential query
starts from ``visible_to_staff()``.
"""

from django.contrib import admin
from django.db.models import BooleanField, ExpressionWrapper, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from keys import display
from keys.admin.base import ReadOnlyAdmin
from keys.admin.credential_views import COMPLETE_PERMISSION, REVEAL_PERMISSION, REVOKE_PERMISSION, CredentialPages
from keys.admin.credential_words import CredentialInWords
from keys.admin.filters import CREDENTIAL_FILTERS, client_id_search_q
from keys.admin.shared_keys import SharedKeyFilter, SharedKeyPages
from keys.models import Credential, ReminderNotice
from keys.templatetags.keydrop_admin import days_left, status_badge

# The list columns' HTML; the badge and days left are shared with the change form's templates.


def check_summary(credential: Credential) -> str:
    """What Canvas said last, and what that means, in a line for staff (every moment in one format)."""

    def at(moment) -> str:
        return display.moment(moment, credential.institution)

    if credential.status == credential.Status.REJECTED:
        return f"Rejected when handed over ({at(credential.rejected_at)}): {credential.last_check_reason}"
    if not credential.last_check_at:
        return "Not checked yet."
    parts = [credential.last_check_reason]
    if credential.failing_since:
        parts.append(f"Failing since {at(credential.failing_since)}.")
    if credential.last_worked_at:
        parts.append(f"Last worked {at(credential.last_worked_at)}.")
    if credential.next_check_at and credential.status in credential.USABLE_STATUSES:
        parts.append(f"Next check {at(credential.next_check_at)}.")
    return " ".join(parts)


def credential_health(credential: Credential | None, now):
    if credential is None:
        return mark_safe('<span class="kd-muted">none yet</span>')
    return format_html("{} {}", status_badge(credential), days_left(credential, now))


@admin.register(Credential)
class CredentialAdmin(CredentialInWords, SharedKeyPages, CredentialPages, ReadOnlyAdmin):
    list_filter = [*CREDENTIAL_FILTERS, SharedKeyFilter]
    search_fields = ["institution__name", "institution__slug"]  # and the Client ID, as get_search_results allows
    search_help_text = (
        "Institution name or slug, a whole Client ID, or what its mask shows (region, last four characters)."
    )
    list_select_related = ["institution", "grant"]
    list_per_page = 100
    # One count for the filtered list instead of two: on a long list each is a full scan.
    show_full_result_count = False
    actions = ["revoke_selected"]
    change_form_template = "admin/keys/credential/change_form.html"
    change_list_template = "admin/keys/credential/change_list.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "institution",
                    "kind_label",
                    "client_id_masked",
                    "status_badge",
                    "key_type_shown",
                    "canvas_address",
                ]
            },
        ),
        (
            "Expiry",
            {"fields": ["lifetime_shown", "created_in_canvas", "expiry_shown", "days_left_display", "last_reminder"]},
        ),
        ("Verification", {"fields": ["handed_over", "confirmed", "confirmed_by"]}),
        ("Live checks", {"fields": ["last_check", "check_summary"]}),
        ("Secret", {"fields": ["secret_state", "replaced_by", "revoked_on"]}),
        # The check history, the key history and the audit trail follow, from templates (change_form.html).
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

    def get_search_results(self, request, queryset, search_term):
        # Never "any part of the Client ID": matching substrings would spell out a masked ID.
        for term in search_term.split():
            institution = Q(institution__name__icontains=term) | Q(institution__slug__icontains=term)
            queryset = queryset.filter(institution | client_id_search_q(term, "client_id"))
        return queryset, False

    def get_queryset(self, request):
        last_sent = (
            ReminderNotice.objects.filter(credential=OuterRef("pk"), state=ReminderNotice.State.SENT)
            .order_by("-sent_at")
            .values("sent_at")[:1]
        )
        return (
            super()
            .get_queryset(request)
            .visible_to_staff()
            # The ciphertext is not even loaded: listing never touches a secret.
            .defer("secret", "grant__refresh_token", "grant__access_token")
            .annotate(
                last_reminder_at=Subquery(last_sent),
                secret_stored=ExpressionWrapper(Q(secret__isnull=False), output_field=BooleanField()),
            )
        )

    # Columns and read-only fields ---------------------------------------------------------

    @admin.display(description="Kind", ordering="kind")
    def kind_label(self, credential):
        return credential.kind_spec.label

    @admin.display(description="Client ID")
    def client_id_masked(self, credential):
        masked = credential.masked_client_id
        # The region Canvas reported, where the Client ID does not already say it.
        return f"{masked} · {credential.region}" if credential.region and credential.region not in masked else masked

    @admin.display(description="What Canvas said")
    def check_summary(self, credential):
        return check_summary(credential)

    @admin.display(description="Expires on", ordering="expires_at")
    def expires_on_display(self, credential):
        day = credential.expires_on()
        return day.isoformat() if day else "—"

    @admin.display(description="Days left", ordering="expires_at")
    def days_left_display(self, credential):
        return days_left(credential, timezone.now())

    @admin.display(description="Secret")
    def secret_state(self, credential):
        if credential.secret_purged_at:
            return format_html("Destroyed {}", display.moment_html(credential.secret_purged_at, credential.institution))
        if getattr(credential, "secret_stored", False):
            return "Stored, encrypted. Reveal it only with a reason; every reveal is recorded."
        if credential.awaits_partner_secret:
            return "Waiting for the secret Instructure sends the partner."
        return "None"

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        now = timezone.now()
        if obj is not None:
            user = request.user
            context.update(
                can_reveal=user.has_perm(REVEAL_PERMISSION) and obj.is_usable(now),
                can_complete=user.has_perm(COMPLETE_PERMISSION) and obj.awaits_partner_secret,
                can_revoke=user.has_perm(REVOKE_PERMISSION) and obj.can_be_revoked,
                can_email_authorization=self.may_email_authorization(request, obj),
                key_history=obj.key_history(),
                checks=obj.checks.all()[:30],
                audit_events=obj.audit_events.order_by("-at")[:20],
                now=now,
                **self.shared_key_context(request, obj),
            )
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)
