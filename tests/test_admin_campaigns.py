"""Campaigns in the admin: choose institutions, start one, follow its funnel, export who has not responded."""

import csv
import io
import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.utils import timezone

from keys.models import AuditEvent, Campaign, CampaignInvitation, CampaignMessage, Credential, Institution
from keys.onboarding import campaigns
from tests.factories import CredentialFactory, InstitutionFactory
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db
LIST = "/admin/keys/institution/"


@pytest.fixture
def base():
    """Three institutions without a Canvas Data 2 key, one with."""
    institutions = [
        InstitutionFactory(slug=f"inst-{n}", name=f"Inst {n}", contacts=[f"a@inst-{n}.edu"]) for n in range(3)
    ]
    CredentialFactory(institution=InstitutionFactory(slug="has-key", contacts=["a@has-key.edu"]))
    return institutions


def test_the_working_key_filter_lists_who_to_invite(bob, base):
    client = signed_in(bob)
    listed = {i.slug for i in client.get(LIST + "?working_key=none-dap").context["cl"].result_list}
    assert listed == {"inst-0", "inst-1", "inst-2"}
    never = {i.slug for i in client.get(LIST + "?working_key=never").context["cl"].result_list}
    assert never == {"inst-0", "inst-1", "inst-2"}
    assert client.get(LIST + "?working_key=none-canvas").status_code == 302  # unknown value: the admin's ?e=1


def test_the_working_key_filter_leaves_out_a_partner_key_awaiting_its_secret(bob, base):
    waiting = InstitutionFactory(slug="waiting", contacts=["a@waiting.edu"])
    CredentialFactory(institution=waiting, key_type="partner", status=Credential.Status.AWAITING_SECRET, secret=None)
    listed = {i.slug for i in signed_in(bob).get(LIST + "?working_key=none-dap").context["cl"].result_list}
    assert listed == {"inst-0", "inst-1", "inst-2"}, "the customer has done their part: staff enter the secret"


def hidden_inputs(html: str) -> dict:
    """What the page's form sends back unseen, as a browser would."""
    fields = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html):
        fields.setdefault(name, []).append(value)
    return fields


def test_staff_start_a_campaign_for_every_filtered_institution_and_land_on_its_page(alice, base):
    client = signed_in(alice)
    url = LIST + "?working_key=none-dap"
    # "Select all" across pages: the admin sends the rows of the page shown and select_across.
    page_rows = [str(base[0].pk)]
    form = client.post(
        url, {"action": "start_campaign", "select_across": "1", "index": "0", ACTION_CHECKBOX_NAME: page_rows}
    )
    assert form.status_code == 200
    html = form.content.decode()
    assert "Invite <strong>3</strong> institutions" in html and 'value="Canvas Data 2 key, ' in html
    answer = {**hidden_inputs(html), "name": "Autumn", "kind": "dap", "chase_after_days": "7", "max_chasers": "2"}
    assert answer["select_across"] == ["1"] and answer[ACTION_CHECKBOX_NAME] == page_rows
    started = client.post(url, answer)
    campaign = Campaign.objects.get()
    assert started.status_code == 302 and started.url == f"/admin/keys/campaign/{campaign.pk}/change/"
    assert {i.institution.slug for i in campaign.invitations.all()} == {"inst-0", "inst-1", "inst-2"}
    assert AuditEvent.objects.get(action=AuditEvent.Action.CAMPAIGN).actor == "alice"
    assert mail.outbox == [], "the schedule sends them, within a minute"


def test_staff_start_a_campaign_for_the_rows_they_ticked(alice, base):
    client = signed_in(alice)
    form = client.post(
        LIST, {"action": "start_campaign", "index": "0", ACTION_CHECKBOX_NAME: [str(base[0].pk), str(base[2].pk)]}
    )
    answer = {
        **hidden_inputs(form.content.decode()),
        "name": "Two",
        "kind": "developer_key",
        "chase_after_days": "3",
        "max_chasers": "0",
    }
    assert client.post(LIST, answer).status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.kind == "developer_key" and (campaign.chase_after_days, campaign.max_chasers) == (3, 0)
    assert {i.institution.slug for i in campaign.invitations.all()} == {"inst-0", "inst-2"}


def test_a_bad_campaign_form_is_shown_again_and_starts_nothing(alice, base):
    action = {"action": "start_campaign", ACTION_CHECKBOX_NAME: [str(base[0].pk)], "confirm": "yes"}
    response = signed_in(alice).post(
        LIST, {**action, "name": "", "kind": "x", "chase_after_days": "0", "max_chasers": "9"}
    )
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"name", "kind", "chase_after_days", "max_chasers"}
    assert not Campaign.objects.exists()


def test_view_only_staff_can_follow_but_not_start_or_close_a_campaign(bob, base):
    client = signed_in(bob)
    action = {
        "action": "start_campaign",
        ACTION_CHECKBOX_NAME: [str(base[0].pk)],
        "confirm": "yes",
        "name": "x",
        "kind": "dap",
        "chase_after_days": "7",
        "max_chasers": "1",
    }
    client.post(LIST, action)
    assert not Campaign.objects.exists()
    campaign = campaigns.start(
        Institution.objects.all(), kind="dap", name="x", actor="alice", now=timezone.now()
    ).campaign
    assert client.get(f"/admin/keys/campaign/{campaign.pk}/change/").status_code == 200
    assert client.post(f"/admin/keys/campaign/{campaign.pk}/close/").status_code == 403


def test_the_campaign_page_shows_the_funnel_and_each_institutions_stage(bob, base):
    campaign = campaigns.start(
        campaigns.without_working_key("dap"), kind="dap", name="Autumn", actor="alice", now=timezone.now()
    ).campaign
    campaigns.sweep()
    opened = CampaignInvitation.objects.get(institution=base[0])
    CampaignInvitation.record_open(opened.token, base[0], timezone.now())
    CredentialFactory(institution=base[1], submitted_at=timezone.now(), last_worked_at=timezone.now())
    response = signed_in(bob).get(f"/admin/keys/campaign/{campaign.pk}/change/")
    funnel = {stage.key: stage.count for stage in response.context["funnel"]}
    assert funnel == {"invited": 3, "opened": 2, "submitted": 1, "verified": 1, "works": 1}
    html = response.content.decode()
    assert "3 emails sent" in html and "Opened the link" in html and "Works" in html
    waiting = signed_in(bob).get(f"/admin/keys/campaign/{campaign.pk}/change/?stage=not_responded")
    assert [row["invitation"].institution.slug for row in waiting.context["rows"]] == ["inst-0", "inst-2"]


def test_who_has_not_responded_is_exported_with_their_contacts_and_audited(exporter, base):
    campaign = campaigns.start(
        campaigns.without_working_key("dap"), kind="dap", name="Autumn", actor="alice", now=timezone.now()
    ).campaign
    campaigns.sweep()
    CredentialFactory(institution=base[1], submitted_at=timezone.now())
    response = signed_in(exporter).get(f"/admin/keys/campaign/{campaign.pk}/not-responded.csv")
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["Institution", "Institution slug", "Contacts", "Stage", "Invited at", "Opened at", "Emails sent"]
    assert [(row[1], row[2], row[3], row[6]) for row in rows[1:]] == [
        ("inst-0", "a@inst-0.edu", "Invited", "1"),
        ("inst-2", "a@inst-2.edu", "Invited", "1"),
    ]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT_LIST, actor="bob").exists()


def test_closing_a_campaign_stops_its_emails(alice, base):
    campaign = campaigns.start(
        campaigns.without_working_key("dap"), kind="dap", name="Autumn", actor="alice", now=timezone.now()
    ).campaign
    response = signed_in(alice).post(f"/admin/keys/campaign/{campaign.pk}/close/")
    assert response.status_code == 302
    assert campaigns.sweep().sent == 0 and mail.outbox == []
    assert not CampaignInvitation.objects.filter(is_open=True).exists()
    assert set(CampaignMessage.objects.values_list("state", flat=True)) == {CampaignMessage.State.CANCELLED}


def test_the_institution_page_lists_its_keys_and_its_campaigns(bob, base):
    institution = base[0]
    CredentialFactory(institution=institution, status=Credential.Status.EXPIRED, secret=None)
    current = CredentialFactory(institution=institution)
    CredentialFactory(institution=institution, status=Credential.Status.PENDING, verified_at=None)  # never shown
    campaigns.start(
        Institution.objects.filter(pk=institution.pk),
        kind="developer_key",
        name="Dev keys",
        actor="alice",
        now=timezone.now(),
    )
    campaigns.sweep()
    response = signed_in(bob).get(f"/admin/keys/institution/{institution.pk}/change/")
    keys = response.context["institution_keys"]
    assert len(keys) == 2 and keys[0]["credential"] == current
    html = response.content.decode()
    assert current.masked_client_id in html and "Expired" in html
    history = response.context["campaign_history"]
    assert [(item["invitation"].campaign.name, item["stage"]) for item in history] == [("Dev keys", "Invited")]
    assert "Dev keys" in html
