"""After a form error that is not about the secret, the customer does not paste the secret again.

Instructure shows a Canvas Data 2 secret once; making someone fetch it again because they mistyped a
date loses keys. So the secret of a form that came back for another error is kept on the server:

| rule | value |
| --- | --- |
| kept | only when the secret itself was valid, for a key whose customer has one (not a partner key) |
| where | one ``HeldSecret`` row, sealed like every secret (keys/sealing.py), never in the page, a log or the session |
| keyed by | a keyed digest of the form's one-time nonce: only the browser holding that form can use it |
| for | ``HOLD_MINUTES`` from the last error; the form's nonce is still checked as before |
| destroyed | when the submission is stored, and by the minute task once its minutes are up |
"""

import datetime

from django.utils.crypto import salted_hmac
from django.views.decorators.debug import sensitive_variables

from intake.models import HeldSecret
from keys.sealing import Sealed

HOLD_MINUTES = 10
MARKER = "secret_held"  # the form field that says a secret is held: no lookup without it


def digest(nonce: str) -> str:
    return salted_hmac("keydrop.intake.held-secret", nonce, algorithm="sha256").hexdigest()


@sensitive_variables("plaintext")
def keep(nonce: str, plaintext: str, now: datetime.datetime) -> datetime.datetime:
    """Seal the secret for the form with this nonce; returns when it will be destroyed."""
    until = now + datetime.timedelta(minutes=HOLD_MINUTES)
    HeldSecret.objects.update_or_create(
        nonce_digest=digest(nonce), defaults={"secret": Sealed.seal(plaintext), "expires_at": until}
    )
    return until


def take(nonce: str, now: datetime.datetime) -> tuple[str, datetime.datetime] | None:
    """The held secret and its expiry, if the form with this nonce still has one."""
    held = HeldSecret.objects.filter(nonce_digest=digest(nonce), expires_at__gt=now).first()
    return (held.secret.reveal(), held.expires_at) if held else None


def forget(nonce: str) -> None:
    HeldSecret.objects.filter(nonce_digest=digest(nonce)).delete()


def purge_expired(now: datetime.datetime) -> int:
    return HeldSecret.objects.filter(expires_at__lte=now).delete()[0]
