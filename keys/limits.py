"""Hourly limits that hold under concurrency: at most N uses of a scope in any rolling hour.

A limit of N is at most N slot rows per scope, unique per (scope, number). Using the limit takes a
slot whose last use is an hour old (or that was given back) with one conditional UPDATE:

    UPDATE slot SET taken_at = now WHERE id = <candidate> AND (taken_at IS NULL OR taken_at <= now - 1h)

or, while fewer than N exist, creates the next one, taken: an INSERT that the unique constraint
lets only one of several racers make. Two requests that pick the same slot cannot both have it: on
PostgreSQL the second waits for the first's row lock (or its insert) and then finds the condition
false (or the number taken), on SQLite writers take turns; the loser looks again. So N + k racing
requests get exactly N slots whatever the timing, and a refused request knows the moment the oldest
slot frees (the "try again at" of the 429 page).

Giving a slot back (a code email the mail server refused) or lifting a limit early (staff, audited)
sets taken_at back to NULL.
"""

import datetime
import ipaddress
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Min, Q

from keys.models import AdminContact, Institution, LimitSlot

HOUR = datetime.timedelta(hours=1)


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
    """Between choosing a slot and claiming it. Tests make every racer wait here for the others."""


def take(scope: str, limit: int, now: datetime.datetime) -> Slot:
    """Take one use of `scope`, or raise LimitReached with the moment a use frees up."""
    free = Q(taken_at__isnull=True) | Q(taken_at__lte=now - HOUR)
    slots = LimitSlot.objects.filter(scope=scope, number__lt=limit)
    # Each lost claim means another request took that slot, so this loop ends after `limit` losses.
    for _ in range(limit + 3):
        existing = {number: (pk, taken_at) for pk, number, taken_at in slots.values_list("pk", "number", "taken_at")}
        reusable = [pk for pk, taken_at in existing.values() if taken_at is None or taken_at <= now - HOUR]
        unused_numbers = [number for number in range(limit) if number not in existing]
        if not reusable and not unused_numbers:
            break  # every slot exists and is taken
        _race_point(scope)
        if reusable:
            if LimitSlot.objects.filter(pk=min(reusable)).filter(free).update(taken_at=now):
                return Slot(min(reusable), now)
            continue
        # A slot is created when first needed: most scopes (a link, a contact) are used once or twice.
        try:
            with transaction.atomic():
                created = LimitSlot.objects.create(scope=scope, number=unused_numbers[0], taken_at=now)
        except IntegrityError:  # a racer created that number first
            continue
        return Slot(created.pk, now)
    oldest = slots.aggregate(oldest=Min("taken_at"))["oldest"]
    raise LimitReached(scope, (oldest or now) + HOUR)


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
    """Slots free for more than an hour hold nothing; the next use creates them again."""
    return LimitSlot.objects.filter(Q(taken_at__isnull=True) | Q(taken_at__lte=now - HOUR)).delete()[0]
