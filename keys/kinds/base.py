"""What every kind of credential declares: its fields and formats, expiry choices, the steps a Canvas admin
follows, and which check asks Canvas about it. Data, not behaviour: nothing here calls anyone."""

import calendar
import datetime
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.html import escape, format_html

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

    def base_url(self, credential) -> tuple[str, str]:
        """The variable a pipeline reads for the address to call with this key, and its value."""
        raise NotImplementedError

    def mask(self, client_id: str) -> str:
        """Enough to recognise a Client ID, not enough to use it: region and last four."""
        prefix, _, rest = client_id.rpartition("#")
        tail = rest[-4:] if len(rest) > 8 else ""
        return f"{prefix + '#' if prefix else ''}…{tail}"


ONE_DAY = Lifetime("1d", "1 day", days=1)
ONE_WEEK = Lifetime("1w", "1 week", days=7)
ONE_MONTH = Lifetime("1m", "1 month", months=1)
SIX_MONTHS = Lifetime("6m", "6 months", months=6)
ONE_YEAR = Lifetime("1y", "1 year", months=12)
