"""Campaign sending and `invite` as separate processes racing on the same rows, through a real
SMTP server. The race is forced: every process is stopped right after it has read its rows and
let go only when all have read the same ones (tests/paused_command.py).

Runs on SQLite in `make test` and on PostgreSQL in CI: the daily slots and open invitations are
unique constraints, so the guarantees come from the database. That every email goes out once
however many sweeps race is the outbox's, proved for every user in tests/test_outbox.py.
"""

import collections

import pytest
from django.utils import timezone

from keys.models import CampaignInvitation, CampaignMessage, Institution
from keys.onboarding import campaigns
from tests.factories import InstitutionFactory, midday_time_zone
from tests.processes import line_up, paused_manage
from tests.smtp_sink import SMTPSink

# Each race lines up real `manage.py` processes: with the other process tests, in CI (CI=true) and make test-all.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]
SWEEPS = 4


def recipients(sink) -> collections.Counter:
    return collections.Counter(message["To"] for message in sink.handler.messages)


def test_sweeps_that_read_the_same_rows_keep_the_daily_limit():
    for n in range(60):
        InstitutionFactory(slug=f"inst-{n}", contacts=[f"admin@inst-{n}.edu"])
    for n in range(5):  # one consortium admin on file at five institutions; at most 2 emails a day
        InstitutionFactory(slug=f"member-{n}", contacts=["consortium@example.edu"])
    campaigns.start(Institution.objects.all(), kind="dap", name="race", actor="test", now=timezone.now())
    with SMTPSink() as sink:
        sweeps = [
            paused_manage(
                "keys.outbox:candidates",
                "send_campaign_emails",
                "--batch-size",
                "30",
                sink=sink,
                PORTAL_CAMPAIGN_EMAILS_PER_CONTACT_PER_DAY="2",
                TIME_ZONE=midday_time_zone(),  # the daily limit's day does not end mid-race
            )
            for _ in range(SWEEPS)
        ]
        digests = line_up(sweeps)
        outputs = [sweep.communicate(timeout=300) for sweep in sweeps]
    assert len(set(digests)) == 1, "the sweeps were meant to read the very same rows before claiming"
    for sweep, (_out, err) in zip(sweeps, outputs, strict=True):
        assert sweep.returncode == 0, err
    sent = [int(out.split()[1]) for out, _ in outputs]
    assert sum(sent) == 62
    delivered = collections.Counter(sink.handler.header_values("X-Keydrop-Campaign"))
    assert len(delivered) == 62 and max(delivered.values()) == 1
    per_address = recipients(sink)
    assert per_address["consortium@example.edu"] == 2 and max(per_address.values()) == 2
    assert CampaignMessage.objects.filter(state=CampaignMessage.State.SENT).count() == 62
    assert (
        CampaignMessage.objects.filter(state=CampaignMessage.State.SCHEDULED, email="consortium@example.edu").count()
        == 3
    )


def test_two_invite_commands_at_once_invite_each_contact_once():
    for n in range(40):
        InstitutionFactory(slug=f"inst-{n}", contacts=[f"a@inst-{n}.edu", f"b@inst-{n}.edu"])
    with SMTPSink() as sink:
        commands = [
            paused_manage("keys.onboarding.campaigns:select_candidates", "invite", "--without-key", "dap", sink=sink)
            for _ in range(2)
        ]
        digests = line_up(commands)
        outputs = [command.communicate(timeout=300) for command in commands]
    assert len(set(digests)) == 1, "both commands were meant to choose the same institutions"
    for command, (_out, err) in zip(commands, outputs, strict=True):
        assert command.returncode == 0, err
    invited = sorted(int(out.split()[1]) for out, _ in outputs)
    assert invited == [0, 80], outputs
    assert "40 institution(s) already in an open campaign for this kind" in "".join(out for out, _ in outputs)
    per_address = recipients(sink)
    assert len(per_address) == 80 and set(per_address.values()) == {1}
    assert (
        CampaignInvitation.objects.count() == 40
        and CampaignInvitation.objects.values("campaign").distinct().count() == 1
    )
