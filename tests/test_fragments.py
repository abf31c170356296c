"""What every customer of a kind sees alike is rendered once per process (portal/fragments.py), and
a change to what it depends on shows at once.

- the intake page's "Create the key" part (steps, developer-key setup): once per kind and key type
  shown, and per institution only where the partner's own redirect URIs name it;
- the code email's fixed paragraphs and every email's brand bar: once;
- each of them again when the partner's name, brand or addresses, the verification numbers, the
  developer-key file or the static files change.
"""

import pytest
from django.core import mail
from django.core.cache import caches
from django.test import Client

from keys import kinds
from tests import factories
from tests.flows import submit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_fragments():
    caches["template_fragments"].clear()


@pytest.fixture
def instructions_rendered(monkeypatch):
    calls = []
    original = kinds.Kind.instructions

    def counted(self, *args, **kwargs):
        calls.append(self.slug)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(kinds.Kind, "instructions", counted)
    return calls


def test_the_steps_are_rendered_once_for_every_customer_of_a_kind(instructions_rendered):
    first, second = factories.InstitutionFactory(), factories.InstitutionFactory()
    pages = [Client().get(institution.intake_path()).content.decode() for institution in (first, second, first)]
    assert instructions_rendered == ["dap", "dap"]  # the institutional and the partner-key steps, once
    assert all("Create the key" in page and "Identity Services" in page for page in pages)
    assert first.name in pages[0] and second.name in pages[1]  # the rest of the page is each customer's


def test_a_changed_partner_name_shows_at_once(settings):
    institution = factories.InstitutionFactory()
    assert "Keydrop" in Client().get(institution.intake_path()).content.decode()
    settings.PORTAL_PARTNER_NAME = "Acme Analytics"
    settings.PORTAL_PARTNER_KEY_EMAIL = "keys@acme.example"
    page = Client().get(institution.intake_path()).content.decode()
    steps = page[page.index('id="steps-heading"') :]
    assert "Acme Analytics" in steps and "keys@acme.example" in steps


def test_partner_redirect_uris_that_name_the_institution_stay_each_institutions_own(settings):
    settings.PORTAL_DEVELOPER_KEY = {
        **settings.PORTAL_DEVELOPER_KEY,
        "redirect_uris": [("US", "https://us.partner.example/canvas/{institution}/callback")],
    }
    first, second = factories.InstitutionFactory(), factories.InstitutionFactory()
    for institution in (first, second):
        page = Client().get(institution.intake_path("developer_key")).content.decode()
        assert f"https://us.partner.example/canvas/{institution.slug}/callback" in page


def test_each_code_email_has_its_own_code_and_key_around_the_shared_paragraphs():
    institutions = [factories.InstitutionFactory() for _ in range(2)]
    for institution in institutions:
        submit(Client(), institution)
    first, second = mail.outbox
    assert first.to != second.to
    assert first.body.split("\n")[0] != second.body.split("\n")[0]  # "Your confirmation code: …"
    for message, institution in zip((first, second), institutions, strict=True):
        html = message.alternatives[0].content
        assert institution.name in message.body and institution.name in html
        assert "The code works for 5 minutes" in message.body and "do not share it" in html


def test_the_layout_is_worked_out_once_and_follows_a_changed_setting(settings):
    from portal import fragments

    institution = factories.InstitutionFactory()
    page = Client().get(institution.intake_path()).content.decode()
    assert fragments.page_layout.cache_info().currsize == 1
    assert f'href="{fragments.page_layout()["assets"]["stylesheet"]}"' in page and 'href="/brand.css"' in page
    settings.PORTAL_SUPPORT_EMAIL = "help@acme.example"
    page = Client().get(institution.intake_path()).content.decode()
    footer = page[page.index('<footer class="site">') :]
    assert "help@acme.example" in footer
