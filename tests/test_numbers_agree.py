"""Days left and "chased" read from one place (Credential.countdown, CampaignInvitationQuerySet.with_chase):
the list, the key's page, the CSV, the customer's pages, the campaigns list and the campaign's page agree."""

import csv
import datetime
import io
import re

import pytest
from django.utils import timezone

from keys.models import CampaignInvitation, Credential
from keys.onboarding import campaigns
from tests.factories import CredentialFactory, InstitutionFactory
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db


def csv_days_left(client) -> dict[str, str]:
    response = client.get("/admin/keys/credential/export.csv")
    text = b"".join(response.streaming_content).decode()
    return {row["Status"]: row["Days left"] for row in csv.DictReader(io.StringIO(text))}


@pytest.mark.parametrize("status", [Credential.Status.REJECTED, Credential.Status.NEEDS_FIX])
def test_a_key_canvas_refused_has_no_days_left_anywhere(exporter, institution, status):
    refused = CredentialFactory(
        institution=institution,
        status=status,
        secret=None if status == Credential.Status.REJECTED else "kept-sealed",
        last_check_at=timezone.now(),
        last_check_outcome="rejected",
        last_check_reason="Canvas Data 2 is not enabled for this account.",
    )
    CredentialFactory(institution=InstitutionFactory(name="Working College"))
    client = signed_in(exporter)
    label = refused.get_status_display()
    assert csv_days_left(client) == {label: "", "Active": "365"}
    listed = client.get("/admin/keys/credential/", {"status": status})
    assert "365 days left" not in listed.content.decode()
    page = client.get(f"/admin/keys/credential/{refused.pk}/change/").content.decode()
    assert "365 days left" not in page
    assert re.search(r"Days left:</label>\s*<div class=\"readonly\"><span class=\"kd-days kd-urgency-muted\">—", page)
    customer_page = client.get(institution.intake_path()).content.decode()
    assert "days left" not in customer_page


def test_an_institution_whose_key_works_is_not_chased(bob, institution):
    started = campaigns.start(
        type(institution).objects.filter(pk=institution.pk),
        kind="dap",
        name="Autumn",
        actor="alice",
        now=timezone.now(),
    )
    campaigns.sweep()
    client = signed_in(bob)
    assert client.get("/admin/keys/campaign/").context["cl"].result_list[0].open_count == 1
    CredentialFactory(institution=institution)  # handed over and working
    assert client.get("/admin/keys/campaign/").context["cl"].result_list[0].open_count == 0
    page = client.get(f"/admin/keys/campaign/{started.campaign.pk}/change/").content.decode()
    assert "not chased: a key was verified" in page
    history = client.get(f"/admin/keys/institution/{institution.pk}/change/").content.decode()
    assert "not chased: a key was verified" in history


def test_a_key_that_worked_before_the_campaign_stops_the_chase_too(bob, institution):
    now = timezone.now()
    started = campaigns.start(
        type(institution).objects.filter(pk=institution.pk), kind="dap", name="All", actor="alice", now=now
    )
    assert campaigns.sweep().sent == 1
    # A key the institution handed over before the campaign began, confirmed working only now.
    CredentialFactory(institution=institution, submitted_at=now - datetime.timedelta(days=30))
    invitation = CampaignInvitation.objects.with_chase(now).get(campaign=started.campaign)
    assert invitation.is_open and not invitation.chased
    assert signed_in(bob).get("/admin/keys/campaign/").context["cl"].result_list[0].open_count == 0
    assert campaigns.plan_chasers(now + datetime.timedelta(days=30)) == 0
    invitation.refresh_from_db()
    assert not invitation.is_open and invitation.close_reason == "A key of this kind works."
