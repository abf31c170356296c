"""Partner staff's view of institutions and credentials. No page here ever decrypts a secret."""

from django.contrib import admin
from django.db import models
from django.utils.html import format_html

from keys.models import AdminContact, Credential, Institution


class AdminContactInline(admin.TabularInline):
    model = AdminContact
    extra = 1
    fields = ["email", "name"]


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "canvas_url", "contact_count"]
    search_fields = ["name", "slug", "contacts__email"]
    prepopulated_fields = {"slug": ["name"]}
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = ["intake_link", "intake_token_rotated_at", "created_at"]
    inlines = [AdminContactInline]

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(contact_count=Count("contacts"))

    @admin.display(description="Contacts", ordering="contact_count")
    def contact_count(self, institution):
        return institution.contact_count

    @admin.display(description="Intake link")
    def intake_link(self, institution):
        if not institution.pk:
            return "Saved institutions get a link."
        url = institution.intake_url()
        return format_html('<a href="{}" rel="noreferrer">{}</a>', url, url)


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    list_display = ["institution", "kind", "masked_client_id", "status", "expires_at"]
    list_filter = ["status", "kind"]
    search_fields = ["institution__name", "institution__slug", "client_id"]
    list_select_related = ["institution"]
    date_hierarchy = None
    fields = [
        "institution", "kind", "masked_client_id", "status", "key_type", "canvas_url", "lifetime",
        "key_created_on", "expires_at", "submitted_at", "verified_at", "verified_email", "secret_state",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        # The ciphertext is not even loaded: listing never touches a secret.
        return super().get_queryset(request).visible_to_staff().defer("secret")

    def has_add_permission(self, request):
        return False

    @admin.display(description="Client ID")
    def masked_client_id(self, credential):
        return credential.masked_client_id

    @admin.display(description="Secret")
    def secret_state(self, credential):
        if credential.secret_purged_at:
            return f"Purged {credential.secret_purged_at:%Y-%m-%d}"
        return "Stored, encrypted" if Credential.objects.filter(pk=credential.pk, secret__isnull=False).exists() else "None"
