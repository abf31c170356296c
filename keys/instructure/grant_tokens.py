"""The admin's grant in use: one access token, one refresher, and what a refresh answer means.

Canvas keeps **one access token per grant** (``access_token.rb``: the access and the refresh token
are one row) and a refresh regenerates it: the previous token dies at once, whoever refreshed
(reference § 2.2, rows G5–G8). So:

- Keydrop is the grant's only refresher. It never hands out the refresh token unless told to
  (``export_credential --include-refresh-token``, audited, with a warning).
- A token Keydrop hands out lives until the expiry Keydrop stated with it. Keydrop refreshes only
  when no token it handed out can still be alive: the stored token's stated expiry has passed,
  or Canvas has just refused the stored token (someone else refreshed, so it is dead anyway).
- The stated expiry is never later than Canvas's: the clock is read *before* the request leaves,
  and Canvas's ``expires_in`` (``expires_at.to_i - now.to_i``, whole seconds) may round up by one.
- One refresh at a time per grant, across workers and machines: the refresh runs with the grant's
  row locked (``select_for_update`` on PostgreSQL; on SQLite, ``transaction_mode=IMMEDIATE`` makes
  the transaction hold the database's write lock). Whoever waited re-reads the row and takes the
  token the winner stored. A token that is still alive is read without any lock.

What a refresh answer means (``REFRESH_ANSWERS``, first match wins; tests/test_grant_refresh.py has
a test per row). Only Canvas's two certain words drop a grant; anything else keeps it, and the same
grant works once Canvas answers again:

    ====  =================================================  ============  ==========================
    row   answer to grant_type=refresh_token                 meaning       source
    ====  =================================================  ============  ==========================
    1     200 with an access token                           renewed       token.rb as_json
    2     400 invalid_grant "refresh_token not found"        gone          refresh_token.rb,
                                                                           request_error.rb
    3     401 invalid_client (key deleted, secret changed)   gone          base_type.rb
    4     403 with X-Rate-Limit-Remaining (throttled)        inconclusive  request_throttle.rb
    5     5xx (an outage)                                    inconclusive
    6     anything else: another 400, 401 or 403, a          inconclusive  not Canvas's word on the
          redirect, a 200 without a token, no JSON                         grant
    7     no answer: timeout, refused, our resolver          inconclusive  keys/instructure/outbound.py
    ====  =================================================  ============  ==========================
"""

import datetime
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from keys.instructure import canvas, outbound
from keys.models import CanvasGrant, Credential
from keys.sealing import Sealed, SecretUnreadable

# Canvas's expires_in is whole seconds (expires_at.to_i - now.to_i): it can overstate by up to one.
EXPIRY_ROUNDING = datetime.timedelta(seconds=1)
DEFAULT_LIFETIME = 3600  # a key without auto_expire_tokens sends no expires_in: its tokens do not expire


class GrantUnusable(Exception):
    """No token can be had from the grant now. The message says why, for people."""


class GrantGone(GrantUnusable):
    """Canvas said for certain that the grant no longer exists (rows 2 and 3): authorize again."""


class RefreshFailed(GrantUnusable):
    """Canvas gave no answer about the grant (rows 4 to 7): the grant stays; try again later."""


RENEWED, GONE, INCONCLUSIVE = "renewed", "gone", "inconclusive"


@dataclass(frozen=True)
class RefreshAnswer:
    row: int
    answer: str
    meaning: str
    says: str  # for people; {status} is the HTTP status
    matches: Callable[[canvas.Grant], bool]


REFRESH_ANSWERS = (
    RefreshAnswer(1, "200 with an access token", RENEWED, "Canvas issued a new access token.", lambda a: a.ok),
    RefreshAnswer(
        2,
        '400 invalid_grant "refresh_token not found"',
        GONE,
        "Canvas no longer knows the authorization: it was revoked, or scopes were removed from the key.",
        lambda a: a.status == 400 and a.error == "invalid_grant" and a.description == "refresh_token not found",
    ),
    RefreshAnswer(
        3,
        "401 invalid_client",
        GONE,
        "Canvas no longer accepts the key's secret: the key was deleted or its secret regenerated.",
        lambda a: a.status == 401 and a.error == "invalid_client",
    ),
    RefreshAnswer(
        4,
        "403 rate limit exceeded",
        INCONCLUSIVE,
        "Canvas is limiting our requests just now (HTTP 403, rate limit exceeded).",
        lambda a: a.rate_limited,
    ),
    RefreshAnswer(5, "5xx", INCONCLUSIVE, "Canvas had a server error (HTTP {status}).", lambda a: a.status >= 500),
    RefreshAnswer(
        6, "anything else", INCONCLUSIVE, "Canvas gave an answer we could not read (HTTP {status}).", lambda a: True
    ),
)


def read_refresh(answer: canvas.Grant) -> tuple[RefreshAnswer, str]:
    """The first row that matches the answer, and what it says in words."""
    row = next(row for row in REFRESH_ANSWERS if row.matches(answer))
    return row, row.says.format(status=answer.status)


def stated_expiry(sent_at: datetime.datetime, expires_in: int) -> datetime.datetime:
    """The expiry Keydrop states for a token Canvas issued after ``sent_at``: never later than Canvas's."""
    return sent_at + datetime.timedelta(seconds=expires_in or DEFAULT_LIFETIME) - EXPIRY_ROUNDING


def _alive(grant: CanvasGrant, now: datetime.datetime, refused: str) -> bool:
    """The stored token can be handed out: within its stated expiry, and not the one Canvas just refused."""
    if grant.access_token is None or grant.access_token_expires_at is None or now >= grant.access_token_expires_at:
        return False
    return not refused or not secrets.compare_digest(grant.access_token.reveal(), refused)


def _grants(credential: Credential, include_lost: bool):
    grants = CanvasGrant.objects.filter(credential=credential, purged_at__isnull=True)
    return grants if include_lost else grants.filter(lost_at__isnull=True)


@sensitive_variables("refused")
def access_token(
    credential: Credential, now: datetime.datetime, *, refused: str = "", include_lost: bool = False
) -> canvas.AccessToken:
    """A working access token of the credential's grant, with the expiry Keydrop states for it.

    The stored one while its stated expiry has not passed; otherwise (or when Canvas has just
    refused ``refused``, the token the caller holds) a refreshed one. GrantGone or RefreshFailed
    if Canvas does not renew it; GrantUnusable if there is no grant to use.
    """
    grant = _grants(credential, include_lost).first()
    if grant is None:
        raise GrantUnusable("Nobody has authorized this key in Canvas yet (or the authorization was revoked).")
    if _alive(grant, now, refused):
        return canvas.AccessToken(grant.access_token.reveal(), grant.access_token_expires_at)
    with transaction.atomic():
        grant = _grants(credential, include_lost).select_for_update().first()
        if grant is None:
            raise GrantUnusable("The authorization was revoked meanwhile.")
        if _alive(grant, now, refused):  # another worker refreshed while this one waited for the lock
            return canvas.AccessToken(grant.access_token.reveal(), grant.access_token_expires_at)
        return _refresh(credential, grant)


@sensitive_variables("secret", "answer")
def _refresh(credential: Credential, grant: CanvasGrant) -> canvas.AccessToken:
    """Ask Canvas for the grant's next token (the caller holds the row's lock) and keep it."""
    if grant.refresh_token is None:  # Canvas sent none with the code: this grant cannot be renewed
        raise GrantGone("Canvas gave no refresh token with this authorization, so it cannot be renewed.")
    secret = secret_of(credential)
    sent_at = timezone.now()  # before the request: Canvas's clock starts later, never earlier
    try:
        with outbound.Session() as http:
            answer = canvas.refresh(
                http, credential.canvas_url, credential.client_id, secret, grant.refresh_token.reveal()
            )
    except outbound.OutboundError as exc:  # row 7
        raise RefreshFailed(f"Your Canvas could not be reached to renew the access token ({exc}).") from None
    row, says = read_refresh(answer)
    if row.meaning == GONE:
        raise GrantGone(says)
    if row.meaning == INCONCLUSIVE:
        raise RefreshFailed(says)
    expires_at = stated_expiry(sent_at, answer.expires_in)
    CanvasGrant.objects.filter(pk=grant.pk).update(
        access_token=Sealed.seal(answer.access_token), access_token_expires_at=expires_at, last_refreshed_at=sent_at
    )
    return canvas.AccessToken(answer.access_token, expires_at)


def secret_of(credential: Credential) -> str:
    sealed = Credential.objects.filter(pk=credential.pk).values_list("secret", flat=True).first()
    if sealed is None:
        raise SecretUnreadable("no secret is stored for this key")
    return sealed.reveal()
