"""Asking Canvas whether a key works, and what each answer means: the answer tables.

Each table below is the reference's (canvas-auth-endpoints.md § 1 and § 2.1), row for row and in
its order; the first row that matches an answer gives the verdict, and the last row of each takes
whatever is left. ``tests/test_answer_tables.py`` holds a test per row.

One rule, written here once: **an irreversible step needs an answer that means it.** A verdict
that destroys a key (``Verdict.rejected``) comes only from the answers that say the key itself is
wrong: an unknown developer-key id, a wrong secret, the gateway's own JSON 401. A refusal that a
setting in Canvas mends (the key is Off, lacks scopes or our redirect URI, answers for another
account; Canvas Data 2 not enabled for the account) is ``Verdict.needs_fix``: the key is kept
sealed and checked again. Everything else (throttling, 5xx, timeouts, our own resolver failing,
bodies we cannot read, a 400 nobody documents, a redirect to another host) is inconclusive:
retried later, never an alarm to a customer.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from keys import kinds
from keys.instructure import canvas, dap_tokens, grants, outbound
from keys.outcomes import Verdict


@dataclass(frozen=True)
class Row:
    answer: str  # the answer, as the reference names it
    matches: Callable[[Any], bool]
    verdict: Callable[[Any], Verdict]


def read(table: tuple[Row, ...], answer) -> Verdict:
    return next(row for row in table if row.matches(answer)).verdict(answer)


def row_of(table: tuple[Row, ...], answer) -> str:
    """Which row an answer falls in: for tests and for anyone holding a table against the reference."""
    return next(row for row in table if row.matches(answer)).answer


def unreadable(service: str, status: int) -> Verdict:
    return Verdict.inconclusive(
        f"{service} gave an answer we could not read (HTTP {status}); we will check again later.", http_status=status
    )


# Canvas Data 2: the DAP login (reference § 1) ------------------------------------------------------

DAP = "Instructure's login service"
DAP_REJECTED = (
    "Instructure did not accept this Client ID and Secret: the secret may be mistyped, or the key was "
    "deleted, regenerated or has expired. Create a new key in Identity Services and submit it."
)


def _dap_works(answer: canvas.DapLogin) -> Verdict:
    facts = {key: answer.scope[key] for key in ("region", "principal") if key in answer.scope}
    where = f" (region {facts['region']})" if "region" in facts else ""
    return Verdict.works(f"Instructure accepted the Client ID and Secret{where}.", facts=facts, http_status=200)


def _account(type_: str) -> Callable[[canvas.DapLogin], bool]:
    return lambda answer: answer.status == 403 and answer.error_type == type_


DAP_LOGIN_ANSWERS = (
    Row("200 with access_token", lambda a: a.status == 200 and a.has_token, _dap_works),
    Row(
        "401 with the gateway's JSON error",
        lambda a: a.status == 401 and a.gateway_error,
        lambda a: Verdict.rejected(DAP_REJECTED, http_status=401),
    ),
    Row(
        "401 that is not the gateway's JSON (a proxy, a WAF)",
        lambda a: a.status == 401,
        lambda a: Verdict.inconclusive(
            "Something in front of Instructure's login service refused us (HTTP 401, not Instructure's own "
            "answer); we will check again later.",
            http_status=401,
        ),
    ),
    Row(
        "400 (meaning unpublished)",
        lambda a: a.status == 400,
        lambda a: Verdict.inconclusive(
            "Instructure's login service answered HTTP 400, which it does not document for a wrong key; the key "
            "is kept and we will check again later.",
            http_status=400,
        ),
    ),
    # Account-level: the key may be fine, the account is not. Instructure mends it; the key is kept.
    Row(
        "403 AccountDisabled",
        _account("AccountDisabled"),
        lambda a: Verdict.needs_fix(
            "Instructure reports that Canvas Data 2 is disabled for your institution's account "
            "(AccountDisabled). Ask your Canvas Customer Success Manager to enable it again, then click Check again.",
            http_status=403,
        ),
    ),
    Row(
        "403 AccountNotOnboarded",
        _account("AccountNotOnboarded"),
        lambda a: Verdict.needs_fix(
            "Instructure reports that your institution's account is not set up for Canvas Data 2 yet "
            "(AccountNotOnboarded). Ask your Canvas Customer Success Manager to enable Canvas Data 2, then click "
            "Check again.",
            http_status=403,
        ),
    ),
    Row(
        "403 AccountUnderMaintenance",
        _account("AccountUnderMaintenance"),
        lambda a: Verdict.inconclusive(
            "Instructure reports maintenance on your institution's account (AccountUnderMaintenance); "
            "we will check again later.",
            http_status=403,
        ),
    ),
    Row("403 of another type, or not JSON", lambda a: a.status == 403, lambda a: unreadable(DAP, 403)),
    Row(
        "429",
        lambda a: a.status == 429,
        lambda a: Verdict.inconclusive(
            "Instructure asked us to slow down (HTTP 429); we will check again later.", http_status=429
        ),
    ),
    Row(
        "5xx",
        lambda a: a.status >= 500,
        lambda a: Verdict.inconclusive(
            f"Instructure's login service had an error (HTTP {a.status}); we will check again later.",
            http_status=a.status,
        ),
    ),
    Row("anything else (200 without a token, a redirect, HTML)", lambda a: True, lambda a: unreadable(DAP, a.status)),
)


def not_reached(where: str, exc: outbound.OutboundError) -> Verdict:
    """Keydrop did not get an answer: never anyone's fault but, perhaps, ours."""
    if isinstance(exc, outbound.LookupFailing):
        return Verdict.inconclusive(
            f"We could not reach {where}: our own name lookups are failing (the fault is on our side, not the "
            "key's). We will check again later."
        )
    if isinstance(exc, outbound.NoSuchHost):
        return Verdict.inconclusive(f"No one answers at {where}: {exc}. We will check again later.")
    return Verdict.inconclusive(f"We could not reach {where}: {exc}. We will check again later.")


def check_dap(credential, secret: str, http: outbound.Session) -> Verdict:
    try:
        answer = canvas.dap_login(http, settings.PORTAL_DAP_API_URL, credential.client_id, secret)
    except outbound.OutboundError as exc:
        # The gateway's address is the partner's setting, never the customer's: not their fault.
        return not_reached(DAP, exc)
    return read(DAP_LOGIN_ANSWERS, answer)


# Canvas API developer keys: probes without a user (reference § 2.1) ---------------------------------

DEVELOPER_KEY_FIXES = {
    "unknown_key": (
        "Canvas does not know key ID {key}, or the key was deleted or deactivated: check the ID in the Details "
        "column of Admin → Developer Keys, or create a new key and submit it."
    ),
    "secret": "The secret does not match key ID {key}: copy it again with Show Key on the Developer Keys page.",
    "redirect_uri": (
        "The key does not list our redirect URI: add the one shown on the intake page under Redirect URIs on "
        "the key in Admin → Developer Keys."
    ),
    "scopes": "Add {count} missing scope{plural} to the key in Admin → Developer Keys: {scopes}.",
    # authorized_for_account? is false for each of these (developer_key.rb): name them all.
    "off": (
        "Canvas says the key may not be used for this account. Either it is Off (switch it On in Admin → "
        "Developer Keys), or it was created in another Canvas account than {canvas} (hand over the key made in "
        "this Canvas, or correct the Canvas address), or it is marked Test Cluster Only (clear that setting)."
    ),
    "scopes_not_enforced": (
        " Enforce Scopes is off on this key, so its tokens carry all of the authorizing admin's rights; "
        "{partner} asks for it On."
    ),
}


def throttled_or_failed(endpoint: str) -> tuple[Row, ...]:
    """The rows every Canvas endpoint shares: throttling is a 403 as text, anywhere (request_throttle.rb)."""
    return (
        Row(
            "403 (Canvas's throttle, or anything else)",
            lambda a: a.status == 403,
            lambda a: Verdict.inconclusive(
                f"Canvas is limiting our requests (HTTP 403 at its {endpoint} endpoint).", http_status=403
            ),
        ),
        Row(
            "5xx",
            lambda a: a.status >= 500,
            lambda a: Verdict.inconclusive(
                f"Canvas had an error (HTTP {a.status} at its {endpoint} endpoint).", http_status=a.status
            ),
        ),
        Row(
            "anything else",
            lambda a: True,
            lambda a: Verdict.inconclusive(
                f"Canvas gave an answer we could not read (HTTP {a.status} at its {endpoint} endpoint).",
                http_status=a.status,
            ),
        ),
    )


def authorize_answers(key: str, canvas_url: str) -> tuple[Row, ...]:
    """Probe A: ``GET /login/oauth2/auth`` as a browser would, redirects not followed."""
    return (
        Row(
            "401 invalid_client",
            lambda a: a.status == 401 and a.error == "invalid_client",
            lambda a: Verdict.rejected(DEVELOPER_KEY_FIXES["unknown_key"].format(key=key), http_status=401),
        ),
        Row(
            "400 invalid_request (redirect_uri does not match)",
            lambda a: a.status == 400 and a.error == "invalid_request",
            lambda a: Verdict.needs_fix(DEVELOPER_KEY_FIXES["redirect_uri"], http_status=400),
        ),
        Row(
            "302 to the redirect URI with invalid_scope",
            lambda a: a.lands == "redirect_uri" and a.error == "invalid_scope",
            lambda a: Verdict.needs_fix(_missing_scopes_fix(a.missing_scopes), http_status=a.status),
        ),
        Row(
            "302 to the redirect URI with unauthorized_client",
            lambda a: a.lands == "redirect_uri" and a.error == "unauthorized_client",
            lambda a: Verdict.needs_fix(DEVELOPER_KEY_FIXES["off"].format(canvas=canvas_url), http_status=a.status),
        ),
        Row(
            "302 to /login on the same host, /login/oauth2/confirm, or the redirect URI with a code",
            lambda a: a.passed,
            lambda a: Verdict.works("Canvas knows the key, it is On, and our redirect URI and scopes are set."),
        ),
        *throttled_or_failed("authorization"),
    )


def _missing_scopes_fix(missing: tuple[str, ...]) -> str:
    plural = "s" if len(missing) > 1 else ""
    return DEVELOPER_KEY_FIXES["scopes"].format(count=len(missing), plural=plural, scopes=", ".join(missing))


def token_answers(key: str) -> tuple[Row, ...]:
    """Probe B: ``POST /login/oauth2/token`` with a code that cannot exist."""
    return (
        Row(
            '401 invalid_client "unknown client"',
            lambda a: a.status == 401 and a.error == "invalid_client" and a.description == "unknown client",
            lambda a: Verdict.rejected(DEVELOPER_KEY_FIXES["unknown_key"].format(key=key), http_status=401),
        ),
        Row(
            '401 invalid_client "invalid client"',
            lambda a: a.status == 401 and a.error == "invalid_client" and a.description == "invalid client",
            lambda a: Verdict.rejected(DEVELOPER_KEY_FIXES["secret"].format(key=key), http_status=401),
        ),
        Row(
            "400 invalid_grant (authorization_code not found)",
            lambda a: a.secret_matches,
            lambda a: Verdict.works("The secret matches.", http_status=a.status),
        ),
        *throttled_or_failed("token"),
    )


@dataclass
class DeveloperKeyProbe:
    """The probes of one developer key, read into one verdict: whether, without a user, the key is
    known, On, registered, scoped and its secret right."""

    canvas_url: str
    client_id: str
    scopes: list[str]
    redirect_uris: list[str]
    matched_uri: str = ""  # the partner's redirect URI that the key registers, once probe A′ found it
    verdicts: list[Verdict] = field(default_factory=list)
    note: str = ""

    @property
    def key(self) -> str:
        return f"…{self.client_id[-4:]}"

    def verdict(self, http: outbound.Session, secret: str) -> Verdict:
        if self.redirect_uris:
            authorize = self.authorize_with_canary(http)
            found = read(authorize_answers(self.key, self.canvas_url), authorize)
            if found.destroys_key:  # an unknown key has no secret to try
                return found
            self.verdicts.append(found)
        token = canvas.token_with_random_code(http, self.canvas_url, self.client_id, secret)
        self.verdicts.append(read(token_answers(self.key), token))
        return self.combined()

    def combined(self) -> Verdict:
        """Every fix at once. The key's own fault decides (its secret goes), and the settings to mend
        in Canvas are named beside it; then the settings alone (kept); then doubt."""
        wrong = [v for v in self.verdicts if v.destroys_key]
        to_fix = [v for v in self.verdicts if v.is_rejected and v.fixable]
        unsure = [v for v in self.verdicts if v.is_inconclusive]
        for found in (wrong + to_fix, to_fix):
            if found:
                reason = " ".join(v.reason for v in found)
                return Verdict(found[0].outcome, reason, http_status=found[0].http_status, fixable=found[0].fixable)
        if unsure:
            reason = " ".join(v.reason for v in unsure) + " We will check again later."
            return Verdict.inconclusive(reason, http_status=unsure[0].http_status)
        return Verdict.works("Canvas knows the key, it is On, and the secret matches." + self.note, http_status=200)

    def authorize_with_canary(self, http: outbound.Session) -> canvas.Authorize:
        """Probe A′: the required scopes plus one that cannot exist. A key registers one redirect
        URI of the partner's (one per hosting region): try each until Canvas stops saying no.
        Canvas naming only the canary means scopes are enforced and complete: ask again without
        it to learn On or Off. Letting the canary through means Enforce Scopes is off."""
        for uri in self.redirect_uris:
            self.matched_uri = uri
            answer = canvas.authorize(http, self.canvas_url, self.client_id, uri, [*self.scopes, canvas.CANARY_SCOPE])
            if not (answer.status == 400 and answer.error == "invalid_request"):
                break
        if answer.error == "invalid_scope":
            missing = tuple(scope for scope in answer.missing_scopes if scope != canvas.CANARY_SCOPE)
            if missing:
                return canvas.Authorize(answer.status, answer.error, answer.description, missing, answer.lands)
            return canvas.authorize(http, self.canvas_url, self.client_id, self.matched_uri, self.scopes)
        if answer.passed:
            self.note = DEVELOPER_KEY_FIXES["scopes_not_enforced"].format(partner=settings.PORTAL_PARTNER_NAME)
        return answer


def check_developer_key(credential, secret: str, http: outbound.Session) -> Verdict:
    """Probe A (authorization endpoint: key known and On, redirect URI, scopes) and probe B
    (token endpoint with a random code: the secret), both without any user signing in."""
    setup = kinds.developer_key_setup(credential.institution.slug)
    probe = DeveloperKeyProbe(
        canvas_url=credential.canvas_url,
        client_id=credential.client_id,
        scopes=[scope for scope, _ in setup["scopes"]],
        redirect_uris=[uri for _, uri in setup["redirect_uris"]],
    )
    try:
        return probe.verdict(http, secret)
    except outbound.Refused as exc:
        # Our own rule, not Canvas's answer: the form refuses such addresses, and nothing is destroyed.
        return Verdict.inconclusive(f"We call Canvas only at a public https address: {exc}.")
    except outbound.OutboundError as exc:
        return not_reached(f"your Canvas ({credential.kind_spec.check_host(credential)})", exc)


CHECKS: dict[str, Callable[[Any, str, outbound.Session], Verdict]] = {
    "dap_login": check_dap,
    "developer_key_probes": check_developer_key,
}


def run(credential, secret: str, http: outbound.Session) -> Verdict:
    """The credential's kind's check. Never raises for anything the network or Canvas does."""
    return CHECKS[credential.kind_spec.check_name](credential, secret, http)


# Short-lived access tokens, for a pipeline that should not hold the secret ---------------------------


class AccessRefused(Exception):
    """Canvas would not mint an access token; the message says why, for people."""


class AccessUnavailable(AccessRefused):
    """Canvas gave no answer that says no (throttled, an outage): the same request may work later."""


def access_token(credential, secret: str, now: datetime.datetime) -> canvas.AccessToken:
    """A short-lived access token: the grant's for a developer key, a fresh login for Canvas Data 2.
    Raises outbound.OutboundError if Canvas cannot be reached, AccessRefused if it says no."""
    if credential.kind_spec.needs_grant:
        try:
            return grants.access_token(credential, now)
        except grants.RefreshFailed as exc:
            raise AccessUnavailable(str(exc)) from None
        except grants.GrantUnusable as exc:
            raise AccessRefused(str(exc)) from None
    try:  # one login shared by every pipeline while it has time left
        return dap_tokens.access_token(credential, secret, now)
    except dap_tokens.LoginRefused as exc:
        verdict = read(DAP_LOGIN_ANSWERS, exc.answer)
        raise (AccessRefused if verdict.is_rejected else AccessUnavailable)(verdict.reason) from None
