"""Pipeline tokens, webhook endpoints and their deliveries, for staff.

Making a token or an endpoint needs ``keys.manage_pipelines`` (which requires a second factor); the
token or signing secret is shown once, on a page that is not cached, and never stored in clear,
in the session or in a message. Revoking, disabling and enabling are audited actions; deliveries
are read-only but for Send again.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from keys import kinds, staff
from keys.admin.credential_views import no_store
from keys.admin.credentials import ReadOnlyAdmin
from keys.models import Institution, PipelineToken, WebhookDelivery, WebhookEndpoint
from keys.models.webhooks import EVENT_TYPES
from keys.pipelines import endpoints, tokens, webhooks

MANAGE_PERMISSION = "keys.manage_pipelines"


class TokenForm(forms.Form):
    name = forms.SlugField(max_length=80, help_text="Names the pipeline in the audit trail: pipeline:NAME.")
    kinds = forms.MultipleChoiceField(choices=kinds.CHOICES, widget=forms.CheckboxSelectMultiple)
    institutions = forms.ModelMultipleChoiceField(
        Institution.objects.order_by("name"), required=False, help_text="None chosen: every institution."
    )
    expires_in_days = forms.IntegerField(min_value=1, max_value=3650, required=False, help_text="Empty: until revoked.")
    allow_secrets = forms.BooleanField(
        required=False,
        help_text="It may read Client IDs and secrets (each read audited like a reveal). Off by default.",
    )


class EndpointForm(forms.Form):
    url = forms.CharField(max_length=500, help_text="https, a public address.")
    events = forms.MultipleChoiceField(choices=[(e, e) for e in EVENT_TYPES], widget=forms.CheckboxSelectMultiple)
    description = forms.CharField(max_length=200, required=False)


def created_page(request, title: str, name: str, value: str, note: str, done: str):
    context = {**admin.site.each_context(request), "title": title, "name": name, "value": value, "note": note}
    context["done_url"] = reverse(done)
    return no_store(TemplateResponse(request, "admin/keys/pipelines/created.html", context))


def form_page(request, title: str, form, status: int = 200):
    context = {**admin.site.each_context(request), "title": title, "form": form}
    return no_store(TemplateResponse(request, "admin/keys/pipelines/form.html", context, status=status))


@admin.register(PipelineToken)
class PipelineTokenAdmin(ReadOnlyAdmin):
    list_display = ["name", "scope", "created_by", "created_at", "last_used_at", "expires_at", "state"]
    fields = ["name", "scope", "created_by", "created_at", "last_used_at", "expires_at", "revoked_at", "revoked_by"]
    readonly_fields = fields
    actions = ["revoke"]
    search_fields = ["name", "created_by"]

    def has_add_permission(self, request):
        return request.user.has_perm(MANAGE_PERMISSION)

    @admin.display(description="Scope")
    def scope(self, token):
        return token.scope_summary()

    @admin.display(description="State")
    def state(self, token):
        return token.state(timezone.now())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("institutions")

    @sensitive_variables("plaintext")
    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = TokenForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            data, actor = form.cleaned_data, staff.Actor.from_request(request)
            try:
                token, plaintext = tokens.create(
                    data["name"],
                    kind_slugs=data["kinds"],
                    institution_slugs=[institution.slug for institution in data["institutions"]],
                    expires_in_days=data["expires_in_days"],
                    allow_secrets=data["allow_secrets"],
                    actor=actor.name,
                    ip=actor.ip,
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                note = (
                    f"Pipeline token {token.name}: {token.scope_summary()}. Send it as 'Authorization: Bearer <token>'."
                )
                return created_page(
                    request, "Pipeline token created", "Token", plaintext, note, "admin:keys_pipelinetoken_changelist"
                )
        return form_page(request, "Create a pipeline token", form, 400 if form.is_bound else 200)

    @admin.action(description="Revoke the selected tokens (audited)")
    def revoke(self, request, queryset):
        if not request.user.has_perm(MANAGE_PERMISSION):
            raise PermissionDenied
        actor = staff.Actor.from_request(request)
        done = sum(tokens.revoke(token, actor=actor.name, ip=actor.ip) for token in queryset)
        self.message_user(request, f"{done} token(s) revoked: their next request gets 401.", messages.SUCCESS)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["url", "events_list", "created_by", "failing_since", "disabled_at", "disabled_reason"]
    fields = ["url", "events_list", "description", "created_by", "created_at", "failing_since", "disabled_at"]
    readonly_fields = fields
    actions = ["disable", "enable"]

    def has_add_permission(self, request):
        return request.user.has_perm(MANAGE_PERMISSION)

    @admin.display(description="Events")
    def events_list(self, endpoint):
        return ", ".join(endpoint.events)

    @sensitive_variables("secret")
    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = EndpointForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            data, actor = form.cleaned_data, staff.Actor.from_request(request)
            try:
                endpoint, secret = endpoints.add(
                    data["url"], data["events"], actor=actor.name, ip=actor.ip, description=data["description"]
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                note = f"Deliveries to {endpoint.url} are signed with it (the webhook-signature header)."
                return created_page(
                    request,
                    "Webhook endpoint added",
                    "Signing secret",
                    secret,
                    note,
                    "admin:keys_webhookendpoint_changelist",
                )
        return form_page(request, "Add a webhook endpoint", form, 400 if form.is_bound else 200)

    def _each(self, request, queryset, change):
        if not request.user.has_perm(MANAGE_PERMISSION):
            raise PermissionDenied
        actor = staff.Actor.from_request(request)
        for endpoint in queryset:
            change(endpoint, actor)

    @admin.action(description="Disable the selected endpoints (audited)")
    def disable(self, request, queryset):
        self._each(request, queryset, lambda e, a: endpoints.disable(e, "by staff", actor=a.name, ip=a.ip))

    @admin.action(description="Enable the selected endpoints again (audited)")
    def enable(self, request, queryset):
        self._each(request, queryset, lambda e, a: endpoints.enable(e, actor=a.name, ip=a.ip))


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["event", "endpoint", "state", "attempts", "response_status", "last_error", "not_before", "sent_at"]
    list_filter = ["state"]
    list_select_related = ["event", "endpoint"]
    fields = [*list_display, "state_reason"]
    readonly_fields = fields
    actions = ["send_again"]
    show_full_result_count = False

    @admin.action(description="Send again")
    def send_again(self, request, queryset):
        if not request.user.has_perm(MANAGE_PERMISSION):
            raise PermissionDenied
        count = webhooks.send_again(list(queryset), timezone.now())
        self.message_user(request, f"{count} delivery(ies) will be sent again by the next sweep.", messages.SUCCESS)
