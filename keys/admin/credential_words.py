"""The credential's list columns and page fields in words: no raw code ("1y", "check_credentials"),
every field labelled, every moment in the institution's time zone (keys/display.py). Mixed into the
credential admin."""

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from keys import display, kinds
from keys.templatetags.keydrop_admin import awaiting_badge, check_badge, days_left, status_badge


def check_line(credential):
    """The last check in a word for the list (its moment on hover); nothing for a key that is over."""
    state = credential.check_state
    if not state:
        return ""
    if state == "unchecked":
        return format_html(
            '<span class="kd-check kd-check-unchecked">not checked yet</span>{}', awaiting_badge(credential)
        )
    when = display.moment(credential.last_check_at, credential.institution)
    outcome = credential.last_check_outcome
    failing = mark_safe(' <span class="kd-badge kd-failing">failing</span>') if state == "failing" else ""
    html = '<span class="kd-check kd-check-{}" title="Last check {}">{}</span>{}{}'
    return format_html(html, outcome, when, outcome, failing, awaiting_badge(credential))


class CredentialInWords:
    # The list: the columns that matter, narrow enough for 1280 px beside both sidebars, Status second
    # so a phone shows it without scrolling. The last reminder is on the key's page and in the CSV.
    # The last check shares the Status column: one narrow column says both what the key is and whether it works.
    list_display = ["institution_name", "status_badge", "key_column", "expiry_column"]

    @admin.display(description="Institution", ordering="institution__name")
    def institution_name(self, credential):
        return credential.institution.name  # not the foreign key itself: the admin would never wrap it

    list_display_links = ["key_column"]

    @admin.display(description="Status", ordering="status")
    def status_badge(self, credential):
        check = check_line(credential)
        return format_html("{}<br>{}", status_badge(credential), check) if check else status_badge(credential)

    @admin.display(description="Key", ordering="kind")
    def key_column(self, credential):
        return format_html(
            '{}<br><span class="kd-muted">{}</span>', credential.kind_spec.label, self.client_id_masked(credential)
        )

    @admin.display(description="Expires", ordering="expires_at")
    def expiry_column(self, credential):
        return format_html("{}<br>{}", display.day(credential.expires_on()), days_left(credential, timezone.now()))

    # The page ------------------------------------------------------------------------------------

    @admin.display(description="Key type")
    def key_type_shown(self, credential):
        if not credential.kind_spec.key_types:
            return f"Not asked for a {credential.kind_spec.label}"
        return credential.get_key_type_display() or display.EMPTY

    @admin.display(description="Canvas address")
    def canvas_address(self, credential):
        if not credential.kind_spec.asks_canvas_url:
            return f"Not needed for a {credential.kind_spec.label}: it is checked at Instructure"
        return credential.canvas_url or display.EMPTY

    @admin.display(description="Lifetime chosen in Canvas")
    def lifetime_shown(self, credential):
        if credential.lifetime == kinds.EXACT_DATE:
            return "An exact date, read off the key"
        if credential.lifetime == kinds.NO_DATE:
            return f"No {credential.kind_spec.expiry_label.lower()}"
        lifetime = credential.kind_spec.lifetime(credential.lifetime)
        return lifetime.label if lifetime else display.EMPTY

    @admin.display(description="Created in Canvas on")
    def created_in_canvas(self, credential):
        return display.day(credential.key_created_on)

    @admin.display(description="Expires on")
    def expiry_shown(self, credential):
        return display.expiry(credential)

    @admin.display(description="Handed over")
    def handed_over(self, credential):
        return display.moment_html(credential.submitted_at, credential.institution)

    @admin.display(description="Code confirmed")
    def confirmed(self, credential):
        return display.moment_html(credential.verified_at, credential.institution)

    @admin.display(description="Confirmed by (address on file)")
    def confirmed_by(self, credential):
        return credential.verified_email or display.EMPTY

    @admin.display(description="Replaced by")
    def replaced_by(self, credential):
        newer = credential.superseded_by
        if newer is None:
            return display.EMPTY
        url = reverse("admin:keys_credential_change", args=[newer.pk])
        return format_html('<a href="{}">{}</a>, on {}', url, newer.masked_client_id, self._when(credential))

    def _when(self, credential):
        return display.moment_html(credential.superseded_at, credential.institution)

    @admin.display(description="Revoked")
    def revoked_on(self, credential):
        return display.moment_html(credential.revoked_at, credential.institution)

    @admin.display(description="Last reminder sent")
    def last_reminder(self, credential):
        return display.moment_html(getattr(credential, "last_reminder_at", None), credential.institution)

    @admin.display(description="Last check", ordering="last_check_at")
    def last_check(self, credential):
        return check_badge(credential)
