"""No unaudited code path: the task queue in the admin can be looked at, never used.

Before: django-q2's editable "Scheduled tasks" let a superuser (or anyone given its add/change
permission) schedule any dotted path with literal arguments: an OS command ran as the service
user and a task decrypted a secret, with no audit event. Its "resubmit" action re-ran any task.
"""

import pytest
from django.contrib.auth.models import Permission
from django_q.models import OrmQ, Schedule, Success, Task

from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db
SCHEDULES = "/admin/django_q/schedule/"
ATTACK = {
    "name": "side door",
    "func": "os.system",
    "args": "'touch /tmp/keydrop-side-door'",
    "kwargs": "",
    "schedule_type": "O",
    "repeats": "-1",
    "next_run_0": "2026-01-01",
    "next_run_1": "00:00:00",
}


@pytest.fixture
def queue_admin(bob):
    """A staff member handed every permission django-q2 has: still only a viewer here."""
    bob.user_permissions.add(*Permission.objects.filter(content_type__app_label="django_q"))
    return bob


@pytest.fixture
def finished_task():
    return Task.objects.create(
        id="a" * 32,
        name="probe",
        func="keys.tasks.purge_dead_secrets",
        started="2026-01-01T00:00Z",
        stopped="2026-01-01T00:00Z",
        success=True,
    )


@pytest.mark.parametrize("who", ["alice", "queue_admin"])
def test_nobody_can_add_a_schedule(who, request):
    client = signed_in(request.getfixturevalue(who))
    assert client.get(f"{SCHEDULES}add/").status_code == 403
    assert client.post(f"{SCHEDULES}add/", ATTACK).status_code == 403
    assert not Schedule.objects.filter(func="os.system").exists()


@pytest.mark.parametrize("who", ["alice", "queue_admin"])
def test_nobody_can_change_or_delete_a_declared_schedule(who, request):
    schedule = Schedule.objects.get(name="keys.send_reminders")
    client = signed_in(request.getfixturevalue(who))
    assert client.post(f"{SCHEDULES}{schedule.pk}/change/", {**ATTACK, "name": schedule.name}).status_code == 403
    assert client.post(f"{SCHEDULES}{schedule.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post(SCHEDULES, {"action": "delete_selected", "_selected_action": [schedule.pk], "post": "yes"})
    schedule.refresh_from_db()
    assert schedule.func == "keys.tasks.send_reminders" and schedule.args in (None, "")


@pytest.mark.parametrize("who", ["alice", "queue_admin"])
def test_no_task_can_be_resubmitted_or_queued(who, request, finished_task):
    client = signed_in(request.getfixturevalue(who))
    before = OrmQ.objects.count()
    for url in ["/admin/django_q/success/", "/admin/django_q/failure/"]:
        client.post(url, {"action": "resubmit_task", "_selected_action": [finished_task.pk]})
    assert OrmQ.objects.count() == before
    assert client.post(f"/admin/django_q/success/{finished_task.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Success.objects.filter(pk=finished_task.pk).exists()


def test_the_queue_stays_readable(alice, finished_task):
    client = signed_in(alice)
    page = client.get(SCHEDULES).content.decode()
    assert "keys.send_reminders" in page and "Add scheduled task" not in page
    assert client.get(f"{SCHEDULES}{Schedule.objects.get(name='keys.send_reminders').pk}/change/").status_code == 200
    assert client.get("/admin/django_q/success/").status_code == 200
    assert 'name="action"' not in client.get("/admin/django_q/success/").content.decode()
