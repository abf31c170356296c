"""How the every-minute check sweep's cost grows: with the keys due, not with the keys kept.

Seeds two databases, 10,000 credentials (the baseline) and 200,000 (bulk insert, one shared
ciphertext): usable keys with their slots spread over the next day, as many expired and revoked
ones that still carry an old check time, and a few usable ones from before live checks (no slot
yet). Then times the idle sweep (nothing due: what runs 1,440 times a day) and a sweep with keys
due against a loopback fake of Instructure's login, in rounds that alternate between the two
databases so the machine's noise falls on both alike. Prints query counts, median times and the
ratio against the baseline.

    .venv/bin/python bench/bench_check_sweep.py [--large 200000] [--small 10000] [--due 20] [--rounds 7]

SQLite in a temporary folder by default; with DATABASE_URL set to PostgreSQL it creates two
benchmark databases beside the named one (the role needs CREATEDB).
"""

import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

from bootstrap import start_django

start_django("keydrop-bench-")

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from keys import kinds  # noqa: E402
from keys.checks import live_checks  # noqa: E402
from keys.models import Credential, Institution  # noqa: E402
from keys.sealing import Sealed  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fakes import FakeDap  # noqa: E402

NOW = timezone.now().replace(microsecond=0)
CHUNK = 20_000
PER_INSTITUTION = 200
SECRET = "bench-secret"
Status = Credential.Status


def seed(size: int, secret: Sealed) -> None:
    """`size` usable keys slotted over the next day, `size` dead ones with stale check times."""
    total = 2 * size
    for low in range(0, total, CHUNK):
        high = min(total, low + CHUNK)
        first, last = low // PER_INSTITUTION, (high - 1) // PER_INSTITUTION
        Institution.objects.bulk_create(
            [Institution(name=f"I {i}", slug=f"inst-{i}", intake_token=f"token-{i}") for i in range(first, last + 1)],
            ignore_conflicts=True,
        )
        ids = dict(
            Institution.objects.filter(slug__in=[f"inst-{i}" for i in range(first, last + 1)]).values_list("slug", "pk")
        )
        rows = []
        for n in range(low, high):
            usable = n < size
            rows.append(
                Credential(
                    institution_id=ids[f"inst-{n // PER_INSTITUTION}"],
                    kind=kinds.DAP.slug,
                    client_id=f"us-east-1#00000000-0000-4000-8000-{n:012d}",
                    secret=secret if usable else None,
                    key_type=kinds.KeyType.INSTITUTIONAL,
                    lifetime="1y",
                    status=Status.ACTIVE if usable else (Status.EXPIRED if n % 2 else Status.REVOKED),
                    submitted_at=NOW,
                    verified_at=NOW,
                    expires_at=NOW + datetime.timedelta(days=40 + n % 360),
                    # Usable keys wait for their slot in the next day; dead ones keep a time long past.
                    next_check_at=NOW + datetime.timedelta(seconds=60 + (n * 86_000 // size))
                    if usable
                    else NOW - datetime.timedelta(days=30),
                )
            )
        Credential.objects.bulk_create(rows, batch_size=5000)
        print(f"  seeded {high:,} credentials", file=sys.stderr, end="\r")
    print(file=sys.stderr)


def make_due(count: int) -> list[int]:
    active = Credential.objects.filter(status=Status.ACTIVE).order_by("next_check_at")
    pks = list(active.values_list("pk", flat=True)[:count])
    Credential.objects.filter(pk__in=pks).update(next_check_at=NOW - datetime.timedelta(seconds=1))
    return pks


def undo(pks: list[int]) -> None:
    Credential.objects.filter(pk__in=pks).update(next_check_at=NOW + datetime.timedelta(days=3650))


def use_database(name: str) -> None:
    connection.close()
    connection.settings_dict["NAME"] = name


def sample(due: int) -> tuple[int, float, int]:
    """One timed sweep: (queries, seconds, keys checked)."""
    pks = make_due(due) if due else []
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        report = live_checks.sweep(time_budget=3600)
        seconds = time.perf_counter() - started
    undo(pks)
    return len(captured.captured_queries), seconds, sum(report.outcomes.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=200_000)
    parser.add_argument("--due", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    fake = FakeDap().start()  # loopback only: the checks of due keys go here
    for n in range(args.large):
        fake.add_key(f"us-east-1#00000000-0000-4000-8000-{n:012d}", SECRET)
    settings.PORTAL_DAP_API_URL = fake.url
    settings.PORTAL_OUTBOUND_ALLOW_PRIVATE = True
    settings.PORTAL_CHECK_RATE_PER_HOST_PER_MINUTE = 1_000_000
    settings.PORTAL_STAFF_EMAILS = []
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    secret = Sealed.seal(SECRET)
    base = connection.settings_dict["NAME"]
    databases = {args.small: f"{base}-small", args.large: f"{base}-large"}
    if connection.vendor != "sqlite":
        databases = {size: f"{base}_checks_{size}" for size in databases}
        with connection.cursor() as cursor:
            for name in databases.values():
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
                cursor.execute(f'CREATE DATABASE "{name}"')
    for size, name in databases.items():
        use_database(name)
        call_command("migrate", verbosity=0)
        seed(size, secret)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        sample(args.due)  # warm up
    print(f"database: {connection.vendor}; each size has as many dead keys with stale check times")

    samples = {(size, due): [] for size in databases for due in (0, args.due)}
    for _ in range(args.rounds):
        for size, name in databases.items():
            use_database(name)
            for _ in range(25):
                samples[(size, 0)].append(sample(0))
            samples[(size, args.due)].append(sample(args.due))
    fake.stop()

    print(f"{'usable keys':>12} {'due':>5} {'checked':>8} {'queries':>8} {'median':>10}  ratio to {args.small:,}")
    medians = {key: statistics.median(s[1] for s in runs) for key, runs in samples.items()}
    for (size, due), runs in samples.items():
        queries, _, checked = runs[-1]
        ratio = medians[(size, due)] / medians[(args.small, due)]
        print(f"{size:>12,} {due:>5,} {checked:>8,} {queries:>8,} {medians[(size, due)] * 1000:>8.1f}ms  {ratio:.2f}x")
    idle = medians[(args.large, 0)] / medians[(args.small, 0)]
    verdict = "ok" if idle <= 2 else "MISSED"
    print(f"idle sweep: {args.large:,} vs {args.small:,} keys costs {idle:.2f}x (target <= 2x): {verdict}")


if __name__ == "__main__":
    main()
