"""The staff lists fit the screen: at 1280×900 with the navigation sidebar open no column is cut off
and nothing scrolls sideways; on a phone (390 px) the credentials list shows Status without scrolling.
Each list is photographed at both widths (the screenshots are kept in the test's folder)."""

import datetime

import pytest
from django.utils import timezone

from keys.models import Credential, ReminderNotice
from keys.onboarding import campaigns
from tests.e2e.test_accessibility import session_cookie
from tests.factories import CredentialFactory, InstitutionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTS = [
    "/admin/keys/credential/",
    "/admin/keys/institution/",
    "/admin/keys/campaign/",
    "/admin/keys/auditevent/",
    "/admin/keys/remindernotice/",
    "/admin/keys/checkalert/",
    "/admin/keys/campaignmessage/",
    "/admin/keys/credentialcheck/",
]

# What is cut off: the page scrolls sideways, the results table is wider than its box, or a header
# ends beyond the window. Measured by the browser itself.
MEASURE = """() => {
  const results = document.querySelector('.results');
  const headers = [...document.querySelectorAll('#result_list thead th')].map(th => {
    const box = th.getBoundingClientRect();
    return {text: th.innerText.trim(), left: box.left, right: box.right, cls: th.className};
  });
  return {
    page: document.documentElement.scrollWidth - window.innerWidth,
    table: results ? results.scrollWidth - results.clientWidth : 0,
    headers,
    sidebarOpen: !!document.querySelector('#nav-sidebar') &&
      getComputedStyle(document.querySelector('#nav-sidebar')).visibility !== 'hidden' &&
      document.querySelector('#nav-sidebar').getBoundingClientRect().width > 0,
  };
}"""


@pytest.fixture
def busy_workspace(institution):
    """Rows with the longest words each column holds: long names, every status, both kinds."""
    now = timezone.now()
    long_name = InstitutionFactory(name="The University of Northern Saskatchewan at Prince Albert")
    for status in (Credential.Status.ACTIVE, Credential.Status.NEEDS_FIX, Credential.Status.AWAITING_SECRET):
        CredentialFactory(institution=long_name, status=status, last_check_at=now, last_check_outcome="inconclusive")
    CredentialFactory(institution=institution, kind="developer_key", client_id="321000000000001234")
    lapsed = CredentialFactory(institution=institution, expires_at=now - datetime.timedelta(days=40))
    ReminderNotice.objects.create(
        credential=lapsed,
        offset_days=30,
        due_at=now,
        not_before=now,
        last_error="SMTPRecipientsRefused: {'charlie@example.edu': (550, b'5.1.1 mailbox unavailable')}",
    )
    campaigns.start(campaigns.without_working_key("dap"), kind="dap", name="Autumn onboarding", actor="alice", now=now)
    campaigns.sweep()


def test_every_list_fits_at_1280_with_the_sidebar_open_and_shows_status_on_a_phone(
    browser, live_server, alice, busy_workspace, tmp_path
):
    problems = []
    for width, height in ((1280, 900), (390, 844)):
        context = browser.new_context(viewport={"width": width, "height": height})
        context.add_cookies([session_cookie(alice, live_server.url)])
        page = context.new_page()
        for path in LISTS:
            response = page.goto(live_server.url + path)
            assert response.status == 200, path
            page.screenshot(path=tmp_path / f"{path.strip('/').replace('/', '-')}-{width}.png", full_page=True)
            measured = page.evaluate(MEASURE)
            if measured["page"] > 0:
                problems.append(f"{path} at {width}px: the page scrolls sideways by {measured['page']}px")
            if width == 1280:
                assert measured["sidebarOpen"], "the navigation sidebar should be open at 1280 px"
                if measured["table"] > 0:
                    cut_by, headers = measured["table"], measured["headers"]
                    problems.append(f"{path} at 1280px: the table is cut off by {cut_by}px: {headers}")
                cut = [h["text"] for h in measured["headers"] if h["right"] > width]
                if cut:
                    problems.append(f"{path} at 1280px: columns beyond the window: {cut}")
            elif path == "/admin/keys/credential/":
                [status] = [h for h in measured["headers"] if "status" in h["cls"]]
                if status["right"] > width:
                    problems.append(f"{path} at 390px: Status ends at {status['right']:.0f}px, off screen")
        context.close()
    assert not problems, "\n".join(problems)
