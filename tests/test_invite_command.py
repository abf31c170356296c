"""`manage.py invite --without-key KIND`: a campaign for every institution without a working key."""

import io

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from keys.models import Campaign, CampaignInvitation, Credential
from tests.factories import CredentialFactory, InstitutionFactory

pytestmark = pytest.mark.django_db


def invite(*args) -> str:
    out = io.StringIO()
    call_command("invite", *args, stdout=out)
    return out.getvalue().strip()


def test_it_invites_every_contact_of_each_institution_without_a_working_key_and_says_how_many():
    InstitutionFactory(slug="a", contacts=["1@a.edu", "2@a.edu"])
    InstitutionFactory(slug="b", contacts=["1@b.edu"])
    InstitutionFactory(slug="none", contacts=[])
    CredentialFactory(institution=InstitutionFactory(slug="done", contacts=["1@done.edu"]))
    output = invite("--without-key", "dap", "--chase-after-days", "5", "--max-chasers", "1")
    campaign = Campaign.objects.get()
    assert output.startswith(f'Invited 3 contact(s) at 2 institution(s) in campaign {campaign.pk} "Canvas Data 2 key, ')
    assert "1 without a contact on file" in output
    assert sorted(m.to[0] for m in mail.outbox) == ["1@a.edu", "1@b.edu", "2@a.edu"]
    assert (campaign.chase_after_days, campaign.max_chasers, campaign.created_by[:4]) == (5, 1, "cli:")


def test_an_institution_whose_partner_key_awaits_its_secret_is_not_invited():
    InstitutionFactory(slug="a", contacts=["1@a.edu"])
    waiting = InstitutionFactory(slug="waiting", contacts=["1@waiting.edu"])
    CredentialFactory(institution=waiting, key_type="partner", status=Credential.Status.AWAITING_SECRET, secret=None)
    assert invite("--without-key", "dap").startswith("Invited 1 contact(s) at 1 institution(s) in campaign")
    assert [m.to[0] for m in mail.outbox] == ["1@a.edu"]
    assert not CampaignInvitation.objects.filter(institution=waiting).exists()


def test_run_again_it_invites_nobody_twice():
    InstitutionFactory(contacts=["1@a.edu"])
    invite("--without-key", "dap")
    assert (
        invite("--without-key", "dap")
        == "Invited 0 contact(s). Not invited: 1 institution(s) already in an open campaign for this kind."
    )
    assert len(mail.outbox) == 1 and CampaignInvitation.objects.count() == 1


def test_an_unknown_kind_is_refused_with_exit_status_2():
    with pytest.raises(CommandError, match="Unknown kind 'canvas'") as raised:
        invite("--without-key", "canvas")
    assert raised.value.returncode == 2 and not Campaign.objects.exists()


@pytest.mark.parametrize("args", [["--chase-after-days", "0"], ["--max-chasers", "6"], ["--max-chasers", "x"]])
def test_bad_numbers_are_refused(args):
    with pytest.raises(CommandError):
        invite("--without-key", "dap", *args)
    assert not Campaign.objects.exists()


def test_an_address_over_its_daily_limit_is_invited_the_next_day(settings):
    settings.PORTAL_CAMPAIGN_EMAILS_PER_CONTACT_PER_DAY = 1
    InstitutionFactory(slug="north", contacts=["consortium@example.edu"])
    InstitutionFactory(slug="south", contacts=["consortium@example.edu"])
    output = invite("--without-key", "dap")
    assert output.startswith("Invited 1 contact(s) at 2 institution(s)")
    assert output.endswith("Later: 1 email(s) wait for tomorrow (the per-contact daily limit).")
    assert len(mail.outbox) == 1
