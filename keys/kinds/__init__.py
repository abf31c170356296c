"""The kinds of credential Keydrop collects, each described as data in one place.

A kind says what its fields are called, how to check their format, which expiry choices Canvas
offers, how a customer creates the key (the numbered steps on the intake page and in renewal
emails), which variable names a pipeline reads, and which live check asks Canvas about it
(``check_name``; the checks and their answer tables live with the Canvas code, in
``keys/instructure/answers.py``). Code elsewhere asks the kind; it never tests ``if kind == ...``.
"""

import datetime

from keys.kinds.base import (
    EXACT_DATE,
    MAX_SECRET_LENGTH,
    NO_DATE,
    KeyType,
    Kind,
    Lifetime,
    Step,
    is_partner_key,
    partner_email_sentence,
)
from keys.kinds.dap import DAP
from keys.kinds.developer_key import (
    DEVELOPER_KEY,
    OAUTH_CALLBACK_PATH,
    USERS_SELF_SCOPE,
    developer_key_api_calls,
    developer_key_setup,
    keydrop_callback_url,
    keydrop_completes_grants,
)

__all__ = [
    "CHOICES",
    "DAP",
    "DEFAULT",
    "DEVELOPER_KEY",
    "EXACT_DATE",
    "GRANTED_KINDS",
    "KINDS",
    "MAX_SECRET_LENGTH",
    "NO_DATE",
    "OAUTH_CALLBACK_PATH",
    "USERS_SELF_SCOPE",
    "KeyType",
    "Kind",
    "Lifetime",
    "Step",
    "developer_key_api_calls",
    "developer_key_setup",
    "get",
    "is_partner_key",
    "keydrop_callback_url",
    "keydrop_completes_grants",
    "partner_email_sentence",
    "start_of_day",
]

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
