"""Credential.expiry_urgency(): the colour of a days-left figure, from the row and the time alone."""

import datetime

import pytest

from keys.models import Credential, Institution

NOON = datetime.datetime(2027, 3, 10, 12, 0, tzinfo=datetime.UTC)


def unsaved(expires_in_days):
    expires = None if expires_in_days is None else NOON + datetime.timedelta(days=expires_in_days, hours=1)
    return Credential(institution=Institution(name="Unsaved", time_zone="UTC"), kind="dap", expires_at=expires)


@pytest.mark.parametrize(
    "days, urgency",
    [
        (None, "none"),
        (-3, "lapsed"),
        (0, "lapsed"),
        (1, "urgent"),
        (7, "urgent"),
        (8, "soon"),
        (30, "soon"),
        (31, "ok"),
        (365, "ok"),
    ],
)
def test_it_grades_days_left(days, urgency):
    assert unsaved(days).expiry_urgency(NOON) == urgency


def test_it_reads_the_date_in_the_institutions_time_zone():
    credential = Credential(
        institution=Institution(name="Unsaved", time_zone="Pacific/Auckland"),
        kind="dap",
        expires_at=datetime.datetime(2027, 3, 11, 10, 0, tzinfo=datetime.UTC),  # 11 March 23:00 in Auckland
    )
    assert credential.days_left(NOON) == 0 and credential.expiry_urgency(NOON) == "lapsed"
