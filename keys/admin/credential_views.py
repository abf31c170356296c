"""A credential's staff pages beyond its list and change form: reveal, complete, revoke, export the
list, and the staff member's calendar address.

Each page checks its permission, asks a service in ``keys.staff`` (which writes the audit event)
and answers. Pages that show or take a secret are never cached (``no_store``).
"""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import DataError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from keys import staff
from keys.admin import csv_export
from keys.admin.forms import PartnerSecretForm, RevealForm, RevokeForm
from keys.models import CalendarFeed, Credential
from keys.sealing import SecretUnreadable
from portal.signin import lookups, second_factor
from portal.signin import views as signin_views

REVEAL_PERMISSION = "keys.reveal_credential_secret"
REVOKE_PERMISSION = "keys.revoke_credential"
COMPLETE_PERMISSION = "keys.complete_partner_credential"
INVITE_PERMISSION = "keys.change_institution"  # who may email an institution's contacts its links
# Viewing a list is not exporting it: a download leaves the workspace (and its second factor) behind.
EXPORT_PERMISSION = "keys.export_csv"
GET_OR_POST = require_http_methods(["GET", "POST"])


def may_export(model_admin, request) -> bool:
    """A CSV download of a list: who may see the list and holds the export permission."""
    return model_admin.has_view_permission(request) and request.user.has_perm(EXPORT_PERMISSION)


def no_store(response):
    add_never_cache_headers(response)  # includes no-store: browsers and proxies keep no copy
    response.headers["Pragma"] = "no-cache"
    return response


class CredentialPages:
    """Mixed into the credential admin: its URLs, its revoke action and the pages behind them."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("export.csv", wrap(self.export_csv_view), name="keys_credential_export_csv"),
            path("calendar/", wrap(self.calendar_view), name="keys_credential_calendar"),
            path("<path:object_id>/reveal/", wrap(self.reveal_view), name="keys_credential_reveal"),
            path("<path:object_id>/complete/", wrap(self.complete_view), name="keys_credential_complete"),
            path("<path:object_id>/revoke/", wrap(self.revoke_view), name="keys_credential_revoke"),
            path(
                "<path:object_id>/email-authorization/",
                wrap(self.email_authorization_view),
                name="keys_credential_email_authorization",
            ),
            *super().get_urls(),
        ]

    def may_email_authorization(self, request, credential) -> bool:
        return request.user.has_perm(INVITE_PERMISSION) and credential.awaits_authorization

    def has_revoke_permission(self, request):
        return request.user.has_perm(REVOKE_PERMISSION)

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
        if not second_factor.checked_recently(request, now):
            minutes = settings.PORTAL_REVEAL_SECOND_FACTOR_SECONDS // 60
            message = f"Revealing a secret needs a second-factor check from the last {minutes} minutes."
            return signin_views.ask_again(request, message)
        form = RevealForm(request.POST if request.method == "POST" else None)
        context = {**self._page_context(request, credential, "Reveal secret"), "form": form}
        status = 200
        if form.is_bound and form.is_valid():
            actor, reason = staff.Actor.from_request(request), form.cleaned_data["reason"]
            try:
                secret = staff.reveal(credential, actor=actor, reason=reason, now=now)
            except staff.AuditUnavailable:
                form.add_error(
                    None,
                    "The audit trail could not record this access, so the secret was not revealed. Try again shortly.",
                )
                status = 503
            except staff.NotAvailable as refused:
                form.add_error(None, str(refused))
                status = 409
            except SecretUnreadable:
                form.add_error(
                    None,
                    "The stored secret cannot be decrypted with the current keys "
                    "(see rotate_keys in docs/operations.md). Nothing was revealed.",
                )
                status = 409
            else:
                context.update(secret=secret, client_id=credential.client_id, title="Secret revealed")
                return no_store(TemplateResponse(request, "admin/keys/credential/revealed.html", context))
        elif form.is_bound:
            status = 400
        return no_store(TemplateResponse(request, "admin/keys/credential/reveal.html", context, status=status))

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
            actor, now = staff.Actor.from_request(request), timezone.now()
            try:
                done = staff.complete_partner_secret(credential, form.cleaned_data["secret"], actor=actor, now=now)
            except staff.SecretRejected as rejected:
                form.add_error("secret", f"Canvas rejected this secret, so it was not stored. {rejected}")
                context = {**self._page_context(request, credential, "Enter the partner secret"), "form": form}
                return no_store(TemplateResponse(request, "admin/keys/credential/complete.html", context, status=400))
            if done:
                message = "The partner secret is stored, encrypted. The key is now active and its expiry is tracked."
                self.message_user(request, message, messages.SUCCESS)
            else:
                message = "Someone else completed this credential a moment ago; nothing was changed."
                self.message_user(request, message, messages.WARNING)
            return redirect("admin:keys_credential_change", credential.pk)
        if form.is_bound:
            status = 400
        context = {**self._page_context(request, credential, "Enter the partner secret"), "form": form}
        return no_store(TemplateResponse(request, "admin/keys/credential/complete.html", context, status=status))

    @method_decorator(GET_OR_POST)
    def revoke_view(self, request, object_id):
        if not request.user.has_perm(REVOKE_PERMISSION):
            raise PermissionDenied
        credential = self._credential_or_404(request, object_id)
        if not credential.can_be_revoked:
            message = f"A {credential.get_status_display().lower()} credential cannot be revoked."
            self.message_user(request, message, messages.WARNING)
            return redirect("admin:keys_credential_change", credential.pk)
        done = self._revoke(request, Credential.objects.filter(pk=credential.pk), single=credential)
        return done or redirect("admin:keys_credential_change", credential.pk)

    @method_decorator(require_POST)
    def email_authorization_view(self, request, object_id):
        """Send the contacts the page where they grant the developer key access in Canvas (audited)."""
        if not request.user.has_perm(INVITE_PERMISSION):
            raise PermissionDenied
        credential = self._credential_or_404(request, object_id)
        if not credential.awaits_authorization:
            self.message_user(request, "This key does not await an authorization.", messages.WARNING)
            return redirect("admin:keys_credential_change", credential.pk)
        result = staff.email_authorization_link(credential, actor=staff.Actor.from_request(request), now=timezone.now())
        if result.sent:
            self.message_user(request, f"Authorization link emailed to {', '.join(result.sent)}.", messages.SUCCESS)
        if result.failed:
            self.message_user(request, f"Could not email {', '.join(result.failed)}; try again.", messages.ERROR)
        if not result.sent and not result.failed:
            self.message_user(request, "The institution has no admin contacts on file.", messages.WARNING)
        return redirect("admin:keys_credential_change", credential.pk)

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
            actor, reason = staff.Actor.from_request(request), form.cleaned_data["reason"]
            revoked = staff.revoke(revocable, actor=actor, reason=reason, now=timezone.now())
            if revoked:
                message = f"Revoked {len(revoked)} credential(s); their secrets are purged and their reminders stopped."
                self.message_user(request, message, messages.SUCCESS)
            for credential in revoked:  # the admin's grant in Canvas, where there was one
                in_canvas = credential.revoked_in_canvas
                if in_canvas:
                    level = messages.SUCCESS if in_canvas.done else messages.WARNING
                    self.message_user(request, f"{credential}: {in_canvas}.", level)
            skipped = len(queryset) - len(revoked)
            if skipped:
                message = f"{skipped} credential(s) were already revoked, locked or otherwise not revocable."
                self.message_user(request, message, messages.WARNING)
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
        status = 400 if form.is_bound else 200
        return TemplateResponse(request, "admin/keys/credential/revoke_confirmation.html", context, status=status)

    def export_csv_view(self, request):
        """The list exactly as filtered, searched and sorted on screen, without secrets."""
        if not may_export(self, request):
            raise PermissionDenied
        request.GET = request.GET.copy()
        request.GET.pop("p", None)  # every page, not the one on screen
        list_url = reverse("admin:keys_credential_changelist")
        refused = lookups.refuse_unusable(request, list_url)
        if refused:
            return refused
        try:
            changelist = self.get_changelist_instance(request)
        except (IncorrectLookupParameters, ValueError, OverflowError, DataError):
            return HttpResponseRedirect(list_url + "?e=1")
        now = timezone.now()
        actor = staff.Actor.from_request(request)
        staff.record_csv_export(actor=actor, rows=changelist.result_count, filters=request.GET.urlencode(), now=now)
        return no_store(csv_export.response(changelist.queryset, now))

    @method_decorator(GET_OR_POST)
    def calendar_view(self, request):
        """The staff member's own calendar subscription address, and rotating it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        feed = CalendarFeed.objects.filter(user=request.user).first()
        if request.method == "POST":
            if feed is None:
                feed = CalendarFeed.objects.create(user=request.user)
                message = "Your calendar address is ready. Subscribe to it in your calendar app."
            else:
                feed.rotate()
                message = "Your calendar address changed: the old one stopped working. Subscribe to the new one."
            self.message_user(request, message, messages.SUCCESS)
            return redirect("admin:keys_credential_calendar")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Expiry calendar",
            "feed": feed,
        }
        return no_store(TemplateResponse(request, "admin/keys/credential/calendar.html", context))
