"""The admin's OAuth2 grant of a developer key: started, completed, checked and revoked.

A developer key (id + secret) is not yet access. A Canvas admin grants it in the browser
(reference § 2.2): Keydrop sends them to ``{canvas}/login/oauth2/auth`` with a ``state`` and an
S256 PKCE challenge, Canvas sends them back to Keydrop's callback with a code, and Keydrop
exchanges the code, with the challenge's verifier, for a refresh token, which it seals like every
secret.

- The ``state`` is a signed nonce (ten minutes), and its row (``AuthorizationRequest``) is spent
  once and bound to the browser that started it: a cookie only that browser holds, of which the
  row keeps a digest.
- PKCE (S256): each request has its own verifier, sealed in its row and sent only to the token
  endpoint; the authorize URL carries only its challenge. Current Canvas stores the challenge with
  the code and refuses the exchange without the matching verifier (``lib/canvas/oauth/pkce.rb``),
  so a code caught on its way back is worthless to anyone else. A Canvas without PKCE ignores both.
- Using and refreshing the grant: ``keys/instructure/grant_tokens.py`` (one access token per grant, Keydrop
  its only refresher, and the table of what a refresh answer means).
- Deleting a token in Canvas deletes the whole grant: only a revoke does that, never a check.
"""

import datetime
import hashlib
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import models, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from keys import audit, kinds, limits
from keys.checks import records
from keys.instructure import canvas, outbound
from keys.instructure.grant_tokens import (
    GrantGone,
    GrantUnusable,
    RefreshFailed,
    access_token,
    secret_of,
    stated_expiry,
)
from keys.models import AuthorizationRequest, CanvasGrant, Credential, PipelineEvent
from keys.outcomes import Verdict
from keys.sealing import Sealed, SecretUnreadable

# keys/instructure/answers.py reaches the grant's tokens through this module: grants.access_token, grants.GrantUnusable.

log = logging.getLogger(__name__)
STATE_SALT = "keydrop.oauth-state"
AUTHORIZATIONS_PER_HOUR = 20  # per key: enough for every mistake a person makes, not for a flood


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_browser_key() -> str:
    return secrets.token_urlsafe(32)


# Starting ---------------------------------------------------------------------------------------


@sensitive_variables("verifier")
def start(credential: Credential, browser_key: str, now: datetime.datetime) -> str:
    """Record a new authorization request; returns the Canvas address to send the browser to.

    Each start takes one of the key's AUTHORIZATIONS_PER_HOUR slots first (keys/limits.py: a
    conditional UPDATE, so racing clicks cannot overshoot); raises limits.LimitReached when none is free.
    """
    limits.take(limits.authorization_scope(credential.pk), AUTHORIZATIONS_PER_HOUR, now)
    setup = kinds.developer_key_setup(credential.institution.slug)
    scopes = [scope for scope, _ in setup["scopes"]]
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(48)  # 64 characters of RFC 7636's alphabet (43 to 128 allowed)
    AuthorizationRequest.objects.create(
        credential=credential,
        nonce_digest=digest(nonce),
        browser_digest=digest(browser_key),
        redirect_uri=kinds.keydrop_callback_url(),
        scopes="\n".join(scopes),
        code_verifier=Sealed.seal(verifier),
        created_at=now,
    )
    state = signing.TimestampSigner(salt=STATE_SALT).sign(nonce)
    return canvas.authorization_url(
        credential.canvas_url,
        credential.client_id,
        kinds.keydrop_callback_url(),
        scopes,
        state,
        canvas.pkce_challenge(verifier),
    )


# The callback -----------------------------------------------------------------------------------


class StateRefused(Exception):
    """The callback's state is not one Keydrop can honour. ``why``: unknown, reused, expired, foreign."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


def redeem(state: str, browser_key: str, now: datetime.datetime) -> AuthorizationRequest:
    """The request behind a callback's state, spent by this call; StateRefused otherwise."""
    try:
        nonce = signing.TimestampSigner(salt=STATE_SALT).unsign(
            state, max_age=AuthorizationRequest.LIFETIME.total_seconds()
        )
    except signing.SignatureExpired:
        raise StateRefused("expired") from None
    except signing.BadSignature:
        raise StateRefused("unknown") from None
    request = (
        AuthorizationRequest.objects.select_related("credential__institution")
        .filter(nonce_digest=digest(nonce))
        .first()
    )
    if request is None:
        raise StateRefused("unknown")
    if request.used_at is not None:
        raise StateRefused("reused")
    if request.expired(now):
        raise StateRefused("expired")
    # Another browser (a link someone was sent) does not spend it: the right browser still can.
    if not browser_key or not secrets.compare_digest(request.browser_digest, digest(browser_key)):
        raise StateRefused("foreign")
    if not request.use(now):
        raise StateRefused("reused")
    return request


@dataclass(frozen=True)
class Completed:
    authorized: bool
    message: str  # for the admin, in words: what happened, or what to change in Canvas
    grant: CanvasGrant | None = None


# Canvas's error words on the callback, as the admin must act on them (reference § 2.2).
CALLBACK_ERRORS = {
    "access_denied": (
        "The authorization was cancelled in Canvas, so {partner} has no access yet. Click Authorize again and, "
        "in Canvas, click Authorize rather than Cancel."
    ),
    "invalid_scope": (
        "Canvas refused because the key lacks scopes {partner} needs{missing}. Add them to the key in "
        "Admin → Developer Keys (Enforce Scopes on, every scope listed on our instructions page), then authorize "
        "again."
    ),
    # authorized_for_account? is false for three reasons (developer_key.rb); each is mended in Canvas.
    "unauthorized_client": (
        "Canvas refused because this key may not be used at this Canvas. Either the key is Off for your account "
        "(switch it On in Admin → Developer Keys), or it belongs to another Canvas (another root account: the "
        "Canvas address you gave us is not the key's own, so correct the address or use a key made here), or it "
        'is a "test cluster only" key used on production (turn that setting off on the key). Each is fixed in '
        "Canvas with the same key and secret; then authorize again."
    ),
    "client_not_allowed_for_user": (
        "Canvas says you are signed in but may not authorize this app. An admin who may authorize apps in your "
        "Canvas must click Authorize: send them this page, or ask {partner} to email them the link."
    ),
}


def explain_callback_error(error: str, description: str) -> str:
    partner = settings.PORTAL_PARTNER_NAME
    if error == "invalid_scope":
        missing = [s for s in canvas.parse_missing_scopes(description) if s != canvas.CANARY_SCOPE]
        listed = f" ({', '.join(missing)})" if missing else ""
        return CALLBACK_ERRORS["invalid_scope"].format(partner=partner, missing=listed)
    if error in CALLBACK_ERRORS:
        return CALLBACK_ERRORS[error].format(partner=partner)
    word = canvas.word(error) or "an unknown error"
    return f"Canvas did not grant access ({word}). Try again; if it happens again, tell {partner}."


def finish_with_error(request: AuthorizationRequest, error: str, description: str) -> Completed:
    message = explain_callback_error(error, description)
    AuthorizationRequest.objects.filter(pk=request.pk).update(
        outcome=f"Canvas said {canvas.word(error) or 'error'}", code_verifier=None
    )
    return Completed(False, message)


@sensitive_variables("secret", "code", "verifier", "answer")
def complete(request: AuthorizationRequest, code: str, now: datetime.datetime) -> Completed:
    """Exchange the code (with the request's PKCE verifier), confirm the token with ``users/self``,
    and keep the refresh token. The verifier is spent with the code: the row forgets it."""
    credential = request.credential
    partner = settings.PORTAL_PARTNER_NAME
    if not credential.awaits_authorization:
        _spend(request, "nothing to authorize")
        return Completed(False, "This key no longer needs an authorization: nothing was changed.")
    try:
        secret = secret_of(credential)
        verifier = request.code_verifier.reveal() if request.code_verifier is not None else ""
        sent_at = timezone.now()
        with outbound.Session() as http:
            answer = canvas.exchange_code(
                http, credential.canvas_url, credential.client_id, secret, request.redirect_uri, code, verifier
            )
    except (outbound.OutboundError, SecretUnreadable) as exc:
        _spend(request, "Canvas could not be reached")
        log.warning("authorization of credential %s: %s", credential.pk, type(exc).__name__)
        return Completed(False, f"Your Canvas could not be reached just now ({exc}). Please authorize again.")
    if not answer.ok:
        return _exchange_failed(request, answer)
    try:
        with outbound.Session() as http:
            me = canvas.users_self(http, credential.canvas_url, answer.access_token)
    except outbound.OutboundError:
        me = None  # the grant exists in Canvas now: keep it, and let the daily check confirm it
    if me is not None and (me.token_dead or me.scope_missing):
        _spend(request, f"users/self answered {me.status}")
        if me.scope_missing:
            return Completed(
                False,
                f"Canvas issued a token without the scope {kinds.USERS_SELF_SCOPE}, which {partner} needs to "
                "confirm access: add it to the key in Admin → Developer Keys, then authorize again.",
            )
        return Completed(False, "Canvas issued a token that does not work. Please authorize again.")
    confirmed = me is not None and me.ok
    grant = store(credential, request, answer, me if confirmed else None, now, sent_at)
    if not confirmed:  # throttled, an outage, an unreadable answer: not a reason to throw the grant away
        return Completed(
            True,
            f"Authorized by {grant.canvas_user_name or 'you'}. Canvas could not confirm the access just now; "
            f"{partner} will check it again shortly.",
            grant,
        )
    return Completed(True, f"Authorized by {grant.canvas_user_name or 'you'}: {partner} can now use the key.", grant)


def _spend(request: AuthorizationRequest, outcome: str) -> None:
    AuthorizationRequest.objects.filter(pk=request.pk).update(outcome=outcome[:300], code_verifier=None)


def _exchange_failed(request: AuthorizationRequest, answer: canvas.Grant) -> Completed:
    _spend(request, f"code exchange answered {answer.status} {answer.error}".strip())
    if answer.status == 401 and answer.error == "invalid_client":
        return Completed(
            False,
            "Canvas no longer accepts this key's secret (it was regenerated or the key deleted). "
            "Submit the key again on your institution's page, then authorize.",
        )
    if answer.error == "invalid_grant":
        return Completed(False, "The authorization expired before it reached us. Please authorize again.")
    return Completed(False, f"Canvas did not complete the authorization (HTTP {answer.status}). Please try again.")


def store(
    credential: Credential,
    request: AuthorizationRequest,
    answer: canvas.Grant,
    me: canvas.Me | None,
    now: datetime.datetime,
    sent_at: datetime.datetime | None = None,
) -> CanvasGrant:
    """Keep the grant. ``me`` is None when Canvas could not confirm the token yet (the check will)."""
    with transaction.atomic():
        grant, _ = CanvasGrant.objects.update_or_create(
            credential=credential,
            defaults={
                "refresh_token": Sealed.seal(answer.refresh_token) if answer.refresh_token else None,
                "access_token": Sealed.seal(answer.access_token),
                "access_token_expires_at": stated_expiry(sent_at or now, answer.expires_in),
                "canvas_user_id": answer.user_id or (me.user_id if me else ""),
                "canvas_user_name": answer.user_name or (me.user_name if me else ""),
                "canvas_global_id": answer.user_global_id,
                "scopes": request.scopes,
                "authorized_at": now,
                "last_refreshed_at": now,
                "lost_at": None,
                "lost_reason": "",
                "purged_at": None,
            },
        )
        _spend(request, "authorized")
        audit.record(
            audit.Action.AUTHORIZED,
            actor=f"canvas:{grant.canvas_global_id or grant.canvas_user_id}",
            credential=credential,
            detail=f"authorized by {grant.authorized_by}"[:300],
            at=now,
        )
        PipelineEvent.objects.emit(PipelineEvent.Type.GRANT_AUTHORIZED, credential, detail=grant.authorized_by)
    if me is None:
        verdict = Verdict.inconclusive(
            f"{grant.authorized_by} granted access; Canvas could not confirm the token just now."
        )
    else:
        verdict = Verdict.works(f"Canvas accepted the key, and {grant.authorized_by} granted access.", http_status=200)
    records.record(credential, verdict, trigger=records.Trigger.AUTHORIZATION, now=now)
    return grant


# Checking it, daily -------------------------------------------------------------------------------


def authorize_again(reason: str) -> str:
    partner = settings.PORTAL_PARTNER_NAME
    return f"{reason} Authorize {partner} again (the Authorize button on your institution's page)."


@sensitive_variables("token")
def confirm(credential: Credential, verdict: Verdict, now: datetime.datetime) -> Verdict:
    """The daily check of an authorized key: the key's own verdict, and then whether the grant
    still works (the stored token, or a refreshed one, against ``users/self``).

    Only Canvas's certain words on a refresh (grant_tokens.REFRESH_ANSWERS) drop the grant, making
    the key refused with "authorize again" as the fix. Canvas refusing the stored token means
    another holder refreshed: Keydrop refreshes and asks again, and drops nothing on that."""
    grant = credential.current_grant()
    if not verdict.is_works or grant is None or credential.handover_check_pending:
        return verdict
    if grant.lost_at:  # the episode goes on until the admin authorizes again; no new alert
        return Verdict.rejected(grant.lost_reason)
    try:
        token = access_token(credential, now)
        me = _users_self(credential, token)
        if me.token_dead:  # replaced by someone else's refresh, or expired early: one refresh, one retry
            token = access_token(credential, now, refused=token.token)
            me = _users_self(credential, token)
    except GrantGone as exc:
        return lose(grant, authorize_again(str(exc)), now)
    except RefreshFailed as exc:
        return Verdict.inconclusive(f"{exc} The authorization is kept; Keydrop will try again.")
    except GrantUnusable as exc:  # revoked or lost by another worker during this check
        return Verdict.inconclusive(str(exc))
    except outbound.OutboundError as exc:
        return Verdict.inconclusive(f"Your Canvas could not be reached to confirm the authorization: {exc}.")
    return read_users_self(me, verdict, grant)


def read_users_self(me: canvas.Me, verdict: Verdict, grant: CanvasGrant) -> Verdict:
    """``users/self`` with a token the grant has just issued (or still holds), as a verdict. None
    of these drops the grant: Canvas renewed it, so it exists."""
    if me.ok:
        return Verdict.works(f"{verdict.reason} The authorization by {grant.authorized_by} works.", http_status=200)
    if me.token_dead:
        # A token Canvas issued a moment ago is refused: the user who authorized can no longer act
        # (deactivated, or lost the rights), or someone refreshed again in between. People must look.
        return Verdict.rejected(
            f"Canvas renews the authorization by {grant.authorized_by} but refuses its tokens (HTTP 401): that "
            "Canvas user may have been deactivated or lost their rights. If it goes on, ask "
            f"{settings.PORTAL_PARTNER_NAME} for a new authorization by an active admin.",
            http_status=me.status,
        )
    if me.scope_missing:
        # The token works, only not for users/self: the grant predates that scope. Data still flows.
        return Verdict.inconclusive(
            f"The authorization by {grant.authorized_by} lacks the scope {kinds.USERS_SELF_SCOPE}, so Keydrop "
            "cannot confirm it (it was granted before that scope was asked for). It is kept and still used.",
            http_status=me.status,
        )
    if me.rate_limited:
        return Verdict.inconclusive("Canvas is limiting our requests just now (HTTP 403 at users/self).")
    return Verdict.inconclusive(f"Canvas gave an answer we could not read (HTTP {me.status} at users/self).")


def _users_self(credential: Credential, token: canvas.AccessToken) -> canvas.Me:
    with outbound.Session() as http:
        return canvas.users_self(http, credential.canvas_url, token.token)


def lose(grant: CanvasGrant, reason: str, now: datetime.datetime, status: int | None = None) -> Verdict:
    """Canvas said the grant is gone: forget its token, and ask for a new authorization."""
    lost = CanvasGrant.objects.filter(pk=grant.pk, lost_at__isnull=True).update(
        lost_at=now, lost_reason=reason[:500], access_token=None, access_token_expires_at=None
    )
    if lost:  # this call lost it: pipelines hear it once
        PipelineEvent.objects.emit(PipelineEvent.Type.GRANT_LOST, grant.credential, detail=reason)
    return Verdict.rejected(reason, http_status=status)


# Revoking it ---------------------------------------------------------------------------------------


class InCanvas(models.TextChoices):
    """What revoking did to the admin's grant in Canvas: one vocabulary, for the audit trail and the page."""

    REVOKED = "revoked", "the authorization was revoked in Canvas"
    ALREADY_ENDED = "already_ended", "Canvas had already ended the authorization"
    BY_HAND = "by_hand", "the authorization could not be revoked in Canvas"


@dataclass(frozen=True)
class Revoked:
    outcome: InCanvas
    why: str = ""  # what Canvas or the network said, in words

    @property
    def done(self) -> bool:
        """Nothing is left for anyone to do in Canvas."""
        return self.outcome != InCanvas.BY_HAND

    def __str__(self) -> str:
        by_hand = "revoke it in Canvas by hand (Admin → Developer Keys, or the user's Approved Integrations)"
        if self.outcome == InCanvas.BY_HAND:
            return f"{self.outcome.label} ({self.why}): {by_hand}"
        return f"{self.outcome.label} ({self.why})" if self.why else self.outcome.label


@sensitive_variables("token")
def revoke_in_canvas(credential: Credential, now: datetime.datetime) -> Revoked | None:
    """Delete the grant in Canvas before Keydrop forgets it; None when there is no grant to end.

    A grant Keydrop thinks lost is tried too: only Canvas's own "gone" says it already ended."""
    grant = CanvasGrant.objects.filter(credential=credential).first()  # as stored now, not as cached
    if grant is None or grant.refresh_token is None:
        return None
    try:
        token = access_token(credential, now, include_lost=True)
        status = _delete(credential, token)
        if status == 401:  # the token was replaced by someone else's refresh: take the current one
            status = _delete(credential, access_token(credential, now, refused=token.token, include_lost=True))
    except GrantGone as exc:
        return Revoked(InCanvas.ALREADY_ENDED, str(exc))
    except (GrantUnusable, outbound.OutboundError, SecretUnreadable) as exc:
        return Revoked(InCanvas.BY_HAND, f"not now: {exc}")
    if status != 200:
        return Revoked(InCanvas.BY_HAND, f"Canvas did not confirm it, HTTP {status}")
    return Revoked(InCanvas.REVOKED)


def _delete(credential: Credential, token: canvas.AccessToken) -> int:
    with outbound.Session() as http:
        return canvas.delete_token(http, credential.canvas_url, token.token)


def redeem_latest(browser_key: str, now: datetime.datetime) -> AuthorizationRequest:
    """For an error answer without state (older Canvas): the newest open request of this browser."""
    if not browser_key:
        raise StateRefused("unknown")
    request = (
        AuthorizationRequest.objects.select_related("credential__institution")
        .filter(browser_digest=digest(browser_key), used_at__isnull=True)
        .filter(created_at__gte=now - AuthorizationRequest.LIFETIME)
        .order_by("-created_at")
        .first()
    )
    if request is None or not request.use(now):
        raise StateRefused("unknown")
    return request
