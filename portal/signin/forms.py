from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.utils import timezone

from portal.client import client_ip
from portal.signin import lockout


class StaffAuthenticationForm(AdminAuthenticationForm):
    """The admin's sign-in form, which first asks whether this username is in its back-off."""

    backoff_until = None

    def clean(self):
        username = self.cleaned_data.get("username")
        if username is not None and self.cleaned_data.get("password"):
            now = timezone.now()
            ip = client_ip(self.request)
            until = lockout.address_refused_until(username, ip, self.request, now)
            if until is not None:
                self.backoff_until = until
                raise ValidationError(
                    "There have been many failed sign-ins from your network lately. To slow down guessing, try "
                    f"again in {lockout.minutes_until(until, now)} minute(s). Signing in from a browser you have "
                    "used for Keydrop before is not delayed.",
                    code="address",
                )
            until = lockout.backoff_until(username, self.request, now)
            if until is not None:
                # Refused before the password is checked, so a guess here learns nothing.
                self.backoff_until = until
                raise ValidationError(
                    "There have been many failed sign-ins to this account lately. To slow down guessing, "
                    f"try again in {lockout.minutes_until(until, now)} minute(s). Signing in from a browser "
                    "you have used for Keydrop before is not delayed.",
                    code="backoff",
                )
        return super().clean()


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=40,
        strip=True,
        help_text="The 6-digit code from your authenticator app, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "inputmode": "text"}),
    )


class SetupForm(forms.Form):
    code = forms.CharField(
        label="Code from the app",
        max_length=20,
        strip=True,
        help_text="After adding the key, type the 6-digit code your app shows.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )
