"""Hourly limits that hold under concurrency: at most N uses of a scope in any rolling hour.

A limit of N is at most N slot rows per scope, unique per (scope, number < N). A row holds one use
for an hour. Taking a use costs the same two statements whatever N is (both use the indexes on
(scope, number) and (scope, taken_at), and neither lists the scope's slots):

    -- 1. claim a free slot: never used, given back, or its use an hour old
    UPDATE slot SET taken_at = :now
     WHERE id = (SELECT id FROM slot WHERE scope = :scope AND number < :limit AND <free> LIMIT 1)
       AND <free>                          -- <free>: taken_at IS NULL OR taken_at <= :now - 1h
    RETURNING id

    -- 2. none free: create the next one, taken, while fewer than N exist
    INSERT INTO slot (scope, number, taken_at)
    SELECT :scope, COALESCE(MAX(number) + 1, 0), :now FROM slot WHERE scope = :scope AND number < :limit
    HAVING COALESCE(MAX(number) + 1, 0) < :limit
    ON CONFLICT DO NOTHING RETURNING id

If both change nothing, two more queries tell a full scope (refused, with the moment its oldest use
frees: the "try again at" of the 429 page) from a lost race (look again). The race: two requests
that pick the same free slot cannot both have it, because the UPDATE repeats the condition; on
PostgreSQL the second waits for the first's row lock and then finds it false, on SQLite writers take
turns. Two that create the same number cannot both have it: the unique constraint lets one insert
it, and the other (on PostgreSQL after waiting for the first to commit or roll back) inserts
nothing. So N + k racing requests get exactly N slots whatever the timing.

Numbers are created in order without gaps, so "fewer than N exist" is MAX(number) + 1 < N: slots
are only ever deleted a whole scope at a time (`forget_spent`), once none of them holds a use. (A
take racing that sweep at the very moment the scope's last use turns an hour old can leave a gap:
the scope then admits fewer, never more, until it falls idle and is forgotten.)

`taking` takes several limits in the caller's transaction, all or none: the intake's submission
and its three uses commit together, and a refusal rolls back the uses already taken. Giving a slot
back (a code email the mail server refused) or lifting a limit early (staff, audited) sets
taken_at back to NULL.
"""

import contextlib
import datetime
import ipaddress
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Max, Min, Q

from keys.models import AdminContact, Institution, LimitSlot

HOUR = datetime.timedelta(hours=1)
_TABLE = f'"{LimitSlot._meta.db_table}"'  # quoted the standard way, for SQLite and PostgreSQL
_FREE = "(taken_at IS NULL OR taken_at <= %s)"
CLAIM = (
    f"UPDATE {_TABLE} SET taken_at = %s WHERE id = (SELECT id FROM {_TABLE} WHERE scope = %s AND number < %s "
    f"AND {_FREE} LIMIT 1) AND {_FREE} RETURNING id"
)
CREATE = (
    f"INSERT INTO {_TABLE} (scope, number, taken_at) SELECT %s, COALESCE(MAX(number) + 1, 0), %s FROM {_TABLE} "
    "WHERE scope = %s AND number < %s HAVING COALESCE(MAX(number) + 1, 0) < %s ON CONFLICT DO NOTHING RETURNING id"
)


class LimitReached(Exception):
    def __init__(self, scope: str, retry_at: datetime.datetime):
        super().__init__(scope)
        self.scope, self.retry_at = scope, retry_at


@dataclass(frozen=True)
class Slot:
    pk: int
    taken_at: datetime.datetime


def link_scope(institution_id: int) -> str:
    return f"link:{institution_id}"


def contact_scope(contact_id: int) -> str:
    return f"contact:{contact_id}"


def authorization_scope(credential_id: int) -> str:
    return f"authorization:{credential_id}"


def check_again_scope(credential_id: int) -> str:
    return f"check-again:{credential_id}"


def address_scope(ip: str) -> str:
    """IPv6 clients are limited per /64: one customer's network hands out addresses by the billion."""
    address = ipaddress.ip_address(ip)
    if address.version == 6:
        if address.ipv4_mapped:
            return f"address:{address.ipv4_mapped}"
        return f"address:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"address:{address}"


def _race_point(scope: str) -> None:
    """Before a use of `scope` is claimed, outside any transaction. Tests make every racer wait here
    for the others, so they all contend for the same slot."""


def take(scope: str, limit: int, now: datetime.datetime) -> Slot:
    """Take one use of `scope`, or raise LimitReached with the moment a use frees up."""
    _race_point(scope)
    return _take(scope, limit, now)


@contextlib.contextmanager
def taking(wanted: list[tuple[str, int]], now: datetime.datetime):
    """One use of each (scope, limit), in one transaction with what the caller writes inside the
    block: all commit together, or none (LimitReached, or the caller's own error, rolls back)."""
    for scope, _ in wanted:
        _race_point(scope)
    with transaction.atomic():
        yield [_take(scope, limit, now) for scope, limit in wanted]


def _take(scope: str, limit: int, now: datetime.datetime) -> Slot:
    adapt = connection.ops.adapt_datetimefield_value
    at, hour_ago = adapt(now), adapt(now - HOUR)
    # Each lost round means a racer took a use of this scope meanwhile, so at most `limit` rounds are
    # lost before the scope is full; the bound only stops a loop that could never end.
    for _ in range(limit + 3):
        with connection.cursor() as cursor:
            cursor.execute(CLAIM, [at, scope, limit, hour_ago, hour_ago])
            rows = cursor.fetchall()
            if not rows:
                cursor.execute(CREATE, [scope, at, scope, limit, limit])
                rows = cursor.fetchall()
        if rows:
            return Slot(rows[0][0], now)
        # Nothing changed: a full scope, or a racer got there first (only this path costs more).
        slots = _slots(scope, limit)  # built only here: a take that succeeds never needs it
        seen = slots.aggregate(top=Max("number"), oldest=Min("taken_at"))
        existing = 0 if seen["top"] is None else seen["top"] + 1
        if existing >= limit and not slots.filter(_free(now)).exists():
            break
    else:
        seen = _slots(scope, limit).aggregate(oldest=Min("taken_at"))
    raise LimitReached(scope, (seen["oldest"] or now) + HOUR)


def _slots(scope: str, limit: int):
    return LimitSlot.objects.filter(scope=scope, number__lt=limit)


def _free(now: datetime.datetime) -> Q:
    return Q(taken_at__isnull=True) | Q(taken_at__lte=now - HOUR)


def give_back(slot: Slot | None) -> None:
    """The use did not happen after all (nothing stored, nothing sent)."""
    if slot is not None:
        LimitSlot.objects.filter(pk=slot.pk, taken_at=slot.taken_at).update(taken_at=None)


def lift_for_institution(institution: Institution) -> int:
    """Free the intake link's submissions and every contact's code emails now. Returns slots freed."""
    contacts = AdminContact.objects.filter(institution=institution).values_list("pk", flat=True)
    scopes = [link_scope(institution.pk), *(contact_scope(pk) for pk in contacts)]
    return LimitSlot.objects.filter(scope__in=scopes, taken_at__isnull=False).update(taken_at=None)


def forget_spent(now: datetime.datetime) -> int:
    """A scope none of whose slots holds a use holds nothing: the next use creates its slots again.
    Whole scopes only, so a scope's numbers stay without gaps (see above)."""
    holding = LimitSlot.objects.filter(taken_at__gt=now - HOUR).values("scope")
    return LimitSlot.objects.exclude(scope__in=holding).delete()[0]
