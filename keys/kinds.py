"""The kinds of credential Keydrop collects, each described as data in one place.

A kind says what its fields are called, how to check them, which expiry choices Canvas offers,
how a customer creates the key (the numbered steps on the intake page and in renewal emails),
which variable names a pipeline reads, and how to ask Canvas whether a key works and how to read
each answer (its live check: the answer tables below, and one ``check`` method). Code elsewhere
asks the kind; it never tests ``if kind == ...``.
"""

import calendar
import datetime
import re
import shlex
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.html import escape, format_html

from keys import canvas, outbound
from keys.outcomes import Verdict

MAX_SECRET_LENGTH = 4096  # bytes of ASCII; anything longer is a paste gone wrong, never truncated


@dataclass(frozen=True)
class Lifetime:
    """An expiry choice as Canvas shows it, e.g. "1 year"."""

    code: str
    label: str
    days: int = 0
    months: int = 0

    def added_to(self, start: datetime.date) -> datetime.date:
        month_index = start.month - 1 + self.months
        year, month = start.year + month_index // 12, month_index % 12 + 1
        # 31 January + 1 month is the last day of February, as calendars (and Canvas) count.
        day = min(start.day, calendar.monthrange(year, month)[1])
        return datetime.date(year, month, day) + datetime.timedelta(days=self.days)


EXACT_DATE = "exact"
NO_DATE = "none"


class KeyType(models.TextChoices):
    INSTITUTIONAL = "institutional", "Institutional Use"
    PARTNER = "partner", "Instructure Partner"


def is_partner_key(key_type: str | None) -> bool:
    """A partner key's secret goes from Instructure to the partner: the customer never has it."""
    return key_type == KeyType.PARTNER


def partner_email_sentence(partner_email: str) -> str:
    """The sentence naming the address the partner is registered with at Instructure, if it is known."""
    return f" Enter {partner_email} in the email field." if partner_email else ""


@dataclass(frozen=True)
class Step:
    title: str
    text: str
    link_text: str = ""  # a part of the text shown as a link to link_url
    link_url: str = ""

    def html(self) -> str:
        """The text, escaped, with its link; ready for a template."""
        if not self.link_text or self.link_text not in self.text:
            return escape(self.text)
        before, _, after = self.text.partition(self.link_text)
        return format_html('{}<a href="{}">{}</a>{}', before, self.link_url, self.link_text, after)

    def with_partner(self, **names) -> "Step":
        return Step(self.title.format(**names), self.text.format(**names), self.link_text, self.link_url)


@dataclass(frozen=True)
class Kind:
    slug: str
    label: str
    client_id_label: str
    client_id_help: str
    secret_label: str
    secret_help: str
    expiry_label: str  # "Expiry" or "Review date"
    lifetimes: tuple[Lifetime, ...]
    default_lifetime: str
    steps: tuple[Step, ...]
    renewal_steps: tuple[str, ...]
    env_names: tuple[str, str]
    key_types: tuple[str, ...] = ()
    asks_canvas_url: bool = False
    expiry_optional: bool = False
    shows_scopes: bool = False
    client_id_example: str = ""
    lapse_consequence: str = "the data feed stops"
    # Steps that differ for an Instructure Partner key, by their position in `steps`.
    partner_steps: tuple[tuple[int, Step], ...] = ()
    # The renewal emails' steps for an Instructure Partner key: the same choices as partner_steps.
    partner_renewal_steps: tuple[str, ...] = ()
    guide_title: str = ""
    guide_url: str = ""
    # How its date is spoken of: a Canvas Data 2 key expires, a developer key is due for review.
    expires_verb: str = "expires"
    expired_phrase: str = "has expired"
    renew_instruction: str = "Create a new key and submit it below."
    # The likely causes when a key that worked is refused, for the alert to the institution.
    failure_causes: tuple[str, ...] = ()
    # A key that is not yet access: a Canvas admin must also grant it through OAuth2.
    needs_grant: bool = False

    # Format checks -------------------------------------------------------------------

    def clean_client_id(self, value: str) -> tuple[str, list[str]]:
        """Return the normalised Client ID and any warnings, or raise ValidationError."""
        raise NotImplementedError

    def clean_secret(self, value: str) -> str:
        if value == "":
            raise ValidationError(f"Enter the {self.secret_label.lower()}.", code="required")
        if len(value.encode("utf-8")) > MAX_SECRET_LENGTH:
            raise ValidationError(
                f"That is longer than any {self.secret_label.lower()} ({len(value)} characters, "
                f"at most {MAX_SECRET_LENGTH}). Copy it again with the Copy Text button.",
                code="too_long",
            )
        if any(ch.isspace() for ch in value):
            raise ValidationError(
                f"The {self.secret_label.lower()} contains spaces or line breaks. Copy it again with "
                "the Copy Text button.",
                code="whitespace",
            )
        if not all("!" <= ch <= "~" for ch in value):
            raise ValidationError(
                f"The {self.secret_label.lower()} contains characters that cannot be part of it "
                "(control characters or non-ASCII letters). Copy it again with the Copy Text button.",
                code="characters",
            )
        return value

    def instructions(self, partner_name: str, key_type: str = "", partner_email: str = "", **terms) -> list[Step]:
        """The steps as the intake page shows them; an Instructure Partner key replaces the steps that
        differ for it. `terms` are the verification rules' numbers a step states ("{code_digits}-digit
        code"); the intake owns those rules and passes them in."""
        replaced = dict(self.partner_steps) if key_type == KeyType.PARTNER else {}
        return [
            replaced.get(index, step).with_partner(
                partner=partner_name, partner_email=partner_email_sentence(partner_email), **terms
            )
            for index, step in enumerate(self.steps)
        ]

    def due_sentence(self, days: int) -> str:
        when = "today" if days <= 0 else "tomorrow" if days == 1 else f"in {days} days"
        return f"It {self.expires_verb} {when}."

    def lapsed_sentence(self, day: datetime.date | None) -> str:
        return f"Its {self.expiry_label.lower()} was {day:%-d %B %Y}." if day else f"It {self.expired_phrase}."

    def renewal_instructions(self, partner_name: str, key_type: str = "", partner_email: str = "") -> list[str]:
        """The short steps of a renewal email: a partner key is renewed as a partner key again."""
        steps = self.partner_renewal_steps if is_partner_key(key_type) else ()
        return [
            text.format(partner=partner_name, partner_email=partner_email_sentence(partner_email))
            for text in steps or self.renewal_steps
        ]

    def renewal_instructions_for(self, credential) -> list[str]:
        """The renewal steps for this credential (an Instructure Partner key gets the partner-key
        steps), in the partner's name: what every email asking for a new key lists."""
        return self.renewal_instructions(
            settings.PORTAL_PARTNER_NAME, credential.key_type, settings.PORTAL_PARTNER_KEY_EMAIL
        )

    def lifetime(self, code: str) -> Lifetime | None:
        return next((choice for choice in self.lifetimes if choice.code == code), None)

    def expiry_date(
        self, lifetime: str, created_on: datetime.date | None, exact_on: datetime.date | None
    ) -> datetime.date | None:
        """The date the key stops working, from the choice made in Canvas or a stated date."""
        if lifetime == EXACT_DATE:
            return exact_on
        if lifetime == NO_DATE and self.expiry_optional:
            return None
        return self.lifetime(lifetime).added_to(created_on)

    # Live check ------------------------------------------------------------------------------

    def check_host(self, credential) -> str:
        """The Canvas host a check calls: the unit of Keydrop's per-host rate limit."""
        raise NotImplementedError

    def check(self, credential, secret: str, http: outbound.Session) -> Verdict:
        """Ask Canvas whether the credential works, and read the answer. Never raises for
        anything the network or Canvas does: every answer is works, rejected or inconclusive."""
        raise NotImplementedError

    def access_token(self, credential, secret: str, now: datetime.datetime) -> canvas.AccessToken:
        """A freshly minted short-lived access token, for a pipeline that should not hold the secret.
        Raises outbound.OutboundError if Canvas cannot be reached, AccessRefused if it says no."""
        raise NotImplementedError

    def mask(self, client_id: str) -> str:
        """Enough to recognise a Client ID, not enough to use it: region and last four."""
        prefix, _, rest = client_id.rpartition("#")
        tail = rest[-4:] if len(rest) > 8 else ""
        return f"{prefix + '#' if prefix else ''}…{tail}"


_DAP_CLIENT_ID = re.compile(
    r"^(?:(?P<region>[a-z]{2}-[a-z]+-[0-9]{1,2})#)?"
    r"(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)


class DataAccessPlatformKind(Kind):
    def clean_client_id(self, value: str) -> tuple[str, list[str]]:
        value = value.strip()
        if not value:
            raise ValidationError("Enter the Client ID.", code="required")
        match = _DAP_CLIENT_ID.match(value.lower())
        if not match or len(value) > 80:
            raise ValidationError(
                "That doesn't look like a Canvas Data 2 Client ID. It looks like "
                f"{self.client_id_example}: a region, #, and a 36-character ID.",
                code="format",
            )
        warnings = []
        if not match["region"]:
            warnings.append(
                "The Client ID has no region prefix (such as us-east-1#). We accepted it; if you "
                "copied only part of it, submit the whole value again."
            )
        return value.lower(), warnings

    def check_host(self, credential) -> str:
        return urlsplit(settings.PORTAL_DAP_API_URL).hostname or ""

    def check(self, credential, secret: str, http: outbound.Session) -> Verdict:
        try:
            answer = canvas.dap_login(http, settings.PORTAL_DAP_API_URL, credential.client_id, secret)
        except outbound.OutboundError as exc:
            # The gateway's address is the partner's setting, never the customer's: not their fault.
            return Verdict.inconclusive(f"Instructure's login service could not be reached: {exc}.")
        return read_dap_login(answer)

    def access_token(self, credential, secret: str, now: datetime.datetime) -> canvas.AccessToken:
        with outbound.Session() as http:
            answer = canvas.dap_login(http, settings.PORTAL_DAP_API_URL, credential.client_id, secret)
        if not answer.access_token:
            raise AccessRefused(read_dap_login(answer).reason)
        return canvas.AccessToken(answer.access_token, now + datetime.timedelta(seconds=answer.expires_in or 3600))


class AccessRefused(Exception):
    """Canvas would not mint an access token; the message says why, for people."""


# How Keydrop reads each answer of the DAP login (reference § 1). ---------------------------------

DAP_REJECTED = (
    "Instructure did not accept this Client ID and Secret: the secret may be mistyped, or the key was "
    "deleted, regenerated or has expired. Create a new key in Identity Services and submit it."
)
DAP_MALFORMED = (
    "Instructure could not read this Client ID and Secret (HTTP 400). Copy both again with the Copy Text "
    "buttons and submit them."
)
# 403 answers name an account-level problem: the key may be fine, the account is not.
DAP_ACCOUNT_PROBLEMS = {
    "AccountDisabled": Verdict.rejected(
        "Instructure reports that Canvas Data 2 is disabled for your institution's account "
        "(AccountDisabled). Ask your Canvas Customer Success Manager to enable it again.",
        http_status=403,
    ),
    "AccountNotOnboarded": Verdict.rejected(
        "Instructure reports that your institution's account is not set up for Canvas Data 2 yet "
        "(AccountNotOnboarded). Ask your Canvas Customer Success Manager to enable Canvas Data 2.",
        http_status=403,
    ),
    # Maintenance passes by itself: never an alarm, and never a reason to discard a key.
    "AccountUnderMaintenance": Verdict.inconclusive(
        "Instructure reports maintenance on your institution's account (AccountUnderMaintenance); "
        "we will check again later.",
        http_status=403,
    ),
}


def read_dap_login(answer: canvas.DapLogin) -> Verdict:
    status = answer.status
    if status == 200 and answer.has_token:
        facts = {key: answer.scope[key] for key in ("region", "principal") if key in answer.scope}
        where = f" (region {facts['region']})" if "region" in facts else ""
        return Verdict.works(f"Instructure accepted the Client ID and Secret{where}.", facts=facts, http_status=200)
    if status == 401:
        return Verdict.rejected(DAP_REJECTED, http_status=401)
    if status == 400:
        return Verdict.rejected(DAP_MALFORMED, http_status=400)
    if status == 403 and answer.error_type in DAP_ACCOUNT_PROBLEMS:
        return DAP_ACCOUNT_PROBLEMS[answer.error_type]
    if status == 403 and answer.error_type:
        return Verdict.rejected(
            f"Instructure refused access for your institution's account ({answer.error_type}). "
            "Ask your Canvas Customer Success Manager what it means for Canvas Data 2.",
            http_status=403,
        )
    if status == 429:
        return Verdict.inconclusive(
            "Instructure asked us to slow down (HTTP 429); we will check again later.", http_status=429
        )
    if status >= 500:
        return Verdict.inconclusive(
            f"Instructure's login service had an error (HTTP {status}); we will check again later.", http_status=status
        )
    # 200 without a token, a 403 from a proxy, an HTML page: nothing we can act on.
    return Verdict.inconclusive(
        f"Instructure's login service gave an answer we could not read (HTTP {status}); we will check again later.",
        http_status=status,
    )


_DEVELOPER_KEY_ID = re.compile(r"^[0-9]{14,16}$")
_DEVELOPER_KEY_SECRET = re.compile(r"^[A-Za-z0-9]{64}$")


class DeveloperKeyKind(Kind):
    def clean_client_id(self, value: str) -> tuple[str, list[str]]:
        value = value.strip()
        if not value:
            raise ValidationError("Enter the key ID.", code="required")
        if not _DEVELOPER_KEY_ID.match(value):
            raise ValidationError(
                "A developer key ID is 14 to 16 digits, such as 170000000000123. Copy it from "
                "the Details column on the Developer Keys page.",
                code="format",
            )
        return value, []

    def clean_secret(self, value: str) -> str:
        value = super().clean_secret(value)
        if not _DEVELOPER_KEY_SECRET.match(value):
            raise ValidationError(
                f"A developer key secret is 64 letters and digits; this one has {len(value)} characters. "
                "Click Show Key on the Developer Keys page and copy it again.",
                code="format",
            )
        return value

    def mask(self, client_id: str) -> str:
        return f"…{client_id[-4:]}"

    def access_token(self, credential, secret: str, now: datetime.datetime) -> canvas.AccessToken:
        from keys import grants  # grants builds on the kinds

        try:
            return grants.access_token(credential, now)
        except grants.GrantUnusable as exc:
            raise AccessRefused(str(exc)) from None

    def check_host(self, credential) -> str:
        return urlsplit(credential.canvas_url).hostname or ""

    def check(self, credential, secret: str, http: outbound.Session) -> Verdict:
        """Probe A (authorization endpoint: key known and On, redirect URI, scopes) and probe B
        (token endpoint with a random code: the secret), both without any user signing in."""
        setup = developer_key_setup(credential.institution.slug)
        key = DeveloperKeyProbe(
            canvas_url=credential.canvas_url,
            client_id=credential.client_id,
            scopes=[scope for scope, _ in setup["scopes"]],
            redirect_uris=[uri for _, uri in setup["redirect_uris"]],
        )
        try:
            return key.verdict(http, secret)
        except outbound.Refused as exc:
            return Verdict.rejected(f"Keydrop can reach Canvas only at a public https address: {exc}.")
        except outbound.NoSuchHost:
            return Verdict.rejected(DEVELOPER_KEY_FIXES["no_such_host"].format(host=self.check_host(credential)))
        except outbound.OutboundError as exc:
            return Verdict.inconclusive(f"Your Canvas could not be reached: {exc}; we will check again later.")


# How Keydrop reads the developer-key probes (reference § 2.1). Each fix names where to click. ------

DEVELOPER_KEY_FIXES = {
    "unknown_key": (
        "Canvas does not know key ID {key}, or the key was deleted or deactivated: check the ID in the Details "
        "column of Admin → Developer Keys, or create a new key and submit it."
    ),
    "redirect_uri": (
        "The key does not list our redirect URI: add the one shown on the intake page under Redirect URIs on "
        "the key in Admin → Developer Keys."
    ),
    "scopes": "Add {count} missing scope{plural} to the key in Admin → Developer Keys: {scopes}.",
    "off": "The key is Off for your account: switch it On in Admin → Developer Keys.",
    "secret": "The secret does not match key ID {key}: copy it again with Show Key on the Developer Keys page.",
    "no_such_host": "No Canvas answers at {host}: that name does not exist. Check your Canvas address.",
    "scopes_not_enforced": (
        " Enforce Scopes is off on this key, so its tokens carry all of the authorizing admin's rights; "
        "{partner} asks for it On."
    ),
}


@dataclass
class DeveloperKeyProbe:
    """The probes of one developer key, read into one verdict. Reusable by anything that needs
    to know, without a user, whether a key is known, On, registered, scoped and its secret right."""

    canvas_url: str
    client_id: str
    scopes: list[str]
    redirect_uris: list[str]
    matched_uri: str = ""  # the partner's redirect URI that the key registers, once probe A′ found it

    def verdict(self, http: outbound.Session, secret: str) -> Verdict:
        key = f"…{self.client_id[-4:]}"
        findings = Findings()
        if self.redirect_uris:
            authorize = self.authorize_with_canary(http)
            if authorize.status == 401 and authorize.error == "invalid_client":
                return Verdict.rejected(DEVELOPER_KEY_FIXES["unknown_key"].format(key=key), http_status=401)
            self.read_authorize(http, authorize, findings)
        token = canvas.token_with_random_code(http, self.canvas_url, self.client_id, secret)
        if token.status == 401 and token.error == "invalid_client":
            fix = "secret" if token.description == "invalid client" else "unknown_key"
            findings.problem(DEVELOPER_KEY_FIXES[fix].format(key=key), token.status)
        elif not token.secret_matches:
            findings.unsure(describe_unreadable("token", token.status), token.status)
        if findings.problems:
            return Verdict.rejected(" ".join(findings.problems), http_status=findings.status)
        if findings.doubts:
            doubts = " ".join(findings.doubts) + " We will check again later."
            return Verdict.inconclusive(doubts, http_status=findings.status)
        works = "Canvas knows the key, it is On, and the secret matches." + findings.note
        return Verdict.works(works, http_status=token.status)

    def authorize_with_canary(self, http: outbound.Session) -> canvas.Authorize:
        """Probe A′: the required scopes plus one that cannot exist. A key registers one redirect
        URI of the partner's (one per hosting region): try each until Canvas stops saying no."""
        for uri in self.redirect_uris:
            self.matched_uri = uri
            answer = canvas.authorize(http, self.canvas_url, self.client_id, uri, [*self.scopes, canvas.CANARY_SCOPE])
            if not (answer.status == 400 and answer.error == "invalid_request"):
                break
        return answer

    def read_authorize(self, http: outbound.Session, authorize: canvas.Authorize, findings: "Findings") -> None:
        if authorize.status == 400 and authorize.error == "invalid_request":
            findings.problem(DEVELOPER_KEY_FIXES["redirect_uri"], authorize.status)
            return
        if authorize.error == "invalid_scope":
            missing = [scope for scope in authorize.missing_scopes if scope != canvas.CANARY_SCOPE]
            if missing:
                plural = "s" if len(missing) > 1 else ""
                fix = DEVELOPER_KEY_FIXES["scopes"].format(count=len(missing), plural=plural, scopes=", ".join(missing))
                findings.problem(fix, authorize.status)
                return
            # Scopes enforced and complete: ask again without the canary to learn On or Off.
            authorize = canvas.authorize(http, self.canvas_url, self.client_id, self.matched_uri, self.scopes)
        elif authorize.lands:  # Canvas let the scope that cannot exist through: scopes are not enforced
            findings.note = DEVELOPER_KEY_FIXES["scopes_not_enforced"].format(partner=settings.PORTAL_PARTNER_NAME)
        if authorize.error == "unauthorized_client":
            findings.problem(DEVELOPER_KEY_FIXES["off"], authorize.status)
        elif not authorize.passed:
            findings.unsure(describe_unreadable("authorization", authorize.status), authorize.status)


@dataclass
class Findings:
    """What the probes found, gathered so that one answer can name every fix at once."""

    problems: list[str] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)
    note: str = ""
    status: int | None = None  # the HTTP status behind the first problem, else the first doubt

    def problem(self, text: str, status: int) -> None:
        if not self.problems:
            self.status = status
        self.problems.append(text)

    def unsure(self, text: str, status: int) -> None:
        if not self.problems and not self.doubts:
            self.status = status
        self.doubts.append(text)


def describe_unreadable(endpoint: str, status: int) -> str:
    if status == 403:
        return f"Canvas is limiting our requests (HTTP 403 at its {endpoint} endpoint)."
    if status >= 500:
        return f"Canvas had an error (HTTP {status} at its {endpoint} endpoint)."
    return f"Canvas gave an answer we could not read (HTTP {status} at its {endpoint} endpoint)."


ONE_DAY = Lifetime("1d", "1 day", days=1)
ONE_WEEK = Lifetime("1w", "1 week", days=7)
ONE_MONTH = Lifetime("1m", "1 month", months=1)
SIX_MONTHS = Lifetime("6m", "6 months", months=6)
ONE_YEAR = Lifetime("1y", "1 year", months=12)

DAP = DataAccessPlatformKind(
    slug="dap",
    label="Canvas Data 2 key",
    client_id_label="Client ID",
    client_id_help="Looks like us-east-1#1a2b3c4d-…: copy it with the Copy Text button.",
    client_id_example="us-east-1#1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    secret_label="Secret",
    secret_help="Paste it exactly as copied. It is encrypted before it is stored.",
    expiry_label="Expiry",
    lifetimes=(ONE_DAY, ONE_WEEK, ONE_MONTH, SIX_MONTHS, ONE_YEAR),
    default_lifetime="1y",
    key_types=(KeyType.INSTITUTIONAL, KeyType.PARTNER),
    env_names=("DAP_CLIENT_ID", "DAP_CLIENT_SECRET"),
    failure_causes=(
        "the key was deleted in Identity Services",
        "a new secret was generated for it, so the old one no longer works",
        "it reached the expiry chosen when it was created",
        "Canvas Data 2 was turned off for your institution's account",
    ),
    steps=(
        Step(
            "Find your institution",
            "Visit identity.instructure.com and search for your institution in the Institution "
            "menu. If it is not listed, ask your Canvas Customer Success Manager to add it with "
            "Canvas Data 2 enabled.",
            link_text="identity.instructure.com",
            link_url="https://identity.instructure.com/",
        ),
        Step("Log in", "Click Log In to Canvas, then click Authorize to let Identity Services access your account."),
        Step("Add a new key", "Click Add New Key."),
        Step(
            "Enter the key settings",
            "Key Name: {partner}. Scope: Canvas Data 2. Expiry: 1 year. Key Type: Institutional Use. Then click Save.",
        ),
        Step(
            "Verify the key with Instructure",
            "Instructure emails a {code_digits}-digit code to your admin address; enter it in Identity "
            "Services within {instructure_window_minutes} minutes or the key locks.",
        ),
        Step(
            "Copy the Client ID and Secret",
            "Click Reveal OAuth Credentials and copy both with the Copy Text buttons. The window "
            "opens only once: keep it open until you have pasted both below.",
        ),
        Step(
            "Submit them here",
            "Paste both below with the expiry you chose. We email a {code_digits}-digit code to an admin "
            "address we have on file for you; enter it to confirm the handover.",
        ),
    ),
    partner_steps=(
        (
            3,
            Step(
                "Enter the key settings",
                "Key Name: {partner}. Scope: Canvas Data 2. Expiry: 1 year. Key Type: Instructure Partner. "
                "Click Add New Partner and choose {partner} in the Select Partner menu.{partner_email} "
                "Click Submit, then Save.",
            ),
        ),
        (
            5,
            Step(
                "Copy the Client ID",
                "There is no secret for you to copy: once you verify the key, Instructure emails {partner} "
                "a one-time password for it. Copy only the Client ID with its Copy Text button.",
            ),
        ),
        (
            6,
            Step(
                "Submit it here",
                "Paste the Client ID below with the expiry you chose. We email a {code_digits}-digit code to an admin "
                "address we have on file for you; enter it to confirm the handover.",
            ),
        ),
    ),
    guide_title="Instructure's guide: How do I generate a Canvas Data 2 API key?",
    guide_url="https://community.canvaslms.com/t5/Admin-Guide/How-do-I-generate-a-Canvas-Data-2-API-key/ta-p/560955",
    renewal_steps=(
        "Visit identity.instructure.com, log in and click Add New Key.",
        "Name it {partner}, Scope Canvas Data 2, Expiry 1 year, Key Type Institutional Use, and save.",
        "Reveal the Client ID and Secret and submit them on the renewal page below.",
        "Keep the old key until its expiry date: the new one takes over without a gap.",
    ),
    partner_renewal_steps=(
        "Visit identity.instructure.com, log in and click Add New Key.",
        "Name it {partner}, Scope Canvas Data 2, Expiry 1 year, Key Type Instructure Partner. Click Add New "
        "Partner and choose {partner} in the Select Partner menu.{partner_email} Click Submit, then Save.",
        "There is no secret for you to copy: once you verify the key, Instructure emails {partner} a one-time "
        "password for it. Submit only the Client ID on the renewal page below.",
        "Keep the old key until its expiry date: the new one takes over without a gap.",
    ),
)

DEVELOPER_KEY = DeveloperKeyKind(
    slug="developer_key",
    label="Canvas API developer key",
    client_id_label="Key ID",
    client_id_help="The number in the Details column of the Developer Keys page, e.g. 170000000000123.",
    client_id_example="170000000000123",
    secret_label="Key secret",
    secret_help="Click Show Key on the Developer Keys page: 64 letters and digits.",
    expiry_label="Review date",
    lifetimes=(SIX_MONTHS, ONE_YEAR),
    default_lifetime="1y",
    expiry_optional=True,
    asks_canvas_url=True,
    shows_scopes=True,
    needs_grant=True,
    env_names=("CANVAS_CLIENT_ID", "CANVAS_CLIENT_SECRET"),
    failure_causes=(
        "the key was deleted in Admin → Developer Keys",
        "its secret was regenerated, so the old one no longer works",
        "it was switched Off in Admin → Developer Keys",
        "scopes it needs were removed from it",
    ),
    lapse_consequence="we stop reviewing the key and the integration may stop when it is turned off",
    expires_verb="is due for review",
    expired_phrase="is due for review",
    renew_instruction=(
        "Check on Admin → Developer Keys that the key is still On with the scopes below, then submit it "
        "again (or a new one) to set the next review date."
    ),
    guide_title="Instructure's guide: How do I add a developer API key for an account?",
    guide_url="https://community.canvaslms.com/t5/Admin-Guide/How-do-I-add-a-developer-API-key-for-an-account/ta-p/259",
    steps=(
        Step("Open Developer Keys", "In the root account of your Canvas instance, go to Admin → Developer Keys."),
        Step(
            "Create an API key",
            "Click + Developer Key and choose API Key. Key Name: {partner}; Owner Email: your admin address.",
        ),
        Step("Add the redirect URI", "Paste the redirect URI shown below into Redirect URIs."),
        Step(
            "Enforce scopes",
            "Turn on Enforce Scopes, tick Allow Include Parameters, and enable every scope in the table below.",
        ),
        Step("Save and turn it on", "Click Save. The new key is Off by default: switch it On."),
        Step(
            "Submit it here",
            "Copy the key ID from the Details column and the secret from Show Key, and submit "
            "both below with your Canvas address. We email a {code_digits}-digit code to an admin address "
            "we have on file for you.",
        ),
    ),
    renewal_steps=(
        "Check on Admin → Developer Keys that the {partner} key is still On "
        "and has the scopes listed on the page below.",
        "If you created a new key, submit it on the page below.",
    ),
)

KINDS: dict[str, Kind] = {kind.slug: kind for kind in (DAP, DEVELOPER_KEY)}
GRANTED_KINDS = tuple(kind.slug for kind in KINDS.values() if kind.needs_grant)
# The kind an intake link without one, and the export command without --kind, mean.
DEFAULT = DAP
CHOICES = [(kind.slug, kind.label) for kind in KINDS.values()]


def start_of_day(day: datetime.date, tz: datetime.tzinfo) -> datetime.datetime:
    """A key expiring "on" a date is treated as gone from the first moment of that date,
    which is never later than the real expiry: reminders err on the early side."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=tz)


def get(slug: str) -> Kind:
    return KINDS[slug]


OAUTH_CALLBACK_PATH = "/oauth/canvas/callback"


def keydrop_callback_url() -> str:
    return settings.PORTAL_BASE_URL + OAUTH_CALLBACK_PATH


def keydrop_completes_grants() -> bool:
    """Keydrop's own callback is the key's redirect URI unless the partner lists its own."""
    return not settings.PORTAL_DEVELOPER_KEY["redirect_uris"]


def developer_key_setup(institution_slug: str) -> dict:
    """The partner's developer-key requirements: scopes, redirect URIs, toggles.

    With Keydrop's own callback there is one redirect URI, and the scope that lets Keydrop confirm
    a grant (``GET /api/v1/users/self``) joins the partner's. With the partner's own callbacks
    (one per hosting region), Keydrop checks the key and the partner completes the grant.
    """
    setup = dict(settings.PORTAL_DEVELOPER_KEY)
    setup["keydrop_callback"] = keydrop_completes_grants()
    if setup["keydrop_callback"]:
        setup["redirect_uris"] = [("", keydrop_callback_url())]
        if canvas.USERS_SELF_SCOPE not in [scope for scope, _ in setup["scopes"]]:
            setup["scopes"] = [*setup["scopes"], (canvas.USERS_SELF_SCOPE, "Users")]
    else:
        setup["redirect_uris"] = [
            (region, uri.format(institution=institution_slug)) for region, uri in setup["redirect_uris"]
        ]
    return setup


def developer_key_api_calls(setup: dict, partner_name: str) -> list[str]:
    """The developer-key setup as two Developer Keys API calls (reference § 2.3), for an admin who
    would rather paste a command than tick every scope: create the key, then switch it On."""
    base, auth = "https://YOUR-CANVAS", '-H "Authorization: Bearer $CANVAS_ADMIN_TOKEN"'
    fields = [
        ("developer_key[name]", partner_name),
        ("developer_key[email]", "YOUR-ADMIN-EMAIL"),
        *(("developer_key[redirect_uris][]", uri) for _, uri in setup["redirect_uris"]),
        *(("developer_key[scopes][]", scope) for scope, _ in setup["scopes"]),
        ("developer_key[require_scopes]", "true" if setup["enforce_scopes"] else "false"),
        ("developer_key[allow_includes]", "true" if setup["allow_include_parameters"] else "false"),
    ]
    create = " \\\n  ".join(
        [f"curl -X POST {base}/api/v1/accounts/self/developer_keys {auth}"]
        + [f"--data-urlencode {shlex.quote(f'{name}={value}')}" for name, value in fields]
    )
    switch_on = (
        f"curl -X POST {base}/api/v1/accounts/self/developer_keys/KEY_ID/developer_key_account_bindings {auth}"
        " \\\n  --data-urlencode 'developer_key_account_binding[workflow_state]=on'"
    )
    return [create, switch_on]
