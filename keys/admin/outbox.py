"""The outbox rows staff open when something is stuck: reminders, check alerts, campaign emails, and
the checks themselves. Read-only (each row is written by its sweep), every field labelled in words
with help text saying what it means, every moment in the institution's time zone (keys/display.py).

The words live in the admin's form (``Meta.labels`` and ``Meta.help_texts``, which Django's admin
reads for read-only fields too), so the models and their migrations stay as they are.
"""

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from keys import display
from keys.admin.base import ReadOnlyAdmin
from keys.models import CampaignMessage, CheckAlert, CredentialCheck, ReminderNotice

CLAIM = "A sweep that is sending it right now writes its token here; empty when nobody holds it."
CLAIM_UNTIL = "The claim lapses then, so another sweep may take over if the first one died."
ATTEMPTS = "Times a sweep tried to send it; a failure waits longer before each new try."
LAST_ERROR = "What the mail server answered the last time sending failed; empty once sent."
NOT_BEFORE = "No sweep sends it before this moment: the due time, pushed back after a failed send."

FIELDS = {
    ReminderNotice: {
        "credential": ("Key", "The credential whose expiry this reminder announces."),
        "offset_days": ("Days before expiry", "When it goes out, counted back from the expiry; 0 is the lapse notice."),
        "due_at": ("Due", "When the reminder is due: the expiry minus the days above."),
        "not_before": ("Not before", NOT_BEFORE),
        "state": ("State", "Scheduled (waiting to be sent), sent, skipped (its day had passed) or cancelled."),
        "state_reason": ("Why", "Why it was skipped or cancelled, for example a newer key took over."),
        "claimed_by": ("Claimed by sweep", CLAIM),
        "claimed_until": ("Claimed until", CLAIM_UNTIL),
        "attempts": ("Attempts", ATTEMPTS),
        "last_error": ("Last error", LAST_ERROR),
        "sent_at": ("Sent", "When the mail server accepted it."),
        "recipients": ("Sent to", "The addresses it went to, one per line: the contacts on file then, and staff."),
    },
    CheckAlert: {
        "credential": ("Key", "The credential the alert is about."),
        "topic": ("About", "What happened: stopped working, works again, no clear answer for days, rejected…"),
        "episode": ("Episode began", "The first refusal or unclear answer of this episode: one alert per episode."),
        "reason": ("What Canvas said", "The check's answer in Keydrop's words; never a secret or a response body."),
        "created_at": ("Planned", "When the check that found it planned this alert."),
        "state": ("State", "Scheduled (waiting to be sent), sent, or cancelled (the key recovered or was fixed)."),
        "not_before": ("Not before", NOT_BEFORE),
        "claimed_by": ("Claimed by sweep", CLAIM),
        "claimed_until": ("Claimed until", CLAIM_UNTIL),
        "attempts": ("Attempts", ATTEMPTS),
        "last_error": ("Last error", LAST_ERROR),
        "sent_at": ("Sent", "When the mail server accepted it."),
        "recipients": ("Sent to", "The addresses it went to: the institution's contacts and staff, as the topic says."),
    },
    CampaignMessage: {
        "invitation": ("Invitation", "The institution in the campaign this email invites or chases."),
        "contact": ("Contact on file", "The admin contact it is for; empty if that contact was removed since."),
        "email": ("Address", "Where it goes."),
        "round": ("Round", "0 is the invitation; 1 and up are the chasers that follow it."),
        "state": ("State", "Scheduled (waiting to be sent), sent, or cancelled (a key was verified, or it closed)."),
        "state_reason": ("Why", "Why it was cancelled."),
        "not_before": ("Not before", NOT_BEFORE + " Also tomorrow, once the address had its emails for the day."),
        "claimed_by": ("Claimed by sweep", CLAIM),
        "claimed_until": ("Claimed until", CLAIM_UNTIL),
        "attempts": ("Attempts", ATTEMPTS),
        "last_error": ("Last error", LAST_ERROR),
        "sent_at": ("Sent", "When the mail server accepted it."),
        "send_day": ("Counted on day", "The day whose per-address limit it counts against."),
        "send_slot": ("Slot that day", "Which of the address's daily places it took: the limit holds across sweeps."),
    },
    CredentialCheck: {
        "credential": ("Key", "The credential Canvas was asked about."),
        "at": ("Checked", "When Keydrop asked Canvas."),
        "trigger": ("Why it ran", "Hand-over, a retry, the daily check, staff, Check again, or an authorization."),
        "outcome": (
            "Outcome",
            "Works, rejected (with the fix in words) or inconclusive (asked again, never alarming).",
        ),
        "reason": ("What Canvas said", "The answer in Keydrop's words; never a secret, a token or a response body."),
        "http_status": ("HTTP status", "The status of Canvas's answer; empty when no answer came (a timeout)."),
        "latency_ms": ("Took (ms)", "How long Canvas took to answer, in milliseconds."),
    },
}


def institution_of(row):
    owner = getattr(row, "credential", None) or getattr(row, "invitation", None)
    return owner.institution if owner is not None else None


def moment_field(name: str, label: str):
    """A date-time field shown as every staff page shows one: the institution's zone, UTC on hover."""

    @admin.display(description=label, ordering=name)
    def shown(self, row):
        return display.moment_html(getattr(row, name), institution_of(row))

    shown.__name__ = f"{name}_shown"
    return shown


@admin.display(description="Institution and key")
def owner_column(row):
    credential = getattr(row, "credential", None)
    if credential is not None:
        return format_html(
            '{}<br><span class="kd-muted">{}</span>', credential.institution, credential.masked_client_id
        )
    invitation = row.invitation
    return format_html('{}<br><span class="kd-muted">{}</span>', invitation.institution, invitation.campaign)


@admin.display(description="Last error")  # the attempts behind it are on the row's page
def error_column(row):
    return row.last_error if len(row.last_error) <= 60 else row.last_error[:59] + "…"


class OutboxAdmin(ReadOnlyAdmin):
    """Look, never change: every row is the record of a sweep's work."""

    list_per_page = 100
    show_full_result_count = False
    actions = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        words = FIELDS[cls.model]
        shown, labels, help_texts = [], {}, {}
        for name, (label, help_text) in words.items():
            field = cls.model._meta.get_field(name)
            if field.get_internal_type() == "DateTimeField":
                method = moment_field(name, label)
                setattr(cls, method.__name__, method)
                name = method.__name__
            shown.append(name)
            labels[name], help_texts[name] = label, help_text
        cls.fields = cls.readonly_fields = shown
        meta = type("Meta", (), {"model": cls.model, "fields": [], "labels": labels, "help_texts": help_texts})
        cls.form = type(f"{cls.model.__name__}OutboxForm", (forms.ModelForm,), {"Meta": meta})


@admin.register(ReminderNotice)
class ReminderNoticeAdmin(OutboxAdmin):
    model = ReminderNotice
    list_display = ["__str__", owner_column, "state", "due_at_shown", error_column]
    list_filter = ["state"]
    list_select_related = ["credential__institution"]


@admin.register(CheckAlert)
class CheckAlertAdmin(OutboxAdmin):
    model = CheckAlert
    list_display = ["__str__", owner_column, "state", "created_at_shown", error_column]
    list_filter = ["state", "topic"]
    list_select_related = ["credential__institution"]


@admin.register(CampaignMessage)
class CampaignMessageAdmin(OutboxAdmin):
    model = CampaignMessage
    list_display = ["__str__", owner_column, "state", "not_before_shown", error_column]
    list_filter = ["state"]
    list_select_related = ["invitation__institution", "invitation__campaign"]


@admin.register(CredentialCheck)
class CredentialCheckAdmin(OutboxAdmin):
    model = CredentialCheck
    list_display = [owner_column, "at_shown", "trigger", "outcome", "reason"]
    list_filter = ["outcome", "trigger"]
    list_select_related = ["credential__institution"]
