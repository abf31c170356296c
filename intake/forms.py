"""The customer-facing forms. Field names are part of the contract: client_id, client_secret, code."""

import datetime
import secrets
from urllib.parse import urlsplit

from django import forms
from django.core import signing
from django.core.exceptions import ValidationError
from django.utils import timezone

from intake import held_secrets, rules
from intake.models import normalise_code
from keys import kinds
from keys.instructure import outbound
from keys.models import AdminContact, Institution

NONCE_SALT = "keydrop.intake.form-nonce"
NONCE_MAX_AGE = 60 * 60 * 24


def new_form_nonce(institution: Institution) -> str:
    return signing.dumps([institution.pk, secrets.token_urlsafe(16)], salt=NONCE_SALT)


class ContactChoiceField(forms.ChoiceField):
    """The institution's admin addresses on file, shown masked; cleans to the AdminContact chosen.

    A plain choice field over the contacts the form loaded once: a model choice field would copy
    its queryset for every form and ask the database again for the one chosen."""

    widget = forms.RadioSelect

    def __init__(self, **kwargs):
        super().__init__(choices=(), **kwargs)
        self.contacts: dict[str, AdminContact] = {}

    def offer(self, contacts: list[AdminContact]) -> None:
        self.contacts = {str(contact.pk): contact for contact in contacts}
        self.choices = [(contact.pk, contact.masked_email) for contact in contacts]

    def clean(self, value) -> AdminContact | None:
        chosen = super().clean(value)
        return self.contacts[str(chosen)] if chosen not in self.empty_values else None


class SubmissionForm(forms.Form):
    """Client ID, secret and expiry of one credential, for one institution and kind."""

    client_id = forms.CharField(max_length=None)
    client_secret = forms.CharField(
        strip=False,  # a secret is kept exactly as pasted; Django strips by default
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    key_type = forms.ChoiceField(choices=kinds.KeyType.choices, widget=forms.RadioSelect, required=False)
    canvas_url = forms.URLField(required=False, assume_scheme="https", label="Canvas address", max_length=200)
    expiry = forms.ChoiceField(widget=forms.RadioSelect)
    created_on = forms.DateField(
        required=False, label="Date the key was created", widget=forms.DateInput(attrs={"type": "date"})
    )
    expires_on = forms.DateField(required=False, label="Exact date", widget=forms.DateInput(attrs={"type": "date"}))
    contact = ContactChoiceField(label="Send the code to")
    form_nonce = forms.CharField(widget=forms.HiddenInput)

    def __init__(
        self,
        *args,
        institution: Institution,
        kind: kinds.Kind,
        now: datetime.datetime | None = None,
        key_type: str = "",
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.institution, self.kind = institution, kind
        self.now = now or timezone.now()
        self.warnings: list[str] = []
        self.today = timezone.localtime(self.now, institution.tz).date()
        self.secret_held_until: datetime.datetime | None = None  # a secret kept after an error (held_secrets)

        fields = self.fields
        fields["client_id"].label = kind.client_id_label
        fields["client_id"].help_text = kind.client_id_help
        fields["client_id"].error_messages["required"] = f"Enter the {kind.client_id_label}."
        fields["client_secret"].label = kind.secret_label
        fields["client_secret"].help_text = kind.secret_help
        choices = [(lifetime.code, lifetime.label) for lifetime in kind.lifetimes]
        choices.append((kinds.EXACT_DATE, "An exact date"))
        if kind.expiry_optional:
            choices.append((kinds.NO_DATE, "No review date"))
        fields["expiry"].choices = choices
        fields["expiry"].label = kind.expiry_label
        fields["expiry"].initial = kind.default_lifetime
        fields["created_on"].initial = self.today
        self.contacts = list(institution.contacts.all())  # once, for the choices and for cleaning
        fields["contact"].offer(self.contacts)
        self._plain_messages(kind)
        if not kind.key_types:
            del fields["key_type"]
        else:
            chosen = key_type if key_type in kind.key_types else kinds.KeyType.INSTITUTIONAL
            fields["key_type"].initial = chosen
        if not kind.asks_canvas_url:
            del fields["canvas_url"]
        else:
            fields["canvas_url"].initial = institution.canvas_url
        if not self.is_bound:
            if len(self.contacts) == 1:
                fields["contact"].initial = self.contacts[0].pk
            self.initial["form_nonce"] = new_form_nonce(institution)

    def _plain_messages(self, kind: kinds.Kind) -> None:
        """Every message in words a Canvas admin reads at once, never Django's stock "This field is required"."""
        fields, dated = self.fields, "Enter the date as a day, month and year, such as 2026-12-06."
        fields["contact"].error_messages.update(
            required="Choose the admin address we should email your code to.",
            invalid_choice="That address is no longer on file. Reload the page and choose one of those listed.",
        )
        fields["expiry"].error_messages.update(
            required=f"Choose the {kind.expiry_label.lower()} you set for the key in Canvas.",
            invalid_choice=f"Choose one of the {kind.expiry_label.lower()} choices listed.",
        )
        fields["key_type"].error_messages["invalid_choice"] = "Choose Institutional Use or Instructure Partner."
        fields["canvas_url"].error_messages["invalid"] = (
            "Enter just the https address of your Canvas, such as https://example.instructure.com."
        )
        fields["created_on"].error_messages["invalid"] = dated
        fields["expires_on"].error_messages["invalid"] = dated
        fields["form_nonce"].error_messages["required"] = "This form has expired. Reload the page and submit again."

    @property
    def partner_key(self) -> bool:
        return kinds.is_partner_key(self.cleaned_data.get("key_type"))

    def clean_client_id(self):
        value, warnings = self.kind.clean_client_id(self.cleaned_data["client_id"])
        self.warnings.extend(warnings)
        return value

    def clean_key_type(self):
        return self.cleaned_data.get("key_type") or kinds.KeyType.INSTITUTIONAL

    def clean_canvas_url(self):
        value = self.cleaned_data.get("canvas_url", "")
        if not value:
            raise ValidationError(
                "Enter your Canvas address, such as https://example.instructure.com.", code="required"
            )
        parts = urlsplit(value)
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            raise ValidationError(
                "Enter just the https address of your Canvas, such as https://example.instructure.com.", code="format"
            )
        address = f"{parts.scheme}://{parts.netloc.lower()}"
        # The same rules the checks obey: https, and a public address (plain http to loopback only
        # where PORTAL_OUTBOUND_ALLOW_PRIVATE allows it, for local fakes).
        problem = outbound.Policy.from_settings().url_problem(address)
        if problem == "it is not an https address":
            raise ValidationError(
                "Enter just the https address of your Canvas, such as https://example.instructure.com.", code="format"
            )
        # A name that truly does not exist is a typo we can name now, before anything is stored; when
        # our own lookups fail, address_problem cannot tell, and the check says it was Keydrop.
        looked_up = None if problem else outbound.address_problem(parts.hostname)
        if looked_up == "missing":
            raise ValidationError(
                f"No Canvas answers at {parts.hostname}: that name does not exist. Check your Canvas address.",
                code="no_such_host",
            )
        if problem or looked_up == "private":
            raise ValidationError(
                "Enter the public address of your Canvas, such as https://example.instructure.com: we can only reach "
                "Canvas at a public https address.",
                code="private",
            )
        return address

    def clean_form_nonce(self):
        try:
            institution_pk, nonce = signing.loads(
                self.cleaned_data["form_nonce"], salt=NONCE_SALT, max_age=NONCE_MAX_AGE
            )
        except (signing.BadSignature, ValueError, TypeError):
            raise ValidationError("This form has expired. Reload the page and submit again.", code="nonce") from None
        if institution_pk != self.institution.pk:
            raise ValidationError("This form belongs to another link. Reload the page and submit again.", code="nonce")
        return nonce  # the random part: stored, unique, so a replayed form stores nothing

    def clean(self):
        data = super().clean()
        if "key_type" in self.fields and self.partner_key:
            if data.get("client_secret"):
                self.add_error(
                    "client_secret",
                    "An Instructure Partner key has no secret for you to paste: Instructure sends it to us "
                    "directly. Leave this empty, or choose Institutional Use.",
                )
        elif "client_secret" not in self.errors:
            self._use_held_secret(data)
            try:
                data["client_secret"] = self.kind.clean_secret(data.get("client_secret", ""))
            except ValidationError as error:
                self.add_error("client_secret", error)
        self._clean_expiry(data)
        return data

    # A secret kept after an error that was not about it (intake/held_secrets.py) ------------

    def _use_held_secret(self, data) -> None:
        """An empty secret field on a form whose secret we hold: the held one, as if pasted again."""
        if data.get("client_secret") or not self.data.get(held_secrets.MARKER) or not data.get("form_nonce"):
            return
        held = held_secrets.take(data["form_nonce"], self.now)
        if held:
            data["client_secret"], self.secret_held_until = held

    def hold_secret(self) -> None:
        """The form came back with errors: keep its secret sealed if the secret itself was right."""
        nonce, secret = self.cleaned_data.get("form_nonce"), self.cleaned_data.get("client_secret")
        partner = "key_type" in self.fields and self.partner_key
        if not nonce or not secret or partner or "client_secret" in self.errors:
            return
        self.secret_held_until = held_secrets.keep(nonce, secret, self.now)
        until = timezone.localtime(self.secret_held_until, self.institution.tz)
        # The bound field copied the help text when the form was cleaned: it is told, not the field.
        self["client_secret"].help_text = (
            f"We kept the {self.kind.secret_label.lower()} you pasted, sealed on our server, until "
            f"{until:%H:%M} ({until.tzname()}): leave this empty to use it, or paste it again to replace it."
        )

    def release_secret(self) -> None:
        """The submission is stored: a secret held for this form is destroyed."""
        if self.data.get(held_secrets.MARKER) and self.cleaned_data.get("form_nonce"):
            held_secrets.forget(self.cleaned_data["form_nonce"])

    def _clean_expiry(self, data):
        lifetime, created_on, exact_on = data.get("expiry"), data.get("created_on"), data.get("expires_on")
        if lifetime is None:
            return
        if lifetime == kinds.EXACT_DATE:
            if not exact_on:
                self.add_error("expires_on", f"Enter the {self.kind.expiry_label.lower()} shown in Canvas.")
                return
        elif lifetime != kinds.NO_DATE:
            if not created_on:
                self.add_error("created_on", "Enter the date you created the key.")
                return
            if created_on > self.today:
                self.add_error("created_on", "The creation date can't be in the future.")
                return
        expires_on = self.kind.expiry_date(lifetime, created_on, exact_on)
        if expires_on is not None and expires_on <= self.today:
            field = "expires_on" if lifetime == kinds.EXACT_DATE else "created_on"
            self.add_error(
                field,
                f"That key's {self.kind.expiry_label.lower()} ({expires_on:%-d %B %Y}) has already "
                "passed. Create a new key and submit that one.",
            )
            return
        if expires_on is not None and expires_on > self.today + datetime.timedelta(days=3 * 366):
            self.add_error("expires_on", "That date is more than three years away. Check the date shown in Canvas.")
            return
        data["expires_on"] = expires_on
        data["created_on"] = created_on if lifetime not in (kinds.EXACT_DATE, kinds.NO_DATE) else None


class CodeForm(forms.Form):
    code = forms.CharField(
        max_length=32,
        label=f"{rules.code_digits().capitalize()}-digit code",
        error_messages={
            "required": f"Enter the {rules.code_digits()} digits from the email.",
            "max_length": f"That is longer than a code: enter the {rules.code_digits()} digits from the email.",
        },
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 -]*", "maxlength": "32"}
        ),
    )

    def clean(self):
        if hasattr(self.data, "getlist") and len(self.data.getlist("code")) > 1:
            raise ValidationError("Enter the code once.", code="duplicate")
        return super().clean()

    def clean_code(self):
        code = normalise_code(self.cleaned_data["code"])
        if code is None:
            message = f"Enter the {rules.code_digits()} digits from the email, using the numbers 0 to 9."
            raise ValidationError(message, code="format")
        return code
