"""The per-token rate under real concurrency: N + k racing requests in one minute get exactly N.

Each racer has its own database connection, and all of them are released at once onto the
conditional UPDATE (keys/pipelines/tokens.py ``take_rate``). On PostgreSQL the later UPDATEs wait
for the first's row lock and then re-check ``rate_count < N`` against the new count; without that
condition in the UPDATE they would all count. SQLite lets one writer at a time, so only PostgreSQL
shows it (postgres_only).
"""

import pytest
from django.utils import timezone

from keys.models import PipelineToken
from keys.pipelines import tokens
from tests.pipelines import create_token
from tests.racers import run_together

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]
LIMIT, RACERS = 5, 16


def test_racing_requests_get_exactly_the_rate(settings):
    settings.PORTAL_API_REQUESTS_PER_MINUTE = LIMIT
    create_token("racer", "--kind", "dap")
    token = PipelineToken.objects.get(name="racer")
    now = timezone.now().replace(second=30)  # one minute for everyone
    tokens.take_rate(token, now)  # the minute has begun: every racer meets the counting UPDATE

    def racer(_):
        try:
            tokens.take_rate(token, now)
            return "counted"
        except tokens.RateLimited:
            return "refused"

    outcomes = run_together(racer, RACERS)
    assert outcomes.count("counted") == LIMIT - 1 and outcomes.count("refused") == RACERS - LIMIT + 1
    assert PipelineToken.objects.get(pk=token.pk).rate_count == LIMIT
