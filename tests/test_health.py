"""/health/ for load balancers and monitors, and the scheduler's heartbeat.

| part      | ok when                                                         | if not                      |
| --------- | --------------------------------------------------------------- | --------------------------- |
| database  | answers a query                                                 | 503                         |
| broker    | Redis answers a ping (the ORM broker is the database)           | 200, "ok": false            |
| schedules | every declared schedule exists                                  | 200, "ok": false            |
| scheduler | each schedule last ran within three of its periods (a schedule | 200, "ok": false; red admin |
|           | that never ran: three periods from when it was first due)       | banner; one ADMINS email    |
|           |                                                                 | per stale episode           |
"""

import datetime
import io
import json
import uuid

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import DatabaseError
from django.test import Client
from django.utils import timezone
from django_q.models import Schedule, Task

from portal import health, schedules
from portal.models import Alert
from tests.mail_backends import REFUSING
from tests.smtp_sink import free_port
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db
DECLARED = sorted(schedules.DECLARED)  # every app's schedules


def ran(name: str, at: datetime.datetime, success: bool = True) -> None:
    """A finished task of the schedule, as django-q2 records it (grouped under the schedule's name)."""
    Task.objects.create(
        id=uuid.uuid4().hex,
        name=f"run-{uuid.uuid4().hex[:8]}",
        func=Schedule.objects.get(name=name).func,
        group=name,
        started=at - datetime.timedelta(seconds=1),
        stopped=at,
        success=success,
    )


def all_ran(at: datetime.datetime) -> None:
    for name in DECLARED:
        ran(name, at)


def get_health() -> tuple[int, dict]:
    response = Client().get("/health/")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, json.loads(response.content)


@pytest.fixture
def now(time_machine):
    moment = timezone.now().replace(microsecond=0)
    time_machine.move_to(moment, tick=False)
    return moment


@pytest.fixture(autouse=True)
def fresh_broker_client():
    health._redis = None
    yield
    health._redis = None


def test_a_running_portal_is_healthy(now):
    all_ran(now - datetime.timedelta(seconds=30))
    status, body = get_health()
    assert status == 200 and body["ok"] is True
    assert body["database"] == {"ok": True}
    assert body["broker"] == {"ok": True, "kind": "orm"}
    assert body["schedules"] == {"ok": True, "missing": []}
    beats = {beat["name"]: beat for beat in body["scheduler"]["schedules"]}
    assert sorted(beats) == DECLARED
    assert beats["keys.send_reminders"] == {
        "name": "keys.send_reminders",
        "every_minutes": 1,
        "last_run": (now - datetime.timedelta(seconds=30)).isoformat(),
        "ok": True,
    }


def test_the_body_holds_names_times_and_yes_or_no_only(now, institution):
    all_ran(now)
    _, body = get_health()
    text = json.dumps(body)
    assert institution.intake_token not in text and "redis://" not in text and "@" not in text


def test_a_schedule_is_stale_after_three_of_its_periods(now, time_machine):
    all_ran(now)
    time_machine.move_to(now + datetime.timedelta(minutes=3))
    assert get_health()[1]["scheduler"]["ok"] is True  # every-minute schedules, exactly three minutes
    time_machine.move_to(now + datetime.timedelta(minutes=3, seconds=1))
    status, body = get_health()
    assert status == 200 and body["ok"] is False and body["scheduler"]["ok"] is False
    stale = {beat["name"] for beat in body["scheduler"]["schedules"] if not beat["ok"]}
    every_minute = {spec["name"] for spec in schedules.DECLARED.values() if spec["minutes"] == 1}
    assert "keys.send_reminders" in stale and stale == every_minute  # the 10-minute purge is not late yet


def test_a_schedule_that_never_ran_is_judged_from_when_it_was_first_due(now):
    Schedule.objects.filter(name__in=DECLARED).update(next_run=now - datetime.timedelta(minutes=2))
    assert get_health()[1]["scheduler"]["ok"] is True  # a fresh install, the cluster just starting
    Schedule.objects.filter(name="keys.send_reminders").update(next_run=now - datetime.timedelta(minutes=4))
    assert get_health()[1]["scheduler"]["ok"] is False


def test_a_missing_schedule_is_reported_by_name(now):
    all_ran(now)
    Schedule.objects.filter(name="keys.purge_dead_secrets").delete()
    _, body = get_health()
    assert body["ok"] is False and body["schedules"] == {"ok": False, "missing": ["keys.purge_dead_secrets"]}


def test_an_unreachable_redis_is_not_ok_but_the_node_still_serves(now, settings):
    all_ran(now)
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": f"redis://127.0.0.1:{free_port()}/0"}
    status, body = get_health()
    assert status == 200 and body["ok"] is False and body["broker"] == {"ok": False, "kind": "redis"}


def test_without_a_database_the_answer_is_503(now, monkeypatch):
    def unreachable():
        raise DatabaseError("could not connect to server")

    monkeypatch.setattr(health.connection, "cursor", unreachable)
    status, body = get_health()
    assert status == 503 and body == {"ok": False, "database": {"ok": False}, "broker": {"ok": False, "kind": "orm"}}


def test_a_stopped_scheduler_shows_a_red_banner_on_the_admin_dashboard(now, time_machine, bob):
    all_ran(now)
    staff = signed_in(bob)
    assert b"The scheduler has stopped" not in staff.get("/admin/").content
    time_machine.move_to(now + datetime.timedelta(minutes=20))
    page = staff.get("/admin/").content.decode()
    assert "The scheduler has stopped" in page
    assert "keys.send_reminders: last ran 20\xa0minutes ago; it runs every 1 minute." in page


def test_admins_get_one_email_per_stale_episode(now, time_machine, settings):
    settings.ADMINS = [("Ops", "ops@keydrop.internal")]
    all_ran(now)
    time_machine.move_to(now + datetime.timedelta(minutes=10))
    for _ in range(3):
        get_health()  # a load balancer asks again and again
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ops@keydrop.internal"]
    assert "scheduler has stopped" in message.subject
    assert "keys.send_reminders: last ran 10" in message.body and "https://keydrop.internal/health/" in message.body
    assert message.alternatives[0].mimetype == "text/html"

    all_ran(now + datetime.timedelta(minutes=10))  # the cluster is back
    assert get_health()[1]["ok"] is True
    assert Alert.objects.get().cleared_at == now + datetime.timedelta(minutes=10)
    time_machine.move_to(now + datetime.timedelta(minutes=30))  # and stops again: a new episode
    get_health()
    get_health()
    assert len(mail.outbox) == 2


def test_an_alert_email_that_could_not_be_sent_is_tried_again(now, time_machine, settings):
    settings.ADMINS = [("Ops", "ops@keydrop.internal")]
    settings.EMAIL_BACKEND = REFUSING
    all_ran(now)
    time_machine.move_to(now + datetime.timedelta(minutes=10))
    get_health()
    assert not Alert.objects.exists()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    get_health()
    assert len(mail.outbox) == 1 and Alert.objects.filter(cleared_at__isnull=True).count() == 1


def test_a_load_balancer_asking_a_node_over_plain_http_gets_the_answer_not_a_redirect(settings):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/health/").status_code == 200
    assert Client().get("/admin/login/").status_code == 301  # everything else still goes to https


def test_the_health_command_tells_admins_of_a_stopped_scheduler_without_any_request(now, time_machine, settings):
    """The timer in deploy/systemd runs it, so the email does not wait for a monitor to ask."""
    settings.ADMINS = [("Ops", "ops@keydrop.internal")]
    all_ran(now)
    out = io.StringIO()
    call_command("health", stdout=out)
    assert json.loads(out.getvalue())["ok"] is True and mail.outbox == []
    time_machine.move_to(now + datetime.timedelta(minutes=10))
    with pytest.raises(CommandError, match="not healthy"):
        call_command("health", stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("health", stdout=io.StringIO())
    [message] = mail.outbox
    assert "scheduler has stopped" in message.subject
