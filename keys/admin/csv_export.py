"""The credential list as a spreadsheet: the rows staff chose, streamed, and nothing secret.

A masked Client ID is the most a row says about a key. Every cell goes through keys.spreadsheet:
some hold what a customer typed (the institution's name, the address that verified).
"""

import datetime

from django.http import StreamingHttpResponse
from django.utils import timezone

from keys import spreadsheet
from keys.models import Credential

COLUMNS = [
    "Institution",
    "Institution slug",
    "Kind",
    "Client ID (masked)",
    "Status",
    "Key type",
    "Expires on",
    "Days left",
    "Last reminder sent",
    "Verified at",
    "Verified by",
]


class Echo:
    """A file-like object for csv.writer that hands each line back for streaming."""

    def write(self, value):
        return value


def row(credential: Credential, now: datetime.datetime) -> list:
    """One credential's cells; ``last_reminder_at`` is annotated by the admin's list query."""
    last_reminder = credential.last_reminder_at
    return [
        credential.institution.name,
        credential.institution.slug,
        credential.kind_spec.label,
        credential.masked_client_id,
        credential.get_status_display(),
        credential.get_key_type_display(),
        credential.expires_on().isoformat() if credential.expires_at else "",
        credential.countdown(now),  # as the list shows it: none for a key Canvas rejected
        timezone.localtime(last_reminder).isoformat() if last_reminder else "",
        timezone.localtime(credential.verified_at).isoformat() if credential.verified_at else "",
        credential.verified_email,
    ]


def lines(queryset, now: datetime.datetime):
    writer = spreadsheet.writer(Echo())
    yield writer.writerow(COLUMNS)
    for credential in queryset.iterator(chunk_size=2000):
        yield writer.writerow(row(credential, now))


def response(queryset, now: datetime.datetime) -> StreamingHttpResponse:
    """A download of every row of ``queryset``, named after the time it was taken."""
    download = StreamingHttpResponse(lines(queryset, now), content_type="text/csv; charset=utf-8")
    filename = f"keydrop-credentials-{timezone.localtime(now):%Y%m%d-%H%M}.csv"
    download["Content-Disposition"] = f'attachment; filename="{filename}"'
    return download
