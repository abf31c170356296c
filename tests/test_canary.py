"""A recognisable secret goes through the whole flow; then everything Keydrop wrote is searched.

The canary may exist only as ciphertext: not in the database in clear, not in any mail file,
log line, admin page, session, error page or django-q2 table.
"""

import base64
import datetime
import io
import json
import logging
import re
import subprocess
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP

from intake import services
from keys.models import CalendarFeed, Credential, Institution, InstitutionImport, WebhookDelivery
from keys.models.webhooks import EVENT_TYPES
from keys.onboarding import campaigns, institution_csv
from keys.pipelines import webhooks
from keys.tasks import purge_dead_secrets, run_live_checks, send_reminders
from portal.logs import JsonFormatter, KeydropFilter
from tests.factories import CredentialFactory, InstitutionFactory
from tests.fakes import FakeDap
from tests.flows import VALID_DAP_CLIENT_ID, form_data, submit, wrong_code
from tests.pipelines import Receiver, add_endpoint, api, create_token
from tests.staff_cast import signed_in

CANARY = "CANARY-8d1f4e6b-do-not-leak-0042"
INVITATION = b"needs a Canvas key from"
pytestmark = pytest.mark.django_db(transaction=True)


def every_database_value():
    """Every value of every row of every table, as text and as raw bytes."""
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview):
                        value = bytes(value)
                    yield table, value


def assert_no_canary(text_or_bytes, where):
    data = text_or_bytes if isinstance(text_or_bytes, bytes) else str(text_or_bytes).encode()
    assert CANARY.encode() not in data, f"the secret leaked into {where}"
    assert CANARY.encode().hex().encode() not in data, f"the secret leaked (hex) into {where}"
    # The access token Instructure's login hands back is dropped at once: never stored or logged.
    assert FakeDap.TOKEN_MARK.encode() not in data, f"an access token leaked into {where}"


@pytest.fixture
def mail_dir(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(settings.DATA_DIR / "mail")
    settings.PORTAL_STAFF_EMAILS = ["ops@partner.example"]  # the staff notice is written too
    return settings.DATA_DIR / "mail"


@pytest.fixture
def json_log():
    """Every log record of the test as LOG_FORMAT=json writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(KeydropFilter())
    logging.getLogger().addHandler(handler)
    yield stream
    logging.getLogger().removeHandler(handler)


@dataclass
class Walk:
    """What the canary's walk through Keydrop carries from one place to the next."""

    institution: Institution
    alice: object
    mail_dir: object
    monkeypatch: object
    time_machine: object
    fake_dap: object
    json_log: object
    customer: Client | None = None
    verification: object = None
    credential: Credential | None = None
    staff: Client | None = None
    campaign: object = None
    staged: object = None
    code: str = ""
    receiver: object = None
    hook_secret: str = ""


def test_the_canary_secret_is_nowhere_in_clear(
    institution, alice, mail_dir, monkeypatch, time_machine, fake_dap, json_log
):
    """The canary goes everywhere a secret could: each step below asserts on the pages and output it
    makes, and the last searches everything written on the way."""
    walk = Walk(institution, alice, mail_dir, monkeypatch, time_machine, fake_dap, json_log)
    hand_it_over(walk)
    error_pages_show_none_of_it(walk)
    the_customers_pages_show_none_of_it(walk)
    staff_pages_show_none_of_it(walk)
    exports_show_none_of_it(walk)
    checks_and_alerts_show_none_of_it(walk)
    reminders_then_the_purge(walk)
    keys_refused_stuck_or_waiting_for_a_fix(walk)
    pipelines_show_none_of_it(walk)
    nothing_written_holds_it(walk)


def hand_it_over(walk: Walk) -> None:
    """The customer hands the canary over: a one-day key, a wrong code, a bad code, then the right one."""
    # Instructure (the loopback fake) knows the key: the checks send the canary to it, and only to it.
    walk.fake_dap.add_key(VALID_DAP_CLIENT_ID, CANARY)
    # A pipeline's webhook receiver hears every event of the whole flow (checked near the end).
    walk.receiver = Receiver().start()
    walk.hook_secret = add_endpoint(walk.receiver.endpoint, *EVENT_TYPES)
    # Another institution already holds this key (awaiting its partner secret, so never checked):
    # the hand-over flags it, emails staff and shows it on the pages below.
    CredentialFactory(
        institution=InstitutionFactory(contacts=[]),
        client_id=VALID_DAP_CLIENT_ID,
        key_type="partner",
        status=Credential.Status.AWAITING_SECRET,
        secret=None,
    )
    walk.customer = Client()
    # A one-day key: its reminder is due at once, and its lapse notice and purge follow tomorrow.
    response, walk.verification = submit(walk.customer, walk.institution, client_secret=CANARY, expiry="1d")
    assert response.status_code == 302
    # A wrong code, a bad code, then the right one, as people do.
    right = walk.code = _code(walk.mail_dir)
    walk.customer.post(f"/s/{walk.verification.public_id}/", {"code": wrong_code(right)})
    walk.customer.post(f"/s/{walk.verification.public_id}/", {"code": "abc"})
    assert walk.customer.post(f"/s/{walk.verification.public_id}/", {"code": right}).status_code == 302


def error_pages_show_none_of_it(walk: Walk) -> None:
    """A failure inside the submit view (the technical 500 page and production's), and a request too large."""
    # A failure inside the submit view, rendered as Django's technical 500 page.
    crash = Client(raise_request_exception=False)
    with walk.monkeypatch.context() as patched:  # later submissions, below, must work
        patched.setattr(services, "submit", _explode)
        settings.DEBUG = True
        try:
            error_page = crash.post(
                walk.institution.intake_path(), form_data(crash, walk.institution, client_secret=CANARY)
            )
        finally:
            settings.DEBUG = False
        production_error = crash.post(
            walk.institution.intake_path(), form_data(crash, walk.institution, client_secret=CANARY)
        )
    assert error_page.status_code == 500
    assert_no_canary(error_page.content, "the error page")
    assert production_error.status_code == 500
    assert_no_canary(production_error.content, "the production error page")
    # A form error about the date: the secret is kept sealed on the server, never in the page.
    future = (timezone.localdate() + datetime.timedelta(days=3)).isoformat()
    held = Client().post(
        walk.institution.intake_path(),
        form_data(walk.customer, walk.institution, client_secret=CANARY, created_on=future),
    )
    assert held.status_code == 400 and b"We kept the secret you pasted" in held.content
    assert_no_canary(held.content, "the form returned after an error that was not about the secret")
    too_large = Client().post(
        walk.institution.intake_path(), {"client_secret": CANARY, "padding": "x" * 2 * 1024 * 1024}
    )
    assert too_large.status_code == 413
    assert_no_canary(too_large.content, "the request-too-large page")


def the_customers_pages_show_none_of_it(walk: Walk) -> None:
    """The customer's view of the institution's keys: the intake page and the receipt."""
    # The customer's view of the institution's keys, on the intake page and in the receipt email.
    assert_no_canary(walk.customer.get(walk.institution.intake_path()).content, "the intake page's current keys")
    assert_no_canary(walk.customer.get(f"/s/{walk.verification.public_id}/receipt/").content, "the receipt page")
    shared = walk.customer.post(f"/s/{walk.verification.public_id}/shared-key/", follow=True)
    assert "You confirmed that" in shared.content.decode()
    assert_no_canary(shared.content, "the receipt after confirming a shared key")


def staff_pages_show_none_of_it(walk: Walk) -> None:
    """A campaign and a staged import, then every page partner staff open."""
    # A campaign: its emails, its pages, its exports; an import staged for preview.
    walk.campaign = campaigns.start(
        Institution.objects.all(), kind="developer_key", name="canary", actor="alice", now=timezone.now()
    )
    assert campaigns.sweep().sent == 1
    walk.staged = InstitutionImport.objects.create(
        filename="i.csv", uploaded_by="alice", content=institution_csv.export_text()
    )

    walk.staff = signed_in(walk.alice)
    walk.credential = walk.verification.credential
    pages = [
        "/admin/keys/campaign/",
        f"/admin/keys/campaign/{walk.campaign.campaign.pk}/change/",
        "/admin/keys/institution/import/",
        f"/admin/keys/institution/import/{walk.staged.pk}/",
        "/admin/keys/institution/?working_key=none-dap",
        "/admin/",
        "/admin/keys/credential/",
        f"/admin/keys/credential/{walk.credential.pk}/change/",
        "/admin/keys/institution/",
        f"/admin/keys/institution/{walk.institution.pk}/change/",
        "/admin/django_q/schedule/",
        "/admin/keys/credential/?status=active&expires_within=90",
        "/admin/keys/credential/?shared_key=flagged",
        f"/admin/keys/credential/{walk.credential.pk}/consortium/",
        f"/admin/keys/credential/{walk.credential.pk}/reveal/",
        f"/admin/keys/credential/{walk.credential.pk}/revoke/",
        "/admin/keys/credential/calendar/",
        "/admin/keys/auditevent/",
        f"/admin/keys/auditevent/{walk.credential.audit_events.get(action='verified').pk}/change/",
    ]
    for page in pages:
        response = walk.staff.get(page)
        assert response.status_code == 200, page
        assert_no_canary(response.content, page)


def exports_show_none_of_it(walk: Walk) -> None:
    """The reveal, the invitation email, CSV exports, the calendar feed, the export and restore-drill commands."""
    # Every other place the workspace writes: the reveal (whose page alone shows the secret; its
    # session and audit event must not keep it), the invitation email, the CSV export, the
    # calendar feed, and the pipeline export command (stdout carries the secret by design).
    revealed = walk.staff.post(f"/admin/keys/credential/{walk.credential.pk}/reveal/", {"reason": "canary check"})
    assert CANARY in revealed.content.decode()
    assert walk.staff.post(f"/admin/keys/institution/{walk.institution.pk}/invite/").status_code == 302
    csv = walk.staff.get("/admin/keys/credential/export.csv")
    assert csv.status_code == 200
    assert_no_canary(b"".join(csv.streaming_content), "the CSV export")
    for export in (
        "/admin/keys/institution/export.csv",
        f"/admin/keys/campaign/{walk.campaign.campaign.pk}/not-responded.csv",
    ):
        response = walk.staff.get(export)
        assert response.status_code == 200
        assert_no_canary(response.content, export)
    feed = CalendarFeed.objects.get_or_create(user=walk.alice)[0]
    calendar = Client().get(f"/calendar/{feed.token}.ics")
    assert calendar.status_code == 200
    assert_no_canary(calendar.content, "the calendar feed")
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "export_credential",
        "--institution",
        walk.institution.slug,
        "--kind",
        "dap",
        "--format",
        "json",
        stdout=out,
        stderr=err,
    )
    assert CANARY in out.getvalue()
    assert_no_canary(err.getvalue(), "the export command's stderr")
    out = io.StringIO()
    call_command("check_secrets", stdout=out)
    assert "open with these keys" in out.getvalue()
    assert_no_canary(out.getvalue(), "the restore drill's output")
    assert_no_canary(Client().get("/health/").content, "the health report")


def checks_and_alerts_show_none_of_it(walk: Walk) -> None:
    """The live checks, the key deleted at Instructure, the alerts, and the recovery."""
    # The live checks: the hand-over check worked; the check command, then the key deleted at
    # Instructure, the schedule's task and the alerts that follow, and the pages that show them.
    assert walk.credential.checks.get().outcome == "works"
    out, err = io.StringIO(), io.StringIO()
    call_command("check_credentials", stdout=out, stderr=err)
    assert " works " in out.getvalue()
    del walk.fake_dap.secrets[VALID_DAP_CLIENT_ID]
    call_command("check_credentials", stdout=out, stderr=err)
    assert " rejected " in out.getvalue() and "1 alert(s) sent" in err.getvalue()
    assert_no_canary(out.getvalue() + err.getvalue(), "the check command's output")
    Credential.objects.filter(pk=walk.credential.pk).update(next_check_at=timezone.now())
    run_live_checks()
    assert walk.credential.checks.count() == 4
    for page in (
        f"/admin/keys/credential/{walk.credential.pk}/change/",
        "/admin/keys/credential/?check=failing",
        "/admin/",
    ):
        response = walk.staff.get(page)
        assert response.status_code == 200, page
        assert_no_canary(response.content, page)
    # Fixed at Instructure: the next check works, and staff are told it recovered.
    walk.fake_dap.add_key(VALID_DAP_CLIENT_ID, CANARY)
    Credential.objects.filter(pk=walk.credential.pk).update(next_check_at=timezone.now())
    assert run_live_checks()["alerts"] == 1


def reminders_then_the_purge(walk: Walk) -> None:
    """The one-day reminder, the lapse notice, and the purge once the key has lapsed."""
    # The reminders: the one-day reminder now (with the staff copy), the lapse notice and the
    # purge once the key has lapsed.
    assert walk.credential.secret.reveal() == CANARY  # it is stored, just never in clear
    assert send_reminders()["sent"] == 1
    walk.time_machine.move_to(walk.credential.expires_at + datetime.timedelta(minutes=1))
    assert send_reminders()["sent"] == 1
    assert purge_dead_secrets()["expired"] == 1

    walk.credential.refresh_from_db()
    assert walk.credential.secret is None  # purged once lapsed; until then it was stored, never in clear


def keys_refused_stuck_or_waiting_for_a_fix(walk: Walk) -> None:
    """More keys with the canary: refused at hand-over, refused on retry, unclear for days, waiting for a fix."""
    # Three more keys with the canary as their secret: one refused at hand-over (its receipt says
    # so), one refused only when the hand-over check is retried (its contacts hear it by email), and
    # one with nothing but unclear answers for ten days (staff hear it).
    hand_over_canary(walk.customer, walk.institution, walk.mail_dir, client_id=REFUSED_ID)
    walk.fake_dap.mode = "429"
    hand_over_canary(walk.customer, walk.institution, walk.mail_dir, client_id=REFUSED_ON_RETRY_ID)
    walk.fake_dap.mode = None
    walk.time_machine.move_to(timezone.now() + datetime.timedelta(minutes=2))
    assert run_live_checks()["alerts"] == 1
    walk.fake_dap.mode = "429"
    walk.fake_dap.add_key(STUCK_ID, CANARY)
    stuck = hand_over_canary(walk.customer, walk.institution, walk.mail_dir, client_id=STUCK_ID)
    walk.time_machine.move_to(timezone.now() + datetime.timedelta(days=10, minutes=1))
    assert run_live_checks()["alerts"] == 1
    statuses = dict(
        Credential.objects.filter(client_id__in=[REFUSED_ID, REFUSED_ON_RETRY_ID]).values_list("client_id", "status")
    )
    assert statuses == {REFUSED_ID: "rejected", REFUSED_ON_RETRY_ID: "rejected"}
    assert stuck.check_alerts.get().topic == "stuck"
    # A key Canvas Data 2 is not enabled for yet: kept sealed for its fix, its contacts told the day
    # before the window closes; then enabled at Instructure and checked again from the institution's page.
    walk.fake_dap.mode, walk.fake_dap.account_problem = None, "AccountNotOnboarded"
    walk.fake_dap.add_key(NEEDS_FIX_ID, CANARY)
    waiting = hand_over_canary(walk.customer, walk.institution, walk.mail_dir, client_id=NEEDS_FIX_ID)
    assert Credential.objects.get(pk=waiting.pk).status == "needs_fix"
    walk.time_machine.move_to(timezone.now() + datetime.timedelta(days=6, minutes=1))
    run_live_checks()
    walk.fake_dap.account_problem = None
    page = walk.customer.post(f"/i/{walk.institution.intake_token}/check-again/{waiting.pk}/", follow=True)
    assert "Canvas accepts the key now" in page.content.decode()
    assert_no_canary(page.content, "the check-again page")
    assert Credential.objects.get(pk=waiting.pk).status == "active"


def pipelines_show_none_of_it(walk: Walk) -> None:
    """A pipeline: tokens, the API, events and webhook deliveries, and the admin pages that list them."""
    pipeline_uses(walk.institution, signed_in(walk.alice), walk.receiver, walk.hook_secret)  # a fresh session
    walk.receiver.stop()


def nothing_written_holds_it(walk: Walk) -> None:
    """Everything written: every table, the database files, every mail file, every log line."""
    for table, value in every_database_value():
        assert_no_canary(value if isinstance(value, bytes) else str(value), f"table {table}")
    if connection.vendor == "sqlite":
        for path in settings.DATA_DIR.glob("test-keydrop.sqlite3*"):
            assert_no_canary(read_elsewhere(path), path.name)
    mail_files = list(walk.mail_dir.iterdir())
    written = b"".join(path.read_bytes() for path in mail_files)
    for email, phrase in (
        ("the check-rejected email", b"Canvas did not accept the Canvas Data 2 key"),
        ("the recovered email", b"Canvas accepts it again; nothing more to do."),
        ("the ten-days-inconclusive email", b"Inconclusive answers never alert the customer."),
        ("the refused receipt", b"Canvas refused the Canvas Data 2 key"),
        ("the needs-a-fix receipt", b"for a reason you can fix in Canvas"),
        ("the last-day email", b"This is the last reminder"),
    ):
        assert phrase in written, f"{email} was not written to be searched"
    for subject in (
        b"is your code",
        b"handed over a new",
        b"expires tomorrow",
        b"has expired",
        b"has lapsed",
        INVITATION,
        b"Canvas no longer accepts the",
        b"stopped working",
        b"Receipt: ",
        b"already on file",
    ):
        assert subject in written, f"no {subject!r} email was written to be searched"
    for path in mail_files:
        assert_no_canary(path.read_bytes(), f"mail file {path.name}")
    for path in (settings.DATA_DIR / "logs").iterdir():
        assert_no_canary(path.read_bytes(), f"log {path.name}")
    assert '"logger": "keydrop.request"' in walk.json_log.getvalue()
    assert_no_canary(walk.json_log.getvalue(), "the JSON log")
    assert_no_canary(repr(walk.credential.__dict__), "the model's repr")
    # The parts of pages and emails rendered once per process (portal/fragments.py): never a secret
    # or a code, though the code email and the intake page both went through it.
    fragments = b"".join(caches["template_fragments"]._cache.values())
    assert b"release the key to" in fragments and b"Create the key" in fragments
    assert_no_canary(fragments, "the fragment cache")
    assert walk.code.encode() not in fragments, "a code in the fragment cache"


def pipeline_uses(institution, staff, receiver, hook_secret):
    """Every place the pipeline API, its events and webhooks write or answer; only the secret
    endpoint, with a token allowed to, answers with the secret (by design)."""
    reader, exporter = (
        create_token("canary-reader", "--kind", "dap"),
        create_token("x", "--kind", "dap", "--allow-secrets"),
    )
    path = f"/institutions/{institution.slug}/credentials/dap"
    with api(reader) as client:
        for answer in (client.get("/credentials"), client.get("/events"), client.post(f"{path}/secret")):
            assert answer.status_code in (200, 403)
            assert_no_canary(answer.content, f"the API's {answer.request.url.path}")
        token = client.post(f"{path}/access-token")
        assert token.status_code == 200 and FakeDap.TOKEN_MARK in token.json()["access_token"]  # by design
        assert CANARY not in token.text
    with api(exporter) as client:
        assert client.post(f"{path}/secret").json()["client_secret"] == CANARY  # by design, audited
    swept = webhooks.sweep()
    assert swept["sent"] >= 3, swept
    for headers, body in receiver.received:
        assert_no_canary(body, "a webhook's body")
        assert_no_canary(repr(headers), "a webhook's headers")
    assert {event["type"] for event in receiver.verified(hook_secret)} >= {"credential.verified", "credential.expired"}
    for page in (
        "/admin/keys/pipelinetoken/",
        "/admin/keys/webhookendpoint/",
        "/admin/keys/webhookdelivery/",
        f"/admin/keys/webhookdelivery/{WebhookDelivery.objects.first().pk}/change/",
        "/admin/keys/auditevent/?q=pipeline",
    ):
        response = staff.get(page)
        assert response.status_code == 200, page
        assert_no_canary(response.content, page)
        assert hook_secret not in response.content.decode(), page


REFUSED_ID = "us-east-1#0c59cade-0000-4a7b-8c9d-0e1f2a3b4c5d"  # unknown to Instructure
REFUSED_ON_RETRY_ID = "us-east-1#0c59cade-1111-4a7b-8c9d-0e1f2a3b4c5d"  # unknown too
STUCK_ID = "us-east-1#0c59cade-2222-4a7b-8c9d-0e1f2a3b4c5d"
NEEDS_FIX_ID = "us-east-1#0c59cade-3333-4a7b-8c9d-0e1f2a3b4c5d"


def hand_over_canary(customer, institution, mail_dir, *, client_id) -> Credential:
    """Submit a key whose secret is the canary and confirm it with the emailed code."""
    response, verification = submit(customer, institution, client_id=client_id, client_secret=CANARY)
    assert response.status_code == 302
    assert customer.post(f"/s/{verification.public_id}/", {"code": _code(mail_dir)}).status_code == 302
    return Credential.objects.get(pk=verification.credential_id)


def read_elsewhere(path) -> bytes:
    """Read a live SQLite file from another process: closing any descriptor of it in this one
    would drop this process's SQLite locks (POSIX lock semantics) and break later tests."""
    return subprocess.run(["cat", str(path)], capture_output=True, check=True).stdout


def _explode(**kwargs):
    raise RuntimeError("simulated failure while submitting")


def _newest_mail(mail_dir) -> bytes:
    return max(mail_dir.iterdir(), key=lambda path: path.stat().st_mtime_ns).read_bytes()


def _code(mail_dir):
    newest = max(mail_dir.iterdir(), key=lambda path: path.stat().st_mtime_ns)
    return re.findall(rb"confirmation code: ([0-9]{6})", newest.read_bytes())[-1].decode()


def decoded_sessions():
    from django.contrib.sessions.models import Session

    return [json.dumps(session.get_decoded()) for session in Session.objects.all()]


def test_staff_sign_in_writes_no_password_code_or_key_anywhere(dana, credential, mail_dir):
    """Sign-in's own secrets: a password (the canary, typed wrong), the authenticator's key, the
    recovery codes and the codes typed. The key and recovery codes live only in django-otp's two
    tables; nothing else (other tables, sessions, logs, mail, audit list, user pages) holds any."""
    browser = Client(REMOTE_ADDR="192.0.2.77")
    browser.post("/admin/login/?next=/admin/", {"username": "dana", "password": CANARY})
    browser.post("/admin/login/?next=/admin/", {"username": "dana", "password": "dana-password-123"})
    browser.post("/admin/two-step/setup/", {"send_link": "1", "next": "/admin/"})  # a first set-up: the mailbox too
    link = re.search(rb"/admin/two-step/enrol/([A-Za-z0-9_-]+)/", _newest_mail(mail_dir))
    browser.get(link.group(0).decode())
    setup = browser.get("/admin/two-step/setup/?next=/admin/").content.decode()
    key = re.search(r'id="kd-totp-key"[^>]*>([A-Z2-7 ]+)<', setup).group(1).replace(" ", "")
    code = f"{TOTP(base64.b32decode(key)).token():06d}"
    done = browser.post("/admin/two-step/setup/", {"code": code, "next": "/admin/"}).content.decode()
    recovery = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done)
    assert len(recovery) == 10
    sessions = decoded_sessions()  # as they were while enrolling, before signing out deletes them
    browser.post("/admin/logout/")
    browser.post("/admin/login/?next=/admin/", {"username": "dana", "password": "dana-password-123"})
    browser.post("/admin/two-step/", {"code": recovery[0]})  # a recovery code, used up
    browser.post(f"/admin/keys/credential/{credential.pk}/reveal/", {"reason": "canary check of sign-in"})
    secrets_of_sign_in = [CANARY, key, base64.b32decode(key).hex(), code, *recovery]
    link_token = link.group(1).decode()  # emailed to dana by design, and nowhere else

    def assert_none(data, where, token_expected=False):
        text = data if isinstance(data, str) else data.decode(errors="replace")
        for value in secrets_of_sign_in + ([] if token_expected else [link_token]):
            assert value not in text, f"a sign-in secret leaked into {where}"

    otp_tables = {"otp_totp_totpdevice", "otp_static_statictoken"}
    for table, value in every_database_value():
        if table not in otp_tables:
            assert_none(value.decode(errors="replace") if isinstance(value, bytes) else str(value), f"table {table}")
    for session in sessions + decoded_sessions():
        assert_none(session, "a session")
    for path in (settings.DATA_DIR / "logs").iterdir():
        assert_none(path.read_bytes(), f"log {path.name}")
    for path in mail_dir.iterdir() if mail_dir.exists() else []:
        assert_none(path.read_bytes(), f"mail file {path.name}", token_expected=True)
    staff = signed_in(dana)
    for page in [
        "/admin/keys/auditevent/",
        f"/admin/auth/user/{dana.pk}/change/",
        "/admin/two-step/setup/",
        "/admin/axes/accessattempt/",
        "/admin/axes/accessfailurelog/",
        "/admin/django_q/success/",
    ]:
        response = staff.get(page)
        assert response.status_code in (200, 403), page
        assert_none(response.content, page)


DEV_CANARY = "CANARYdevKey0042" + "x" * 48  # a developer key secret is 64 letters and digits


def test_the_grant_s_tokens_and_codes_are_nowhere_in_clear(
    institution, alice, mail_dir, fake_canvas, settings, time_machine, json_log
):
    """A developer key's whole grant: its secret (a canary), the authorization code, the state, the
    refresh token, every access token and the PKCE verifier. Only ciphertext at rest; nothing in mail, logs, pages
    (the reveal excepted), sessions, task rows or error pages; the export prints them by design."""
    from keys import kinds, staff
    from keys.checks import live_checks
    from keys.models import AuthorizationRequest, CanvasGrant, CredentialCheck
    from tests.fakes import FakeCanvas, FakeKey
    from tests.test_oauth_grant import CALLBACK, canvas_answers, come_back, start

    settings.PORTAL_DEVELOPER_KEY = {**settings.PORTAL_DEVELOPER_KEY, "redirect_uris": []}
    settings.PORTAL_BASE_URL = "http://testserver"
    scopes = [scope for scope, _ in kinds.developer_key_setup("x")["scopes"]]
    fake_canvas.add_key(
        "170000000000123", FakeKey(secret=DEV_CANARY, redirect_uris=[kinds.keydrop_callback_url()], scopes=scopes)
    )
    fake_canvas.browser = "approve"
    customer = Client()
    response, verification = submit(
        customer,
        institution,
        kind="developer_key",
        client_id="170000000000123",
        client_secret=DEV_CANARY,
        canvas_url=fake_canvas.url,
    )
    assert response.status_code == 302
    assert customer.post(f"/s/{verification.public_id}/", {"code": _code(mail_dir)}).status_code == 302
    credential = Credential.objects.get(pk=verification.credential_id)
    assert credential.awaits_authorization
    staff_browser = signed_in(alice)
    assert staff_browser.post(f"/admin/keys/credential/{credential.pk}/email-authorization/").status_code == 302

    # A refused state, a denial, then the grant; the callback addresses carry the code and state.
    callback = canvas_answers(start(customer, credential))
    code_and_state = [value for _, value in (pair.split("=", 1) for pair in callback.split("?", 1)[1].split("&"))]
    # The PKCE verifier: sealed in its row, sent only to Canvas's token endpoint, then forgotten.
    code_and_state.append(AuthorizationRequest.objects.get().code_verifier.reveal())
    assert come_back(Client(), callback).status_code == 400  # another browser: refused
    assert come_back(customer, callback).status_code == 302
    assert Client().get(CALLBACK + "?error=access_denied").status_code == 400
    grant = CanvasGrant.objects.get()
    tokens = [grant.refresh_token.reveal(), grant.access_token.reveal()]

    # The daily check refreshes; the pipeline's exports print the long-lived and the short-lived.
    time_machine.move_to(timezone.now() + datetime.timedelta(hours=2))
    credential.refresh_from_db()
    assert live_checks.check(credential, trigger=CredentialCheck.Trigger.SCHEDULE).outcome == "works"
    tokens.append(CanvasGrant.objects.get().access_token.reveal())
    for args in (["--format", "json"], ["--access-token"], ["--include-refresh-token"]):
        out, err = io.StringIO(), io.StringIO()
        call_command(
            "export_credential",
            "--institution",
            institution.slug,
            "--kind",
            "developer_key",
            *args,
            stdout=out,
            stderr=err,
        )
        assert_no_grant_secret(err.getvalue(), "the export command's stderr", tokens, code_and_state)
    staff_browser = signed_in(alice)  # the clock moved past the staff session's idle limit
    for page in [
        "/admin/",
        "/admin/keys/credential/",
        "/admin/keys/credential/?authorization=awaiting",
        f"/admin/keys/credential/{credential.pk}/change/",
        "/admin/keys/auditevent/",
        "/admin/django_q/success/",
        "/admin/django_q/failure/",
    ]:
        response = staff_browser.get(page)
        assert response.status_code in (200, 403), page
        assert_no_grant_secret(response.content, page, tokens, code_and_state)
    for page in [institution.intake_path("developer_key"), f"/s/{verification.public_id}/receipt/"]:
        assert_no_grant_secret(customer.get(page).content, page, tokens, code_and_state)
    # Revoked: Canvas is told with a token, and Keydrop forgets them all.
    staff.revoke([credential], actor=staff.Actor(name="alice"), reason="canary", now=timezone.now())
    assert fake_canvas.grants_of("170000000000123") == 0

    for table, value in every_database_value():
        assert_no_grant_secret(
            value if isinstance(value, bytes) else str(value), f"table {table}", tokens, code_and_state
        )
    for session in decoded_sessions():
        assert_no_grant_secret(session, "a session", tokens, code_and_state)
    written = b"".join(path.read_bytes() for path in mail_dir.iterdir())
    assert b"one last step in Canvas" in written and b"is your code" in written
    assert_no_grant_secret(written, "the mail files", tokens, code_and_state)
    for path in (settings.DATA_DIR / "logs").iterdir():
        assert_no_grant_secret(path.read_bytes(), f"log {path.name}", tokens, code_and_state)
    assert_no_grant_secret(json_log.getvalue(), "the JSON log", tokens, code_and_state)
    assert all(FakeCanvas.ACCESS_MARK in token or FakeCanvas.REFRESH_MARK in token for token in tokens)


def assert_no_grant_secret(data, where, tokens, code_and_state):
    data = data if isinstance(data, bytes) else str(data).encode()
    for value in [DEV_CANARY, *tokens, *code_and_state]:
        assert value.encode() not in data, f"a secret of the grant leaked into {where}"
