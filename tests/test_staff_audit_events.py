"""Every staff sign-in event and every privileged change appears in the audit list: who, when, from
where and what changed, never a password, code or key."""

import datetime

import pytest
from axes.models import AccessAttempt
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone

from keys import staff
from keys.models import AuditEvent, Institution
from tests.factories import InstitutionFactory
from tests.staff_cast import authenticator, sign_in_with_code, signed_in, totp_code

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action
LOGIN = "/admin/login/?next=/admin/"
IP = "192.0.2.44"


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("at", "pk"))


def test_sign_in_second_factor_and_sign_out_are_recorded(dana):
    client = Client(REMOTE_ADDR=IP)
    assert sign_in_with_code(client, dana, "dana-password-123", ip=IP)["Location"] == "/admin/"
    client.post("/admin/logout/", REMOTE_ADDR=IP)
    (signed_in_event,) = events(Action.SIGN_IN)
    assert (signed_in_event.actor, signed_in_event.ip, signed_in_event.detail) == ("dana", IP, "with password")
    assert events(Action.SECOND_FACTOR)[0].detail == "Authenticator app, for sign-in"
    assert events(Action.SIGN_OUT)[0].actor == "dana"


def test_failed_sign_ins_are_recorded_without_what_was_typed(alice):
    Client().post(LOGIN, {"username": "alice", "password": "Tr0ub4dor&3-wrong"}, REMOTE_ADDR=IP)
    Client().post(LOGIN, {"username": "hunter2-typed-in-the-wrong-box", "password": "x"}, REMOTE_ADDR=IP)
    wrong, unknown = events(Action.SIGN_IN_FAILED)
    assert (wrong.actor, wrong.detail, wrong.ip) == ("alice", "wrong password", IP)
    assert (unknown.actor, unknown.detail) == ("(unknown username)", "no such account")
    everything = " ".join(f"{e.actor} {e.detail} {e.reason}" for e in AuditEvent.objects.all())
    assert "Tr0ub4dor" not in everything and "hunter2" not in everything


def test_a_lockout_is_one_event_however_often_the_locked_pair_tries(alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT + 5):
        Client().post(LOGIN, {"username": "alice", "password": "wrong"}, REMOTE_ADDR=IP)
    (locked,) = events(Action.SIGN_IN_LOCKED)
    assert locked.actor == "alice" and locked.ip == IP and "30 minutes" in locked.detail
    assert len(events(Action.SIGN_IN_FAILED)) == settings.AXES_FAILURE_LIMIT  # refused attempts are not failures


def test_the_start_of_a_back_off_is_recorded(alice, settings):
    for n in range(settings.PORTAL_LOGIN_USERNAME_FAILURE_LIMIT):
        Client().post(LOGIN, {"username": "alice", "password": "wrong"}, REMOTE_ADDR=f"198.51.100.{n + 1}")
    (slowed,) = events(Action.SIGN_IN_LOCKED)
    assert slowed.actor == "alice" and "back-off" in slowed.detail


def test_a_wrong_code_is_recorded(dana):
    device = authenticator(dana)
    client = Client()
    client.post(LOGIN, {"username": "dana", "password": "dana-password-123"})
    wrong = f"{(int(totp_code(device)) + 500000) % 10**6:06d}"
    client.post("/admin/two-step/", {"code": wrong})
    (failed,) = events(Action.SIGN_IN_FAILED)
    assert failed.actor == "dana" and failed.detail == "second factor: wrong code"
    assert wrong not in failed.detail


# Accounts and groups --------------------------------------------------------------------------


def user_form(user, **changes):
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": user.email,
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        "groups": [str(pk) for pk in user.groups.values_list("pk", flat=True)],
        "user_permissions": [str(pk) for pk in user.user_permissions.values_list("pk", flat=True)],
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def test_granting_a_group_and_a_permission_is_recorded(alice, bob):
    revealers = Group.objects.create(name="Revealers")
    reveal = Permission.objects.get(codename="reveal_credential_secret")
    permissions = [str(pk) for pk in bob.user_permissions.values_list("pk", flat=True)] + [str(reveal.pk)]
    response = signed_in(alice).post(
        f"/admin/auth/user/{bob.pk}/change/",
        user_form(bob, groups=[str(revealers.pk)], user_permissions=permissions),
        REMOTE_ADDR=IP,
    )
    assert response.status_code == 302, response.content.decode()[:500]
    (event,) = events(Action.STAFF_CHANGED)
    assert event.actor == "alice" and event.ip == IP
    assert event.detail == "bob: group +Revealers; permission +keys.reveal_credential_secret"


def test_making_someone_a_superuser_is_recorded(alice, bob):
    signed_in(alice).post(f"/admin/auth/user/{bob.pk}/change/", user_form(bob, is_superuser="on"))
    assert events(Action.STAFF_CHANGED)[0].detail == "bob: superuser on"


def test_creating_and_deleting_an_account_are_recorded(alice):
    client = signed_in(alice)
    response = client.post(
        "/admin/auth/user/add/",
        {
            "username": "erin",
            "password1": "Erin-password-2026!",
            "password2": "Erin-password-2026!",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    erin_pk = response["Location"].split("/")[-3]
    client.post(f"/admin/auth/user/{erin_pk}/delete/", {"post": "yes"})
    created, deleted = events(Action.STAFF_CHANGED)
    assert created.detail.startswith("erin: created") and deleted.detail == "erin: deleted"
    assert "Erin-password" not in created.detail


def test_a_password_set_by_an_administrator_is_recorded_not_shown(alice, bob):
    signed_in(alice).post(
        f"/admin/auth/user/{bob.pk}/password/",
        {"password1": "New-bob-password-42!", "password2": "New-bob-password-42!", "usable_password": "true"},
    )
    (event,) = events(Action.STAFF_CHANGED)
    assert event.detail == "bob: password set by an administrator"
    assert "New-bob" not in event.detail


def test_a_groups_permissions_are_recorded(alice, bob):
    group = Group.objects.create(name="Revealers")
    bob.groups.add(group)
    reveal = Permission.objects.get(codename="reveal_credential_secret")
    signed_in(alice).post(
        f"/admin/auth/group/{group.pk}/change/", {"name": "Revealers", "permissions": [str(reveal.pk)]}
    )
    (event,) = events(Action.GROUP_CHANGED)
    assert event.detail == "group Revealers (1 member(s)): permission +keys.reveal_credential_secret"


# Institutions and contacts --------------------------------------------------------------------


def institution_form(institution, contacts, **changes):
    data = {
        "name": institution.name,
        "slug": institution.slug,
        "canvas_url": institution.canvas_url,
        "time_zone": institution.time_zone,
        "contacts-TOTAL_FORMS": str(len(contacts) + 1),
        "contacts-INITIAL_FORMS": str(len([c for c in contacts if c.get("id")])),
        "contacts-MIN_NUM_FORMS": "0",
        "contacts-MAX_NUM_FORMS": "1000",
    }
    for n, contact in enumerate(contacts):
        for key, value in contact.items():
            data[f"contacts-{n}-{key}"] = value
        data[f"contacts-{n}-institution"] = str(institution.pk)
    data.update(changes)
    return data


def test_institution_and_contact_changes_are_recorded(alice, institution, charlie):
    contacts = [
        {"id": str(charlie.pk), "email": charlie.email, "name": "", "DELETE": "on"},
        {"email": "it@example.edu", "name": "IT desk"},
    ]
    response = signed_in(alice).post(
        f"/admin/keys/institution/{institution.pk}/change/",
        institution_form(institution, contacts, name="Example University (Main)"),
        REMOTE_ADDR=IP,
    )
    assert response.status_code == 302, response.content.decode()[:800]
    (changed,) = events(Action.INSTITUTION_CHANGED)
    assert changed.detail == "name 'Example University' → 'Example University (Main)'" and changed.actor == "alice"
    (contacts_event,) = events(Action.CONTACTS_CHANGED)
    assert contacts_event.detail == "added it@example.edu; removed charlie@example.edu"
    assert contacts_event.institution == Institution.objects.get()


def test_adding_an_institution_is_recorded(alice):
    response = signed_in(alice).post(
        "/admin/keys/institution/add/",
        {
            "name": "Northwind College",
            "slug": "northwind",
            "canvas_url": "",
            "time_zone": "",
            "contacts-TOTAL_FORMS": "1",
            "contacts-INITIAL_FORMS": "0",
            "contacts-MIN_NUM_FORMS": "0",
            "contacts-MAX_NUM_FORMS": "1000",
            "contacts-0-email": "admin@northwind.edu",
            "contacts-0-name": "",
        },
    )
    assert response.status_code == 302
    assert events(Action.INSTITUTION_CHANGED)[0].detail == "created: name 'Northwind College', slug 'northwind'"
    assert events(Action.CONTACTS_CHANGED)[0].detail == "added admin@northwind.edu"


def test_saving_without_changes_records_nothing(alice, institution, charlie):
    contacts = [{"id": str(charlie.pk), "email": charlie.email, "name": ""}]
    signed_in(alice).post(f"/admin/keys/institution/{institution.pk}/change/", institution_form(institution, contacts))
    assert not events(Action.INSTITUTION_CHANGED) and not events(Action.CONTACTS_CHANGED)


def delete_institution(client, institution):
    return client.post(f"/admin/keys/institution/{institution.pk}/delete/", {"post": "yes"}, REMOTE_ADDR=IP)


def test_deleting_an_institution_is_recorded_and_the_event_outlives_it(alice):
    typo = InstitutionFactory(name="Exmaple Univ", slug="exmaple-u", canvas_url="", contacts=["a@exmaple.edu"])
    client = signed_in(alice)
    assert delete_institution(client, typo).status_code == 302
    assert not Institution.objects.filter(slug="exmaple-u").exists()
    (deleted,) = events(Action.INSTITUTION_DELETED)
    assert (deleted.actor, deleted.ip, deleted.institution) == ("alice", IP, None)
    assert deleted.detail == "deleted: name 'Exmaple Univ', slug 'exmaple-u'; contacts deleted with it: a@exmaple.edu"
    assert "Exmaple Univ" in client.get("/admin/keys/auditevent/").content.decode()


def test_deleting_institutions_from_the_list_records_each(alice):
    chosen = [InstitutionFactory(name=name, slug=name.lower(), canvas_url="", contacts=[]) for name in ("One", "Two")]
    form = {"action": "delete_selected", ACTION_CHECKBOX_NAME: [i.pk for i in chosen], "post": "yes"}
    assert signed_in(alice).post("/admin/keys/institution/", form).status_code == 302
    assert not Institution.objects.exists()
    assert sorted(event.detail for event in events(Action.INSTITUTION_DELETED)) == [
        "deleted: name 'One', slug 'one'; contacts deleted with it: none",
        "deleted: name 'Two', slug 'two'; contacts deleted with it: none",
    ]


def test_an_institution_with_keys_or_a_history_is_not_deleted(alice, institution, credential):
    quiet = InstitutionFactory(slug="quiet", contacts=[])
    staff.rotate_intake_link(quiet, actor=staff.Actor("alice"), now=timezone.now())  # its history keeps it
    client = signed_in(alice)
    for kept in (institution, quiet):
        response = delete_institution(client, kept)
        assert response.status_code == 200
        assert "<title>Cannot delete institution" in response.content.decode()
    assert Institution.objects.count() == 2 and not events(Action.INSTITUTION_DELETED)


# Lifting a sign-in lock ------------------------------------------------------------------------

BOBS_LAPTOP = "198.51.100.7"


def test_lifting_a_sign_in_lock_in_the_admin_is_recorded(alice, bob, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client().post(LOGIN, {"username": "bob", "password": "wrong"}, REMOTE_ADDR=BOBS_LAPTOP)
    right = {"username": "bob", "password": "bob-password-123"}
    assert Client().post(LOGIN, right, REMOTE_ADDR=BOBS_LAPTOP).status_code == 429
    attempt = AccessAttempt.objects.get(username="bob")
    response = signed_in(alice).post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"}, REMOTE_ADDR=IP)
    assert response.status_code == 302
    assert Client().post(LOGIN, right, REMOTE_ADDR=BOBS_LAPTOP)["Location"] == "/admin/"  # the lock is gone
    (lifted,) = AuditEvent.objects.filter(action=Action.SIGN_IN_UNLOCKED, actor="alice")
    assert lifted.ip == IP
    assert lifted.detail == f"access attempt of bob from {BOBS_LAPTOP} deleted by staff: lock lifted (5 failures)"


def test_deleting_access_attempts_in_bulk_records_each_without_what_was_typed(alice):
    Client().post(LOGIN, {"username": "hunter2-typed-in-the-wrong-box", "password": "x"}, REMOTE_ADDR=BOBS_LAPTOP)
    Client().post(LOGIN, {"username": "alice", "password": "x"}, REMOTE_ADDR=BOBS_LAPTOP)
    chosen = {
        "action": "delete_selected",
        ACTION_CHECKBOX_NAME: list(AccessAttempt.objects.values_list("pk", flat=True)),
    }
    assert signed_in(alice).post("/admin/axes/accessattempt/", {**chosen, "post": "yes"}).status_code == 302
    assert not AccessAttempt.objects.exists()
    recorded = sorted(e.detail for e in AuditEvent.objects.filter(action=Action.SIGN_IN_UNLOCKED, actor="alice"))
    assert recorded == [
        f"access attempt of (unknown username) from {BOBS_LAPTOP} deleted by staff: "
        "1 failure(s) forgotten; no lock was in force",
        f"access attempt of alice from {BOBS_LAPTOP} deleted by staff: 1 failure(s) forgotten; no lock was in force",
    ]
    assert not AuditEvent.objects.filter(detail__contains="hunter2").exists()


def test_cleaning_up_expired_access_attempts_is_recorded_too(alice, time_machine):
    Client().post(LOGIN, {"username": "alice", "password": "x"}, REMOTE_ADDR=BOBS_LAPTOP)
    time_machine.move_to(timezone.now() + datetime.timedelta(minutes=31))  # past the 30-minute cool-off
    attempt = AccessAttempt.objects.get()
    cleanup = {"action": "cleanup_expired_attempts", ACTION_CHECKBOX_NAME: [attempt.pk]}
    assert signed_in(alice).post("/admin/axes/accessattempt/", cleanup).status_code == 302
    assert not AccessAttempt.objects.exists()
    (cleaned,) = AuditEvent.objects.filter(action=Action.SIGN_IN_UNLOCKED, actor="alice")
    assert cleaned.detail.startswith("access attempt of alice") and "no lock was in force" in cleaned.detail


def test_every_staff_event_appears_in_the_audit_list(alice, bob):
    sign_in_with_code(Client(), alice, "alice-password-123")
    Client().post(LOGIN, {"username": "bob", "password": "wrong"})
    html = signed_in(alice).get("/admin/keys/auditevent/").content.decode()
    for label in ["Signed in", "Second factor checked", "Sign-in failed"]:
        assert label in html
