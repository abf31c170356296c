"""The outbox: every message Keydrop owes someone is a row, claimed, sent, then recorded. Written once.

Reminders (keys/reminders.py), check alerts (keys/checks/alerts.py) and campaign emails
(keys/onboarding/campaign_emails.py) are each an ``Outbox``: a table of ``OutboxMessage`` rows
(keys/models/outbox.py) and the few things that differ (what to load, what to check right before
sending, how to send). The loop, the claim, the lease, the records and the back-off are here, as
django-q2 writes its lease once in ``Broker``/``ORM.dequeue`` and every queue uses it. Live checks
claim Credential rows with the same ``claim`` and ``lease_until`` (keys/checks/live_checks.py).

A sweep claims a batch with one conditional UPDATE:

    UPDATE row SET claimed_by = <new token>, claimed_until = <lease>
     WHERE id IN (<due rows it read>) AND state = 'scheduled' AND not_before <= now
       AND (claimed_until IS NULL OR claimed_until < now)

then sends only the rows that carry its token. Two sweeps that read the same rows cannot both
claim one: on PostgreSQL the second UPDATE waits for the first's row lock and then re-checks the
condition, now false; on SQLite writers take turns. ``select_for_update`` would be a no-op on SQLite.

Guarantees, where each is enforced, and where it is tested (tests/test_outbox.py, once, for every
user; each user's own tests cover only what differs):
- Each message goes out at most once, however many sweeps race: ``claim`` (the UPDATE above), and
  every record needs the claim's token (``_held``). Tested with racing sweeps in threads (each
  user) and in processes through a real SMTP server.
- A claim outlasts its sweep and a send in flight: ``lease_until`` is max(PORTAL_CLAIM_SECONDS,
  the sweep's deadline + the longest one send may take). Tested: the lease rule, and a send still
  in flight when the time runs out is not sent again by another sweep.
- None is lost when a worker dies: the claim is a lease, and each message is recorded the moment
  the server accepts it. Tested: a killed sweep's claims go to the next sweep once the lease ends.
- A sweep out of time hands the rest back at once (``Outbox.deliver`` → ``release``). Tested.
- A refused message is retried, later each time: ``record_failure`` with ``BACKOFF``, one table
  for every user. Tested: the back-off schedule.
- A message that must not go now is finished with a reason or waits (``Hold``): each user's own.

The one window left: a worker dying between the mail server's "250 OK" and the UPDATE that records
it. The copy the next sweep sends carries the same Message-ID (``stamp``), which mail
systems use to drop duplicates.
"""

import datetime
import logging
import secrets
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from keys.models.outbox import OutboxMessage
from portal import emails

log = logging.getLogger(__name__)
State = OutboxMessage.State

# How long a refused message waits after its 1st, 2nd, … failure; then every 6 hours.
BACKOFF = tuple(datetime.timedelta(seconds=s) for s in (5 * 60, 15 * 60, 60 * 60, 3 * 60 * 60, 6 * 60 * 60))


def backoff(attempts: int) -> datetime.timedelta:
    """How long to wait after the ``attempts``-th failed send (1 for the first)."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


# Claiming -----------------------------------------------------------------------------------------


def lease_until(now: datetime.datetime, deadline: datetime.datetime, in_flight: float) -> datetime.datetime:
    """When a claim taken ``now`` ends: past the sweep's ``deadline`` by the longest a send begun
    just before it may take (``in_flight`` seconds), and never sooner than PORTAL_CLAIM_SECONDS.
    Deadline and lease are on one clock, so no clock step can put one before the other."""
    least = now + datetime.timedelta(seconds=settings.PORTAL_CLAIM_SECONDS)
    return max(least, deadline + datetime.timedelta(seconds=in_flight))


def unclaimed(now: datetime.datetime, until: str = "claimed_until") -> Q:
    """Rows no live claim holds: never claimed, handed back, or whose claim ran out."""
    return Q(**{f"{until}__isnull": True}) | Q(**{f"{until}__lt": now})


def candidates(due: QuerySet, batch_size: int) -> list[int]:
    """The due rows a sweep looks at before claiming. (Tests line racing sweeps up right here.)"""
    return list(due.values_list("pk", flat=True)[:batch_size])


def claim(
    claimable: QuerySet,
    pks: list[int],
    until: datetime.datetime,
    *,
    by: str = "claimed_by",
    lease: str = "claimed_until",
) -> str:
    """Claim those of ``pks`` that ``claimable`` (whose condition says "unclaimed") still admits,
    with one conditional UPDATE. Returns the token the claimed rows now carry."""
    token = secrets.token_hex(16)
    # The condition is re-checked row by row: a row another sweep claimed meanwhile is not taken.
    claimable.filter(pk__in=pks).update(**{by: token, lease: until})
    return token


# Recording: only the claim's holder can ------------------------------------------------------


def _held(message: OutboxMessage) -> QuerySet:
    return type(message).objects.filter(pk=message.pk, claimed_by=message.claimed_by)


def record_sent(message: OutboxMessage, recipients: list[str], **fields) -> bool:
    """The server accepted it. False if the claim was lost meanwhile (then another holder records it)."""
    return bool(
        _held(message).update(
            state=State.SENT,
            sent_at=timezone.now(),
            recipients="\n".join(recipients),
            attempts=F("attempts") + 1,
            last_error="",
            claimed_until=None,
            **fields,
        )
    )


def record_failure(message: OutboxMessage, error: Exception, **fields) -> datetime.timedelta:
    """The send failed: count it, say why, hand the message back to wait out its back-off."""
    wait = backoff(message.attempts + 1)
    _held(message).update(
        attempts=F("attempts") + 1,
        last_error=f"{type(error).__name__}: {error}"[:300],
        not_before=timezone.now() + wait,
        claimed_by="",
        claimed_until=None,
        **fields,
    )
    return wait


def finish(message: OutboxMessage, state: str, reason: str) -> bool:
    """It must not go (skipped: a later one said it; cancelled: what it was about changed)."""
    return bool(_held(message).update(state=state, state_reason=reason[:200], claimed_until=None))


def release(messages: list[OutboxMessage], *, not_before: datetime.datetime | None = None, **fields) -> int:
    """Hand unsent messages back at once rather than make them wait for the lease (out of time, or
    to wait until ``not_before``)."""
    if not messages:
        return 0
    later = {"not_before": not_before} if not_before else {}
    return (
        type(messages[0])
        .objects.filter(
            pk__in=[message.pk for message in messages], state=State.SCHEDULED, claimed_by=messages[0].claimed_by
        )
        .update(claimed_by="", claimed_until=None, **later, **fields)
    )


# What each user decides, and the loop ---------------------------------------------------------


@dataclass(frozen=True)
class Hold:
    """Why a claimed message does not go now: finished with a reason, or back to wait ``until``."""

    state: str = State.SCHEDULED
    reason: str = ""
    until: datetime.datetime | None = None

    @classmethod
    def skip(cls, reason: str) -> "Hold":
        return cls(State.SKIPPED, reason)

    @classmethod
    def cancel(cls, reason: str) -> "Hold":
        return cls(State.CANCELLED, reason)

    @classmethod
    def wait(cls, until: datetime.datetime) -> "Hold":
        return cls(State.SCHEDULED, until=until)


@dataclass
class Report:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0
    deferred: int = 0  # handed back to wait (a campaign address's daily limit)
    recipients: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        counts = ("sent", "failed", "skipped", "cancelled", "deferred")
        return {name: getattr(self, name) for name in counts}


class Outbox:
    """One table of messages and what differs about sending them; ``sweep`` is the rest."""

    model: type[OutboxMessage]
    noun = "message"
    reset_on_retry: dict = {}  # fields put back whenever a message returns to waiting

    def in_flight(self) -> float:
        """The longest one send may take once begun: how far a claim must outlast its sweep."""
        raise NotImplementedError

    def due(self, now: datetime.datetime) -> QuerySet:
        return self.model.objects.due(now)

    def load(self, claimed: QuerySet) -> QuerySet:
        """What a send reads besides the row (select_related)."""
        return claimed

    def prepare(self, batch: list, now: datetime.datetime) -> None:
        """Read what the batch's holds need, once per batch."""

    def hold(self, message, now: datetime.datetime) -> Hold | None:
        """Asked right before sending: a reason it must not go now, or None."""
        return None

    @contextmanager
    def session(self):
        """Opened around a batch's sends (a mail connection)."""
        yield

    def send(self, message, now: datetime.datetime) -> list[str]:
        """Send it; return who it went to. Raise if it was refused: it is retried with back-off."""
        raise NotImplementedError

    def sent_fields(self, message, now: datetime.datetime) -> dict:
        """More fields recorded with "sent"."""
        return {}

    def after_sent(self, message, now: datetime.datetime) -> None:
        """What follows a message that went out."""

    def sweep(self, *, batch_size: int = 100, time_budget: float = 60.0, report: Report | None = None) -> Report:
        """Send every message that is due. Safe to run anywhere, any number of times at once."""
        if not time_budget > 0:
            raise ValueError(f"A sweep's time budget must be a positive number of seconds, not {time_budget!r}.")
        report = report or Report()
        deadline = timezone.now() + datetime.timedelta(seconds=time_budget)
        while timezone.now() < deadline:
            looked, batch = self.claim_batch(batch_size, deadline)
            if not looked:
                break
            # Another sweep may have claimed all of them first: then look again for the rest.
            self.deliver(batch, report, deadline)
        if report.sent or report.failed:
            log.info("%s sweep: %s", self.noun, report.as_dict())
        return report

    def claim_batch(self, batch_size: int, deadline: datetime.datetime) -> tuple[list[int], list]:
        """The due rows this sweep looked at, and those of them it claimed (none if others were first)."""
        now = timezone.now()
        looked = candidates(self.due(now).order_by("not_before", "pk"), batch_size)
        if not looked:
            return [], []
        token = claim(self.due(now), looked, lease_until(now, deadline, self.in_flight()))
        ours = self.model.objects.filter(pk__in=looked, claimed_by=token, state=State.SCHEDULED)
        return looked, list(self.load(ours).order_by("not_before", "pk"))

    def deliver(self, batch: list, report: Report, deadline: datetime.datetime) -> None:
        if not batch:
            return
        now = timezone.now()
        self.prepare(batch, now)
        with self.session():
            for position, message in enumerate(batch):
                if timezone.now() >= deadline:
                    release(batch[position:])
                    break
                hold = self.hold(message, now)
                if hold:
                    self.apply(hold, message, report)
                    continue
                try:
                    recipients = self.send(message, now)
                except Exception as exc:  # SMTP refusals, timeouts, dropped connections
                    wait = record_failure(message, exc, **self.reset_on_retry)
                    log.warning(
                        "%s %s failed (attempt %d, next in %s): %s",
                        self.noun,
                        message.pk,
                        message.attempts + 1,
                        wait,
                        type(exc).__name__,
                    )
                    report.failed += 1
                    continue
                record_sent(message, recipients, **self.sent_fields(message, now))
                self.after_sent(message, now)
                report.sent += 1
                report.recipients.extend(recipients)

    def apply(self, hold: Hold, message, report: Report) -> None:
        if hold.state == State.SCHEDULED:
            release([message], not_before=hold.until, **self.reset_on_retry)
            report.deferred += 1
        else:
            finish(message, hold.state, hold.reason)
            if hold.state == State.SKIPPED:
                report.skipped += 1
            else:
                report.cancelled += 1


class EmailOutbox(Outbox):
    """An outbox whose messages are emails: the first must go, the others are copies (staff's)."""

    def in_flight(self) -> float:
        return emails.in_flight_seconds()

    def emails(self, message, now: datetime.datetime) -> list[EmailMessage]:
        raise NotImplementedError

    @contextmanager
    def session(self):
        self.connection = get_connection()
        try:
            yield
        finally:
            self.connection.close()

    def send(self, message, now: datetime.datetime) -> list[str]:
        first, *copies = self.emails(message, now)
        try:
            self.connection.send_messages([first])
        except Exception:
            self.connection.close()  # a broken session must not fail the next message too
            raise
        delivered = [first]
        for copy in copies:
            # The first is out: a failing copy must not make it go twice.
            try:
                self.connection.send_messages([copy])
                delivered.append(copy)
            except Exception as exc:
                log.warning("a copy of %s %s failed: %s", self.noun, message.pk, type(exc).__name__)
                self.connection.close()
        return [address for email in delivered for address in email.to]


def stamp(email: EmailMessage, message_id: str, header: str, value: str) -> EmailMessage:
    """A Message-ID stable per message (and audience): a copy re-sent after a crash is recognisably
    the same message. ``header`` says which message it is, for people and tests."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip(">") or "keydrop"
    email.extra_headers["Message-ID"] = f"<{message_id}@{domain}>"
    email.extra_headers[header] = value
    return email
