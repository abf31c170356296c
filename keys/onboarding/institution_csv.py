"""Institutions and their admin contacts as a spreadsheet: import (idempotent by slug) and export.

The file has a header row ``name,slug,canvas_url,time_zone,contacts``; ``contacts`` holds one or
more addresses separated by ``;``. Rules:
- Every bad row is reported with its line number as a spreadsheet shows it (the header is line 1)
  and the reason; if any row is bad, nothing is imported.
- A slug already on file updates that institution (name, Canvas address, time zone) and adds the
  contacts it does not have yet; an import never duplicates an institution or a contact, and never
  removes a contact (a contact may have confirmed keys: remove addresses on the institution's page).
  An empty canvas_url, time_zone or contacts cell leaves what is on file for an existing
  institution; a new institution needs at least one contact.
- An empty slug is made from the name, as `add_institution` does.
- The whole file is applied in one transaction with a handful of set-wise queries, so thousands of
  rows take seconds.
- Each institution the import creates or changes gets one audit event saying what changed (the
  fields before and after, the contacts added), written in batches with the rest; the file as a
  whole gets one more, with its counts. Institutions and addresses only: nothing in it is secret.
"""

import csv
import datetime
import io
import zoneinfo
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email, validate_slug
from django.db import transaction
from django.utils.text import slugify

from keys import audit, spreadsheet
from keys.models import AdminContact, Institution

HEADER = ["name", "slug", "canvas_url", "time_zone", "contacts"]
MAX_ROWS = 20_000
MAX_BYTES = 10 * 1024 * 1024
NAME_LENGTH = Institution._meta.get_field("name").max_length
SLUG_LENGTH = Institution._meta.get_field("slug").max_length
URL_LENGTH = Institution._meta.get_field("canvas_url").max_length
EMAIL_LENGTH = AdminContact._meta.get_field("email").max_length


class FileRefused(Exception):
    """The file as a whole cannot be read (not CSV, not UTF-8, wrong header, too large)."""


@dataclass(frozen=True)
class Row:
    line: int
    name: str
    slug: str
    canvas_url: str
    time_zone: str
    contacts: tuple[str, ...]


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class Plan:
    """What importing a file would do, worked out against the database as it is now."""

    rows: list[Row] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    new: list[Row] = field(default_factory=list)
    changed: list[tuple[Row, list[str]]] = field(default_factory=list)  # (row, the fields it changes)
    unchanged: int = 0
    contacts_to_add: int = 0
    contacts_kept: int = 0  # on file but not in the file: an import leaves them
    adds: dict[str, tuple[str, ...]] = field(default_factory=dict)  # slug -> the addresses it adds

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (
            f"{len(self.new)} new, {len(self.changed)} updated, {self.unchanged} unchanged institution(s); "
            f"{self.contacts_to_add} contact(s) to add"
        )


@lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    # available_timezones() walks the time zone database on every call: once per import is enough.
    return frozenset(zoneinfo.available_timezones())


def decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise FileRefused(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    if b"\x00" in data:
        raise FileRefused(
            "That is not a CSV file (it contains binary data). Save it from your spreadsheet as CSV UTF-8."
        )
    try:
        return data.decode("utf-8-sig")  # spreadsheets often start a UTF-8 file with a byte-order mark
    except UnicodeDecodeError as error:
        raise FileRefused(
            "The file is not UTF-8 text. In your spreadsheet, save it as “CSV UTF-8 (comma delimited)”."
        ) from error


def read(text: str) -> Plan:
    """Parse and check every row, then compare with what is on file. Nothing is written."""
    plan = Plan()
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise FileRefused("The file is empty. The first line must be the header: " + ",".join(HEADER) + ".")
        if [cell.strip().lower() for cell in header] != HEADER:
            raise FileRefused(
                "The first line must be exactly the header " + ",".join(HEADER) + f" (it is {','.join(header)[:200]})."
            )
        seen: dict[str, int] = {}
        # A spreadsheet numbers rows, not physical lines: a quoted cell with a line break is still one row.
        for line, cells in enumerate(reader, start=2):
            if line > MAX_ROWS + 1:
                raise FileRefused(f"The file has more than {MAX_ROWS:,} rows; split it into smaller files.")
            if not any(cell.strip() for cell in cells):
                continue  # an empty row, as spreadsheets leave at the end
            row, reasons = check_row(line, cells)
            if row is not None and row.slug in seen:
                reasons.append(f"the slug {row.slug} is already on line {seen[row.slug]}")
            if reasons:
                plan.errors.append(RowError(line, "; ".join(reasons)))
            else:
                seen[row.slug] = line
                plan.rows.append(row)
    except csv.Error as error:
        raise FileRefused(f"The file is not valid CSV near line {reader.line_num}: {error}.") from error
    if not plan.rows and not plan.errors:
        raise FileRefused("The file has a header but no institutions.")
    compare(plan)
    plan.errors.sort(key=lambda error: error.line)
    return plan


def check_row(line: int, cells: list[str]) -> tuple[Row | None, list[str]]:
    reasons = []
    if len(cells) > len(HEADER) and any(cell.strip() for cell in cells[len(HEADER) :]):
        return None, [f"it has {len(cells)} columns; the header has {len(HEADER)} (a comma inside a name needs quotes)"]
    cells = [cell.strip() for cell in cells] + [""] * (len(HEADER) - len(cells))
    name, slug, canvas_url, time_zone, contacts = (spreadsheet.restore(cell) for cell in cells[: len(HEADER)])

    if not name:
        reasons.append("the name is empty")
    elif len(name) > NAME_LENGTH:
        reasons.append(f"the name is longer than {NAME_LENGTH} characters")
    slug = slug or slugify(name)
    if not slug:
        reasons.append("the slug is empty and cannot be made from the name")
    elif len(slug) > SLUG_LENGTH:
        reasons.append(f"the slug is longer than {SLUG_LENGTH} characters")
    else:
        try:
            validate_slug(slug)
        except ValidationError:
            reasons.append(f"the slug {slug!r} may use only letters, digits, hyphens and underscores")

    canvas_url, problem = clean_canvas_url(canvas_url)
    if problem:
        reasons.append(problem)
    if time_zone and time_zone not in time_zones():
        reasons.append(f"unknown time zone {time_zone!r} (use a name such as America/Chicago)")

    addresses, problems = clean_contacts(contacts)
    reasons.extend(problems)
    if any("\x00" in value for value in cells):
        reasons.append("it contains a NUL character")
    if reasons:
        return Row(line, name, slug, canvas_url, time_zone, ()), reasons
    return Row(line, name, slug, canvas_url, time_zone, addresses), []


_url_validator = URLValidator(schemes=["https"])


def clean_canvas_url(value: str) -> tuple[str, str]:
    """The institution's Canvas as https://host, or a reason. A bare host name is taken as https."""
    if not value:
        return "", ""
    candidate = value if "://" in value else f"https://{value}"
    parts = urlsplit(candidate)
    try:
        _url_validator(candidate)
    except ValidationError:
        return "", f"the Canvas address {value!r} is not an https address such as https://example.instructure.com"
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return "", f"the Canvas address {value!r} should be just the site, such as https://example.instructure.com"
    url = f"https://{parts.netloc.lower()}"
    if len(url) > URL_LENGTH:
        return "", f"the Canvas address is longer than {URL_LENGTH} characters"
    return url, ""


NO_CONTACT = "no contact: a new institution needs at least one admin address (codes go only to addresses on file)"


def clean_contacts(value: str) -> tuple[tuple[str, ...], list[str]]:
    if "," in value:
        return (), ["separate the contacts with ; not ,"]
    addresses, reasons = [], []
    for raw in value.split(";"):
        address = raw.strip().lower()
        if not address:
            continue
        try:
            if len(address) > EMAIL_LENGTH:
                raise ValidationError("too long")
            validate_email(address)
        except ValidationError:
            reasons.append(f"{raw.strip()!r} is not an email address")
            continue
        if address not in addresses:
            addresses.append(address)
    return tuple(addresses), reasons


def compare(plan: Plan) -> None:
    """Sort the rows into new, changed and unchanged, and count the contacts to add."""
    existing = {
        institution.slug: institution
        for institution in Institution.objects.filter(slug__in=[row.slug for row in plan.rows]).only(
            "pk", "slug", "name", "canvas_url", "time_zone"
        )
    }
    on_file: dict[int, set[str]] = {}
    for institution_id, email in AdminContact.objects.filter(
        institution_id__in=[i.pk for i in existing.values()]
    ).values_list("institution_id", "email"):
        on_file.setdefault(institution_id, set()).add(email)
    for row in plan.rows:
        institution = existing.get(row.slug)
        if institution is None and not row.contacts:
            plan.errors.append(RowError(row.line, NO_CONTACT))
            continue
        if institution is None:
            plan.new.append(row)
            plan.contacts_to_add += len(row.contacts)
            plan.adds[row.slug] = row.contacts
            continue
        # An empty optional cell leaves what is on file: a short file never wipes what staff entered.
        changes = [
            name
            for name in ("name", "canvas_url", "time_zone")
            if getattr(row, name) and getattr(institution, name) != getattr(row, name)
        ]
        emails = on_file.get(institution.pk, set())
        added = [address for address in row.contacts if address not in emails]
        plan.contacts_to_add += len(added)
        plan.contacts_kept += len(emails - set(row.contacts))
        if added:
            changes.append("contacts")
            plan.adds[row.slug] = tuple(added)
        if changes:
            plan.changed.append((row, changes))
        else:
            plan.unchanged += 1


@dataclass(frozen=True)
class Applied:
    created: int
    updated: int
    unchanged: int
    contacts_added: int

    def __str__(self) -> str:
        return (
            f"{self.created} new, {self.updated} updated, {self.unchanged} unchanged institution(s); "
            f"{self.contacts_added} contact(s) added"
        )


def apply(plan: Plan, now: datetime.datetime, *, actor: str, ip: str | None = None, filename: str = "") -> Applied:
    """Write the plan in one transaction, with its audit events. Compared again inside it, so a plan
    made a while ago (the admin's preview) applies to the database as it is at confirmation."""
    if not plan.ok:
        raise ValueError("A plan with bad rows is never applied.")
    with transaction.atomic():
        fresh = Plan(rows=plan.rows)
        compare(fresh)
        if not fresh.ok:
            raise ValueError("; ".join(map(str, fresh.errors)))
        Institution.objects.bulk_create(
            [
                Institution(
                    name=row.name, slug=row.slug, canvas_url=row.canvas_url, time_zone=row.time_zone, created_at=now
                )
                for row in fresh.new
            ],
            batch_size=500,
        )
        by_slug = {
            institution.slug: institution
            for institution in Institution.objects.filter(slug__in=[row.slug for row in fresh.rows]).only(
                "pk", "slug", "name", "canvas_url", "time_zone"
            )
        }
        trail = _Trail(actor=actor, ip=ip, at=now, reason=f"import of {filename}" if filename else "import")
        for row in fresh.new:
            trail.note(by_slug[row.slug], None, fresh.adds[row.slug])
        changed = []
        for row, fields in fresh.changed:
            institution = by_slug[row.slug]
            before = _fields(institution)
            if set(fields) - {"contacts"}:
                for name in fields:
                    if name != "contacts":
                        setattr(institution, name, getattr(row, name))
                changed.append(institution)
            trail.note(institution, before, fresh.adds.get(row.slug, ()))
        Institution.objects.bulk_update(changed, ["name", "canvas_url", "time_zone"], batch_size=500)
        contacts = [
            AdminContact(institution_id=by_slug[row.slug].pk, email=address, created_at=now)
            for row in fresh.rows
            for address in row.contacts
        ]
        # Contacts already on file are skipped by the (institution, email) constraint.
        before = AdminContact.objects.filter(institution_id__in=[i.pk for i in by_slug.values()]).count()
        AdminContact.objects.bulk_create(contacts, ignore_conflicts=True, batch_size=500)
        after = AdminContact.objects.filter(institution_id__in=[i.pk for i in by_slug.values()]).count()
        applied = Applied(len(fresh.new), len(fresh.changed), fresh.unchanged, after - before)
        trail.events.append(
            audit.event(audit.Action.IMPORT, actor=actor, ip=ip, at=now, detail=f"{filename or 'file'}: {applied}")
        )
        audit.record_all(trail.events)
    return applied


def _fields(institution: Institution) -> dict[str, str]:
    return {name: getattr(institution, name) for name in audit.INSTITUTION_FIELDS}


@dataclass
class _Trail:
    """The import's audit events, collected to be written in batches (one INSERT per row would make
    a 5,000-row file take thousands of queries)."""

    actor: str
    ip: str | None
    at: datetime.datetime
    reason: str
    events: list = field(default_factory=list)

    def note(self, institution: Institution, before: dict | None, added: tuple[str, ...]) -> None:
        """One event per institution: created or which fields changed, and the contacts it added
        (an import never removes or renames one)."""
        was = None if before is None else {"fields": before, "contacts": {}}
        changes = audit.institution_changes(was, {"fields": _fields(institution), "contacts": dict.fromkeys(added, "")})
        if not changes:
            return
        action, detail = changes[0]  # the institution's own change if any, else its contacts'
        if len(changes) > 1:
            detail += "; contacts: " + changes[1][1]
        self.events.append(
            audit.event(
                action,
                actor=self.actor,
                institution=institution,
                ip=self.ip,
                at=self.at,
                reason=self.reason,
                detail=detail,
            )
        )


def export_rows(institutions=None):
    """The header, then one row per institution, contacts joined with ';': the import's own format."""
    institutions = (institutions if institutions is not None else Institution.objects.all()).order_by("slug")
    yield HEADER
    contacts: dict[int, list[str]] = {}
    for institution_id, email in (
        AdminContact.objects.filter(institution__in=institutions)
        .order_by("email")
        .values_list("institution_id", "email")
    ):
        contacts.setdefault(institution_id, []).append(email)
    for institution in institutions.only("pk", "name", "slug", "canvas_url", "time_zone").iterator(chunk_size=2000):
        yield [
            institution.name,
            institution.slug,
            institution.canvas_url,
            institution.time_zone,
            ";".join(contacts.get(institution.pk, [])),
        ]


def export_text(institutions=None) -> str:
    out = io.StringIO()
    writer = spreadsheet.writer(out, lineterminator="\n")
    writer.writerows(export_rows(institutions))
    return out.getvalue()
