"""When a key is checked, and what one check's answer writes: its record, its effects, its next time.

- at hand-over, then with back-off (HANDOVER_RETRY_DELAYS) while the hand-over answer is unclear;
- a key that needs a fix in Canvas, every FIX_RECHECK;
- otherwise once per PORTAL_CHECK_INTERVAL at the key's own slot (its phase comes from its id), so a
  day's checks are spread over the day and stay spread after downtime; an unclear answer is asked
  again after UNCLEAR_RETRY_DELAYS, never later than the usual slot.
"""

import datetime
import logging
import math
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from keys.checks import transitions
from keys.models import Credential, CredentialCheck
from keys.outcomes import Outcome, Verdict

log = logging.getLogger(__name__)
Trigger = CredentialCheck.Trigger
GOLDEN = (math.sqrt(5) - 1) / 2  # consecutive ids land far apart in the period: an even spread
# Checks whose answer the customer reads on the page that asked: no email repeats it.
SEEN_ON_THE_PAGE = (Trigger.HANDOVER, Trigger.PARTNER_SECRET, Trigger.CHECK_AGAIN)


# When -------------------------------------------------------------------------------------------


def slot_after(credential_pk: int, moment: datetime.datetime, interval: datetime.timedelta) -> datetime.datetime:
    """The key's first slot after ``moment``: slots repeat every interval at the key's own phase."""
    period = interval.total_seconds()
    phase = (credential_pk * GOLDEN) % 1.0 * period
    cycles = math.floor((moment.timestamp() - phase) / period) + 1
    return datetime.datetime.fromtimestamp(cycles * period + phase, tz=datetime.UTC)


# A scheduled check with no clear answer is asked again after these delays, then at its daily slot.
UNCLEAR_RETRY_DELAYS = tuple(datetime.timedelta(minutes=m) for m in (15, 60, 180))
# A key waiting for its fix in Canvas is checked this often, so a fix counts without anyone clicking.
FIX_RECHECK = datetime.timedelta(hours=1)


def next_check_time(credential: Credential, now: datetime.datetime) -> datetime.datetime | None:
    if credential.status == Credential.Status.NEEDS_FIX:
        return now + FIX_RECHECK
    if credential.status not in Credential.USABLE_STATUSES:
        return None
    if credential.handover_check_pending:
        tries = credential.checks.filter(trigger__in=[Trigger.HANDOVER, Trigger.RETRY, Trigger.PARTNER_SECRET]).count()
        delays = Credential.HANDOVER_RETRY_DELAYS
        if 0 < tries <= len(delays):
            return now + delays[tries - 1]
    interval = settings.PORTAL_CHECK_INTERVAL
    regular = slot_after(credential.pk, now + interval / 2, interval)
    if credential.last_check_outcome == Outcome.INCONCLUSIVE and credential.inconclusive_since:
        # Throttled, an outage, our own network: ask again soon, backing off, never later than usual.
        unclear = credential.checks.filter(at__gte=credential.inconclusive_since, outcome=Outcome.INCONCLUSIVE).count()
        if 0 < unclear <= len(UNCLEAR_RETRY_DELAYS):
            return min(now + UNCLEAR_RETRY_DELAYS[unclear - 1], regular)
    return regular


@dataclass(frozen=True)
class Checked:
    record: CredentialCheck
    change: str  # what the answer changed, as keys/checks/transitions.py names it

    @property
    def outcome(self) -> str:
        return self.record.outcome


def record(credential: Credential, verdict: Verdict, *, trigger: str, latency_ms: int = 0, now=None) -> Checked:
    """Write the check record, apply what it means, and set the next check time, together."""
    now = now or timezone.now()
    with transaction.atomic():
        check = CredentialCheck.objects.create(
            credential=credential,
            at=now,
            trigger=trigger,
            outcome=verdict.outcome,
            reason=verdict.reason[:500],
            http_status=verdict.http_status,
            latency_ms=latency_ms,
        )
        change = transitions.apply(credential, verdict, now, seen_on_page=trigger in SEEN_ON_THE_PAGE)
        next_at = next_check_time(credential, now)
        Credential.objects.filter(pk=credential.pk).update(
            next_check_at=next_at, check_claimed_by="", check_claimed_until=None
        )
        credential.next_check_at = next_at
    log.info(
        "credential %s (%s) checked at %s: %s%s",
        credential.pk,
        credential.kind,
        trigger,
        verdict.outcome,
        f", {change}" if change else "",
    )
    return Checked(check, change)
