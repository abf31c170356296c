"""The staff credentials list stays fast and its query count flat as the credentials pile up.

Seeds two databases in the same run: 1,000 credentials over 50 institutions (the baseline) and
100,000 over 5,000. Each institution has a history of keys (expired, superseded, the current
one, the odd revoked key or pending submission) and some sent reminders, so every column has
something to show. Renders the admin pages as a staff member with view permissions, the two
databases in alternating rounds, and prints each page's SQL query count (the credentials list
also at list_per_page 50 and 200) and median render time with its ratio to the baseline.

    .venv/bin/python bench/bench_admin_list.py [--small 1000] [--large 100000] [--rounds 15]

SQLite files in a temporary folder by default. With DATABASE_URL set to PostgreSQL it creates
two scratch databases beside the configured one (the role needs CREATEDB) and drops them after.
"""

import argparse
import datetime
import logging
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from bootstrap import start_django

OWN_DATA_DIR = start_django("keydrop-bench-admin-")

from django.contrib import admin  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Permission  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from keys import kinds  # noqa: E402
from keys.admin import dashboard  # noqa: E402
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
        created = Credential.objects.filter(
            client_id__gte=credentials[0].client_id, client_id__lte=credentials[-1].client_id
        )
        ReminderNotice.objects.bulk_create(
            [
                ReminderNotice(
                    credential_id=pk,
                    offset_days=30,
                    due_at=NOW - datetime.timedelta(days=3),
                    not_before=NOW - datetime.timedelta(days=3),
                    state=ReminderNotice.State.SENT,
                    sent_at=NOW - datetime.timedelta(days=3),
                    recipients="admin@example.edu",
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
    status = (
        Status.ACTIVE
        if position == PER_INSTITUTION - 1
        else Status.SUPERSEDED
        if position >= PER_INSTITUTION - 3
        else Status.EXPIRED
    )
    if n % 97 == 0:
        status = Status.REVOKED
    if n % 211 == 0:
        status = Status.PENDING  # invisible to staff, but it is in the table
    usable = status in Credential.USABLE_STATUSES
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


def use_database(name: str) -> None:
    """Point Django's one connection at another database of the same server (or file)."""
    connection.close()
    connection.settings_dict["NAME"] = name


def prepare(name: str, size: int, secret: Sealed) -> Client:
    """A migrated database holding `size` credentials, and a signed-in staff member's client."""
    use_database(name)
    call_command("migrate", verbosity=0)
    # A staff member with view permissions, as most partner staff are (a superuser skips two permission queries).
    staff = get_user_model().objects.create_user("bench", "bench@example.invalid", "bench-password-123", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="keys", codename__startswith="view_"))
    seed(0, size, secret)
    with connection.cursor() as cursor:
        # Fresh statistics, as autovacuum keeps them (PostgreSQL also needs its visibility map).
        cursor.execute("ANALYZE" if connection.vendor == "sqlite" else "VACUUM ANALYZE")
    client = Client()
    client.force_login(staff)
    return client


def query_count(client: Client, url: str, per_page: int | None = None) -> int:
    model_admin = admin.site._registry[Credential]
    saved = model_admin.list_per_page
    model_admin.list_per_page = per_page or saved
    try:
        assert client.get(url).status_code == 200  # warm caches; later requests are alike
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured.captured_queries)
    finally:
        model_admin.list_per_page = saved


def render_time(client: Client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    assert response.content  # rendered in full
    return time.perf_counter() - started


class ScratchDatabases:
    """Two databases beside the configured one: temporary files on SQLite, created and dropped on PostgreSQL."""

    def __init__(self):
        self.base = connection.settings_dict["NAME"]
        self.created = []

    def new(self, suffix: str) -> str:
        if connection.vendor == "sqlite":
            return str(Path(self.base).with_name(f"bench-{suffix}.sqlite3"))
        name = f"{self.base}_bench_{suffix}"
        self._admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return name

    def drop_all(self) -> None:
        if self.created:
            self._admin(*[f'DROP DATABASE IF EXISTS "{name}"' for name in self.created])

    def _admin(self, *statements: str) -> None:
        use_database(self.base)
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        connection.close()


def main():
    logging.getLogger("axes").setLevel(logging.WARNING)  # no sign-in chatter between the figures
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=15,
        help="alternating rounds; each page is rendered once per round in each database",
    )
    args = parser.parse_args()

    secret = Sealed.seal("bench-secret")
    month = f"{dashboard.upcoming_months(NOW)[2]:%Y-%m}"
    pages = {
        "credentials list": LIST,
        "a dashboard bar": f"{LIST}?status=active&expires_month={month}",
        "institutions list": "/admin/keys/institution/",
        "admin index (dashboard)": "/admin/",
    }
    scratch = ScratchDatabases()
    try:
        databases = {size: scratch.new(label) for size, label in ((args.small, "small"), (args.large, "large"))}
        clients = {size: prepare(name, size, secret) for size, name in databases.items()}
        print(
            f"database: {connection.vendor}; {PER_INSTITUTION} credentials per institution; "
            f"median of {args.rounds} renders, the two databases measured in alternating rounds"
        )
        queries, times = {}, {(size, name): [] for size in databases for name in pages}
        for size, name in databases.items():
            use_database(name)
            for page, url in pages.items():
                queries[(size, page)] = query_count(clients[size], url)
            for per_page in (50, 200):
                queries[(size, f"list_per_page={per_page}")] = query_count(clients[size], LIST, per_page)
        for _ in range(args.rounds):  # alternating, so drift in the machine's speed hits both alike
            for size, name in databases.items():
                use_database(name)
                for page, url in pages.items():
                    times[(size, page)].append(render_time(clients[size], url))
    finally:
        connection.close()
        scratch.drop_all()
        if OWN_DATA_DIR:
            shutil.rmtree(os.environ["PORTAL_DATA_DIR"], ignore_errors=True)

    median = {key: statistics.median(values) for key, values in times.items()}
    print(
        f"{'page':<26} {'credentials':>12} {'institutions':>13} {'queries':>8} {'median':>10}  ratio to {args.small:,}"
    )
    for size in databases:
        for page in [*pages, "list_per_page=50", "list_per_page=200"]:
            seconds = median.get((size, page))
            timing = f"{seconds * 1000:>8.1f}ms  {seconds / median[(args.small, page)]:.2f}x" if seconds else ""
            print(f"{page:<26} {size:>12,} {size // PER_INSTITUTION:>13,} {queries[(size, page)]:>8} {timing}")

    counts = {
        queries[(size, page)]
        for size in databases
        for page in ("credentials list", "list_per_page=50", "list_per_page=200")
    }
    ratio = median[(args.large, "credentials list")] / median[(args.small, "credentials list")]
    print(
        f"credentials list queries: {sorted(counts)} (target: one constant value <= 10): "
        f"{'ok' if len(counts) == 1 and max(counts) <= 10 else 'MISSED'}"
    )
    print(
        f"credentials list render time, {args.large:,} vs {args.small:,}: {ratio:.2f}x (target <= 1.5x): "
        f"{'ok' if ratio <= 1.5 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
