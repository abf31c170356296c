"""The kinds of credential Keydrop collects, each described as data in one place.

A kind says what its fields are called, how to check their format, which expiry choices Canvas
offers, how a customer creates the key (the numbered steps on the intake page and in renewal
emails), which variable names a pipeline reads, and which live check asks Canvas about it
(``check_name``; the checks and their answer tables live with the Canvas code, in
``keys/checks.py``). Code elsewhere asks the kind; it never tests ``if kind == ...``.
"""

import calendar
import datetime
import re
import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.html import escape, format_html

from keys import canvas

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
    # Which of keys.checks.CHECKS asks Canvas whether a key of this kind works.
    check_name: str = ""

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

    def key_identity(self, client_id: str) -> str:
        """The key as Canvas knows it, for finding another holder of the same key: the id as typed."""
        return client_id.strip()

    def mask(self, client_id: str) -> str:
        """Enough to recognise a Client ID, not enough to use it: region and last four."""
        prefix, _, rest = client_id.rpartition("#")
        tail = rest[-4:] if len(rest) > 8 else ""
        return f"{prefix + '#' if prefix else ''}…{tail}"


# The official Canvas Data 2 client reads a region as ``[\w-]+`` before "#" (only to log it), so any
# region of word characters and hyphens (us-gov-west-1, ca-central-1…); the ID after it is a UUID,
# in either case. The value is stored and sent exactly as typed.
_DAP_CLIENT_ID = re.compile(
    r"(?:(?P<region>[\w-]{1,40})#)?(?P<uuid>[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12})", re.ASCII
)


class DataAccessPlatformKind(Kind):
    def clean_client_id(self, value: str) -> tuple[str, list[str]]:
        """Sent to Instructure as typed: the gateway's treatment of case is not published."""
        value = value.strip()
        if not value:
            raise ValidationError("Enter the Client ID.", code="required")
        match = _DAP_CLIENT_ID.fullmatch(value)
        if not match or len(value) > 120:
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
        return value, warnings

    def check_host(self, credential) -> str:
        return urlsplit(settings.PORTAL_DAP_API_URL).hostname or ""

    def key_identity(self, client_id: str) -> str:
        """The UUID alone, in lower case: the region prefix is sometimes left out, and case varies."""
        match = _DAP_CLIENT_ID.fullmatch(client_id.strip())
        return match["uuid"].lower() if match else client_id.strip().lower()


# A Canvas id: shard × 10^13 + local id, any positive integer below 2^63 (provider.rb client_id_is_valid?).
_DEVELOPER_KEY_ID = re.compile(r"[1-9][0-9]{0,18}", re.ASCII)
DEVELOPER_KEY_ID_LIMIT = 2**63
_DEVELOPER_KEY_SECRET = re.compile(r"^[A-Za-z0-9]{64}$")
# What Canvas lists where the account shows only a hint of each secret: 5 characters and "...".
_SECRET_HINT = re.compile(r"[A-Za-z0-9]{5}(\.\.\.|…)")


class DeveloperKeyKind(Kind):
    def clean_client_id(self, value: str) -> tuple[str, list[str]]:
        value = value.strip()
        if not value:
            raise ValidationError("Enter the key ID.", code="required")
        if not _DEVELOPER_KEY_ID.fullmatch(value) or int(value) >= DEVELOPER_KEY_ID_LIMIT:
            raise ValidationError(
                "A developer key ID is a number of 1 to 19 digits, such as 170000000000123. Copy it from "
                "the Details column on the Developer Keys page.",
                code="format",
            )
        return value, []

    def clean_secret(self, value: str) -> str:
        if _SECRET_HINT.fullmatch(value.strip()):
            raise ValidationError(
                "That is the hint Canvas shows of the secret, not the secret: Canvas shows the whole secret only "
                "when the key is created. Please do not regenerate it (that ends every integration using the key); "
                "create a new key for us instead and copy its secret when Canvas shows it.",
                code="hint",
            )
        value = super().clean_secret(value)
        if not _DEVELOPER_KEY_SECRET.match(value):
            raise ValidationError(
                f"A developer key secret is 64 letters and digits; this one has {len(value)} characters. "
                "Copy it again where Canvas shows the whole secret (Show Key).",
                code="format",
            )
        return value

    def mask(self, client_id: str) -> str:
        return f"…{client_id[-4:]}"

    def check_host(self, credential) -> str:
        return urlsplit(credential.canvas_url).hostname or ""


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
    check_name="dap_login",
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
    secret_help=(
        "64 letters and digits. Copy it when Canvas shows it (Show Key on a new key): some accounts later show "
        "only a 5-character hint. Never regenerate a secret for us: that ends every integration using the key."
    ),
    expiry_label="Review date",
    lifetimes=(SIX_MONTHS, ONE_YEAR),
    default_lifetime="1y",
    expiry_optional=True,
    asks_canvas_url=True,
    shows_scopes=True,
    needs_grant=True,
    env_names=("CANVAS_CLIENT_ID", "CANVAS_CLIENT_SECRET"),
    check_name="developer_key_probes",
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
            "Copy the key ID and secret now",
            "Copy the key ID from the Details column, and the secret with Show Key while the new key is in front "
            "of you: some Canvas accounts later show only a 5-character hint of it. Never regenerate the secret of "
            "a key in use for us: that ends every integration using the key. If the secret is lost, create a new "
            "key.",
        ),
        Step(
            "Submit it here",
            "Submit both below with your Canvas address. We email a {code_digits}-digit code to an admin address "
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
