"""Canvas Data 2 access tokens for pipelines: one login at Instructure, shared while it has time left.

A Canvas Data 2 key logs in at the DAP gateway (``POST /ids/auth/login``, client credentials) for
an access token of about an hour. Pipelines that ask Keydrop get the token it already holds as long
as REUSE_MARGIN is left on it, so many pipelines asking at once cost Instructure one login:

- The token is sealed like every secret (``DapAccessToken``), with the expiry Keydrop states for
  it: the clock is read before the login leaves, less a second for Instructure's rounding, as for
  the grant's tokens (keys/instructure/grant_tokens.py, ``stated_expiry``).
- One login at a time per key, across workers and machines: the login runs with the key's token
  row locked (``select_for_update`` on PostgreSQL; on SQLite, ``transaction_mode=IMMEDIATE`` makes
  the transaction hold the database's write lock). Whoever waited re-reads the row and takes the
  token the winner stored. A token with time left is read without any lock.
- Unlike a grant's, a new login does not end the previous token, so renewing a little early costs
  nobody their token.
"""

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from keys.instructure import canvas, outbound
from keys.instructure.grant_tokens import stated_expiry
from keys.models import Credential, DapAccessToken
from keys.sealing import Sealed

# A pipeline handed the shared token gets at least this long to use it; a token with less is renewed.
REUSE_MARGIN = datetime.timedelta(minutes=10)


class LoginRefused(Exception):
    """Instructure's login gave no token; ``answer`` says why (the check's answer table reads it)."""

    def __init__(self, answer: canvas.DapLogin):
        super().__init__("login refused")
        self.answer = answer


def _usable(row: DapAccessToken | None, now: datetime.datetime) -> bool:
    return (
        row is not None
        and row.token is not None
        and row.expires_at is not None
        and row.expires_at - now >= REUSE_MARGIN
    )


@sensitive_variables("secret")
def access_token(credential: Credential, secret: str, now: datetime.datetime) -> canvas.AccessToken:
    """The key's shared access token, logging in only when none with REUSE_MARGIN left is held.
    Raises outbound.OutboundError if the gateway cannot be reached, LoginRefused if it says no."""
    row = DapAccessToken.objects.filter(credential=credential).first()
    if _usable(row, now):
        return canvas.AccessToken(row.token.reveal(), row.expires_at)
    DapAccessToken.objects.get_or_create(credential=credential)  # the row whose lock serialises the logins
    with transaction.atomic():
        row = DapAccessToken.objects.select_for_update().get(credential=credential)
        if _usable(row, now):  # another worker logged in while this one waited for the lock
            return canvas.AccessToken(row.token.reveal(), row.expires_at)
        return _login(credential, secret, row)


@sensitive_variables("secret", "answer")
def _login(credential: Credential, secret: str, row: DapAccessToken) -> canvas.AccessToken:
    sent_at = timezone.now()  # before the request: Instructure's clock starts later, never earlier
    with outbound.Session() as http:
        answer = canvas.dap_login(http, settings.PORTAL_DAP_API_URL, credential.client_id, secret)
    if not answer.access_token:
        raise LoginRefused(answer)
    expires_at = stated_expiry(sent_at, answer.expires_in)
    DapAccessToken.objects.filter(pk=row.pk).update(
        token=Sealed.seal(answer.access_token), expires_at=expires_at, obtained_at=sent_at
    )
    return canvas.AccessToken(answer.access_token, expires_at)


def forget_dead(now: datetime.datetime) -> int:
    """Tokens of keys no longer usable, and tokens past their expiry, are destroyed. The rows stay:
    a worker may be about to lock one."""
    dead = DapAccessToken.objects.exclude(
        credential__in=Credential.objects.usable(now)
    ) | DapAccessToken.objects.filter(expires_at__lte=now)
    return dead.filter(token__isnull=False).update(token=None, expires_at=None)
