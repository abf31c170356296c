"""How the reminder sweep's cost grows: with the reminders due, not with the credentials tracked.

Seeds two databases, 10,000 credentials (the baseline) and 1,000,000 (bulk insert, one shared
ciphertext), each with its planned reminders, then times the sweep with 0 and with 1,000
reminders due in rounds that alternate between the two, so the machine's noise falls on both
alike. Prints query counts, median times and the ratio against the baseline.

    .venv/bin/python bench/bench_reminder_sweep.py [--large 1000000] [--small 10000] [--due 1000] [--rounds 7]

SQLite in a temporary folder by default; with DATABASE_URL set to PostgreSQL it creates two\nbenchmark databases beside the named one (the role needs CREATEDB).
"""

import argparse
import datetime
import statistics
import sys
import time

from bootstrap import start_django

start_django("keydrop-bench-")

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from keys import kinds, reminders  # noqa: E402
from keys.models import AdminContact, Credential, Institution, ReminderNotice  # noqa: E402
from keys.sealing import Sealed  # noqa: E402

NOW = timezone.now().replace(microsecond=0)
CHUNK = 20_000
PER_INSTITUTION = 200


def seed(start: int, stop: int, secret: Sealed) -> None:
    """Credentials start..stop-1, expiring 40 to 400 days from now, each with its reminders."""
    offsets = [*settings.PORTAL_REMINDER_OFFSETS_DAYS, ReminderNotice.LAPSE]
    for low in range(start, stop, CHUNK):
        high = min(stop, low + CHUNK)
        first_inst, last_inst = low // PER_INSTITUTION, (high - 1) // PER_INSTITUTION
        Institution.objects.bulk_create(
            [
                Institution(name=f"Institution {i}", slug=f"inst-{i}", intake_token=f"token-{i}")
                for i in range(first_inst, last_inst + 1)
            ],
            ignore_conflicts=True,
        )
        institution_ids = dict(
            Institution.objects.filter(slug__in=[f"inst-{i}" for i in range(first_inst, last_inst + 1)]).values_list(
                "slug", "pk"
            )
        )
        AdminContact.objects.bulk_create(
            [AdminContact(institution_id=pk, email=f"admin@{slug}.edu") for slug, pk in institution_ids.items()],
            ignore_conflicts=True,
        )
        credentials = [
            Credential(
                institution_id=institution_ids[f"inst-{n // PER_INSTITUTION}"],
                kind=kinds.DAP.slug,
                client_id=f"us-east-1#00000000-0000-4000-8000-{n:012d}",
                secret=secret,
                key_type=kinds.KeyType.INSTITUTIONAL,
                lifetime="1y",
                status=Credential.Status.ACTIVE,
                submitted_at=NOW,
                verified_at=NOW,
                expires_at=NOW + datetime.timedelta(days=40 + n % 360),
            )
            for n in range(low, high)
        ]
        Credential.objects.bulk_create(credentials, batch_size=5000)
        first, last = credentials[0].client_id, credentials[-1].client_id
        for offset in offsets:
            plan_in_sql(offset, first, last)
        print(f"  seeded {high:,} credentials", file=sys.stderr, end="\r")
    print(file=sys.stderr)


def plan_in_sql(offset: int, first_client_id: str, last_client_id: str) -> None:
    """The rows ReminderNotice.objects.plan_for would make, written set-wise: seeding 7 million
    reminder objects one by one in Python would take longer than the benchmark itself."""
    due = (
        f"datetime(expires_at, '-{offset} days')"
        if connection.vendor == "sqlite"
        else f"expires_at - interval '{offset} days'"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO keys_remindernotice (credential_id, offset_days, due_at, not_before, state, state_reason,"
            " claimed_by, attempts, last_error, recipients)"
            f" SELECT id, %s, {due}, {due}, 'scheduled', '', '', 0, '', '' FROM keys_credential"
            " WHERE client_id BETWEEN %s AND %s",
            [offset, first_client_id, last_client_id],
        )


def make_due(count: int) -> list[int]:
    """Bring `count` scheduled reminders due now (the 30-day ones of the earliest expiring keys)."""
    pks = list(
        ReminderNotice.objects.filter(offset_days=30, state="scheduled")
        .order_by("pk")
        .values_list("pk", flat=True)[:count]
    )
    ReminderNotice.objects.filter(pk__in=pks).update(
        not_before=NOW - datetime.timedelta(minutes=1), due_at=NOW - datetime.timedelta(minutes=1)
    )
    return pks


def undo(pks: list[int]) -> None:
    ReminderNotice.objects.filter(pk__in=pks).update(
        state="scheduled",
        sent_at=None,
        recipients="",
        attempts=0,
        claimed_by="",
        claimed_until=None,
        not_before=NOW + datetime.timedelta(days=3650),
        due_at=NOW + datetime.timedelta(days=3650),
    )


def use_database(name: str) -> None:
    """Point the default connection at one of the two benchmark databases."""
    connection.close()
    connection.settings_dict["NAME"] = name


def sample(due: int) -> tuple[int, int, float, int]:
    """One timed sweep: (queries, of which per-reminder 'sent' writes, seconds, reminders sent)."""
    pks = make_due(due) if due else []
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        report = reminders.sweep(time_budget=3600)
        seconds = time.perf_counter() - started
    undo(pks)
    marks = sum(1 for q in captured.captured_queries if q["sql"].startswith("UPDATE") and "'sent'" in q["sql"])
    return len(captured.captured_queries), marks, seconds, report.sent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PORTAL_STAFF_EMAILS = []
    secret = Sealed.seal("bench-secret")
    base = connection.settings_dict["NAME"]
    databases = {args.small: f"{base}-small", args.large: f"{base}-large"}
    if connection.vendor != "sqlite":
        databases = {size: f"{base}_bench_{size}" for size in databases}
        with connection.cursor() as cursor:
            for name in databases.values():
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
                cursor.execute(f'CREATE DATABASE "{name}"')
    for size, name in databases.items():
        use_database(name)
        call_command("migrate", verbosity=0)
        seed(0, size, secret)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        reminders.sweep()
        sample(args.due)  # warm up: templates compiled, caches filled
    print(f"database: {connection.vendor}; reminder offsets {settings.PORTAL_REMINDER_OFFSETS_DAYS} + lapse notice")

    # Interleaved rounds, so the machine's noise falls on baseline and large alike.
    samples = {(size, due): [] for size in databases for due in (0, args.due)}
    for _ in range(args.rounds):
        for size, name in databases.items():
            use_database(name)
            for _ in range(25):
                samples[(size, 0)].append(sample(0))
            samples[(size, args.due)].append(sample(args.due))

    print(
        f"{'credentials':>12} {'reminders':>10} {'due':>6} {'sent':>6} {'queries':>8} {'(sent writes)':>14} {'median':>10}  ratio to {args.small:,}"
    )
    medians = {key: statistics.median(s[2] for s in runs) for key, runs in samples.items()}
    for (size, due), runs in samples.items():
        queries, marks, _, sent = runs[-1]
        notices = size * (len(settings.PORTAL_REMINDER_OFFSETS_DAYS) + 1)
        ratio = medians[(size, due)] / medians[(args.small, due)]
        print(
            f"{size:>12,} {notices:>10,} {due:>6,} {sent:>6,} {queries:>8,} {marks:>14,} {medians[(size, due)] * 1000:>8.1f}ms  {ratio:.2f}x"
        )
    zero_ratio = medians[(args.large, 0)] / medians[(args.small, 0)]
    due_ratio = medians[(args.large, args.due)] / medians[(args.small, args.due)]
    print(
        f"0 due: {args.large:,} vs {args.small:,} credentials costs {zero_ratio:.2f}x (target <= 2x): {'ok' if zero_ratio <= 2 else 'MISSED'}"
    )
    print(f"{args.due:,} due: {args.large:,} vs {args.small:,} credentials costs {due_ratio:.2f}x")


if __name__ == "__main__":
    main()
