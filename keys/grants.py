"""The admin's OAuth2 grant of a developer key: started, completed, kept alive, used and revoked.

A developer key (id + secret) is not yet access. A Canvas admin grants it in the browser
(reference § 2.2): Keydrop sends them to ``{canvas}/login/oauth2/auth`` with a ``state``, Canvas
sends them back to Keydrop's callback with a code, and Keydrop exchanges the code for a refresh
token, which it seals like every secret.

- The ``state`` is a signed nonce (ten minutes), and its row (``AuthorizationRequest``) is spent
  once and bound to the browser that started it: a cookie only that browser holds, of which the
  row keeps a digest. No PKCE: Canvas's provider keeps no ``code_challenge`` (its session holds the
  client id, redirect URI, scopes and state only), so a challenge would be ignored, not checked.
- Canvas keeps one access token per grant and a refresh replaces it, so Keydrop keeps the current
  one sealed with its expiry and shares it until it nears its end (``access_token``), with the
  grant's row locked while it refreshes.
- Deleting a token in Canvas deletes the whole grant: only a revoke does that, never a check.
"""

import datetime
import hashlib
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from keys import canvas, kinds, limits, outbound
from keys.models import AuthorizationRequest, CanvasGrant, Credential
from keys.outcomes import Verdict
from keys.sealing import Sealed, SecretUnreadable

log = logging.getLogger(__name__)
STATE_SALT = "keydrop.oauth-state"
# An access token handed out keeps at least this long; one closer to its end is replaced.
ACCESS_TOKEN_MARGIN = datetime.timedelta(minutes=10)
AUTHORIZATIONS_PER_HOUR = 20  # per key: enough for every mistake a person makes, not for a flood


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_browser_key() -> str:
    return secrets.token_urlsafe(32)


# Starting ---------------------------------------------------------------------------------------


def start(credential: Credential, browser_key: str, now: datetime.datetime) -> str:
    """Record a new authorization request; returns the Canvas address to send the browser to.

    Each start takes one of the key's AUTHORIZATIONS_PER_HOUR slots first (keys/limits.py: a
    conditional UPDATE, so racing clicks cannot overshoot); raises limits.LimitReached when none is free.
    """
    limits.take(limits.authorization_scope(credential.pk), AUTHORIZATIONS_PER_HOUR, now)
    setup = kinds.developer_key_setup(credential.institution.slug)
    scopes = [scope for scope, _ in setup["scopes"]]
    nonce = secrets.token_urlsafe(32)
    AuthorizationRequest.objects.create(
        credential=credential,
        nonce_digest=digest(nonce),
        browser_digest=digest(browser_key),
        redirect_uri=kinds.keydrop_callback_url(),
        scopes="\n".join(scopes),
        created_at=now,
    )
    state = signing.TimestampSigner(salt=STATE_SALT).sign(nonce)
    return canvas.authorization_url(
        credential.canvas_url, credential.client_id, kinds.keydrop_callback_url(), scopes, state
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
    "unauthorized_client": (
        "Canvas refused because the key is Off for your account: switch it On in Admin → Developer Keys, then "
        "authorize again."
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
    AuthorizationRequest.objects.filter(pk=request.pk).update(outcome=f"Canvas said {canvas.word(error) or 'error'}")
    return Completed(False, message)


@sensitive_variables("secret", "code", "answer")
def complete(request: AuthorizationRequest, code: str, now: datetime.datetime) -> Completed:
    """Exchange the code, confirm the token with ``users/self``, and keep the refresh token."""
    credential = request.credential
    partner = settings.PORTAL_PARTNER_NAME
    if not credential.awaits_authorization:
        AuthorizationRequest.objects.filter(pk=request.pk).update(outcome="nothing to authorize")
        return Completed(False, "This key no longer needs an authorization: nothing was changed.")
    try:
        secret = _secret_of(credential)
        with outbound.Session() as http:
            answer = canvas.exchange_code(
                http, credential.canvas_url, credential.client_id, secret, request.redirect_uri, code
            )
            if not answer.ok:
                return _exchange_failed(request, answer)
            me = canvas.users_self(http, credential.canvas_url, answer.access_token)
    except (outbound.OutboundError, SecretUnreadable) as exc:
        AuthorizationRequest.objects.filter(pk=request.pk).update(outcome="Canvas could not be reached")
        log.warning("authorization of credential %s: %s", credential.pk, type(exc).__name__)
        return Completed(False, f"Your Canvas could not be reached just now ({exc}). Please authorize again.")
    if not me.ok:
        AuthorizationRequest.objects.filter(pk=request.pk).update(outcome=f"users/self answered {me.status}")
        if me.scope_missing:
            return Completed(
                False,
                f"Canvas issued a token without the scope {canvas.USERS_SELF_SCOPE}, which {partner} needs to "
                "confirm access: add it to the key in Admin → Developer Keys, then authorize again.",
            )
        return Completed(False, "Canvas issued a token that does not work. Please authorize again.")
    grant = store(credential, request, answer, me, now)
    return Completed(True, f"Authorized by {grant.canvas_user_name or 'you'}: {partner} can now use the key.", grant)


def _secret_of(credential: Credential) -> str:
    sealed = Credential.objects.filter(pk=credential.pk).values_list("secret", flat=True).first()
    if sealed is None:
        raise SecretUnreadable("no secret is stored for this key")
    return sealed.reveal()


def _exchange_failed(request: AuthorizationRequest, answer: canvas.Grant) -> Completed:
    AuthorizationRequest.objects.filter(pk=request.pk).update(
        outcome=f"code exchange answered {answer.status} {answer.error}".strip()
    )
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
    credential: Credential, request: AuthorizationRequest, answer: canvas.Grant, me: canvas.Me, now
) -> CanvasGrant:
    from keys import audit, live_checks

    with transaction.atomic():
        grant, _ = CanvasGrant.objects.update_or_create(
            credential=credential,
            defaults={
                "refresh_token": Sealed.seal(answer.refresh_token) if answer.refresh_token else None,
                "access_token": Sealed.seal(answer.access_token),
                "access_token_expires_at": now + datetime.timedelta(seconds=answer.expires_in or 3600),
                "canvas_user_id": answer.user_id or me.user_id,
                "canvas_user_name": answer.user_name or me.user_name,
                "canvas_global_id": answer.user_global_id,
                "scopes": request.scopes,
                "authorized_at": now,
                "last_refreshed_at": now,
                "lost_at": None,
                "lost_reason": "",
                "purged_at": None,
            },
        )
        AuthorizationRequest.objects.filter(pk=request.pk).update(outcome="authorized")
        audit.record(
            audit.Action.AUTHORIZED,
            actor=f"canvas:{grant.canvas_global_id or grant.canvas_user_id}",
            credential=credential,
            detail=f"authorized by {grant.authorized_by}"[:300],
            at=now,
        )
    verdict = Verdict.works(f"Canvas accepted the key, and {grant.authorized_by} granted access.", http_status=200)
    live_checks.record(credential, verdict, trigger=live_checks.Trigger.AUTHORIZATION, now=now)
    return grant


# Keeping it alive, and using it -------------------------------------------------------------------


class GrantUnusable(Exception):
    """Canvas no longer honours the grant. The message says what happened, for people."""


@sensitive_variables("secret", "answer")
def access_token(credential: Credential, now: datetime.datetime, *, margin=ACCESS_TOKEN_MARGIN) -> canvas.AccessToken:
    """A working access token of the credential's grant: the current one while it has ``margin``
    left, else a fresh one from the refresh token (the grant's row is locked while it refreshes,
    so callers at the same moment share one token instead of replacing each other's)."""
    with transaction.atomic():
        grant = CanvasGrant.objects.select_for_update().filter(credential=credential, lost_at__isnull=True).first()
        if grant is None or grant.refresh_token is None:
            raise GrantUnusable("Nobody has authorized this key in Canvas yet (or the authorization was revoked).")
        if grant.access_token is not None and grant.access_token_expires_at - now > margin:
            return canvas.AccessToken(grant.access_token.reveal(), grant.access_token_expires_at)
        secret = _secret_of(credential)
        with outbound.Session() as http:
            answer = canvas.refresh(
                http, credential.canvas_url, credential.client_id, secret, grant.refresh_token.reveal()
            )
        if not answer.ok:
            raise GrantUnusable(describe_refresh_failure(answer))
        expires_at = now + datetime.timedelta(seconds=answer.expires_in or 3600)
        CanvasGrant.objects.filter(pk=grant.pk).update(
            access_token=Sealed.seal(answer.access_token), access_token_expires_at=expires_at, last_refreshed_at=now
        )
        return canvas.AccessToken(answer.access_token, expires_at)


def describe_refresh_failure(answer: canvas.Grant) -> str:
    if answer.status == 401 and answer.error == "invalid_client":
        return "Canvas no longer accepts the key's secret: the key was deleted or its secret regenerated."
    if answer.status == 400 and "refresh_token" in answer.description:
        return "Canvas no longer knows the authorization: it was revoked, or scopes were removed from the key."
    return f"Canvas did not renew the access token (HTTP {answer.status})."


def authorize_again(reason: str) -> str:
    partner = settings.PORTAL_PARTNER_NAME
    return f"{reason} Authorize {partner} again (the Authorize button on your institution's page)."


@sensitive_variables("token")
def confirm(credential: Credential, verdict: Verdict, now: datetime.datetime) -> Verdict:
    """The daily check of an authorized key: the key's own verdict, and then whether the grant
    still works (a token, refreshed if the current one nears its end, and ``users/self``).
    A dead grant makes the key refused, with "authorize again" as the fix."""
    grant = credential.current_grant()
    if not verdict.is_works or grant is None or credential.handover_check_pending:
        return verdict
    if grant.lost_at:  # the episode goes on until the admin authorizes again; no new alert
        return Verdict.rejected(grant.lost_reason)
    try:
        token = access_token(credential, now)
        with outbound.Session() as http:
            me = canvas.users_self(http, credential.canvas_url, token.token)
    except GrantUnusable as exc:
        return lose(grant, authorize_again(str(exc)), now)
    except outbound.OutboundError as exc:
        return Verdict.inconclusive(f"Your Canvas could not be reached to renew the authorization: {exc}.")
    if me.ok:
        return Verdict.works(f"{verdict.reason} The authorization by {grant.authorized_by} works.", http_status=200)
    if me.token_dead:
        return lose(
            grant,
            authorize_again(
                "Canvas refuses the authorization's token (the key was switched Off, or the authorization revoked)."
            ),
            now,
            me.status,
        )
    if me.scope_missing:
        reason = f"The authorization lacks the scope {canvas.USERS_SELF_SCOPE} (scopes were removed from the key)."
        return lose(grant, authorize_again(reason), now, me.status)
    return Verdict.inconclusive(f"Canvas gave an answer we could not read (HTTP {me.status} at users/self).")


def lose(grant: CanvasGrant, reason: str, now: datetime.datetime, status: int | None = None) -> Verdict:
    CanvasGrant.objects.filter(pk=grant.pk, lost_at__isnull=True).update(
        lost_at=now, lost_reason=reason[:500], access_token=None, access_token_expires_at=None
    )
    return Verdict.rejected(reason, http_status=status)


@sensitive_variables("token")
def revoke_in_canvas(credential: Credential, now: datetime.datetime) -> str:
    """Delete the grant in Canvas before Keydrop forgets it. Returns what happened, in words."""
    grant = CanvasGrant.objects.filter(credential=credential).first()  # as stored now, not as cached
    if grant is None or grant.refresh_token is None:
        return ""
    try:
        token = access_token(credential, now, margin=datetime.timedelta(0))
        with outbound.Session() as http:
            deleted = canvas.delete_token(http, credential.canvas_url, token.token)
    except GrantUnusable as exc:
        return f"Canvas had already ended the authorization ({exc})"
    except (outbound.OutboundError, SecretUnreadable) as exc:
        return f"the authorization could not be revoked in Canvas ({exc}): revoke it in Canvas by hand"
    if not deleted:
        return "Canvas did not confirm revoking the authorization: revoke it in Canvas by hand"
    return "the authorization was revoked in Canvas"


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
