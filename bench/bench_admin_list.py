"""The staff credentials list stays fast and its query count flat as the credentials pile up.

Seeds one database with 1,000 credentials over 50 institutions (the baseline) and measures the
admin's credentials list; then, in the same run and database, grows it to 100,000 credentials
over 5,000 institutions and measures again. Each institution has a history of keys (superseded,
expired, the current one, the odd revoked or awaiting one) and some sent reminders, so every
column has something to show. Prints the SQL query count of each page (also for two other
list_per_page values) and the median render time with its ratio to the baseline.

    .venv/bin/python bench/bench_admin_list.py [--small 1000] [--large 100000] [--repeats 15]

SQLite in a temporary folder by default; set DATABASE_URL to measure PostgreSQL (its tables
are emptied first, so point it at a scratch database).
"""

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="keydrop-bench-admin-"))
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("SECRET_KEY", "bench-secret-key-" + "b" * 40)
os.environ.setdefault("PORTAL_ENCRYPTION_KEY", "bench-encryption-key-" + "c" * 40)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.contrib import admin  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Permission  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from keys import dashboard, kinds  # noqa: E402
from keys.models import Credential, Institution, ReminderNotice  # noqa: E402
from keys.sealing import Sealed  # noqa: E402

NOW = timezone.now().replace(microsecond=0)
PER_INSTITUTION = 20
CHUNK = 10_000
LIST = "/admin/keys/credential/"
Status = Credential.Status


def seed(start: int, stop: int, secret: Sealed) -> None:
    """Credentials start..stop-1, PER_INSTITUTION per institution, oldest first in each."""
    for low in range(start, stop, CHUNK):
        high = min(stop, low + CHUNK)
        numbers = range(low // PER_INSTITUTION, (high - 1) // PER_INSTITUTION + 1)
        Institution.objects.bulk_create(
            [Institution(name=f"Institution {i:05d}", slug=f"inst-{i}", intake_token=f"token-{i}") for i in numbers],
            ignore_conflicts=True,
        )
        ids = dict(Institution.objects.filter(slug__in=[f"inst-{i}" for i in numbers]).values_list("slug", "pk"))
        credentials = [_credential(n, ids[f"inst-{n // PER_INSTITUTION}"], secret) for n in range(low, high)]
        Credential.objects.bulk_create(credentials, batch_size=2000)
        # A sent reminder for every tenth key, so the "last reminder sent" column has work to do.
        created = Credential.objects.filter(client_id__gte=credentials[0].client_id, client_id__lte=credentials[-1].client_id)
        ReminderNotice.objects.bulk_create(
            [
                ReminderNotice(
                    credential_id=pk, offset_days=30, due_at=NOW - datetime.timedelta(days=3), not_before=NOW - datetime.timedelta(days=3),
                    state=ReminderNotice.State.SENT, sent_at=NOW - datetime.timedelta(days=3), recipients="admin@example.edu",
                )
                for pk in created.filter(pk__isnull=False).values_list("pk", flat=True)[::10]
            ],
            batch_size=2000,
        )
        print(f"  seeded {high:,} credentials", file=sys.stderr, end="\r")
    print(file=sys.stderr)


def _credential(n: int, institution_id: int, secret: Sealed) -> Credential:
    position = n % PER_INSTITUTION  # 0 is the oldest key of its institution, the last is current
    age_days = (PER_INSTITUTION - 1 - position) * 90
    verified = NOW - datetime.timedelta(days=age_days, minutes=n % 1440)
    status = Status.ACTIVE if position == PER_INSTITUTION - 1 else Status.SUPERSEDED if position >= PER_INSTITUTION - 3 else Status.EXPIRED
    if n % 97 == 0:
        status = Status.REVOKED
    if n % 211 == 0:
        status = Status.PENDING  # invisible to staff, but it is in the table
    usable = status in (Status.ACTIVE, Status.SUPERSEDED)
    return Credential(
        institution_id=institution_id,
        kind=kinds.DAP.slug,
        client_id=f"us-east-1#00000000-0000-4000-8000-{n:012d}",
        secret=secret if usable or status == Status.PENDING else None,
        key_type=kinds.KeyType.INSTITUTIONAL,
        lifetime="1y",
        status=status,
        submitted_at=verified,
        verified_at=None if status == Status.PENDING else verified,
        verified_email="admin@example.edu",
        expires_at=verified + datetime.timedelta(days=365),
        secret_purged_at=None if usable or status == Status.PENDING else verified + datetime.timedelta(days=365),
    )


def measure(client: Client, url: str, repeats: int) -> tuple[int, float]:
    client.get(url)  # warm template and connection caches
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    queries = len(captured.captured_queries)  # now: the next request empties the query log
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url)
        response.content  # rendered in full
        times.append(time.perf_counter() - started)
    return queries, statistics.median(times)


def query_count(client: Client, url: str, per_page: int) -> int:
    model_admin = admin.site._registry[Credential]
    saved, model_admin.list_per_page = model_admin.list_per_page, per_page
    try:
        client.get(url)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured.captured_queries)
    finally:
        model_admin.list_per_page = saved


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    if connection.vendor != "sqlite":
        call_command("flush", "--no-input", verbosity=0)
    # A staff member with view permissions, as most partner staff are (a superuser skips two permission queries).
    staff = get_user_model().objects.create_user("bench", "bench@example.invalid", "bench-password-123", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="keys", codename__startswith="view_"))
    client = Client()
    client.force_login(staff)
    secret = Sealed.seal("bench-secret")
    month = f"{dashboard.upcoming_months(NOW)[2]:%Y-%m}"
    pages = {
        "credentials list": LIST,
        "a dashboard bar": f"{LIST}?status=active&expires_month={month}",
        "institutions list": "/admin/keys/institution/",
        "admin index (dashboard)": "/admin/",
    }
    print(f"database: {connection.vendor}; {PER_INSTITUTION} credentials per institution; median of {args.repeats} renders")

    results = {}
    for size, start in ((args.small, 0), (args.large, args.small)):
        seed(start, size, secret)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        for name, url in pages.items():
            results[(size, name)] = measure(client, url, args.repeats)
        for per_page in (50, 200):
            results[(size, f"list_per_page={per_page}")] = (query_count(client, LIST, per_page), None)

    print(f"{'page':<26} {'credentials':>12} {'institutions':>13} {'queries':>8} {'median':>10}  ratio to {args.small:,}")
    for (size, name), (queries, seconds) in results.items():
        timing = f"{seconds * 1000:>8.1f}ms" if seconds is not None else f"{'':>10}"
        base = results[(args.small, name)][1]
        ratio = f"{seconds / base:.2f}x" if seconds is not None and base else ""
        print(f"{name:<26} {size:>12,} {size // PER_INSTITUTION:>13,} {queries:>8} {timing}  {ratio}")

    counts = {results[(size, name)][0] for size in (args.small, args.large) for name in ("credentials list", "list_per_page=50", "list_per_page=200")}
    ratio = results[(args.large, "credentials list")][1] / results[(args.small, "credentials list")][1]
    print(f"credentials list queries: {sorted(counts)} (target: one constant value <= 10): {'ok' if len(counts) == 1 and max(counts) <= 10 else 'MISSED'}")
    print(f"credentials list render time, {args.large:,} vs {args.small:,}: {ratio:.2f}x (target <= 1.5x): {'ok' if ratio <= 1.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
