"""The partner's brand (PORTAL_PARTNER_NAME, an optional logo and colour) on intake pages, the admin
header and every email; never "Keydrop, via Keydrop"."""

import datetime

import pytest
from django.core import checks, mail
from django.utils import timezone

from keys.models import Institution
from keys.onboarding import campaigns
from keys.tasks import send_reminders
from portal import branding
from tests.factories import tracked_credential
from tests.flows import last_code, submit
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db
LOGO = "https://cdn.edpotential.example/logo.svg"


@pytest.fixture
def brand(settings):
    settings.PORTAL_PARTNER_NAME = "EdPotential"
    settings.PORTAL_PARTNER_LOGO_URL = LOGO
    settings.PORTAL_PARTNER_COLOUR = "#0B6E4F"
    settings.PORTAL_STAFF_EMAILS = ["ops@edpotential.example"]
    return settings


def test_the_admin_header_carries_the_partners_name_and_logo(brand, bob):
    html = signed_in(bob).get("/admin/").content.decode()
    assert f'<img src="{LOGO}" alt="" class="kd-logo"> EdPotential credentials</a>' in html
    assert "<title>Credentials | EdPotential credentials</title>" in html
    assert ">Keydrop<" not in html


def test_the_sign_in_page_carries_it_too(brand, client):
    assert "EdPotential credentials" in client.get("/admin/login/").content.decode()


def test_intake_pages_carry_the_partners_name_logo_and_colour(brand, client, institution):
    response = client.get(institution.intake_path())
    html = response.content.decode()
    assert f'<img class="logo" src="{LOGO}" alt="EdPotential">' in html
    assert "· EdPotential</title>" in html and "Keydrop" not in html
    assert "img-src 'self' data: https://cdn.edpotential.example" in response["Content-Security-Policy"]
    css = client.get("/brand.css").content.decode()
    assert css == ":root { --brand: #0b6e4f; --brand-ink: #ffffff; --brand-link: #0b6e4f; }\n"


def test_a_light_colour_gets_dark_text_and_links_stay_readable(settings, client):
    settings.PORTAL_PARTNER_COLOUR = "#ffd400"
    brand = branding.brand()
    assert brand.ink == branding.INK_DARK and branding.contrast(brand.colour, brand.ink) >= 4.5
    assert brand.link == branding.DEFAULT_COLOUR and branding.contrast(brand.link, "#ffffff") >= 4.5


def test_without_a_logo_no_outside_image_is_allowed(client, institution):
    response = client.get(institution.intake_path())
    assert "img-src 'self' data:;" in response["Content-Security-Policy"]


def test_every_email_carries_the_brand(brand, client, institution, time_machine):
    # The code, the receipt, the staff notice; a campaign invitation; a reminder, the staff copy, the lapse notice.
    _, verification = submit(client, institution, expiry="1d")
    client.post(f"/s/{verification.public_id}/", {"code": last_code()})
    campaigns.start(Institution.objects.all(), kind="developer_key", name="x", actor="alice", now=timezone.now())
    campaigns.sweep()
    credential = tracked_credential(lifetime_days=2, institution=institution)
    time_machine.move_to(timezone.now() + datetime.timedelta(days=1, minutes=1))
    send_reminders()
    time_machine.move_to(credential.expires_at + datetime.timedelta(minutes=1))
    send_reminders()
    subjects = [message.subject for message in mail.outbox]
    assert len(mail.outbox) >= 8, subjects
    for message in mail.outbox:
        html = message.alternatives[0][0]
        assert "background: #0b6e4f" in html and f'<img src="{LOGO}" alt="EdPotential"' in html, message.subject
        assert "Keydrop" not in message.subject + message.body + html, message.subject
        assert "EdPotential" in message.body
    staff = [subject for subject in subjects if subject.startswith("[")]
    assert staff and all(subject.startswith("[EdPotential] ") for subject in staff)


def test_the_stopped_scheduler_email_to_operators_carries_the_brand(brand, client, time_machine):
    from tests.test_health import all_ran

    brand.ADMINS = [("Ops", "ops@edpotential.example")]
    now = timezone.now().replace(microsecond=0)
    time_machine.move_to(now, tick=False)
    all_ran(now)
    time_machine.move_to(now + datetime.timedelta(minutes=10), tick=False)
    client.get("/health/")  # a monitor notices the scheduler has stopped
    (message,) = mail.outbox
    html = message.alternatives[0][0]
    assert message.subject.startswith("[EdPotential] The scheduler has stopped")
    assert message.body.startswith("The EdPotential credentials scheduler has not run these schedules")
    assert "The EdPotential credentials scheduler has not run" in html and "background: #0b6e4f" in html
    assert "Keydrop" not in message.subject + message.body + html


def test_a_logo_on_this_site_is_sent_as_a_whole_address(brand, client, institution):
    brand.PORTAL_PARTNER_LOGO_URL = "/static/partner/logo.png"
    brand.PORTAL_BASE_URL = "https://keys.edpotential.example"
    submit(client, institution)
    assert '<img src="https://keys.edpotential.example/static/partner/logo.png"' in mail.outbox[-1].alternatives[0][0]


@pytest.mark.parametrize(
    "setting, value, check_id",
    [
        ("PORTAL_PARTNER_COLOUR", "green", "keydrop.E040"),
        ("PORTAL_PARTNER_COLOUR", "#12345", "keydrop.E040"),
        ("PORTAL_PARTNER_LOGO_URL", "http://cdn.example/logo.png", "keydrop.E041"),
        ("PORTAL_PARTNER_LOGO_URL", "javascript:alert(1)", "keydrop.E041"),
    ],
)
def test_a_colour_or_logo_that_cannot_be_used_stops_the_start(settings, client, institution, setting, value, check_id):
    setattr(settings, setting, value)
    assert check_id in [message.id for message in checks.run_checks(tags=["keydrop"])]
    html = client.get(institution.intake_path()).content.decode()  # and pages fall back instead of breaking
    assert value not in html and client.get("/brand.css").content.decode().startswith(":root { --brand: #1f5fbf;")


def test_every_html_email_uses_the_branded_layout_and_none_names_keydrop(settings):
    folder = settings.BASE_DIR / "templates" / "emails"
    bodies = sorted(folder.glob("*-body.html"))
    assert len(bodies) >= 10
    for body in bodies:
        assert body.read_text().startswith('{% extends "emails/base.html" %}'), body.name
    for template in folder.iterdir():
        text = template.read_text()
        assert "via Keydrop" not in text and "[Keydrop]" not in text, template.name
        assert "Keydrop" not in text, f"{template.name}: name the partner ({{{{ partner_name }}}}), not Keydrop"
