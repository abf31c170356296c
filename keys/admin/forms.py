"""Forms partner staff fill in the admin: a reason for each access, the partner secret."""

from django import forms

from keys.models import Credential

REASON_HELP = "Recorded in the audit trail with your name, the time and your address. Never paste a secret here."


class ReasonForm(forms.Form):
    """Why staff reveal or revoke: a stated reason is part of every audit event about a secret."""

    reason = forms.CharField(
        min_length=8,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "autofocus": True}),
        help_text=REASON_HELP,
        error_messages={
            "required": "Say why you need this: the reason goes into the audit trail.",
            "min_length": "Say a little more (at least %(limit_value)d characters): the reason goes "
            "into the audit trail.",
        },
    )

    def clean_reason(self):
        # One line in the audit list; Django's CharField already refuses NUL characters.
        return " ".join(self.cleaned_data["reason"].split())


class RevealForm(ReasonForm):
    pass


class RevokeForm(ReasonForm):
    pass


class PartnerSecretForm(forms.Form):
    """The secret Instructure sent the partner for an Instructure Partner key."""

    secret = forms.CharField(
        strip=False,  # a secret is taken exactly as pasted: stripping would store a different key
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=(
            "Paste the secret exactly as Instructure sent it. It is encrypted before it is stored and never shown here."
        ),
        # The kind's own check gives the specific message; this only guards the size of the request.
        max_length=8192,
    )

    def __init__(self, *args, credential: Credential, **kwargs):
        super().__init__(*args, **kwargs)
        self.credential = credential
        self.fields["secret"].label = credential.kind_spec.secret_label

    def clean_secret(self):
        return self.credential.kind_spec.clean_secret(self.cleaned_data["secret"])
