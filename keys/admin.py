"""Partner staff's workspace: institutions, credentials, the audit trail.

No list or change page decrypts a secret; the ciphertext is not even loaded (``defer``). A secret
is opened only by the reveal view, with the permission, a stated reason and an audit event
written first. Pending submissions are invisible here: every credential query starts from
``visible_to_staff()``.
"""

import csv

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import DataError, models
from django.db.models import BooleanField, Count, ExpressionWrapper, F, OuterRef, Prefetch, Q, Subquery, Window
from django.db.models.functions import Coalesce, RowNumber
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from keys import kinds, staff
from keys.admin_filters import ExpiresWithinFilter, ExpiryMonthFilter, RenewalFilter, StatusFilter
from keys.admin_onboarding import InstitutionOnboarding, WorkingKeyFilter
from keys.forms import PartnerSecretForm, RevealForm, RevokeForm
from keys.models import AdminContact, AuditEvent, CalendarFeed, Credential, Institution, ReminderNotice
from keys.sealing import SecretUnreadable

REVEAL_PERMISSION = "keys.reveal_credential_secret"
REVOKE_PERMISSION = "keys.revoke_credential"
COMPLETE_PERMISSION = "keys.complete_partner_credential"
Status = Credential.Status
GET_OR_POST = require_http_methods(["GET", "POST"])


# Small pieces of HTML shared by the lists -------------------------------------------------


def status_badge(credential: Credential):
    return format_html('<span class="kd-badge kd-status-{}">{}</span>', credential.status, credential.get_status_display())


def days_left_label(credential: Credential, now) -> str:
    days = credential.days_left(now)
    if days is None:
        return "no expiry"
    if days > 1:
        return f"{days} days left"
    if days == 1:
        return "1 day left"
    if days == 0:
        return "lapsed today"  # a key is gone from the first moment of its expiry date
    return f"lapsed {-days} day{'s' if days != -1 else ''} ago"


# Only these statuses still have an expiry that matters; a revoked or locked key is over.
EXPIRY_MATTERS = {Status.AWAITING_SECRET, Status.ACTIVE, Status.SUPERSEDED}


def days_left_html(credential: Credential, now):
    if credential.status in (Status.REVOKED, Status.LOCKED):
        return mark_safe('<span class="kd-days kd-urgency-muted">—</span>')
    urgency = credential.expiry_urgency(now) if credential.status in EXPIRY_MATTERS else "muted"
    return format_html('<span class="kd-days kd-urgency-{}">{}</span>', urgency, days_left_label(credential, now))


def credential_health(credential: Credential | None, now):
    if credential is None:
        return mark_safe('<span class="kd-muted">none yet</span>')
    return format_html("{} {}", status_badge(credential), days_left_html(credential, now))


class RefusesUnusableQueries:
    """A list answers a filter the database cannot run like any other bad filter (the admin's
    "?e=1" page), not with a 500: a NUL character (PostgreSQL text cannot hold one), or a date
    part out of range such as ``at__year=-1``, which Django only notices while building the SQL."""

    def has_nul(self, request) -> bool:
        return any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists())

    def changelist_view(self, request, extra_context=None):
        if self.has_nul(request):
            return HttpResponseRedirect(request.path + "?e=1")
        try:
            return super().changelist_view(request, extra_context)
        except (ValueError, OverflowError, DataError):
            if not request.GET:
                raise
            return HttpResponseRedirect(request.path + "?e=1")


# Institutions --------------------------------------------------------------------------


class AdminContactInline(admin.TabularInline):
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
class InstitutionAdmin(InstitutionOnboarding, RefusesUnusableQueries, admin.ModelAdmin):
    list_display = ["name", "slug", "contact_count", *[current_credential_column(kind) for kind in kinds.KINDS.values()]]
    list_filter = [WorkingKeyFilter]
    search_fields = ["name", "slug", "contacts__email"]
    prepopulated_fields = {"slug": ["name"]}
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fields = ["name", "slug", "canvas_url", "time_zone", "intake_link", "intake_token_rotated_at", "created_at"]
    readonly_fields = ["intake_link", "intake_token_rotated_at", "created_at"]
    inlines = [AdminContactInline]
    actions = ["email_intake_link", "start_campaign", "rotate_intake_link"]
    change_form_template = "admin/keys/institution/change_form.html"
    change_list_template = "admin/keys/institution/change_list.html"

    def get_queryset(self, request):
        # The current credential of each kind for a whole page of institutions: one extra query,
        # which returns only the newest verified key per institution and kind, however long the history.
        verified = (
            Credential.objects.visible_to_staff()
            .exclude(status=Status.LOCKED)
            .filter(verified_at__isnull=False)
            .defer("secret")
            .annotate(
                recency=Window(RowNumber(), partition_by=[F("institution_id"), F("kind")], order_by=[F("verified_at").desc(), F("pk").desc()])
            )
            .filter(recency=1)
        )
        # A subquery, not a join with GROUP BY over every institution: it runs for the page's rows only.
        contacts = AdminContact.objects.filter(institution=OuterRef("pk")).order_by().values("institution").annotate(n=Count("pk")).values("n")
        return (
            super()
            .get_queryset(request)
            .annotate(contact_count=Coalesce(Subquery(contacts), 0))
            .prefetch_related(Prefetch("credentials", queryset=verified, to_attr="verified_credentials"))
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
            '<code class="kd-link">{}</code> <button type="button" class="button kd-copy" data-copy="{}">Copy link</button>'
            '<p class="kd-hint">Send it to the customer\'s Canvas admin, or use “Email the intake link”. '
            "Rotating it makes this link stop working.</p>",
            url,
            url,
        )

    # Actions: the list's bulk actions and the change page's buttons share one service each.

    @admin.action(description="Email the intake link to the contacts of the selected institutions", permissions=["change"])
    def email_intake_link(self, request, queryset):
        actor, now = staff.Actor.from_request(request), timezone.now()
        for institution in queryset.prefetch_related(None).prefetch_related("contacts"):
            self._invite(request, institution, actor, now)

    @admin.action(description="Rotate the intake link of the selected institutions (old links stop working)", permissions=["change"])
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
        self.message_user(request, f"New intake links for {', '.join(names)}. The old links no longer work.", messages.SUCCESS)
        return None

    def _invite(self, request, institution, actor, now):
        result = staff.invite_contacts(institution, actor=actor, now=now)
        if result.sent:
            self.message_user(request, f"{institution.name}: intake link emailed to {', '.join(result.sent)}.", messages.SUCCESS)
        if result.failed:
            self.message_user(request, f"{institution.name}: the mail server refused {', '.join(result.failed)}. Try again later.", messages.ERROR)
        if not result.sent and not result.failed:
            self.message_user(request, f"{institution.name} has no admin contact on file: add one first.", messages.WARNING)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/invite/", wrap(self.invite_view), name="keys_institution_invite"),
            path("<path:object_id>/rotate-link/", wrap(self.rotate_view), name="keys_institution_rotate"),
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
    def rotate_view(self, request, object_id):
        institution = self._institution_for_change(request, object_id)
        staff.rotate_intake_link(institution, actor=staff.Actor.from_request(request), now=timezone.now())
        self.message_user(request, "The intake link was rotated: the old link no longer works. Send the new one to the customer.", messages.SUCCESS)
        return redirect("admin:keys_institution_change", institution.pk)


# Credentials ---------------------------------------------------------------------------


class CsvEcho:
    """A file-like object for csv.writer that hands each line back for streaming."""

    def write(self, value):
        return value


def csv_safe(value):
    """Text a spreadsheet will not run as a formula (=, +, -, @ lead a formula in Excel and Sheets)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


@admin.register(Credential)
class CredentialAdmin(RefusesUnusableQueries, ReadOnlyAdmin):
    list_display = ["institution", "kind_label", "client_id_masked", "status_badge", "expires_on_display", "days_left_display", "last_reminder"]
    list_display_links = ["client_id_masked"]
    list_filter = [StatusFilter, "kind", ExpiresWithinFilter, ExpiryMonthFilter, RenewalFilter]
    search_fields = ["institution__name", "institution__slug", "client_id"]
    search_help_text = "Institution name or slug, or any part of a Client ID (such as its last four characters)."
    list_select_related = ["institution"]
    list_per_page = 100
    # One count for the filtered list instead of two: on a long list each is a full scan.
    show_full_result_count = False
    actions = ["revoke_selected"]
    change_form_template = "admin/keys/credential/change_form.html"
    change_list_template = "admin/keys/credential/change_list.html"
    fieldsets = [
        (None, {"fields": ["institution", "kind_label", "client_id_masked", "status_badge", "key_type", "canvas_url"]}),
        ("Expiry", {"fields": ["lifetime", "key_created_on", "expires_on_display", "days_left_display", "last_reminder"]}),
        ("Verification", {"fields": ["submitted_at", "verified_at", "verified_email"]}),
        ("Secret", {"fields": ["secret_state", "superseded_by", "superseded_at", "revoked_at"]}),
        ("History of this institution's keys", {"fields": ["credential_history"]}),
        ("Audit trail", {"fields": ["recent_audit_events"]}),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

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
            .defer("secret")
            .annotate(
                last_reminder_at=Subquery(last_sent),
                secret_stored=ExpressionWrapper(Q(secret__isnull=False), output_field=BooleanField()),
            )
        )


    def has_revoke_permission(self, request):
        return request.user.has_perm(REVOKE_PERMISSION)

    # Columns and read-only fields ---------------------------------------------------------

    @admin.display(description="Kind", ordering="kind")
    def kind_label(self, credential):
        return credential.kind_spec.label

    @admin.display(description="Client ID")
    def client_id_masked(self, credential):
        return credential.masked_client_id

    @admin.display(description="Status", ordering="status")
    def status_badge(self, credential):
        return status_badge(credential)

    @admin.display(description="Expires on", ordering="expires_at")
    def expires_on_display(self, credential):
        day = credential.expires_on()
        return day.isoformat() if day else "—"

    @admin.display(description="Days left", ordering="expires_at")
    def days_left_display(self, credential):
        return days_left_html(credential, timezone.now())

    @admin.display(description="Last reminder sent", ordering="last_reminder_at")
    def last_reminder(self, credential):
        sent = getattr(credential, "last_reminder_at", None)
        return timezone.localtime(sent).strftime("%Y-%m-%d %H:%M") if sent else "—"

    @admin.display(description="Secret")
    def secret_state(self, credential):
        if credential.secret_purged_at:
            return f"Purged {timezone.localtime(credential.secret_purged_at):%Y-%m-%d %H:%M}"
        if getattr(credential, "secret_stored", False):
            return "Stored, encrypted. Reveal it only with a reason; every reveal is recorded."
        if credential.status == Status.AWAITING_SECRET:
            return "Waiting for the secret Instructure sends the partner."
        return "None"

    @admin.display(description="Keys")
    def credential_history(self, credential):
        """The superseded chain: every verified key of this institution and kind, newest first."""
        chain = (
            Credential.objects.visible_to_staff()
            .filter(institution_id=credential.institution_id, kind=credential.kind)
            .select_related("institution")
            .defer("secret")
            .order_by("-verified_at", "-submitted_at", "-pk")
        )
        now = timezone.now()
        rows = format_html_join(
            "",
            '<tr class="{}"><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    "kd-current" if other.pk == credential.pk else "",
                    reverse("admin:keys_credential_change", args=[other.pk]),
                    other.masked_client_id,
                    status_badge(other),
                    timezone.localtime(other.verified_at).strftime("%Y-%m-%d") if other.verified_at else "—",
                    other.expires_on() or "—",
                    days_left_html(other, now),
                )
                for other in chain
            ),
        )
        return format_html(
            '<table class="kd-history"><thead><tr><th>Client ID</th><th>Status</th><th>Verified</th>'
            "<th>Expires</th><th>Days left</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Recent events")
    def recent_audit_events(self, credential):
        events = list(credential.audit_events.order_by("-at")[:20])
        if not events:
            return "None yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (f"{timezone.localtime(event.at):%Y-%m-%d %H:%M}", event.get_action_display(), event.actor, event.reason or "—", event.ip or "—")
                for event in events
            ),
        )
        return format_html(
            '<table class="kd-history"><thead><tr><th>When</th><th>What</th><th>Who</th><th>Reason</th><th>From</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            rows,
        )

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        now = timezone.now()
        if obj is not None:
            user = request.user
            context.update(
                can_reveal=user.has_perm(REVEAL_PERMISSION) and obj.is_usable(now),
                can_complete=user.has_perm(COMPLETE_PERMISSION) and obj.awaits_partner_secret,
                can_revoke=user.has_perm(REVOKE_PERMISSION) and obj.can_be_revoked,
            )
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    # Staff pages of their own ------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("export.csv", wrap(self.export_csv_view), name="keys_credential_export_csv"),
            path("calendar/", wrap(self.calendar_view), name="keys_credential_calendar"),
            path("<path:object_id>/reveal/", wrap(self.reveal_view), name="keys_credential_reveal"),
            path("<path:object_id>/complete/", wrap(self.complete_view), name="keys_credential_complete"),
            path("<path:object_id>/revoke/", wrap(self.revoke_view), name="keys_credential_revoke"),
            *super().get_urls(),
        ]

    def _credential_or_404(self, request, object_id) -> Credential:
        credential = self.get_object(request, unquote(object_id))  # pending ones are not even found
        if credential is None:
            raise Http404("No such credential")
        return credential

    def _page_context(self, request, credential, title):
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": credential,
            "credential": credential,
            "title": title,
            "change_url": reverse("admin:keys_credential_change", args=[credential.pk]),
        }

    @method_decorator(GET_OR_POST)
    @sensitive_variables("secret", "context")
    def reveal_view(self, request, object_id):
        if not request.user.has_perm(REVEAL_PERMISSION):
            raise PermissionDenied
        credential = self._credential_or_404(request, object_id)
        now = timezone.now()
        if not credential.is_usable(now):
            self.message_user(request, "Only a verified credential that still works can be revealed.", messages.ERROR)
            return redirect("admin:keys_credential_change", credential.pk)
        form = RevealForm(request.POST if request.method == "POST" else None)
        context = {**self._page_context(request, credential, "Reveal secret"), "form": form}
        status = 200
        if form.is_bound and form.is_valid():
            try:
                secret = staff.reveal(credential, actor=staff.Actor.from_request(request), reason=form.cleaned_data["reason"], now=now)
            except staff.AuditUnavailable:
                form.add_error(None, "The audit trail could not record this access, so the secret was not revealed. Try again shortly.")
                status = 503
            except staff.NotAvailable as refused:
                form.add_error(None, str(refused))
                status = 409
            except SecretUnreadable:
                form.add_error(None, "The stored secret cannot be decrypted with the current keys (see rotate_keys in the README). Nothing was revealed.")
                status = 409
            else:
                context.update(secret=secret, client_id=credential.client_id, title="Secret revealed")
                response = TemplateResponse(request, "admin/keys/credential/revealed.html", context)
                return self._no_store(response)
        elif form.is_bound:
            status = 400
        return self._no_store(TemplateResponse(request, "admin/keys/credential/reveal.html", context, status=status))

    @staticmethod
    def _no_store(response):
        add_never_cache_headers(response)  # includes no-store: browsers and proxies keep no copy
        response.headers["Pragma"] = "no-cache"
        return response

    @method_decorator(GET_OR_POST)
    @method_decorator(sensitive_post_parameters("secret"))
    @sensitive_variables("form")
    def complete_view(self, request, object_id):
        if not request.user.has_perm(COMPLETE_PERMISSION):
            raise PermissionDenied
        credential = self._credential_or_404(request, object_id)
        if not credential.awaits_partner_secret:
            self.message_user(request, "This credential is not waiting for a partner secret.", messages.WARNING)
            return redirect("admin:keys_credential_change", credential.pk)
        form = PartnerSecretForm(request.POST if request.method == "POST" else None, credential=credential)
        status = 200
        if form.is_bound and form.is_valid():
            done = staff.complete_partner_secret(credential, form.cleaned_data["secret"], actor=staff.Actor.from_request(request), now=timezone.now())
            if done:
                self.message_user(request, "The partner secret is stored, encrypted. The key is now active and its expiry is tracked.", messages.SUCCESS)
            else:
                self.message_user(request, "Someone else completed this credential a moment ago; nothing was changed.", messages.WARNING)
            return redirect("admin:keys_credential_change", credential.pk)
        if form.is_bound:
            status = 400
        context = {**self._page_context(request, credential, "Enter the partner secret"), "form": form}
        return self._no_store(TemplateResponse(request, "admin/keys/credential/complete.html", context, status=status))

    @method_decorator(GET_OR_POST)
    def revoke_view(self, request, object_id):
        if not request.user.has_perm(REVOKE_PERMISSION):
            raise PermissionDenied
        credential = self._credential_or_404(request, object_id)
        if not credential.can_be_revoked:
            self.message_user(request, f"A {credential.get_status_display().lower()} credential cannot be revoked.", messages.WARNING)
            return redirect("admin:keys_credential_change", credential.pk)
        return self._revoke(request, Credential.objects.filter(pk=credential.pk), single=credential) or redirect(
            "admin:keys_credential_change", credential.pk
        )

    @admin.action(description="Revoke selected credentials (purges their secrets)", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        return self._revoke(request, queryset)

    def _revoke(self, request, queryset, single=None):
        """Ask for a reason, then revoke. Returns the confirmation page, or None once done."""
        queryset = queryset.select_related("institution").defer("secret")
        revocable = [c for c in queryset if c.can_be_revoked]
        confirmed = request.method == "POST" and request.POST.get("confirm") == "yes"
        form = RevokeForm(request.POST if confirmed else None)
        if confirmed and form.is_valid():
            revoked = staff.revoke(revocable, actor=staff.Actor.from_request(request), reason=form.cleaned_data["reason"], now=timezone.now())
            if revoked:
                self.message_user(request, f"Revoked {len(revoked)} credential(s); their secrets are purged and their reminders stopped.", messages.SUCCESS)
            skipped = len(queryset) - len(revoked)
            if skipped:
                self.message_user(request, f"{skipped} credential(s) were already revoked, locked or otherwise not revocable.", messages.WARNING)
            return None
        if not revocable:
            self.message_user(request, "None of the selected credentials can be revoked.", messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Revoke credentials?",
            "credentials": revocable,
            "form": form,
            "single": single,
            "action_name": "revoke_selected",
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/keys/credential/revoke_confirmation.html", context, status=400 if form.is_bound else 200)

    # Exports ---------------------------------------------------------------------------

    CSV_COLUMNS = [
        "Institution", "Institution slug", "Kind", "Client ID (masked)", "Status", "Key type",
        "Expires on", "Days left", "Last reminder sent", "Verified at", "Verified by",
    ]

    def export_csv_view(self, request):
        """The list exactly as filtered, searched and sorted on screen, without secrets."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        request.GET = request.GET.copy()
        request.GET.pop("p", None)  # every page, not the one on screen
        try:
            if self.has_nul(request):
                raise IncorrectLookupParameters("NUL in the query")
            changelist = self.get_changelist_instance(request)
        except (IncorrectLookupParameters, ValueError, OverflowError, DataError):
            return HttpResponseRedirect(reverse("admin:keys_credential_changelist") + "?e=1")
        queryset = changelist.queryset
        now = timezone.now()
        staff.record_csv_export(actor=staff.Actor.from_request(request), rows=changelist.result_count, filters=request.GET.urlencode(), now=now)
        response = StreamingHttpResponse(self._csv_lines(queryset, now), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="keydrop-credentials-{timezone.localtime(now):%Y%m%d-%H%M}.csv"'
        return self._no_store(response)

    def _csv_lines(self, queryset, now):
        writer = csv.writer(CsvEcho())
        yield writer.writerow(self.CSV_COLUMNS)
        for credential in queryset.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    csv_safe(value)
                    for value in (
                        credential.institution.name,
                        credential.institution.slug,
                        credential.kind_spec.label,
                        credential.masked_client_id,
                        credential.get_status_display(),
                        credential.get_key_type_display(),
                        credential.expires_on().isoformat() if credential.expires_at else "",
                        credential.days_left(now),
                        timezone.localtime(credential.last_reminder_at).isoformat() if credential.last_reminder_at else "",
                        timezone.localtime(credential.verified_at).isoformat() if credential.verified_at else "",
                        credential.verified_email,
                    )
                ]
            )

    @method_decorator(GET_OR_POST)
    def calendar_view(self, request):
        """The staff member's own calendar subscription address, and rotating it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        feed = CalendarFeed.objects.filter(user=request.user).first()
        if request.method == "POST":
            if feed is None:
                feed = CalendarFeed.objects.create(user=request.user)
                self.message_user(request, "Your calendar address is ready. Subscribe to it in your calendar app.", messages.SUCCESS)
            else:
                feed.rotate()
                self.message_user(request, "Your calendar address changed: the old one stopped working. Subscribe to the new one.", messages.SUCCESS)
            return redirect("admin:keys_credential_calendar")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Expiry calendar",
            "feed": feed,
        }
        return self._no_store(TemplateResponse(request, "admin/keys/credential/calendar.html", context))


# Audit trail ---------------------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(RefusesUnusableQueries, ReadOnlyAdmin):
    """Read-only for everyone, superusers included: the trail is only ever appended to."""

    list_display = ["at", "actor", "action", "institution", "credential_label", "reason_short", "ip", "detail"]
    list_filter = ["action", ("at", admin.DateFieldListFilter)]
    search_fields = ["actor", "institution__name", "institution__slug", "reason", "detail", "credential__client_id"]
    list_select_related = ["institution", "credential__institution"]
    list_per_page = 100
    show_full_result_count = False
    fields = ["at", "actor", "action", "institution", "credential", "reason", "ip", "detail"]
    readonly_fields = fields


    @admin.display(description="Credential")
    def credential_label(self, event):
        if event.credential is None:
            return "—"
        return f"{event.credential.kind_spec.label} {event.credential.masked_client_id}"

    @admin.display(description="Reason")
    def reason_short(self, event):
        return event.reason if len(event.reason) <= 80 else event.reason[:79] + "…"
