"""Partner staff's workspace: institutions, credentials, the audit trail.

No list or change page decrypts a secret; the ciphertext is not even loaded (``defer``). A secret
is opened only by the reveal view, with the permission, a stated reason and an audit event
written first. Pending submissions are invisible here: every credential query starts from
``visible_to_staff()``.
"""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from keys import display, kinds, staff
from keys.admin_credential_words import CredentialInWords
from keys.admin_filters import CREDENTIAL_FILTERS, client_id_search_q
from keys.admin_onboarding import CampaignPages, InstitutionOnboarding, WorkingKeyFilter
from keys.admin_shared_keys import SharedKeyFilter, SharedKeyPages
from keys.admin_views import COMPLETE_PERMISSION, REVEAL_PERMISSION, REVOKE_PERMISSION, CredentialPages
from keys.models import AdminContact, AuditEvent, Campaign, Credential, Institution, ReminderNotice
from keys.templatetags.keydrop_admin import days_left, status_badge

# The list columns' HTML; the badge and days left are shared with the change form's templates.


def credential_health(credential: Credential | None, now):
    if credential is None:
        return mark_safe('<span class="kd-muted">none yet</span>')
    return format_html("{} {}", status_badge(credential), days_left(credential, now))


# Institutions --------------------------------------------------------------------------


class AdminContactInline(admin.StackedInline):  # stacked: each field has its own label, as screen readers need
    model = AdminContact
    extra = 1
    fields = ["email", "name"]
    verbose_name = "admin contact on file"
    verbose_name_plural = "admin contacts on file (verification codes and reminders go only to these)"


def current_credential_column(kind: kinds.Kind):
    """A list column with the institution's current credential of one kind, from the prefetch."""

    @admin.display(description=kind.label)
    def column(institution):
        current = next((c for c in institution.verified_credentials if c.kind == kind.slug), None)
        return credential_health(current, timezone.now())

    column.__name__ = f"current_{kind.slug}"
    return column


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable, never added, changed or deleted through a form: every change is an audited action."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Institution)
class InstitutionAdmin(InstitutionOnboarding, admin.ModelAdmin):
    list_display = [  # the slug is searched and on the page: the list keeps room for the keys
        "name",
        "contact_count",
        *[current_credential_column(kind) for kind in kinds.KINDS.values()],
    ]
    list_filter = [WorkingKeyFilter]
    search_fields = ["name", "slug", "contacts__email"]
    prepopulated_fields = {"slug": ["name"]}
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fields = ["name", "slug", "canvas_url", "time_zone", "intake_link", "intake_token_rotated_at", "created_at"]
    readonly_fields = ["intake_link", "intake_token_rotated_at", "created_at"]
    inlines = [AdminContactInline]
    actions = ["email_intake_link", "start_campaign", "rotate_intake_link", "lift_hourly_limits"]
    change_form_template = "admin/keys/institution/change_form.html"
    change_list_template = "admin/keys/institution/change_list.html"

    # Every change of an institution or its contacts is an audit event: snapshot, save, compare.

    def save_model(self, request, obj, form, change):
        before = staff.institution_snapshot(Institution.objects.get(pk=obj.pk)) if change else None
        request.keydrop_institution_before = before
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        before = getattr(request, "keydrop_institution_before", None)
        actor = staff.Actor.from_request(request)
        staff.record_institution_change(form.instance, before, actor=actor, now=timezone.now())

    # Deleting: the database refuses it for an institution with credentials or audit events (both
    # PROTECT it, and the admin's confirmation page says so). Any other deletion is itself an event.

    def delete_model(self, request, obj):
        with transaction.atomic():
            staff.record_institution_deletion(obj, actor=staff.Actor.from_request(request), now=timezone.now())
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        actor, now = staff.Actor.from_request(request), timezone.now()
        with transaction.atomic():
            for institution in queryset.prefetch_related(None).prefetch_related("contacts"):
                staff.record_institution_deletion(institution, actor=actor, now=now)
            super().delete_queryset(request, queryset)

    def get_queryset(self, request):
        # The current credential of each kind for a whole page of institutions: one extra query.
        newest = Credential.objects.visible_to_staff().newest_per_kind().defer("secret")
        # A subquery, not a join with GROUP BY over every institution: it runs for the page's rows only.
        contacts = (
            AdminContact.objects.filter(institution=OuterRef("pk"))
            .order_by()
            .values("institution")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(contact_count=Coalesce(Subquery(contacts), 0))
            .prefetch_related(Prefetch("credentials", queryset=newest, to_attr="verified_credentials"))
        )

    @admin.display(description="Contacts", ordering="contact_count")
    def contact_count(self, institution):
        return institution.contact_count

    @admin.display(description="Intake link")
    def intake_link(self, institution):
        if not institution.pk:
            return "Saved institutions get a link."
        url = institution.intake_url()
        return format_html(
            '<code class="kd-link">{}</code> '
            '<button type="button" class="button kd-copy" data-copy="{}">Copy link</button>'
            '<p class="kd-hint">Send it to the customer\'s Canvas admin, or use “Email the intake link”. '
            "Rotating it makes this link stop working.</p>",
            url,
            url,
        )

    # Actions: the list's bulk actions and the change page's buttons share one service each.

    @admin.action(
        description="Email the intake link to the contacts of the selected institutions", permissions=["change"]
    )
    def email_intake_link(self, request, queryset):
        actor, now = staff.Actor.from_request(request), timezone.now()
        for institution in queryset.prefetch_related(None).prefetch_related("contacts"):
            self._invite(request, institution, actor, now)

    @admin.action(
        description="Rotate the intake link of the selected institutions (old links stop working)",
        permissions=["change"],
    )
    def rotate_intake_link(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return TemplateResponse(
                request,
                "admin/keys/institution/rotate_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Rotate intake links?",
                    "institutions": queryset.prefetch_related(None),
                    "opts": self.opts,
                    "action_name": "rotate_intake_link",
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        actor, now = staff.Actor.from_request(request), timezone.now()
        names = []
        for institution in queryset.prefetch_related(None):
            staff.rotate_intake_link(institution, actor=actor, now=now)
            names.append(institution.name)
        self.message_user(
            request, f"New intake links for {', '.join(names)}. The old links no longer work.", messages.SUCCESS
        )
        return None

    @admin.action(
        description="Lift the hourly submission and code-email limits of the selected institutions",
        permissions=["change"],
    )
    def lift_hourly_limits(self, request, queryset):
        actor, now = staff.Actor.from_request(request), timezone.now()
        for institution in queryset.prefetch_related(None):
            freed = staff.lift_limits(institution, actor=actor, now=now)
            message = f"{institution.name}: hourly limits lifted ({freed} use(s) freed)."
            self.message_user(request, message, messages.SUCCESS)

    def _invite(self, request, institution, actor, now):
        result = staff.invite_contacts(institution, actor=actor, now=now)
        if result.sent:
            self.message_user(
                request, f"{institution.name}: intake link emailed to {', '.join(result.sent)}.", messages.SUCCESS
            )
        if result.failed:
            self.message_user(
                request,
                f"{institution.name}: the mail server refused {', '.join(result.failed)}. Try again later.",
                messages.ERROR,
            )
        if not result.sent and not result.failed:
            self.message_user(
                request, f"{institution.name} has no admin contact on file: add one first.", messages.WARNING
            )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/invite/", wrap(self.invite_view), name="keys_institution_invite"),
            path("<path:object_id>/rotate-link/", wrap(self.rotate_view), name="keys_institution_rotate"),
            path("<path:object_id>/lift-limits/", wrap(self.lift_limits_view), name="keys_institution_lift_limits"),
            *super().get_urls(),
        ]

    def _institution_for_change(self, request, object_id) -> Institution:
        institution = self.get_object(request, unquote(object_id))
        if institution is None:
            raise Http404("No such institution")
        if not self.has_change_permission(request, institution):
            raise PermissionDenied
        return institution

    @method_decorator(require_POST)
    def invite_view(self, request, object_id):
        institution = self._institution_for_change(request, object_id)
        self._invite(request, institution, staff.Actor.from_request(request), timezone.now())
        return redirect("admin:keys_institution_change", institution.pk)

    @method_decorator(require_POST)
    def lift_limits_view(self, request, object_id):
        institution = self._institution_for_change(request, object_id)
        freed = staff.lift_limits(institution, actor=staff.Actor.from_request(request), now=timezone.now())
        message = f"Hourly limits lifted ({freed} use(s) freed): the link and its contacts can be used again now."
        self.message_user(request, message, messages.SUCCESS)
        return redirect("admin:keys_institution_change", institution.pk)

    @method_decorator(require_POST)
    def rotate_view(self, request, object_id):
        institution = self._institution_for_change(request, object_id)
        staff.rotate_intake_link(institution, actor=staff.Actor.from_request(request), now=timezone.now())
        self.message_user(
            request,
            "The intake link was rotated: the old link no longer works. Send the new one to the customer.",
            messages.SUCCESS,
        )
        return redirect("admin:keys_institution_change", institution.pk)


# Credentials ---------------------------------------------------------------------------


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
        return credential.check_summary()

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


# Audit trail ---------------------------------------------------------------------------


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


@admin.register(Campaign)
class CampaignAdmin(CampaignPages):
    """Invitation campaigns: their pages live in keys/admin_onboarding.py."""


# Staff accounts and groups (audited), and the outbox rows (read-only, in words).
from keys import admin_accounts, admin_outbox  # noqa: E402,F401
