"""Events pipelines follow: each emitted where it happens, once, never with a secret; listed with a cursor.

event                   made happen by                                    test
----------------------  ------------------------------------------------  ---------------------------------
credential.verified     Canvas confirms a new key (its check)             test_a_new_key_that_works_…
credential.superseded   … and the older key steps aside                   test_a_new_key_that_works_…
credential.failing      Canvas refuses a working key                      test_failing_and_recovered_…
credential.recovered    … and accepts it again                            test_failing_and_recovered_…
credential.expiring     the reminder sweep, at each offset                test_expiring_at_each_reminder_…
credential.expired      the purge task                                    test_expired_once_…
credential.revoked      staff revoke                                      test_revoked_…
grant.authorized        the admin authorizes a developer key              test_grant_authorized_and_lost
grant.lost              Canvas says the grant is gone                     test_grant_authorized_and_lost
"""

import datetime

from django.test import Client
from django.utils import timezone

from keys import reminders, staff
from keys.checks import records
from keys.instructure import grants
from keys.models import CanvasGrant, Credential, PipelineEvent
from keys.models.pipelines import SETTLE
from keys.outcomes import Verdict
from keys.tasks import purge_dead_secrets
from tests import factories
from tests.pipelines import api, create_token
from tests.staff_cast import SECRET
from tests.test_oauth_grant import authorize

T = PipelineEvent.Type


def types(credential=None) -> list[str]:
    events = PipelineEvent.objects.order_by("pk")
    return list((events.filter(credential=credential) if credential else events).values_list("type", flat=True))


def settled():
    """Let the events be old enough for a cursor to pass them."""
    return timezone.now() + SETTLE + datetime.timedelta(seconds=1)


def test_a_new_key_that_works_is_verified_and_the_old_one_superseded(institution, time_machine):
    old = factories.tracked_credential(institution=institution, now=timezone.now() - datetime.timedelta(days=200))
    factories.works(old)
    new = factories.tracked_credential(institution=institution)
    assert types(new) == []  # verified by its admin, but Canvas has not seen it work yet
    factories.works(new)
    factories.works(new)  # a second check that works is no news
    assert types(new) == [T.VERIFIED] and types(old) == [T.VERIFIED, T.SUPERSEDED]
    superseded = PipelineEvent.objects.get(type=T.SUPERSEDED)
    assert superseded.institution == institution and superseded.kind == "dap"
    assert f"by credential {new.pk}" in superseded.detail


def test_failing_and_recovered_once_per_episode(credential):
    factories.works(credential)  # a working key that works again: nothing to tell
    refused = Verdict.rejected("Instructure refused the Client ID and Secret (HTTP 401).")
    factories.canvas_says(credential, refused)
    factories.canvas_says(credential, refused)  # the episode goes on: no second event
    factories.works(credential)
    factories.canvas_says(credential, refused)  # a new episode
    assert types(credential) == [T.FAILING, T.RECOVERED, T.FAILING]


def test_expiring_at_each_reminder_offset_and_expired_once(institution, time_machine, settings):
    settings.PORTAL_REMINDER_OFFSETS_DAYS = [7, 1]
    key = factories.tracked_credential(institution=institution, lifetime_days=30)
    time_machine.move_to(key.expires_at - datetime.timedelta(days=7, hours=-1))
    reminders.sweep()
    reminders.sweep()
    time_machine.move_to(key.expires_at - datetime.timedelta(days=1, hours=-1))
    reminders.sweep()
    time_machine.move_to(key.expires_at + datetime.timedelta(hours=1))
    reminders.sweep()  # the lapse notice is not "expiring"
    purge_dead_secrets()
    purge_dead_secrets()
    assert types(key) == [T.EXPIRING, T.EXPIRING, T.EXPIRED]
    assert [e.detail for e in PipelineEvent.objects.filter(type=T.EXPIRING)] == ["7 days left", "1 days left"]


def test_revoked_by_staff(credential, dana):
    staff.revoke([credential], actor=staff.Actor("dana"), reason="the customer asked", now=timezone.now())
    staff.revoke([credential], actor=staff.Actor("dana"), reason="twice", now=timezone.now())
    assert types(credential) == [T.REVOKED]


def test_grant_authorized_and_lost(developer_key, fake_canvas):
    authorize(Client(), developer_key)
    grant = CanvasGrant.objects.get()
    grants.lose(grant, "Canvas no longer knows the authorization.", timezone.now())
    grants.lose(grant, "again", timezone.now())
    assert types(developer_key) == [T.GRANT_AUTHORIZED, T.GRANT_LOST]
    assert "Canvas user" in PipelineEvent.objects.get(type=T.GRANT_AUTHORIZED).detail


def test_the_api_lists_events_in_scope_oldest_first_with_a_cursor_and_no_secret(credential, time_machine):
    other = factories.CredentialFactory(institution=factories.InstitutionFactory(slug="other-c"))
    dev = factories.developer_key_credential(credential.institution, "170000000000999", "S" * 64, "https://x.test")
    for key in (credential, other, dev):
        key.start_tracking(timezone.now())  # on trial until Canvas says it works
        factories.works(key)
    staff.revoke([credential], actor=staff.Actor("dana"), reason="rotated", now=timezone.now())
    time_machine.move_to(settled())
    with api(create_token("example-dap", "--kind", "dap", "--institution", "example-u")) as client:
        first = client.get("/events", params={"limit": 1}).json()
        rest = client.get("/events", params={"after": first["next_cursor"]}).json()
        nothing_new = client.get("/events", params={"after": rest["next_cursor"]}).json()
    assert [e["type"] for e in first["events"] + rest["events"]] == [T.VERIFIED, T.REVOKED]
    event = first["events"][0]
    assert event["data"] == {
        "institution": "example-u",
        "institution_name": "Example University",
        "kind": "dap",
        "credential_id": credential.pk,
        "detail": "Instructure accepted the Client ID and Secret.",
    }
    assert nothing_new == {"events": [], "next_cursor": rest["next_cursor"]}
    assert SECRET not in str(first) + str(rest)


def test_an_event_is_listed_only_once_it_has_settled(credential, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    credential.start_tracking(timezone.now())
    factories.works(credential)
    with api(create_token("p", "--kind", "dap")) as client:
        fresh = client.get("/events").json()
        time_machine.move_to(settled())
        later = client.get("/events").json()
    # A cursor past an event that has just been written could skip one a slower transaction commits
    # with a smaller id a moment later; so fresh events wait SETTLE.
    assert fresh["events"] == [] and fresh["next_cursor"] == "0"
    assert [e["type"] for e in later["events"]] == [T.VERIFIED]


def test_a_check_recorded_for_a_key_that_is_over_emits_nothing(credential):
    Credential.objects.filter(pk=credential.pk).update(status=Credential.Status.REVOKED)
    records.record(credential, Verdict.works("ok"), trigger=records.Trigger.SCHEDULE)
    assert types() == []
