"""keys.audit.record: one place writes the trail, and what it writes can never change."""

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from keys import audit
from keys.models import AuditEvent
from tests.factories import CredentialFactory

pytestmark = pytest.mark.django_db


def test_it_records_who_what_which_why_and_from_where(institution):
    credential = CredentialFactory(institution=institution)
    event = audit.record(
        audit.Action.REVEAL, actor="alice", credential=credential, reason="pipeline broke", ip="203.0.113.9"
    )
    event.refresh_from_db()
    assert (event.actor, event.action, event.reason, event.ip) == ("alice", "reveal", "pipeline broke", "203.0.113.9")
    assert event.credential == credential
    assert event.institution == institution  # taken from the credential when not given


def test_it_shortens_an_overlong_detail_instead_of_failing():
    event = audit.record(audit.Action.CSV_EXPORT, actor="alice", detail="x" * 1000)
    assert len(event.detail) == 300 and event.detail.endswith("…")


def test_an_empty_ip_is_stored_as_none():
    assert audit.record(audit.Action.CSV_EXPORT, actor="alice", ip="").ip is None


def test_the_cli_actor_names_the_operating_system_user(monkeypatch):
    monkeypatch.setattr(audit.getpass, "getuser", lambda: "deploy")
    assert audit.cli_actor() == "cli:deploy"


def test_the_cli_actor_falls_back_to_the_uid_without_a_user_name(monkeypatch):
    def no_user():
        raise KeyError("getpwuid(): uid not found")

    monkeypatch.setattr(audit.getpass, "getuser", no_user)
    assert audit.cli_actor().startswith("cli:uid")


def test_an_event_cannot_be_changed_or_deleted_through_the_model():
    event = audit.record(audit.Action.INVITE, actor="alice")
    event.reason = "edited"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(reason="edited")
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    event.refresh_from_db()
    assert event.reason == ""


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
def test_postgresql_refuses_raw_sql_that_changes_or_deletes_an_event():
    event = audit.record(audit.Action.INVITE, actor="alice")
    for sql in (
        "UPDATE keys_auditevent SET reason = 'edited' WHERE id = %s",
        "DELETE FROM keys_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [event.pk])
    event.refresh_from_db()
    assert event.reason == ""
