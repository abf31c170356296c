"""Live checks: ask Canvas whether each key works, record each answer, and act on it.

When a key is checked (records.py says when the next one is due):
- at hand-over, once its code is verified (never before: an intake link must not become a way to
  test stolen keys), with a deadline of PORTAL_HANDOVER_CHECK_SECONDS so the receipt stays quick;
- when the customer clicks Check again on a key that needs a fix in Canvas;
- by the sweep, whenever a key's time has come;
- on demand, with ``manage.py check_credentials``.

What an answer does to the key is one table, keys/checks/transitions.py.

Guarantees, and where they come from (the database, not timing):
- One sweep at a time checks a key: claimed with the outbox's conditional UPDATE and lease rule
  (keys/outbox.py ``claim``, ``lease_until``): the claim outlasts the sweep and a check in flight.
- At most PORTAL_CHECK_RATE_PER_HOST_PER_MINUTE checks start per Canvas host and minute, across
  every worker and machine (``HostCheckBudget``); a sweep leaves the rest due for the next minute.
- One scheduled check per key per interval: the next one is the key's next slot at least half an
  interval away, so a late sweep does not bring the next check forward.
- Each alert exists once per episode (``CheckAlert``'s unique row); ``keys.checks.alerts`` sends it.
- A secret is opened only to make the request that needs it; records, logs and alerts hold the
  outcome and Keydrop's own reason, never a secret, a token or a body.
"""

import datetime
import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from keys import outbox
from keys.checks.records import Checked, record, slot_after
from keys.instructure import answers, grants, outbound
from keys.models import Credential, CredentialCheck, HostCheckBudget
from keys.outcomes import Outcome, Verdict
from keys.sealing import SecretUnreadable

log = logging.getLogger(__name__)
Trigger = CredentialCheck.Trigger


# One check ------------------------------------------------------------------------------------


@sensitive_variables("secret")
def ask_canvas(
    credential: Credential, *, secret: str | None = None, deadline: float | None = None
) -> tuple[Verdict, int]:
    """The kind's check, with the stored secret unless one is given. (verdict, milliseconds)."""
    started = time.monotonic()
    try:
        if secret is None:
            # Read now, not from the loaded row: the secret may have been purged meanwhile.
            sealed = Credential.objects.filter(pk=credential.pk).values_list("secret", flat=True).first()
            if sealed is None:
                return Verdict.inconclusive("No secret is stored for this key any more."), 0
            secret = sealed.reveal()
        with outbound.Session(deadline=deadline) as http:
            verdict = answers.run(credential, secret, http)
        verdict = grants.confirm(credential, verdict, timezone.now())  # and the admin's grant, if it has one
    except SecretUnreadable:
        verdict = Verdict.inconclusive(
            "The stored secret cannot be decrypted with the configured keys (see rotate_keys in the README)."
        )
    except Exception as exc:  # a fault in Keydrop must not stop a sweep, nor ever raise an alarm
        log.warning("check of credential %s stopped inside Keydrop: %s", credential.pk, type(exc).__name__)
        log.debug("the check's fault", exc_info=True)
        verdict = Verdict.inconclusive("Keydrop could not complete the check; it will try again.")
    return verdict, int((time.monotonic() - started) * 1000)


def check(credential: Credential, *, trigger: str, deadline: float | None = None, now=None) -> Checked:
    """Check one key now (its host's budget permitting) and record the answer."""
    now = now or timezone.now()
    host = credential.kind_spec.check_host(credential)
    if not HostCheckBudget.take(host, now, settings.PORTAL_CHECK_RATE_PER_HOST_PER_MINUTE):
        verdict = Verdict.inconclusive(f"Keydrop is pacing its calls to {host}; it will check again shortly.")
        return record(credential, verdict, trigger=trigger, now=now)
    verdict, latency = ask_canvas(credential, deadline=deadline)
    return record(credential, verdict, trigger=trigger, latency_ms=latency, now=now)


def again_after_fix(credential: Credential) -> Checked:
    """The customer's **Check again** on a key that needs a fix in Canvas: quick, like a hand-over."""
    return check(credential, trigger=Trigger.CHECK_AGAIN, deadline=settings.PORTAL_HANDOVER_CHECK_SECONDS)


def at_handover(credential: Credential) -> Checked | None:
    """The check the receipt shows: right after verification, quick, retried later if unclear."""
    if not credential.is_usable():
        return None  # an Instructure Partner key has no secret yet: staff enter it later
    return check(credential, trigger=Trigger.HANDOVER, deadline=settings.PORTAL_HANDOVER_CHECK_SECONDS)


@sensitive_variables("secret")
def try_partner_secret(credential: Credential, secret: str) -> Verdict:
    """Ask Canvas about a partner secret before it is stored: a refused one is never kept."""
    verdict, _ = ask_canvas(credential, secret=secret, deadline=settings.PORTAL_HANDOVER_CHECK_SECONDS)
    return verdict


# The sweep ------------------------------------------------------------------------------------


@dataclass
class SweepReport:
    outcomes: dict = field(default_factory=lambda: dict.fromkeys(Outcome.values, 0))
    paced: int = 0
    changes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {**self.outcomes, "paced": self.paced}


def sweep(*, batch_size: int = 200, time_budget: float = 50.0) -> SweepReport:
    """Check every key whose time has come. Safe to run anywhere, any number of times at once."""
    report = SweepReport()
    now = timezone.now()
    give_slots(now)
    forget_old(now)
    deadline = time.monotonic() + time_budget
    claimed = claim_batch(now, batch_size, until=now + datetime.timedelta(seconds=time_budget))
    for position, credential in enumerate(claimed):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            release(claimed[position:])
            break
        host = credential.kind_spec.check_host(credential)
        if not HostCheckBudget.take(host, timezone.now(), settings.PORTAL_CHECK_RATE_PER_HOST_PER_MINUTE):
            release([credential])  # due still: the next minute's sweep takes it
            report.paced += 1
            continue
        trigger = Trigger.RETRY if credential.handover_check_pending else Trigger.SCHEDULE
        verdict, latency = ask_canvas(credential, deadline=min(remaining, settings.PORTAL_OUTBOUND_DEADLINE))
        checked = record(credential, verdict, trigger=trigger, latency_ms=latency)
        report.outcomes[checked.outcome] += 1
        if checked.change:
            report.changes.append(checked.change)
    if claimed:
        log.info("check sweep: %s", report.as_dict())
    return report


def give_slots(now: datetime.datetime, limit: int = 2000) -> None:
    """Usable keys without a check time (from before live checks) get their slot in the next period.

    Read through the index of keys with a secret and no check time: pending submissions, a few,
    and keys not yet slotted; so an idle minute costs next to nothing however many keys there are.
    """
    interval = settings.PORTAL_CHECK_INTERVAL
    unslotted = Credential.objects.filter(next_check_at__isnull=True, secret__isnull=False).order_by()
    candidates = list(unslotted.values_list("pk", flat=True)[:limit])
    for pk in Credential.objects.usable(now).filter(pk__in=candidates).values_list("pk", flat=True):
        Credential.objects.filter(pk=pk, next_check_at__isnull=True).update(next_check_at=slot_after(pk, now, interval))


def forget_old(now: datetime.datetime) -> None:
    """History older than PORTAL_CHECK_HISTORY_DAYS goes; so do spent rate budgets."""
    cutoff = now - datetime.timedelta(days=settings.PORTAL_CHECK_HISTORY_DAYS)
    old = list(CredentialCheck.objects.filter(at__lt=cutoff).values_list("pk", flat=True)[:5000])
    if old:
        CredentialCheck.objects.filter(pk__in=old).delete()
    HostCheckBudget.objects.filter(minute__lt=now - datetime.timedelta(minutes=10)).delete()


def claim_batch(now: datetime.datetime, batch_size: int, *, until: datetime.datetime) -> list[Credential]:
    """Claim due keys for a sweep that ends ``until``; returns those this sweep holds."""
    pks = outbox.candidates(Credential.objects.due_for_check(now).order_by("next_check_at"), batch_size)
    if not pks:
        return []
    # A check in flight runs at most PORTAL_OUTBOUND_DEADLINE past the sweep's end: so does the claim.
    lease = outbox.lease_until(now, until, settings.PORTAL_OUTBOUND_DEADLINE)
    claimable = Credential.objects.checkable(now).filter(outbox.unclaimed(now, "check_claimed_until"))
    token = outbox.claim(claimable, pks, lease, by="check_claimed_by", lease="check_claimed_until")
    return list(
        Credential.objects.filter(pk__in=pks, check_claimed_by=token)
        .select_related("institution")
        .order_by("next_check_at", "pk")
    )


def release(credentials: list[Credential]) -> None:
    Credential.objects.filter(
        pk__in=[c.pk for c in credentials], check_claimed_by__in={c.check_claimed_by for c in credentials}
    ).update(check_claimed_by="", check_claimed_until=None)
