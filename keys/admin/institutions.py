"""Institutions and their admin contacts; their CSV import and export pages are onboarding.py's."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import Count, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from keys import kinds, staff
from keys.admin.credentials import credential_health
from keys.admin.onboarding import InstitutionOnboarding, WorkingKeyFilter
from keys.models import AdminContact, Credential, Institution


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
