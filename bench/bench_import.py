"""Importing institutions stays set-wise: 5,000 rows import in seconds, with a handful of queries.

Builds two CSV files in memory (500 and 5,000 institutions, two contacts each, every column
filled) and imports each into an empty database, then again (the idempotent re-import: nothing
new, nothing duplicated), the two sizes in alternating rounds. Prints the median time of each, its
ratio to 500 rows, and the SQL queries an import runs: they grow with batches of 500 rows, never
with rows (SQLite caps a statement at 999 parameters, so its batches are smaller). Each new row
writes an institution, its contacts and its audit event, so on SQLite that is about one query per
40 rows; the target, one per 25, still fails loudly for anything written row by row. The time
ratio sits a little above the row ratio, as index inserts cost n log n.

    .venv/bin/python bench/bench_import.py [--small 500] [--large 5000] [--rounds 5]

SQLite in a temporary folder by default; with DATABASE_URL set, the configured database (its
institutions are deleted between rounds, so point it at a scratch database).
"""

import argparse
import csv
import gc
import io
import os
import shutil
import statistics
import time

from bootstrap import start_django

OWN_DATA_DIR = start_django("keydrop-bench-import-")

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from keys.models import AdminContact, AuditEvent, Institution  # noqa: E402
from keys.onboarding import institution_csv  # noqa: E402

ZONES = ["America/Chicago", "America/New_York", "Europe/London", "Australia/Sydney", ""]


def csv_text(rows: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(institution_csv.HEADER)
    for n in range(rows):
        writer.writerow(
            [
                f"Institution {n:05d}, Main Campus",
                f"inst-{n}",
                f"inst-{n}.instructure.com",
                ZONES[n % len(ZONES)],
                f"admin@inst-{n}.example.edu;it-{n}@inst-{n}.example.edu",
            ]
        )
    return out.getvalue()


def empty() -> None:
    # The import's audit events hold on to their institutions, and Keydrop never deletes one: a
    # scratch database is emptied below the ORM (TRUNCATE on PostgreSQL, whose trigger refuses DELETE).
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table}" if connection.vendor == "postgresql" else f"DELETE FROM {table}")
    AdminContact.objects.all().delete()
    Institution.objects.all().delete()


def timed_import(text: str) -> tuple[float, institution_csv.Applied]:
    gc.collect()  # the previous round's garbage is not this one's cost
    started = time.perf_counter()
    plan = institution_csv.read(text)
    assert plan.ok, plan.errors[:3]
    applied = institution_csv.apply(plan, timezone.now(), actor="bench", filename="bench.csv")
    return time.perf_counter() - started, applied


def query_count(text: str) -> int:
    empty()
    with CaptureQueriesContext(connection) as captured:
        timed_import(text)
    return len(captured.captured_queries)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--large", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of both sizes")
    args = parser.parse_args()
    try:
        call_command("migrate", verbosity=0)
        files = {size: csv_text(size) for size in (args.small, args.large)}
        queries = {size: query_count(text) for size, text in files.items()}
        fresh = {size: [] for size in files}
        again = {size: [] for size in files}
        for _ in range(args.rounds):  # alternating, so drift in the machine's speed hits both alike
            for size, text in files.items():
                empty()
                seconds, applied = timed_import(text)
                assert applied.created == size and applied.contacts_added == 2 * size, applied
                fresh[size].append(seconds)
                seconds, applied = timed_import(text)
                assert applied.created == 0 and applied.unchanged == size and applied.contacts_added == 0, applied
                again[size].append(seconds)
                # One event per new institution, and one per file: the unchanged re-import adds only that.
                assert AuditEvent.objects.count() == size + 2
        assert Institution.objects.count() == args.large and AdminContact.objects.count() == 2 * args.large
    finally:
        connection.close()
        if OWN_DATA_DIR:
            shutil.rmtree(os.environ["PORTAL_DATA_DIR"], ignore_errors=True)

    print(f"database: {connection.vendor}; median of {args.rounds} imports, the two sizes in alternating rounds")
    print(f"{'import':<22} {'rows':>7} {'median':>9}  ratio to {args.small:,} rows")
    for label, times in (("into an empty database", fresh), ("again (idempotent)", again)):
        base = statistics.median(times[args.small])
        for size in files:
            seconds = statistics.median(times[size])
            print(f"{label:<22} {size:>7,} {seconds:>8.2f}s  {seconds / base:.2f}x")
    large = statistics.median(fresh[args.large])
    ratio = large / statistics.median(fresh[args.small])
    row_ratio = args.large / args.small
    print(
        f"SQL queries per import: {queries[args.small]} for {args.small:,} rows, "
        f"{queries[args.large]} for {args.large:,}"
    )
    verdict = "ok" if large <= 10 and ratio <= 2 * row_ratio and queries[args.large] <= args.large / 25 else "MISSED"
    print(
        f"{args.large:,} rows in {large:.2f}s, {ratio:.2f}x the time of {args.small:,} (rows grow {row_ratio:.0f}x); "
        f"targets: <= 10 s, <= {2 * row_ratio:.0f}x, at most one query per 25 rows: {verdict}"
    )
    return 0 if verdict == "ok" else 1  # `make bench` and CI read the exit status, not the words


if __name__ == "__main__":
    raise SystemExit(main())
