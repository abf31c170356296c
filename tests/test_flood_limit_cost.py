"""What a use of an hourly limit costs: the same few statements whatever the limit.

Before: a take listed every slot of its scope and every number below the limit, then inserted in a
transaction of its own (four statements for a new slot); at a limit of 1,000,000 one take cost
83 ms of CPU against 1.5 ms at 20, on every hand-over of a partner who raised a limit.

| the take finds | statements |
| --- | --- |
| a free slot (its use an hour old, or given back) | 1: the conditional UPDATE that claims it |
| no free slot, fewer than the limit exist | 2: that UPDATE, then the INSERT of the next slot |
| every slot taken | 4: those two, then the two that tell "full" from a lost race and when it frees |
"""

import contextlib
import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from keys import limits
from keys.models import LimitSlot

pytestmark = pytest.mark.django_db


def statements(scope, limit, now):
    with CaptureQueriesContext(connection) as queries, contextlib.suppress(limits.LimitReached):
        limits.take(scope, limit, now)
    return len(queries)


def busy_scope(scope, used, now):
    """`used` slots taken in the last hour, and one whose use is an hour and a minute old."""
    LimitSlot.objects.bulk_create(
        [LimitSlot(scope=scope, number=n, taken_at=now - datetime.timedelta(minutes=1 + n % 50)) for n in range(used)]
        + [LimitSlot(scope=scope, number=used, taken_at=now - datetime.timedelta(minutes=61))]
    )


@pytest.mark.parametrize("limit", [12, 100_000])
def test_a_take_costs_the_same_at_a_limit_of_100000_as_at_12(limit):
    now = timezone.now()
    busy_scope("link:busy", 10, now)
    assert statements("link:busy", limit, now) == 1  # the slot whose use is an hour old
    assert statements("link:busy", limit, now) == 2  # a new slot, number 11
    assert statements("link:new", limit, now) == 2
    assert LimitSlot.objects.filter(scope="link:busy", taken_at=now).count() == 2


def test_a_refusal_costs_the_same_at_any_limit():
    now = timezone.now()
    busy_scope("link:full", 11, now)
    LimitSlot.objects.filter(scope="link:full").update(taken_at=now)
    assert statements("link:full", 12, now) == 4
    with pytest.raises(limits.LimitReached):
        limits.take("link:full", 12, now)


def test_a_limit_of_100000_counts_past_a_small_integer():
    now = timezone.now()
    LimitSlot.objects.bulk_create([LimitSlot(scope="link:big", number=40_000, taken_at=now)])
    assert limits.take("link:big", 100_000, now)
    assert LimitSlot.objects.filter(scope="link:big").order_by("number").last().number == 40_001
