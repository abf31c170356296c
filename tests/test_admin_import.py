"""Importing institutions in the admin: upload, preview what would change, confirm; and export."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from keys.models import AdminContact, AuditEvent, Institution, InstitutionImport
from tests.factories import InstitutionFactory
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db
IMPORT = "/admin/keys/institution/import/"
HEADER = "name,slug,canvas_url,time_zone,contacts\n"


def upload(client, text: str, name="institutions.csv"):
    return client.post(IMPORT, {"file": SimpleUploadedFile(name, text.encode(), content_type="text/csv")})


def test_an_upload_is_previewed_then_imported_once_confirmed(alice):
    InstitutionFactory(slug="known", name="Known", contacts=["k@example.edu"])
    client = signed_in(alice)
    # The empty Canvas address leaves the one on file.
    response = upload(
        client, HEADER + "New One,new-one,,,n@example.edu\nKnown Renamed,known,,,k@example.edu;k2@example.edu\n"
    )
    assert response.status_code == 302
    preview_url = response.url
    preview = client.get(preview_url)
    html = preview.content.decode()
    assert (
        "1</strong> new institution" in html and "1</strong> updated" in html and "2</strong> contacts to add" in html
    )
    assert "new-one" in html and "<td>name, contacts</td>" in html
    assert not Institution.objects.filter(slug="new-one").exists(), "nothing is written before confirmation"

    done = client.post(preview_url)
    assert done.status_code == 302 and done.url == "/admin/keys/institution/"
    known = Institution.objects.get(slug="known")
    assert (known.name, known.canvas_url) == ("Known Renamed", "https://known.instructure.com")
    assert Institution.objects.filter(slug="new-one").exists() and AdminContact.objects.count() == 3
    event = AuditEvent.objects.get(action=AuditEvent.Action.IMPORT)
    assert event.actor == "alice" and "1 new, 1 updated" in event.detail
    # Each institution the file changed says how, as a change on its page would.
    changes = {
        e.institution.slug: (e.actor, e.reason, e.detail)
        for e in AuditEvent.objects.filter(action=AuditEvent.Action.INSTITUTION_CHANGED)
    }
    assert changes == {
        "new-one": (
            "alice",
            "import of institutions.csv",
            "created: name 'New One', slug 'new-one'; contacts: added n@example.edu",
        ),
        "known": (
            "alice",
            "import of institutions.csv",
            "name 'Known' → 'Known Renamed'; contacts: added k2@example.edu",
        ),
    }

    again = client.post(preview_url)  # a double click, or a second tab
    assert again.status_code == 302
    assert AuditEvent.objects.filter(action=AuditEvent.Action.IMPORT).count() == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.INSTITUTION_CHANGED).count() == 2
    assert Institution.objects.count() == 2 and AdminContact.objects.count() == 3


def test_bad_rows_are_listed_by_line_and_nothing_is_stored(alice):
    text = HEADER + "Good,good,,,g@example.edu\nBad Zone,bad,,Mars/Base,b@example.edu\nNo Contact,none,,,\n"
    response = upload(signed_in(alice), text)
    assert response.status_code == 400
    html = response.content.decode()
    assert "nothing was imported" in html
    assert "<td>3</td><td>unknown time zone &#x27;Mars/Base&#x27;" in html
    assert "<td>4</td><td>no contact" in html
    assert not Institution.objects.exists() and not InstitutionImport.objects.exists()


@pytest.mark.parametrize("data", [b"", b"not,a,header\n", b"\xff\xfe\x00n\x00a"])
def test_a_file_that_is_not_an_institutions_csv_gets_a_clear_error(alice, data):
    response = signed_in(alice).post(IMPORT, {"file": SimpleUploadedFile("x.csv", data or b" ")})
    assert response.status_code == 400
    assert b'class="errornote"' in response.content
    assert not InstitutionImport.objects.exists()


def test_view_only_staff_can_neither_import_nor_export(bob):
    client = signed_in(bob)
    assert client.get(IMPORT).status_code == 403
    assert upload(client, HEADER + "A,a,,,a@example.edu\n").status_code == 403
    assert b"Import CSV" not in client.get("/admin/keys/institution/").content
    assert client.get("/admin/keys/institution/export.csv").status_code == 403


def test_an_exporter_exports_in_the_format_the_import_reads(exporter):
    client = signed_in(exporter)
    assert client.get(IMPORT).status_code == 403  # exporting is not importing
    InstitutionFactory(slug="a", contacts=["a@example.edu"])
    export = client.get("/admin/keys/institution/export.csv")
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    assert export.content.decode().splitlines() == [
        "name,slug,canvas_url,time_zone,contacts",
        f"{Institution.objects.get().name},a,https://a.instructure.com,,a@example.edu",
    ]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT_LIST, actor="bob").exists()


def test_the_sample_file_is_offered_for_download(alice):
    response = signed_in(alice).get("/admin/keys/institution/sample.csv")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(HEADER.encode())


def test_the_list_offers_import_and_export(alice):
    html = signed_in(alice).get("/admin/keys/institution/").content.decode()
    assert 'href="/admin/keys/institution/import/"' in html and 'href="/admin/keys/institution/export.csv"' in html
