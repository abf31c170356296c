"""A partner's whole customer base, end to end: import 500 institutions, invite them, follow who
opens and hands over, chase the rest, and see it from the customer's side and the dashboard."""

import collections
import datetime
import io

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from keys.admin import dashboard
from keys.models import CampaignInvitation, Credential, Institution
from keys.onboarding.campaigns import funnel
from tests.flows import VALID_DAP_CLIENT_ID, VALID_DAP_SECRET, last_code, submit

pytestmark = pytest.mark.django_db
ROWS = 500
BAD_LINES = {
    7: "Bad Zone,bad-zone,,Mars/Olympus,a@bad-zone.edu",
    250: "No Contact,no-contact,,,",
    499: "Bad Mail,bad-mail,,,not-an-address",
}


def csv_file(tmp_path, fixed: bool) -> str:
    lines = ["name,slug,canvas_url,time_zone,contacts"]
    for n in range(ROWS):
        line = len(lines) + 1  # as a spreadsheet numbers it: the header is line 1
        row = f"Institution {n},inst-{n},inst-{n}.instructure.com,America/Chicago,admin@inst-{n}.edu"
        lines.append(row if fixed or line not in BAD_LINES else BAD_LINES[line])
    path = tmp_path / ("fixed.csv" if fixed else "bad.csv")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_five_hundred_institutions_from_import_to_chasers(tmp_path, time_machine, bob, fake_dap):
    err = io.StringIO()
    with pytest.raises(CommandError, match="Nothing imported: 3 bad row"):
        call_command("import_institutions", csv_file(tmp_path, fixed=False), stdout=io.StringIO(), stderr=err)
    assert [line.split(":")[0] for line in err.getvalue().splitlines()] == ["line 7", "line 250", "line 499"]
    assert not Institution.objects.exists()

    out = io.StringIO()
    call_command("import_institutions", csv_file(tmp_path, fixed=True), stdout=out)
    assert "500 new" in out.getvalue() and Institution.objects.count() == ROWS

    out = io.StringIO()
    call_command("invite", "--without-key", "dap", "--chase-after-days", "7", "--max-chasers", "2", stdout=out)
    assert out.getvalue().startswith("Invited 500 contact(s) at 500 institution(s)")
    per_address = collections.Counter(message.to[0] for message in mail.outbox)
    assert len(per_address) == ROWS and set(per_address.values()) == {1}
    call_command("send_campaign_emails", stdout=io.StringIO())
    assert len(mail.outbox) == ROWS, "exactly once"

    # 20 admins open their link; 3 of them hand over a key and confirm it with the code.
    visitor = Client()
    invitations = list(CampaignInvitation.objects.select_related("institution").order_by("institution__slug")[:20])
    for invitation in invitations:
        assert visitor.get(invitation.intake_url().removeprefix(settings.PORTAL_BASE_URL)).status_code == 200
    handed_over = [invitation.institution for invitation in invitations[:3]]
    fake_dap.add_key(VALID_DAP_CLIENT_ID, VALID_DAP_SECRET)  # Canvas accepts the key they hand over
    for institution in handed_over:
        _, verification = submit(visitor, institution)
        assert visitor.post(f"/s/{verification.public_id}/", {"code": last_code()}).status_code == 302
    assert CampaignInvitation.objects.filter(opened_at__isnull=False).count() == 20

    mail.outbox.clear()
    time_machine.move_to(timezone.now() + datetime.timedelta(days=7, minutes=5))
    call_command("send_campaign_emails", stdout=io.StringIO())
    chased = {message.to[0] for message in mail.outbox}
    assert len(chased) == ROWS - 3 and all(message.subject.startswith("Reminder: ") for message in mail.outbox)
    assert not chased & {f"admin@{institution.slug}.edu" for institution in handed_over}

    # The customer reopens the link: the key, its expiry, days left and what Canvas said; and the
    # dashboard has it, and the funnel counts the three that work.
    key = Credential.objects.get(institution=handed_over[0])
    page = visitor.get(handed_over[0].intake_path()).content.decode()
    assert key.masked_client_id in page and f"{key.expires_on():%-d %B %Y}" in page and "days left" in page
    assert '<span class="outcome outcome-works">works</span>' in page
    campaign = CampaignInvitation.objects.first().campaign
    assert {stage.key: stage.count for stage in funnel(campaign)} == {
        "invited": ROWS,
        "opened": 20,
        "submitted": 3,
        "verified": 3,
        "works": 3,
    }
    bars = dashboard.timeline(timezone.now()).bars
    assert sum(bar.count for bar in bars[:-1]) == 3, "the three one-year keys are on the timeline"
