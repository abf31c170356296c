"""No input to the onboarding pages and commands produces a 500 or a traceback."""

import io

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from keys.models import Institution
from keys.onboarding import campaigns
from tests.factories import InstitutionFactory
from tests.flows import NASTY
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db


def test_campaign_and_institution_lists_take_any_parameter(alice, institution):
    campaign = campaigns.start(
        Institution.objects.all(), kind="dap", name="x", actor="alice", now=timezone.now()
    ).campaign
    client = signed_in(alice)
    for url, parameters in (
        ("/admin/keys/institution/", ["working_key", "q"]),
        ("/admin/keys/campaign/", ["kind__exact", "q", "o"]),
        (f"/admin/keys/campaign/{campaign.pk}/change/", ["stage"]),
        ("/admin/keys/credential/", ["expires_month"]),
    ):
        for parameter in parameters:
            for value in NASTY:
                assert client.get(url, {parameter: value}).status_code < 500, (url, parameter, value[:20])


def test_the_import_and_campaign_forms_take_any_input(alice, institution):
    client = signed_in(alice)
    for value in NASTY:
        upload = SimpleUploadedFile(
            "x.csv", ("name,slug,canvas_url,time_zone,contacts\n" + ",".join([value] * 5)).encode()
        )
        assert client.post("/admin/keys/institution/import/", {"file": upload}).status_code < 500, value[:20]
        assert client.get(f"/admin/keys/institution/import/{value}/").status_code < 500, value[:20]
        answer = {"action": "start_campaign", ACTION_CHECKBOX_NAME: [str(institution.pk)], "confirm": "yes"}
        fields = {"name": value, "kind": value, "chase_after_days": value, "max_chasers": value}
        assert client.post("/admin/keys/institution/", {**answer, **fields}).status_code < 500, value[:20]
        assert client.get(f"/admin/keys/campaign/{value}/not-responded.csv").status_code < 500, value[:20]


def test_intake_query_values_never_error(institution):
    visitor = Client()
    for value in NASTY:
        for parameter in ("via", "key_type"):
            assert visitor.get(institution.intake_path(), {parameter: value}).status_code == 200, (
                parameter,
                value[:20],
            )


def test_the_import_command_refuses_any_file_cleanly(tmp_path):
    InstitutionFactory(slug="known")
    for n, data in enumerate(
        [
            b"\xff" * 10,
            b"name,slug\n",
            b'name,slug,canvas_url,time_zone,contacts\n"unterminated,x,,,a@b.c\n',
            b"x\x00",
        ]
    ):
        path = tmp_path / f"{n}.csv"
        path.write_bytes(data)
        with pytest.raises(CommandError):
            call_command("import_institutions", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_institutions", str(tmp_path / "missing.csv"), stdout=io.StringIO())
