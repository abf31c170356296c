"""Invitation campaigns: invited → opened → submitted → verified → works, and chasers.

| rule | test |
| --- | --- |
| each contact of each chosen institution gets the intake link, once | test_a_campaign_invites_each_contact_once |
| opened = intake page loaded from the email's link, first visit | test_opening_the_emails_link_records_opened_once |
| chasers after N days to non-submitters, at most M | test_chasers_go_to_those_who_have_not_submitted_at_most_m_times |
| chasing stops the moment a key is verified | test_a_chaser_already_planned_is_not_sent_once_a_key_is_verified |
| a partner key awaiting its secret: done | test_an_institution_whose_partner_key_awaits_its_secret_is_not_invited |
| … never chased either | test_chasing_stops_once_a_partner_key_submitted_before_the_campaign_is_verified |
| per-contact limit: at most K campaign emails an address a day | test_no_address_gets_more_than_its_daily_limit |
| one open campaign per institution and kind | test_an_institution_in_an_open_campaign_is_not_invited_again |

Claiming, sending once, the lease and the back-off are the outbox's, tested once in tests/test_outbox.py.
"""

import datetime

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from keys import audit
from keys.models import AuditEvent, Campaign, CampaignInvitation, CampaignMessage, Credential, Institution
from keys.onboarding import campaigns
from tests.factories import CredentialFactory, InstitutionFactory

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)


def start(institutions=None, kind="dap", name="Autumn onboarding", **options) -> campaigns.Started:
    institutions = institutions if institutions is not None else Institution.objects.all()
    return campaigns.start(institutions, kind=kind, name=name, actor="alice", now=timezone.now(), **options)


def sent_to() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


def invitation_of(institution) -> CampaignInvitation:
    return CampaignInvitation.objects.get(institution=institution)


def submission(institution, status=Credential.Status.PENDING, **fields):
    """A submission made now: pending its code, verified (active), or locked."""
    verified = status not in (Credential.Status.PENDING, Credential.Status.LOCKED)
    return CredentialFactory(
        institution=institution,
        status=status,
        submitted_at=timezone.now(),
        verified_at=timezone.now() if verified else None,
        **fields,
    )


def test_a_campaign_invites_each_contact_once():
    two = InstitutionFactory(slug="two", contacts=["a@two.edu", "b@two.edu"])
    InstitutionFactory(slug="one", contacts=["a@one.edu"])
    InstitutionFactory(slug="nobody", contacts=[])
    started = start()
    assert (started.institutions, started.contacts, started.without_contacts) == (2, 3, 1)
    report = campaigns.sweep()
    assert report.sent == 3 and sent_to() == ["a@one.edu", "a@two.edu", "b@two.edu"]
    assert all(len(message.to) == 1 for message in mail.outbox), "no contact sees another's address"
    message = next(m for m in mail.outbox if m.to == ["a@two.edu"])
    invitation = invitation_of(two)
    assert invitation.intake_url() in message.body and f"?via={invitation.token}" in message.body
    assert message.subject == f"Keydrop needs a Canvas key from {two.name}"
    assert invitation.invited_at is not None and invitation.next_chase_at == invitation.invited_at + 7 * DAY
    assert campaigns.sweep().sent == 0 and len(mail.outbox) == 3
    event = AuditEvent.objects.get(action=AuditEvent.Action.CAMPAIGN)
    assert event.actor == "alice" and "2 institution(s), 3 contact(s)" in event.detail


def partner_key_awaiting_secret(institution, **fields):
    """A verified Instructure Partner key: the customer is done, Instructure sends the partner its secret."""
    return CredentialFactory(
        institution=institution, key_type="partner", status=Credential.Status.AWAITING_SECRET, secret=None, **fields
    )


def test_the_usual_audience_is_who_has_no_working_key_of_the_kind():
    has_one = InstitutionFactory()
    CredentialFactory(institution=has_one)
    lapsed = InstitutionFactory()
    CredentialFactory(institution=lapsed, expires_at=timezone.now() - DAY)
    partner_waiting = InstitutionFactory()
    partner_key_awaiting_secret(partner_waiting)
    partner_lapsed = InstitutionFactory()  # its secret never came and the key ran out: a new one is needed
    partner_key_awaiting_secret(partner_lapsed, expires_at=timezone.now() - DAY)
    other_kind = InstitutionFactory()
    CredentialFactory(institution=other_kind, kind="developer_key", client_id="170000000000123")
    audience = set(campaigns.without_working_key("dap").values_list("pk", flat=True))
    assert audience == {lapsed.pk, partner_lapsed.pk, other_kind.pk}
    assert partner_waiting.pk in campaigns.without_working_key("developer_key").values_list("pk", flat=True)


def test_an_institution_whose_partner_key_awaits_its_secret_is_not_invited():
    waiting = InstitutionFactory(contacts=["waiting@example.edu"])
    partner_key_awaiting_secret(waiting)
    InstitutionFactory(contacts=["other@example.edu"])
    started = start()  # every institution, as staff ticking all rows would
    assert (started.institutions, started.awaiting_secret, started.taken) == (1, 1, 0)
    campaigns.sweep()
    assert sent_to() == ["other@example.edu"]
    assert not CampaignInvitation.objects.filter(institution=waiting).exists()
    only_them = start(Institution.objects.filter(pk=waiting.pk), name="again")
    assert only_them.campaign is None and only_them.awaiting_secret == 1 and only_them.taken == 0


def test_chasing_stops_once_a_partner_key_submitted_before_the_campaign_is_verified(time_machine):
    institution = InstitutionFactory(contacts=["a@example.edu", "b@example.edu"])
    key = CredentialFactory(  # submitted a moment before the campaign, still awaiting its code
        institution=institution,
        key_type="partner",
        status=Credential.Status.PENDING,
        secret=None,
        submitted_at=timezone.now() - datetime.timedelta(minutes=5),
        verified_at=None,
    )
    start(chase_after_days=7, max_chasers=2)
    campaigns.sweep()
    time_machine.move_to(timezone.now() + 7 * DAY + datetime.timedelta(minutes=1))
    assert campaigns.plan_chasers(timezone.now()) == 2, "pending since before the campaign: chased"
    Credential.objects.filter(pk=key.pk).update(status=Credential.Status.AWAITING_SECRET, verified_at=timezone.now())
    mail.outbox.clear()
    report = campaigns.sweep()
    assert report.sent == 0 and report.cancelled == 2 and mail.outbox == []
    time_machine.move_to(timezone.now() + 7 * DAY + datetime.timedelta(minutes=1))
    assert campaigns.sweep().planned_chasers == 0 and mail.outbox == []
    invitation = invitation_of(institution)
    assert not invitation.is_open and invitation.close_reason == "A key was verified."
    assert campaigns.stage_of(CampaignInvitation.objects.with_stages().get(pk=invitation.pk)) == "verified"


def test_opening_the_emails_link_records_opened_once(time_machine):
    institution = InstitutionFactory(contacts=["a@example.edu"])
    start()
    campaigns.sweep()
    invitation = invitation_of(institution)
    visitor = Client()
    assert visitor.get(institution.intake_path()).status_code == 200  # not from the email: not an open
    assert visitor.get(institution.intake_path() + "?via=someone-elses-token").status_code == 200
    assert visitor.get(institution.intake_path() + "?via=%00%01").status_code == 200
    invitation.refresh_from_db()
    assert invitation.opened_at is None
    first = timezone.now()
    assert visitor.get(invitation.intake_url().removeprefix("http://127.0.0.1:8000")).status_code == 200
    time_machine.move_to(first + datetime.timedelta(hours=3))
    visitor.get(invitation.intake_url().removeprefix("http://127.0.0.1:8000"))
    invitation.refresh_from_db()
    assert abs(invitation.opened_at - first) < datetime.timedelta(seconds=5)


def test_another_institutions_link_with_this_token_records_nothing():
    mine, other = InstitutionFactory(), InstitutionFactory()
    start(Institution.objects.filter(pk=mine.pk))
    token = invitation_of(mine).token
    Client().get(other.intake_path() + f"?via={token}")
    assert invitation_of(mine).opened_at is None


def test_chasers_go_to_those_who_have_not_submitted_at_most_m_times(time_machine):
    verified, silent, fumbled, waiting = (
        InstitutionFactory(slug=slug, contacts=[f"admin@{slug}.edu"])
        for slug in ("verified", "silent", "fumbled", "waiting")
    )
    start(chase_after_days=7, max_chasers=2)
    campaigns.sweep()
    assert len(mail.outbox) == 4
    time_machine.move_to(timezone.now() + 3 * DAY)
    submission(verified, Credential.Status.ACTIVE)
    submission(fumbled, Credential.Status.LOCKED)  # wrong codes: it still has no key
    mail.outbox.clear()

    time_machine.move_to(timezone.now() + 4 * DAY + datetime.timedelta(minutes=1))  # day 7
    submission(waiting)  # just submitted, awaiting its code
    report = campaigns.sweep()
    assert report.planned_chasers == 2 and sent_to() == ["admin@fumbled.edu", "admin@silent.edu"]
    assert all(message.subject.startswith("Reminder: ") for message in mail.outbox)
    assert not invitation_of(verified).is_open and invitation_of(verified).close_reason == "A key was verified."

    mail.outbox.clear()
    Credential.objects.filter(institution=waiting).update(status=Credential.Status.LOCKED)  # its window ran out
    time_machine.move_to(timezone.now() + 7 * DAY + datetime.timedelta(minutes=1))  # day 14
    campaigns.sweep()
    assert sent_to() == ["admin@fumbled.edu", "admin@silent.edu", "admin@waiting.edu"]

    mail.outbox.clear()
    for _ in range(3):  # day 21, 28, 35: silent and fumbled had their two chasers, waiting one more
        time_machine.move_to(timezone.now() + 7 * DAY + datetime.timedelta(minutes=1))
        campaigns.sweep()
    assert sent_to() == ["admin@waiting.edu"]
    silent_invitation = invitation_of(silent)
    assert not silent_invitation.is_open and silent_invitation.close_reason == "No key after 2 chaser(s)."
    assert CampaignMessage.objects.filter(invitation=silent_invitation, state=CampaignMessage.State.SENT).count() == 3


def test_a_chaser_already_planned_is_not_sent_once_a_key_is_verified(time_machine):
    institution = InstitutionFactory(contacts=["a@example.edu", "b@example.edu"])
    start(chase_after_days=7, max_chasers=1)
    campaigns.sweep()
    time_machine.move_to(timezone.now() + 7 * DAY + datetime.timedelta(minutes=1))
    assert campaigns.plan_chasers(timezone.now()) == 2
    submission(institution, Credential.Status.ACTIVE)  # verified between planning and sending
    mail.outbox.clear()
    report = campaigns.sweep()
    assert report.sent == 0 and report.cancelled == 2 and mail.outbox == []
    assert set(CampaignMessage.objects.filter(round=1).values_list("state_reason", flat=True)) == {
        "A key was verified."
    }


def test_the_invitation_itself_is_not_sent_to_an_institution_that_handed_over_meanwhile():
    institution = InstitutionFactory(contacts=["a@example.edu"])
    start()
    submission(institution)
    assert campaigns.sweep().cancelled == 1 and mail.outbox == []


def test_a_contact_removed_before_sending_gets_nothing():
    institution = InstitutionFactory(contacts=["stays@example.edu", "leaves@example.edu"])
    start()
    institution.contacts.get(email="leaves@example.edu").delete()
    report = campaigns.sweep()
    assert report.sent == 1 and sent_to() == ["stays@example.edu"]


def test_no_address_gets_more_than_its_daily_limit(settings, time_machine):
    settings.PORTAL_CAMPAIGN_EMAILS_PER_CONTACT_PER_DAY = 2
    for slug in ("north", "south", "east"):  # one consortium admin on file at three institutions
        InstitutionFactory(slug=slug, contacts=["consortium@example.edu"])
    start()
    report = campaigns.sweep()
    assert (report.sent, report.deferred) == (2, 1) and len(mail.outbox) == 2
    assert campaigns.sweep().sent == 0, "the third waits for tomorrow"
    tomorrow = timezone.localtime().replace(hour=0, minute=0, second=0) + DAY
    time_machine.move_to(tomorrow + datetime.timedelta(minutes=1))
    assert campaigns.sweep().sent == 1 and len(mail.outbox) == 3
    slots = CampaignMessage.objects.values_list("send_day", "send_slot")
    assert len(set(slots)) == 3


def test_a_refused_message_is_retried_with_backoff_and_frees_its_slot(settings, time_machine):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 5  # nothing listens
    InstitutionFactory(contacts=["a@example.edu"])
    start()
    assert campaigns.sweep().failed == 1
    message = CampaignMessage.objects.get()
    assert message.state == CampaignMessage.State.SCHEDULED and message.attempts == 1
    assert message.send_slot is None and message.last_error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert campaigns.sweep().sent == 0, "not before its back-off"
    time_machine.move_to(timezone.now() + datetime.timedelta(minutes=6))
    assert campaigns.sweep().sent == 1


def test_an_institution_in_an_open_campaign_is_not_invited_again():
    InstitutionFactory(contacts=["a@example.edu"])
    assert start().institutions == 1
    again = start()
    assert again.campaign is None and again.taken == 1
    assert Campaign.objects.count() == 1, "an empty campaign is not kept"
    assert start(kind="developer_key").institutions == 1, "another kind is another campaign"


def test_a_closed_invitation_can_be_invited_again():
    institution = InstitutionFactory(contacts=["a@example.edu"])
    first = start().campaign
    campaigns.close(invitation_of(institution), timezone.now(), "closed by staff")
    second = start()
    assert second.institutions == 1 and second.campaign != first


def test_the_funnel_counts_every_stage_reached(time_machine):
    names = ["silent", "opened", "pending", "verified", "partner", "checking", "failing", "works", "unsent"]
    institutions = {name: InstitutionFactory(slug=name, contacts=[f"a@{name}.edu"]) for name in names}
    campaign = start(Institution.objects.exclude(slug="unsent")).campaign
    campaigns.sweep()
    start(Institution.objects.filter(slug="unsent"), name="later")  # another campaign: not counted here
    time_machine.move_to(timezone.now() + DAY)
    CampaignInvitation.record_open(invitation_of(institutions["opened"]).token, institutions["opened"], timezone.now())
    submission(institutions["pending"])
    submission(
        institutions["verified"], Credential.Status.ACTIVE, expires_at=timezone.now() - datetime.timedelta(hours=1)
    )  # verified, lapsed
    submission(institutions["partner"], Credential.Status.AWAITING_SECRET, secret=None)  # verified, not working yet
    submission(institutions["checking"], Credential.Status.ACTIVE)  # Canvas has not answered yet
    now = timezone.now()
    submission(institutions["failing"], Credential.Status.ACTIVE, last_worked_at=now, failing_since=now)
    submission(institutions["works"], Credential.Status.ACTIVE, last_worked_at=timezone.now())
    funnel = {stage.key: stage.count for stage in campaigns.funnel(campaign)}
    assert funnel == {"invited": 8, "opened": 7, "submitted": 6, "verified": 5, "works": 1}
    stages = {
        i.institution.slug: campaigns.stage_of(i)
        for i in campaign.invitations.with_stages().select_related("institution")
    }
    assert stages == {
        "silent": "invited",
        "opened": "opened",
        "pending": "submitted",
        "verified": "verified",
        "partner": "verified",
        "checking": "verified",
        "failing": "verified",
        "works": "works",
    }
    waiting = {i.institution.slug for i in campaign.invitations.not_responded().select_related("institution")}
    assert waiting == {"silent", "opened"}


def test_the_schedule_sends_campaign_emails():
    from django_q.models import Schedule

    assert Schedule.objects.filter(name="keys.send_campaign_emails", func="keys.tasks.send_campaign_emails").exists()
    from keys.tasks import send_campaign_emails

    InstitutionFactory(contacts=["a@example.edu"])
    start()
    assert send_campaign_emails()["sent"] == 1


def test_the_actor_of_a_command_campaign_is_the_os_user():
    InstitutionFactory(contacts=["a@example.edu"])
    started = campaigns.start(
        Institution.objects.all(), kind="dap", name="x", actor=audit.cli_actor(), now=timezone.now()
    )
    assert started.campaign.created_by.startswith("cli:")
