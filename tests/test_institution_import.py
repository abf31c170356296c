"""Importing institutions from a spreadsheet's CSV, and exporting them in the same format.

| rule | test |
| --- | --- |
| header name,slug,canvas_url,time_zone,contacts; split by ; | test_a_file_adds_institutions_with_their_contacts |
| bad rows named by spreadsheet line (header = 1), with reason | test_every_bad_row_is_named_with_its_line_and_reason |
| any bad row: nothing imported, exit 1 | test_one_bad_row_means_nothing_is_imported_and_the_command_fails |
| idempotent by slug: updates, no duplicates or removals | test_importing_again_updates_by_slug_and_duplicates_nothing |
| export in the same format | test_an_export_imports_back_unchanged |
| each new or changed institution audited (fields, contacts) | test_each_institution_an_import_changes_is_audited… |
| those events in batches, not a query per row | test_the_audit_of_a_large_import_takes_a_few_queries… |
"""

import io

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from keys.models import AdminContact, AuditEvent, Institution
from keys.onboarding import institution_csv
from tests.factories import InstitutionFactory
from tests.processes import manage

pytestmark = pytest.mark.django_db
HEADER = "name,slug,canvas_url,time_zone,contacts\n"


def plan_of(text: str) -> institution_csv.Plan:
    return institution_csv.read(text)


def import_text(text: str):
    plan = plan_of(text)
    assert plan.ok, plan.errors
    return institution_csv.apply(plan, timezone.now(), actor="alice", filename="institutions.csv")


def run_command(tmp_path, text: str, *args):
    path = tmp_path / "institutions.csv"
    path.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    call_command("import_institutions", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_file_adds_institutions_with_their_contacts():
    applied = import_text(
        HEADER
        + "Example University,example-u,https://example.instructure.com,America/Chicago,"
        + "Admin@Example.edu; it@example.edu\n"
        + '"Northfield College, Main Campus",,northfield.instructure.com,,lms@northfield.edu\n'
    )
    assert (applied.created, applied.updated, applied.contacts_added) == (2, 0, 3)
    example = Institution.objects.get(slug="example-u")
    assert (example.name, example.canvas_url, example.time_zone) == (
        "Example University",
        "https://example.instructure.com",
        "America/Chicago",
    )
    assert sorted(example.contacts.values_list("email", flat=True)) == ["admin@example.edu", "it@example.edu"]
    northfield = Institution.objects.get(name="Northfield College, Main Campus")
    assert northfield.slug == "northfield-college-main-campus"  # made from the name, as add_institution does
    assert northfield.canvas_url == "https://northfield.instructure.com"
    assert northfield.intake_token and northfield.intake_token != example.intake_token


@pytest.mark.parametrize(
    "row, reason",
    [
        (",x,,,a@example.edu", "the name is empty"),
        ("X,bad slug!,,,a@example.edu", "may use only letters, digits, hyphens and underscores"),
        ("X,x,http://x.instructure.com,,a@example.edu", "not an https address"),
        ("X,x,https://x.instructure.com/courses/1,,a@example.edu", "should be just the site"),
        ("X,x,,Mars/Olympus,a@example.edu", "unknown time zone 'Mars/Olympus'"),
        ("X,x,,,not-an-address", "'not-an-address' is not an email address"),
        ("X,x,,,a@example.edu,b@example.edu", "6 columns"),
        ('X,x,,,"a@example.edu,b@example.edu"', "separate the contacts with ; not ,"),
        ("X,x,,,", "a new institution needs at least one admin address"),
        ("X," + "s" * 81 + ",,,a@example.edu", "longer than 80 characters"),
        ("X,x,,,\x00@example.edu", "NUL"),
    ],
)
def test_every_bad_row_is_named_with_its_line_and_reason(row, reason):
    plan = plan_of(HEADER + "Good,good,,,ok@example.edu\n" + row + "\n")
    assert not plan.ok
    assert [error.line for error in plan.errors] == [3]
    assert reason in plan.errors[0].reason


def test_line_numbers_are_the_spreadsheets_even_with_line_breaks_in_cells_and_empty_rows():
    text = HEADER + '"Two\nLines",two,,,a@example.edu\n\n,,,,\nBad,bad slug,,,a@example.edu\n'
    plan = plan_of(text)
    # Row 2 spans two physical lines; rows 3 and 4 are empty; the bad one is row 5 in a spreadsheet.
    assert [str(error) for error in plan.errors] == [
        "line 5: the slug 'bad slug' may use only letters, digits, hyphens and underscores"
    ]


def test_a_slug_twice_in_one_file_is_a_bad_row():
    plan = plan_of(HEADER + "A,same,,,a@example.edu\nB,same,,,b@example.edu\n")
    assert [str(error) for error in plan.errors] == ["line 3: the slug same is already on line 2"]


def test_one_bad_row_means_nothing_is_imported_and_the_command_fails(tmp_path):
    rows = [f"Institution {n},inst-{n},,,admin@inst-{n}.edu" for n in range(1, 11)]
    rows[3] = "Institution 4,inst-4,,Nowhere/City,admin@inst-4.edu"  # line 5
    rows[8] = "Institution 9,inst-9,,,nobody"  # line 10
    with pytest.raises(CommandError, match="Nothing imported: 2 bad row") as raised:
        run_command(tmp_path, HEADER + "\n".join(rows) + "\n")
    assert raised.value.returncode == 1
    assert not Institution.objects.exists() and not AdminContact.objects.exists()


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_as_a_process_it_lists_each_bad_line_on_stderr_and_exits_non_zero(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "Good,good,,,a@example.edu\nBad,,,,\n,x,,,b@example.edu\n", encoding="utf-8")
    child = manage("import_institutions", str(path))
    out, err = child.communicate(timeout=120)
    assert child.returncode == 1, err
    assert out == ""
    assert "line 3: no contact" in err and "line 4: the name is empty" in err
    assert "Nothing imported: 2 bad row(s)" in err
    assert not Institution.objects.exists()


def test_importing_again_updates_by_slug_and_duplicates_nothing(tmp_path):
    first = HEADER + "Example,example-u,,,a@example.edu\nOther,other,,,o@example.edu\n"
    run_command(tmp_path, first)
    tokens = dict(Institution.objects.values_list("slug", "intake_token"))
    out, _ = run_command(tmp_path, first)
    assert "0 new, 0 updated, 2 unchanged institution(s); 0 contact(s) added" in out
    changed = (
        HEADER
        + "Example University,example-u,https://example.instructure.com,Europe/London,b@example.edu;a@example.edu\n"
    )
    out, _ = run_command(tmp_path, changed)
    assert "0 new, 1 updated, 0 unchanged institution(s); 1 contact(s) added" in out
    example = Institution.objects.get(slug="example-u")
    assert (example.name, example.time_zone) == ("Example University", "Europe/London")
    # Contacts are added, never removed; nothing is duplicated; the intake links stay the same.
    assert sorted(example.contacts.values_list("email", flat=True)) == ["a@example.edu", "b@example.edu"]
    assert Institution.objects.count() == 2 and AdminContact.objects.count() == 3
    assert dict(Institution.objects.values_list("slug", "intake_token")) == tokens


def test_an_existing_institution_may_leave_its_contacts_empty():
    InstitutionFactory(slug="known", contacts=["k@example.edu"])
    applied = import_text(HEADER + "Known Again,known,,,\n")
    assert (applied.updated, applied.contacts_added) == (1, 0)
    assert list(Institution.objects.get(slug="known").contacts.values_list("email", flat=True)) == ["k@example.edu"]


def test_dry_run_writes_nothing(tmp_path):
    out, _ = run_command(tmp_path, HEADER + "A,a,,,a@example.edu\n", "--dry-run")
    assert "Would import: 1 new" in out
    assert not Institution.objects.exists()


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"name,slug,contacts\nA,a,a@example.edu\n", "must be exactly the header"),
        (HEADER.encode(), "no institutions"),
        ("Université,u,,,a@example.edu\n".encode("latin-1"), "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary data"),
    ],
)
def test_a_file_that_is_not_an_institutions_csv_is_refused_as_a_whole(tmp_path, data, message):
    path = tmp_path / "file.csv"
    path.write_bytes(data if data.startswith(b"name") or not data or b"\x00" in data else HEADER.encode() + data)
    with pytest.raises(CommandError, match=message):
        call_command("import_institutions", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert not Institution.objects.exists()


def test_a_spreadsheets_byte_order_mark_is_fine(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "Université,u,,,a@example.edu\n").encode())
    call_command("import_institutions", str(path), stdout=io.StringIO())
    assert Institution.objects.get(slug="u").name == "Université"


def test_each_import_is_audited(tmp_path):
    run_command(tmp_path, HEADER + "A,a,,,a@example.edu\n")
    event = AuditEvent.objects.get(action=AuditEvent.Action.IMPORT)
    assert event.actor.startswith("cli:") and "institutions.csv: 1 new" in event.detail


def institution_events(slug: str) -> list[tuple[str, str]]:
    return [
        (event.action, event.detail) for event in AuditEvent.objects.filter(institution__slug=slug).order_by("at", "pk")
    ]


def test_each_institution_an_import_changes_is_audited_with_what_changed(tmp_path):
    InstitutionFactory(slug="known", name="Known", canvas_url="", contacts=["k@example.edu"])
    run_command(tmp_path, HEADER + "New One,new-one,new.instructure.com,,n@example.edu;m@example.edu\n")
    Action = AuditEvent.Action
    (created,) = AuditEvent.objects.filter(action=Action.INSTITUTION_CHANGED)
    assert created.institution.slug == "new-one" and created.actor.startswith("cli:")
    assert created.reason == "import of institutions.csv"
    assert created.detail == (
        "created: name 'New One', slug 'new-one', canvas_url 'https://new.instructure.com'; "
        "contacts: added m@example.edu; added n@example.edu"
    )
    run_command(tmp_path, HEADER + "Known,known,,,k@example.edu\n")  # nothing changes: nothing to record
    assert institution_events("known") == []
    run_command(tmp_path, HEADER + "Known,known,,,k@example.edu;k2@example.edu\n")
    assert institution_events("known") == [(Action.CONTACTS_CHANGED, "added k2@example.edu")]
    run_command(tmp_path, HEADER + "Known University,known,,Europe/London,k3@example.edu\n")
    assert institution_events("known")[1:] == [
        (
            Action.INSTITUTION_CHANGED,
            "name 'Known' → 'Known University'; time_zone '' → 'Europe/London'; contacts: added k3@example.edu",
        )
    ]
    # And one event per file, with its counts.
    assert AuditEvent.objects.filter(action=Action.IMPORT).count() == 4


def test_the_audit_of_a_large_import_takes_a_few_queries_not_one_per_row():
    rows = 600
    plan = plan_of(HEADER + "".join(f"Inst {n},inst-{n},,,a@inst-{n}.edu\n" for n in range(rows)))
    with CaptureQueriesContext(connection) as captured:
        institution_csv.apply(plan, timezone.now(), actor="alice")
    assert AuditEvent.objects.filter(action=AuditEvent.Action.INSTITUTION_CHANGED).count() == rows
    assert AuditEvent.objects.filter(institution__slug="inst-599", detail__contains="added a@inst-599.edu").exists()
    # Institutions, contacts and events in batches (of 111 to 500 rows): well under one query per 20 rows.
    assert len(captured) <= rows / 20


def test_the_sample_file_imports_cleanly(tmp_path):
    call_command(
        "import_institutions", str(settings.BASE_DIR / "deploy" / "institutions.sample.csv"), stdout=io.StringIO()
    )
    assert Institution.objects.count() == 4
    assert Institution.objects.filter(slug="northfield", canvas_url="https://northfield.instructure.com").exists()


def test_an_export_imports_back_unchanged(tmp_path):
    InstitutionFactory(
        name="=HYPERLINK(evil)", slug="formula", contacts=["b@example.edu", "a@example.edu"], time_zone="Asia/Tokyo"
    )
    InstitutionFactory(name="Plain, with comma", slug="plain", canvas_url="", contacts=["p@example.edu"])
    out = io.StringIO()
    call_command("export_institutions", stdout=out)
    exported = out.getvalue()
    lines = exported.splitlines()
    assert lines[0] == "name,slug,canvas_url,time_zone,contacts"
    # A name a spreadsheet would run as a formula is written quoted, and read back as it was.
    assert (
        lines[1] == "'=HYPERLINK(evil),formula,https://formula.instructure.com,Asia/Tokyo,a@example.edu;b@example.edu"
    )
    assert lines[2] == '"Plain, with comma",plain,,,p@example.edu'
    plan = plan_of(exported)
    assert plan.ok and plan.unchanged == 2 and not plan.new and not plan.changed
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT_LIST).count() == 1


def test_a_row_added_by_someone_else_meanwhile_is_updated_not_duplicated():
    plan = plan_of(HEADER + "A,a,,,a@example.edu\n")
    assert [row.slug for row in plan.new] == ["a"]
    InstitutionFactory(slug="a", name="Old name", contacts=[])  # created between preview and confirmation
    applied = institution_csv.apply(plan, timezone.now(), actor="alice")
    assert (applied.created, applied.updated) == (0, 1)
    assert Institution.objects.get(slug="a").name == "A"
