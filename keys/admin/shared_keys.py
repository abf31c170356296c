"""One key, one institution, in the staff pages: the *shared key* filter, the other holders on each
key's page, and marking a consortium that truly shares a key (audited). Rules: keys/shared_keys.py."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_http_methods

from keys import shared_keys, staff
from keys.admin.filters import StrictListFilter
from keys.admin.forms import ReasonForm

# Who may silence the warning: those trusted to change the institutions themselves.
CONSORTIUM_PERMISSION = "keys.change_institution"


class SharedKeyFilter(StrictListFilter):
    title = "shared key"
    parameter_name = "shared_key"

    def lookups(self, request, model_admin):
        return [("flagged", "Held by another institution too"), ("consortium", "Shared by a consortium")]

    def filter(self, queryset, value):
        if value == "flagged":
            return shared_keys.flagged(queryset)
        return queryset.filter(consortium_marked_at__isnull=False)


class SharedKeyPages:
    """Mixed into the credential admin: the page that marks a key a consortium's."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/consortium/", wrap(self.consortium_view), name="keys_credential_consortium"),
            *super().get_urls(),
        ]

    def shared_key_context(self, request, credential) -> dict:
        others = shared_keys.other_holders(credential)
        return {
            "shared_with": others,
            "shared_flagged": bool(others) and shared_keys.is_flagged(credential),
            "can_mark_consortium": bool(others) and request.user.has_perm(CONSORTIUM_PERMISSION),
        }

    @method_decorator(require_http_methods(["GET", "POST"]))
    def consortium_view(self, request, object_id):
        if not request.user.has_perm(CONSORTIUM_PERMISSION):
            raise PermissionDenied
        credential = self._credential_or_404(request, object_id)
        others = shared_keys.other_holders(credential)
        if not others:
            self.message_user(request, "No other institution holds this key: nothing to mark.", messages.INFO)
            return redirect("admin:keys_credential_change", credential.pk)
        form = ReasonForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            actor = staff.Actor.from_request(request)
            marked = shared_keys.mark_consortium(
                credential, actor=actor.name, ip=actor.ip, reason=form.cleaned_data["reason"], now=timezone.now()
            )
            noun = "key is" if marked == 1 else "keys are"
            self.message_user(request, f"Marked: {marked} {noun} now recorded as shared on purpose.", messages.SUCCESS)
            return redirect("admin:keys_credential_change", credential.pk)
        context = {
            **self._page_context(request, credential, "Mark this key as shared by a consortium"),
            "form": form,
            "holders": [credential, *others],
        }
        status = 400 if form.is_bound else 200
        return TemplateResponse(request, "admin/keys/credential/consortium.html", context, status=status)
