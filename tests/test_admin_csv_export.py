"""CSV export of the credentials list: exactly the filtered rows, no secrets, recorded.

Every CSV download of a list (credentials, institutions, a campaign's non-responders) needs the
export permission on top of viewing the list, and that permission needs a second factor.
"""

import csv
import datetime
import io

import pytest
from django.test import Client
from django.utils import timezone

from keys.models import AuditEvent, Credential, Institution
from keys.onboarding import campaigns
from tests.factories import CredentialFactory, InstitutionFactory
from tests.staff_cast import SECRET, sign_in_with_code, signed_in

pytestmark = pytest.mark.django_db
EXPORT = "/admin/keys/credential/export.csv"


def rows(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text))), text


def test_it_exports_the_list_without_secrets_or_full_client_ids(exporter, institution):
    credential = CredentialFactory(
        institution=institution, secret=SECRET, expires_at=timezone.now() + datetime.timedelta(days=10, hours=2)
    )
    response = signed_in(exporter).get(EXPORT)
    assert "attachment" in response["Content-Disposition"] and "no-store" in response["Cache-Control"]
    exported, text = rows(response)
    assert len(exported) == 1
    row = exported[0]
    assert row["Institution"] == "Example University" and row["Institution slug"] == "example-u"
    assert row["Client ID (masked)"] == credential.masked_client_id
    assert row["Status"] == "Active" and row["Days left"] == str(credential.days_left())
    assert row["Expires on"] == credential.expires_on().isoformat()
    assert SECRET not in text and credential.client_id not in text


def test_it_exports_only_what_the_filters_show_on_every_page(exporter, institution):
    wanted = {
        c.pk
        for c in CredentialFactory.create_batch(
            120, institution=institution, expires_at=timezone.now() + datetime.timedelta(days=5)
        )
    }
    CredentialFactory(institution=institution, status=Credential.Status.REVOKED, secret=None)
    CredentialFactory(institution=institution, status=Credential.Status.PENDING, verified_at=None)
    exported, _ = rows(signed_in(exporter).get(EXPORT, {"status": "active", "expires_within": "7", "p": "2"}))
    assert len(exported) == len(wanted) == 120


def test_it_exports_the_search_results(exporter):
    CredentialFactory(institution=InstitutionFactory(name="Northwind College", slug="northwind"))
    CredentialFactory()
    exported, _ = rows(signed_in(exporter).get(EXPORT, {"q": "northwind"}))
    assert [row["Institution"] for row in exported] == ["Northwind College"]


def test_cells_a_spreadsheet_would_run_as_formulas_are_defused(exporter):
    CredentialFactory(institution=InstitutionFactory(name='=HYPERLINK("http://evil.example","x")', slug="evil"))
    exported, _ = rows(signed_in(exporter).get(EXPORT))
    assert exported[0]["Institution"].startswith("'=")


def test_every_export_defuses_every_cell_a_spreadsheet_would_run(exporter):
    """Names, slugs and contact addresses come from customers and imports; the pipe runs DDE in Excel."""
    institution = InstitutionFactory(name="|calc", slug="-evil", contacts=["=1+2@evil.example"])
    CredentialFactory(institution=institution, verified_email="+1@evil.example")
    downloads = {}
    client = signed_in(exporter)
    for url in every_export(institution):
        response = client.get(url)
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        downloads[url] = list(csv.reader(io.StringIO(body.decode())))[1:]
    cells = [cell for table in downloads.values() for row in table for cell in row]
    assert "'|calc" in cells and "'-evil" in cells and "'=1+2@evil.example" in cells and "'+1@evil.example" in cells
    for url, table in downloads.items():
        for cell in (cell for row in table for cell in row):
            assert cell[:1] not in ("=", "+", "-", "@", "|", "\t", "\r") or cell.lstrip("-").isdigit(), (url, cell)


def test_each_export_is_audited_with_its_filters_and_size(exporter):
    CredentialFactory.create_batch(3)
    rows(signed_in(exporter).get(EXPORT, {"status": "active"}, REMOTE_ADDR="192.0.2.6"))
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.ip) == ("csv_export", "bob", "192.0.2.6")
    assert "3 row(s)" in event.detail and "status=active" in event.detail


def test_bad_filters_redirect_instead_of_exporting(exporter):
    response = signed_in(exporter).get(EXPORT, {"expires_month": "nonsense"})
    assert response.status_code == 302 and not AuditEvent.objects.exists()


def test_the_export_needs_a_signed_in_staff_member(client, django_user_model):
    assert client.get(EXPORT).status_code == 302  # to the login page
    nobody = django_user_model.objects.create_user("erin", password="erin-password-123", is_staff=True)
    assert signed_in(nobody).get(EXPORT).status_code == 403


def test_the_list_links_to_the_export_with_its_current_filters(exporter):
    html = signed_in(exporter).get("/admin/keys/credential/", {"status": "active"}).content.decode()
    assert 'href="/admin/keys/credential/export.csv?status=active"' in html


# Who may export ---------------------------------------------------------------------------------

EXPORTS = [AuditEvent.Action.CSV_EXPORT, AuditEvent.Action.EXPORT_LIST]


def every_export(institution) -> list[str]:
    campaign = campaigns.start(
        Institution.objects.all(), kind="dap", name="Autumn", actor="alice", now=timezone.now()
    ).campaign
    return [EXPORT, "/admin/keys/institution/export.csv", f"/admin/keys/campaign/{campaign.pk}/not-responded.csv"]


def test_viewing_a_list_is_not_exporting_it(bob, institution):
    urls = every_export(institution)
    client = signed_in(bob)
    for url in urls:
        assert client.get(url).status_code == 403, url
    assert not AuditEvent.objects.filter(action__in=EXPORTS).exists()
    # Nor are the downloads offered to him.
    for page in (
        "/admin/keys/credential/",
        "/admin/keys/institution/",
        urls[2].replace("not-responded.csv", "change/"),
    ):
        html = client.get(page).content.decode()
        assert "Export CSV" not in html and "Export who has not responded" not in html, page


def test_an_exporter_passes_a_second_factor_before_any_export(exporter, institution):
    urls = every_export(institution)
    unverified = signed_in(exporter, verified=False)  # the password only
    for url in urls:
        response = unverified.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url
        assert unverified.get(response["Location"])["Location"].startswith("/admin/two-step/")
    assert not AuditEvent.objects.filter(action__in=EXPORTS).exists()
    client = Client()
    assert sign_in_with_code(client, exporter, "bob-password-123")["Location"] == "/admin/"
    for url in urls:
        assert client.get(url).status_code == 200, url
    assert AuditEvent.objects.filter(action__in=EXPORTS, actor="bob").count() == 3
