"""What a check's answer does to a credential: one table of (state, answer) → (change, effects).

The state is where the key stands in its checks; the answer is the verdict read as the one rule
allows (keys/instructure/answers.py): only ``wrong`` may destroy anything.

    state      answer   change       effects
    ---------  -------  -----------  -----------------------------------------------------------------
    on trial   works    confirmed    takes over from older keys (supersede_older)
    on trial   fix      needs_fix    kept sealed for PORTAL_FIX_WINDOW_DAYS; reminders stop; the contacts
                                     hear the day before the window ends (and now, unless the page said it)
    on trial   wrong    rejected     secret destroyed; reminders stop; the contacts told unless the page said it
    on trial   unclear  (stuck)      nothing; staff told once after PORTAL_CHECK_INCONCLUSIVE_ALERT_DAYS
    needs fix  works    confirmed    active; reminders planned again; the last-day email cancelled
    needs fix  fix      —            still waiting: the reason is the news
    needs fix  wrong    rejected     secret destroyed; the last-day email cancelled; contacts told unless on the page
    needs fix  unclear  —            nothing
    working    works    —            nothing
    working    fix      failing      contacts and staff told once per episode, if the key matters now
    working    wrong    failing      the same: a key that worked is never destroyed by a check
    working    unclear  (stuck)      staff told once after PORTAL_CHECK_INCONCLUSIVE_ALERT_DAYS
    failing    works    recovered    staff told, if the failing episode was announced
    failing    fix      —            the episode goes on
    failing    wrong    —            the episode goes on
    failing    unclear  (stuck)      as for working

"on trial" is verified and not yet seen working by Canvas (``handover_check_pending``); "working"
and "failing" are usable keys. Any other status (pending, expired, revoked…) is not checked: its
answer is recorded and changes nothing. tests/test_check_transitions.py has a test per row.

Two checks finishing at once apply one after the other: the row is locked (SQLite takes its write
lock at BEGIN), and each alert is a unique row, so it exists once per episode.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import models, transaction

from keys.models import CheckAlert, Credential, PipelineEvent, ReminderNotice
from keys.outcomes import Verdict


class State(models.TextChoices):
    ON_TRIAL = "on_trial", "on trial"
    NEEDS_FIX = "needs_fix", "needs fix"
    WORKING = "working", "working"
    FAILING = "failing", "failing"


class Answer(models.TextChoices):
    WORKS = "works", "works"
    FIX = "fix", "fix in Canvas"  # rejected, and a setting in Canvas mends it: the key is kept
    WRONG = "wrong", "the key is wrong"  # rejected: an unknown id, a wrong secret
    UNCLEAR = "unclear", "unclear"  # inconclusive


def state_of(row: Credential) -> State | None:
    if row.status == Credential.Status.NEEDS_FIX:
        return State.NEEDS_FIX
    if row.status not in Credential.USABLE_STATUSES:
        return None
    if row.handover_check_pending:
        return State.ON_TRIAL
    return State.FAILING if row.failing_since else State.WORKING


def answer_of(verdict: Verdict) -> Answer:
    if verdict.is_works:
        return Answer.WORKS
    if verdict.is_rejected:
        return Answer.FIX if verdict.fixable else Answer.WRONG
    return Answer.UNCLEAR


@dataclass
class Step:
    """One check being applied: the locked row, what Canvas said, and the columns to write."""

    row: Credential
    verdict: Verdict
    now: datetime.datetime
    updates: dict
    seen_on_page: bool  # the customer reads the answer on the page that asked: no email repeats it
    change: str = ""


# Effects: each one thing the table names. ----------------------------------------------------------


def confirm(step: Step) -> None:
    """Canvas has seen it work: it takes over from older keys (apply() supersedes them)."""
    step.updates["handover_check_pending"] = False
    step.change = "confirmed"


def activate(step: Step) -> None:
    step.updates.update(status=Credential.Status.ACTIVE, fix_by=None)


def plan_reminders_again(step: Step) -> None:
    # Reminders silenced while it waited are planned again, as for a key that just arrived.
    step.row.reminders.filter(state=ReminderNotice.State.CANCELLED).delete()
    ReminderNotice.objects.plan_for(step.row, step.now)


def cancel_last_day_email(step: Step) -> None:
    step.row.alerts_about_fix().update(state=CheckAlert.State.CANCELLED, state_reason="It no longer waits for a fix.")


def keep_for_fix(step: Step) -> None:
    fix_by = step.now + datetime.timedelta(days=settings.PORTAL_FIX_WINDOW_DAYS)
    step.updates.update(status=Credential.Status.NEEDS_FIX, fix_by=fix_by, handover_check_pending=False)
    step.row.cancel_reminders("It needs a fix in Canvas.")
    if not step.seen_on_page:
        plan(step, CheckAlert.Topic.NEEDS_FIX)
    plan(step, CheckAlert.Topic.FIX_DEADLINE, not_before=fix_by - datetime.timedelta(days=1))
    step.change = "needs_fix"


def destroy(step: Step) -> None:
    step.updates.update(
        status=Credential.Status.REJECTED,
        secret=None,
        rejected_at=step.now,
        secret_purged_at=step.now,
        handover_check_pending=False,
        next_check_at=None,
        fix_by=None,
    )
    step.row.cancel_reminders("Canvas rejected it when it was handed over.")
    if not step.seen_on_page:  # the receipt or the page said it; later, only an email can
        plan(step, CheckAlert.Topic.REJECTED)
    step.change = "rejected"


def start_failing(step: Step) -> None:
    step.updates["failing_since"] = step.now
    if step.row.matters_now(step.now):
        plan(step, CheckAlert.Topic.FAILING)
    step.change = "failing"


def recover(step: Step) -> None:
    episode = step.row.failing_since
    if step.row.check_alerts.filter(topic=CheckAlert.Topic.FAILING, episode=episode).exists():
        plan(step, CheckAlert.Topic.RECOVERED, episode=episode)
    step.change = "recovered"


def tell_staff_if_stuck(step: Step) -> None:
    since = step.updates["inconclusive_since"]
    patience = datetime.timedelta(days=settings.PORTAL_CHECK_INCONCLUSIVE_ALERT_DAYS)
    stuck = step.now - since >= patience and step.row.matters_now(step.now)
    if stuck and plan(step, CheckAlert.Topic.STUCK, episode=since):
        step.change = "stuck"


def plan(step: Step, topic: str, *, episode=None, not_before=None) -> bool:
    return CheckAlert.plan(
        step.row, topic, episode=episode or step.now, reason=step.verdict.reason, now=step.now, not_before=not_before
    )


Effect = Callable[[Step], None]
TABLE: dict[tuple[State, Answer], tuple[Effect, ...]] = {
    (State.ON_TRIAL, Answer.WORKS): (confirm,),
    (State.ON_TRIAL, Answer.FIX): (keep_for_fix,),
    (State.ON_TRIAL, Answer.WRONG): (destroy,),
    (State.ON_TRIAL, Answer.UNCLEAR): (tell_staff_if_stuck,),
    (State.NEEDS_FIX, Answer.WORKS): (activate, confirm, plan_reminders_again, cancel_last_day_email),
    (State.NEEDS_FIX, Answer.FIX): (),
    (State.NEEDS_FIX, Answer.WRONG): (destroy, cancel_last_day_email),
    (State.NEEDS_FIX, Answer.UNCLEAR): (),
    (State.WORKING, Answer.WORKS): (),
    (State.WORKING, Answer.FIX): (start_failing,),
    (State.WORKING, Answer.WRONG): (start_failing,),
    (State.WORKING, Answer.UNCLEAR): (tell_staff_if_stuck,),
    (State.FAILING, Answer.WORKS): (recover,),
    (State.FAILING, Answer.FIX): (),
    (State.FAILING, Answer.WRONG): (),
    (State.FAILING, Answer.UNCLEAR): (tell_staff_if_stuck,),
}


def what_every_answer_writes(row: Credential, verdict: Verdict, now: datetime.datetime) -> dict:
    """The columns an answer sets whatever the state: the last check, and the runs it starts or ends."""
    updates = {"last_check_at": now, "last_check_outcome": verdict.outcome, "last_check_reason": verdict.reason[:500]}
    if verdict.is_works:
        updates.update(last_worked_at=now, inconclusive_since=None, failing_since=None)
        updates.update({fact: value[:64] for fact, value in verdict.facts.items() if fact in ("region", "principal")})
    elif verdict.is_rejected:
        updates["inconclusive_since"] = None
    else:
        updates["inconclusive_since"] = row.inconclusive_since or now
    return updates


@transaction.atomic
def apply(credential: Credential, verdict: Verdict, now: datetime.datetime, *, seen_on_page: bool = False) -> str:
    """Bring the credential in line with what Canvas said, and plan what follows. Returns the change
    ("confirmed", "needs_fix", "rejected", "failing", "recovered", "stuck" or "")."""
    row = Credential.objects.select_for_update().get(pk=credential.pk)
    step = Step(row, verdict, now, what_every_answer_writes(row, verdict, now), seen_on_page)
    state = state_of(row)
    if state is not None:
        for effect in TABLE[(state, answer_of(verdict))]:
            effect(step)
    Credential.objects.filter(pk=credential.pk).update(**step.updates)
    for name, value in step.updates.items():
        setattr(credential, name, value)
    if step.change == "confirmed":
        supersede_older(credential, now)
    if step.change in EVENTS:  # what pipelines hear: the key to use now, and a working key failing or back
        type_, dedupe = EVENTS[step.change]
        PipelineEvent.objects.emit(type_, row, detail=verdict.reason, dedupe=dedupe)
    return step.change


# A change of state as pipelines hear it (keys/pipelines/), and what makes it happen once.
EVENTS = {
    "confirmed": (PipelineEvent.Type.VERIFIED, "once"),  # a key is confirmed once: then it is working
    "failing": (PipelineEvent.Type.FAILING, None),  # once per episode: the row lock orders them
    "recovered": (PipelineEvent.Type.RECOVERED, None),
}


def supersede_older(credential: Credential, now: datetime.datetime) -> int:
    """Older usable keys of the same institution and kind step aside but keep working until
    their own expiry, so the pipeline can switch over. Their reminders stop only where this
    key outlives them: a shorter-lived renewal must not silence the lapse of a key that works."""
    older = Credential.objects.filter(
        institution_id=credential.institution_id,
        kind=credential.kind,
        status__in=Credential.USABLE_STATUSES,
        verified_at__lt=credential.verified_at,
    ).exclude(pk=credential.pk)
    outlived = older if credential.expires_at is None else older.filter(expires_at__lte=credential.expires_at)
    ReminderNotice.objects.filter(credential__in=outlived, state=ReminderNotice.State.SCHEDULED).update(
        state=ReminderNotice.State.CANCELLED, state_reason="A newer key that outlives it works."
    )
    active = list(older.filter(status=Credential.Status.ACTIVE).values_list("pk", flat=True))
    count = older.filter(pk__in=active, status=Credential.Status.ACTIVE).update(
        status=Credential.Status.SUPERSEDED, superseded_by=credential, superseded_at=now
    )
    for pk in active:  # pipelines hear it (once, whoever else superseded it at the same moment)
        by = f"by credential {credential.pk}"
        PipelineEvent.objects.emit_for(
            PipelineEvent.Type.SUPERSEDED, pk, credential.institution_id, credential.kind, by, "once"
        )
    return count
