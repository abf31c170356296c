"""`manage.py check_credentials [--institution SLUG] [--kind KIND]`: check now, one line each."""

import io

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from keys import kinds
from keys.models import Credential
from tests.factories import CredentialFactory, InstitutionFactory, developer_key_credential
from tests.fakes import FakeKey
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db
SECRET = "Command0Check1Secret2"
DEV_ID, DEV_SECRET = "170000000000456", "D" * 40 + "e5" * 12


def run(*args) -> tuple[list[str], str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("check_credentials", *args, stdout=out, stderr=err)
    return out.getvalue().splitlines(), err.getvalue()


@pytest.fixture
def dap_key(institution, fake_dap):
    key = CredentialFactory(institution=institution, secret=SECRET)
    fake_dap.add_key(key.client_id, SECRET)
    return key


@pytest.fixture
def developer_key(institution, fake_canvas, settings):
    uri = dict(kinds.developer_key_setup(institution.slug)["redirect_uris"])["Canada"]
    scopes = [scope for scope, _ in settings.PORTAL_DEVELOPER_KEY["scopes"]]
    fake = fake_canvas.add_key(DEV_ID, FakeKey(secret=DEV_SECRET, redirect_uris=[uri], scopes=scopes))
    key = developer_key_credential(institution, DEV_ID, DEV_SECRET, fake_canvas.url)
    return key, fake


def test_it_prints_one_line_per_credential_with_institution_kind_masked_id_outcome_and_reason(dap_key, developer_key):
    lines, err = run()
    assert lines == [
        f"example-u  dap  {dap_key.masked_client_id}  works  "
        "Instructure accepted the Client ID and Secret (region us-east-1).",
        "example-u  developer_key  …0456  works  Canvas knows the key, it is On, and the secret matches.",
    ]
    assert "Checked 2 credential(s): 2 works, 0 rejected, 0 inconclusive; 0 alert(s) sent." in err
    for line in lines:
        assert SECRET not in line and DEV_SECRET not in line and dap_key.client_id not in line


def test_it_exits_zero_whatever_the_outcomes(dap_key, fake_dap):
    fake_dap.mode = "503"
    lines, _ = run()
    assert lines[0].split("  ")[3] == "inconclusive"


def test_turning_the_key_off_emails_contacts_and_staff_once_and_shows_failing(developer_key, settings, alice):
    settings.PORTAL_STAFF_EMAILS = ["ops@partner.example"]
    key, fake = developer_key
    assert run()[0][0].endswith("works  Canvas knows the key, it is On, and the secret matches.")
    fake.on = False
    lines, err = run()
    [line] = lines
    assert line.startswith("example-u  developer_key  …0456  rejected  Canvas says the key may not be used")
    assert "switch it On in Admin → Developer Keys" in line
    assert "1 alert(s) sent" in err
    customer = [m for m in mail.outbox if m.to == ["charlie@example.edu"]]
    staff = [m for m in mail.outbox if m.to == ["ops@partner.example"]]
    assert len(customer) == 1 and len(staff) == 1
    assert "switch it On in Admin → Developer Keys" in customer[0].body
    assert "it was switched Off in Admin → Developer Keys" in customer[0].body
    run()
    assert len(mail.outbox) == 2, "once per episode"
    failing = signed_in(alice).get("/admin/keys/credential/?check=failing").content.decode()
    assert "…0456" in failing and "kd-failing" in failing


def test_it_checks_one_institution_or_one_kind(dap_key, developer_key, fake_dap):
    other = CredentialFactory(institution=InstitutionFactory(slug="other-u"), secret=SECRET)
    fake_dap.add_key(other.client_id, SECRET)
    assert [line.split("  ")[0] for line in run("--institution", "other-u")[0]] == ["other-u"]
    assert [line.split("  ")[1] for line in run("--kind", "developer_key")[0]] == ["developer_key"]
    assert len(run("--institution", "example-u", "--kind", "dap")[0]) == 1


def test_it_checks_only_keys_that_can_still_work(institution, fake_dap):
    CredentialFactory(institution=institution, status=Credential.Status.REVOKED, secret=None)
    CredentialFactory(institution=institution, status=Credential.Status.PENDING, verified_at=None)
    assert run()[0] == []
    assert fake_dap.served == []


def test_an_unknown_institution_is_an_error_and_an_unknown_kind_a_usage_error(institution):
    with pytest.raises(CommandError, match="No institution with the slug 'nope'"):
        run("--institution", "nope")
    with pytest.raises(CommandError):
        run("--kind", "nope")
