import datetime
import uuid

import factory
from django.utils import timezone

from keys import kinds
from keys.checks import records
from keys.models import AdminContact, Credential, CredentialCheck, Institution
from keys.outcomes import Verdict


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Institution
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Institution {n}")
    slug = factory.Sequence(lambda n: f"institution-{n}")
    canvas_url = factory.LazyAttribute(lambda o: f"https://{o.slug}.instructure.com")

    @factory.post_generation
    def contacts(self, create, extracted, **kwargs):
        for email in extracted if extracted is not None else [f"admin@{self.slug}.edu"]:
            AdminContact.objects.create(institution=self, email=email)


class AdminContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AdminContact

    institution = factory.SubFactory(InstitutionFactory, contacts=[])
    email = factory.Sequence(lambda n: f"admin{n}@example.edu")


def dap_client_id() -> str:
    return f"us-east-1#{uuid.uuid4()}"


class CredentialFactory(factory.django.DjangoModelFactory):
    """A verified, active Canvas Data 2 key expiring in a year unless told otherwise."""

    class Meta:
        model = Credential

    institution = factory.SubFactory(InstitutionFactory)
    kind = kinds.DAP.slug
    client_id = factory.LazyFunction(dap_client_id)
    secret = "factory-secret-value"
    key_type = kinds.KeyType.INSTITUTIONAL
    lifetime = "1y"
    status = Credential.Status.ACTIVE
    submitted_at = factory.LazyFunction(timezone.now)
    verified_at = factory.LazyAttribute(lambda o: o.submitted_at)
    verified_email = "admin@example.edu"
    key_created_on = factory.LazyAttribute(lambda o: timezone.localdate(o.submitted_at))
    expires_at = factory.LazyAttribute(lambda o: o.submitted_at + datetime.timedelta(days=365))


def developer_key_credential(institution, client_id: str, secret: str, canvas_url: str, **kwargs) -> Credential:
    """A verified Canvas API developer key without a review date, at the given Canvas."""
    return CredentialFactory(
        institution=institution,
        kind=kinds.DEVELOPER_KEY.slug,
        client_id=client_id,
        secret=secret,
        canvas_url=canvas_url,
        key_type="",
        lifetime="none",
        expires_at=None,
        **kwargs,
    )


def midday_time_zone(now=None) -> str:
    """A zone where it is about midday now. Tests that run subprocesses on the real clock put
    their institutions there, so the institution's midnight (a lapse, a new reminder day) is
    hours away whenever the suite happens to run."""
    utc_hour = (now or timezone.now()).astimezone(datetime.UTC).hour
    offset = 12 - utc_hour  # -11 … +12; the Etc zones' signs are inverted (Etc/GMT-3 is UTC+3)
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"


def tracked_credential(*, lifetime_days: int | None = 365, now=None, **kwargs) -> Credential:
    """An active credential verified `now`, created in Canvas today, with its reminders planned."""
    now = now or timezone.now()
    institution = kwargs.pop("institution", None) or InstitutionFactory()
    created_on = timezone.localdate(now, institution.tz)
    expires_at = (
        kinds.start_of_day(created_on + datetime.timedelta(days=lifetime_days), institution.tz)
        if lifetime_days
        else None
    )
    credential = CredentialFactory(
        institution=institution,
        submitted_at=now,
        verified_at=now,
        key_created_on=created_on,
        expires_at=expires_at,
        **kwargs,
    )
    credential.start_tracking(now)
    return credential


def canvas_says(credential: Credential, verdict: Verdict, now=None, trigger=CredentialCheck.Trigger.SCHEDULE):
    """Record what Canvas answered, as a check would: for tests about what follows an answer."""
    return records.record(credential, verdict, trigger=trigger, now=now)


def works(credential: Credential, now=None):
    """Canvas accepts the key: a newly verified key takes over from older ones."""
    return canvas_says(credential, Verdict.works("Instructure accepted the Client ID and Secret."), now=now)
