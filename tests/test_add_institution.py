import io

import pytest
from django.core.management import CommandError, call_command

from keys.models import Institution

pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    call_command("add_institution", *args, stdout=out)
    return out.getvalue().splitlines()


def test_it_adds_the_institution_with_contacts_and_prints_the_intake_url_last(settings):
    settings.PORTAL_BASE_URL = "https://keys.partner.example"
    lines = run(
        "Example University", "--slug", "example-u", "--contact", "Admin@Example.edu", "--contact", "it@example.edu"
    )
    institution = Institution.objects.get(slug="example-u")
    assert institution.name == "Example University"
    assert sorted(institution.contacts.values_list("email", flat=True)) == ["admin@example.edu", "it@example.edu"]
    assert lines[-1] == f"https://keys.partner.example/i/{institution.intake_token}/"


def test_the_slug_defaults_to_one_made_from_the_name():
    run("Université de Montréal", "--contact", "admin@umontreal.ca")
    assert Institution.objects.filter(slug="universite-de-montreal").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["Example", "--slug", "ex"], "at least one --contact"),
        (["Example", "--slug", "ex", "--contact", "not-an-email"], "valid email"),
        (["Example", "--slug", "bad slug!", "--contact", "a@example.edu"], "slug"),
        (["Example", "--slug", "ex", "--contact", "a@example.edu", "--contact", "A@example.edu"], "listed twice"),
        (["Example", "--slug", "ex", "--contact", "a@example.edu", "--time-zone", "Mars/Olympus"], "Unknown time zone"),
    ],
)
def test_it_refuses_bad_input_and_stores_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not Institution.objects.exists()


def test_a_taken_slug_is_refused():
    run("Example", "--slug", "ex", "--contact", "a@example.edu")
    with pytest.raises(CommandError, match="already exists"):
        run("Other", "--slug", "ex", "--contact", "b@example.edu")
    assert Institution.objects.count() == 1
