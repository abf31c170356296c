"""What a customer admin sees of their institution's keys: on the intake page and in the receipt.

Nothing secret: a masked id, the region, dates, the last check's outcome and what to do next.
The intake link is the capability that shows it, as it is the one that accepts a new key.
"""

import dataclasses
import datetime
from dataclasses import dataclass
from urllib.parse import urlsplit

from keys import kinds
from keys.models import Credential, Institution

Status = Credential.Status


@dataclass(frozen=True)
class NextStep:
    action: str  # renew, authorize, fix, wait or none
    text: str
    url: str = ""


REPLACED = NextStep("none", "Nothing to do: a newer key was handed over; this one keeps working until its date.")


@dataclass(frozen=True)
class KeySummary:
    credential: Credential
    kind: kinds.Kind
    masked_id: str
    region: str
    date: datetime.date | None
    days_left: int | None
    check: object | None  # Credential.last_check(): .outcome, .reason, .checked_at
    next_step: NextStep

    @property
    def lapsed(self) -> bool:
        return self.days_left is not None and self.days_left <= 0

    @property
    def days_text(self) -> str:
        days = self.days_left
        if days is None:
            return ""
        if days > 1:
            return f"{days} days left"
        if days == 1:
            return "1 day left"
        if days == 0:
            return "today"
        return f"{-days} day{'s' if days != -1 else ''} ago"


@dataclass(frozen=True)
class KindSummary:
    kind: kinds.Kind
    keys: list[KeySummary]


def region_of(credential: Credential) -> str:
    """A Canvas Data 2 key's region as Canvas reported it at the last check, else its Client ID's
    prefix; a developer key lives at its Canvas."""
    if credential.kind_spec.asks_canvas_url:
        return urlsplit(credential.canvas_url).hostname or "—"
    prefix, _, _ = credential.client_id.rpartition("#")
    return credential.region or prefix or "not stated"


def next_step(credential: Credential, now: datetime.datetime, partner_name: str) -> NextStep:
    kind = credential.kind_spec
    days = credential.days_left(now)
    check = credential.last_check()
    if credential.awaits_partner_secret:
        return NextStep(
            "wait",
            f"Nothing to do: Instructure sends {partner_name} the secret, and {partner_name} completes the setup.",
        )
    if credential.status == Status.NEEDS_FIX:
        until = f" We keep it until {credential.fix_by:%-d %B %Y}." if credential.fix_by else ""
        reason = check.reason if check else "Canvas refused it for a reason its settings mend."
        return NextStep("fix", f"Change this in Canvas, then click Check again: {reason}{until}")
    if credential.awaits_authorization:  # before a refusal: a grant Canvas ended says how to mend it
        grant = credential.current_grant()
        text = (grant and grant.lost_reason) or f"Authorize {partner_name} in Canvas to finish the setup."
        return NextStep("authorize", text, credential.authorization_path())
    if check is not None and check.outcome == "rejected":
        return NextStep("renew", f"Canvas refused this key ({check.reason}). Create a new key and submit it below.")
    if days is not None and days <= 0:
        return NextStep("renew", f"{kind.lapsed_sentence(credential.expires_on())} {kind.renew_instruction}")
    if credential.status == Status.SUPERSEDED:
        return REPLACED
    if days is not None and days <= Credential.SOON_DAYS:
        return NextStep("renew", f"{kind.due_sentence(days)} {kind.renew_instruction}")
    if days is None:
        return NextStep("none", "Nothing to do.")
    remind_from = credential.expires_on() - datetime.timedelta(days=Credential.SOON_DAYS)
    return NextStep("none", f"Nothing to do until {remind_from:%-d %B %Y}. We will email your admins before then.")


def summarise(credential: Credential, now: datetime.datetime, partner_name: str) -> KeySummary:
    return KeySummary(
        credential=credential,
        kind=credential.kind_spec,
        masked_id=credential.masked_client_id,
        region=region_of(credential),
        date=credential.expires_on(),
        days_left=credential.countdown(now),
        check=credential.last_check(),
        next_step=next_step(credential, now, partner_name),
    )


def current_keys(institution: Institution, now: datetime.datetime, partner_name: str) -> list[KindSummary]:
    """For each kind, the keys that count now; or, if none does, the newest that lapsed.

    An institution loaded `with_held_keys_flag()` that holds none costs no query here."""
    verified = []
    if getattr(institution, "holds_keys", True):
        verified = list(
            institution.credentials.filter(status__in=Credential.HELD_STATUSES)
            .filter(verified_at__isnull=False)
            .defer("secret")
            .order_by("-verified_at", "-pk")
        )
    summaries = []
    for kind in kinds.KINDS.values():
        of_kind = [c for c in verified if c.kind == kind.slug]
        # Live ones are the customer's keys now: a superseded key works until its own date, and a
        # partner key waits for the secret Instructure sends.
        current = [
            c
            for c in of_kind
            if c.status in (*Credential.LIVE_STATUSES, Status.NEEDS_FIX)
            and (c.expires_at is None or c.expires_at > now)
        ]
        chosen = current or of_kind[:1]
        keys = [summarise(c, now, partner_name) for c in chosen]
        # An older key that still works needs nothing: the newest one is what the customer renews.
        keys[1:] = [dataclasses.replace(key, next_step=REPLACED) for key in keys[1:]]
        summaries.append(KindSummary(kind, keys))
    return summaries


def has_any(summaries: list[KindSummary]) -> bool:
    return any(summary.keys for summary in summaries)


def authorize_targets(summaries: list[KindSummary]) -> list[str]:
    """The Canvas sites that the page's Authorize buttons send the admin to."""
    return [
        key.credential.canvas_url
        for summary in summaries
        for key in summary.keys
        if key.next_step.action == "authorize"
    ]
