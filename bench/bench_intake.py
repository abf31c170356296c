"""A customer's whole hand-over against a bare Django form, on gunicorn, in the same run.

One gunicorn (two sync workers, deploy/gunicorn.conf.py, production settings) serves Keydrop and,
beside it, a bare Django form that Fernet-encrypts its one field and sends one email
(bench/bare.py). This process drives both flows in alternating batches: Keydrop's hand-over is
GET the intake form, POST it (the secret sealed, the code emailed), GET the code page; the bare
flow is GET the form, POST it, GET the done page. Both send their email to a loopback SMTP server.
Server time is the CPU time gunicorn's processes spent, read from /proc (the scheduler's count in
nanoseconds) before and after each batch, so the client's own work is not counted.

    .venv/bin/python bench/bench_intake.py [--rounds 8] [--flows 25] [--profile]

Prints the queries each request of a hand-over makes (one hand-over in this process, through Django's
test client, before the server starts), server CPU per flow for each, their ratio (target <= 1.5x),
flows per second, and the server CPU of each request of both flows (median). SQLite in a temporary
folder by default; with DATABASE_URL set to PostgreSQL it creates a scratch database beside the
named one (the role needs CREATEDB) and drops it after.

--profile runs both flows in this process instead of on gunicorn, under cProfile, and prints where
the hand-over's time goes (cumulative, the top functions) and the in-process CPU ratio.
"""

import argparse
import cProfile
import http.client
import logging
import os
import pstats
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from functools import partial
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from bootstrap import ROOT, start_django

sys.path.insert(0, str(ROOT))
from tests.smtp_sink import SMTPSink, free_port

SINK = SMTPSink().__enter__()
os.environ["EMAIL_URL"] = SINK.url
# Each hand-over is a different customer, as in production: its own institution, contact and address
# (through a trusted proxy's X-Forwarded-For), so the flood limits work at their usual size.
os.environ["PORTAL_TRUSTED_PROXIES"] = "127.0.0.1"
os.environ["DJANGO_SETTINGS_MODULE"] = "bare_settings"  # Keydrop's, with the baseline form's URLs beside
OWN_DATA_DIR = start_django("keydrop-bench-intake-")
logging.getLogger("mail.log").setLevel(logging.WARNING)  # the SMTP server in this process: quiet

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from keys.models import AdminContact, Institution  # noqa: E402
from tests.flows import VALID_DAP_CLIENT_ID, VALID_DAP_SECRET  # noqa: E402

HOST = "keydrop.internal"
WARM_UP = 5  # flows of each kind before measuring
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ScratchDatabase:
    """SQLite: the data folder's file. PostgreSQL: a database beside the configured one, dropped after."""

    def __init__(self):
        self.base = connection.settings_dict["NAME"]
        self.name = None
        if connection.vendor == "postgresql":
            self.name = f"{self.base}_bench_intake"
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}"', f'CREATE DATABASE "{self.name}"')
            connection.settings_dict["NAME"] = self.name
            url = urlsplit(os.environ["DATABASE_URL"])
            os.environ["DATABASE_URL"] = url._replace(path=f"/{self.name}").geturl()

    def drop(self):
        if self.name:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _admin(self, *statements):
        connection.close()
        saved = connection.settings_dict["NAME"]
        connection.settings_dict["NAME"] = self.base
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        connection.close()
        connection.settings_dict["NAME"] = saved


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of gunicorn's master and its workers: the scheduler's nanosecond count of
    each thread (/proc/<pid>/task/<tid>/schedstat), or user + system clock ticks where the kernel
    keeps no such count. Ticks are 10 ms: on a batch of the bare form's flows that is several percent."""
    total = 0.0
    for pid in pids:
        try:
            total += sum(_thread_cpu_ns(pid, task) for task in os.listdir(f"/proc/{pid}/task")) / 1e9
        except OSError:
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return total


def _thread_cpu_ns(pid: int, task: str) -> int:
    with open(f"/proc/{pid}/task/{task}/schedstat") as schedstat:
        return int(schedstat.read().split()[0])


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError):
                pass
    return found


class Browser:
    def __init__(self, port: int, client_address: str = "198.18.0.1"):
        self.port = port
        self.client_address = client_address
        self.cookies = {}

    def request(self, method, path, data=None):
        headers = {"Host": HOST, "X-Forwarded-For": self.client_address}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if data is not None:
            body = urlencode({"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **data})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            content = response.read().decode()
        finally:
            connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status, response.headers, content


class InProcessBrowser(Browser):
    """The same requests through Django's test client, in this process (counts and the profile)."""

    def __init__(self, client, client_address: str = "198.18.0.1"):
        self.client, self.client_address = client, client_address
        client.cookies.clear()

    def request(self, method, path, data=None):
        extra = {"HTTP_HOST": HOST, "HTTP_X_FORWARDED_FOR": self.client_address, "REMOTE_ADDR": "127.0.0.1"}
        send = self.client.get if method == "GET" else partial(self.client.post, data=data)
        response = send(path, **extra)
        return response.status_code, response.headers, response.content.decode()


def field(page: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', page).group(1)


def keydrop_flow(browser: Browser, intake_path: str, count=lambda name, request: request()) -> None:
    status, _, page = count("intake page (GET)", lambda: browser.request("GET", intake_path))
    assert status == 200, page[:300]
    data = {
        "form_nonce": field(page, "form_nonce"),
        "client_id": VALID_DAP_CLIENT_ID,
        "client_secret": VALID_DAP_SECRET,
        "key_type": "institutional",
        "expiry": "1y",
        "created_on": field(page, "created_on"),
        "contact": re.search(r'name="contact" value="(\d+)"', page).group(1),
    }
    status, headers, page = count("submission (POST)", lambda: browser.request("POST", intake_path, data))
    assert status == 302, page[:2000]
    status, _, _ = count("code page (GET)", lambda: browser.request("GET", urlsplit(headers["Location"]).path))
    assert status == 200


def bare_flow(browser: Browser, count=lambda name, request: request()) -> None:
    status, _, page = count("form (GET)", lambda: browser.request("GET", "/bare/"))
    assert status == 200
    status, headers, page = count("its POST", lambda: browser.request("POST", "/bare/", {"secret": VALID_DAP_SECRET}))
    assert status == 302, page[:300]
    status, _, _ = count("done page (GET)", lambda: browser.request("GET", urlsplit(headers["Location"]).path))
    assert status == 200


def start_gunicorn(port: int) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bare_settings"}
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "--config",
        str(ROOT / "deploy" / "gunicorn.conf.py"),
        "--pythonpath",
        str(ROOT / "bench"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--max-requests",
        "0",  # no recycling: a recycled worker's CPU time would be lost from the count
        "portal.wsgi",
    ]
    # Its log (one line per request, as in production) goes to a file: a pipe nobody reads would fill.
    log = Path(os.environ["PORTAL_DATA_DIR"]) / "gunicorn.log"
    with open(log, "w") as output:  # gunicorn keeps its own copy of the descriptor
        server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0 and len(children(server.pid)) >= 2:
                return server
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("gunicorn did not start:\n" + log.read_text()[-3000:])
        time.sleep(0.2)


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def query_counts(intake_path: str, address: str) -> dict[str, int]:
    """The statements each request of one hand-over sends (transaction control left out, as in
    tests/test_request_queries.py, which pins them)."""
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    counts = {}
    logging.disable(logging.INFO)  # in this process the request lines would go to the terminal

    def count(name, request):
        with CaptureQueriesContext(connection) as captured:
            result = request()
        sql = [query["sql"] for query in captured.captured_queries]
        counts[name] = sum(statement.split()[0] not in TRANSACTION_CONTROL for statement in sql)
        return result

    keydrop_flow(InProcessBrowser(Client(), address), intake_path, count)
    return counts


def profile(flows: dict, count: int, top: int = 35) -> None:
    """Both flows in this process: CPU per flow, their ratio, and the hand-over's profile."""
    for flow in flows.values():
        for _ in range(WARM_UP):
            flow()
    cpu = {}
    for name, flow in flows.items():
        profiler = cProfile.Profile()
        started = time.thread_time()  # this thread only: the SMTP sink runs in another
        profiler.enable()
        for _ in range(count):
            flow()
        profiler.disable()
        cpu[name] = (time.thread_time() - started) / count
        if name == "Keydrop hand-over":
            stats = profiler
    print(f"in this process, {count} flows each, under cProfile (which inflates both sides):")
    for name, seconds in cpu.items():
        print(f"  {name:<20} {seconds * 1000:>7.1f}ms CPU per flow")
    print(f"  ratio {cpu['Keydrop hand-over'] / cpu['bare Django form']:.2f}x")
    pstats.Stats(stats).strip_dirs().sort_stats("cumulative").print_stats(top)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="alternating rounds; each runs a batch of both flows")
    parser.add_argument("--flows", type=int, default=25, help="flows per batch")
    parser.add_argument("--profile", action="store_true", help="profile both flows in this process instead")
    args = parser.parse_args()

    scratch = ScratchDatabase()
    server = None
    try:
        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        customers = 1 + WARM_UP * 2 + args.rounds * args.flows
        institutions = Institution.objects.bulk_create(
            [
                Institution(name=f"Bench University {n}", slug=f"bench-{n}", intake_token=f"bench-token-{n}")
                for n in range(customers)
            ]
        )
        AdminContact.objects.bulk_create(
            [
                AdminContact(institution=institution, email=f"admin@bench-{n}.edu")
                for n, institution in enumerate(institutions)
            ]
        )
        intake_paths = iter([institution.intake_path() for institution in institutions])
        addresses = iter(f"198.18.{n // 250}.{n % 250 + 1}" for n in range(customers))
        counts = query_counts(next(intake_paths), next(addresses))
        print(f"database: {connection.vendor}; queries per request of a hand-over:", counts)
        if args.profile:
            from django.test import Client

            keydrop_client, bare_client = Client(), Client()
            profile(
                {
                    "Keydrop hand-over": lambda: keydrop_flow(
                        InProcessBrowser(keydrop_client, next(addresses)), next(intake_paths)
                    ),
                    "bare Django form": lambda: bare_flow(InProcessBrowser(bare_client)),
                },
                args.rounds * args.flows - WARM_UP,
            )
            return
        connection.close()
        port = free_port()
        server = start_gunicorn(port)
        pids = [server.pid, *children(server.pid)]  # workers are never recycled here (--max-requests 0)
        per_request = defaultdict(list)

        def metered(name, request):
            before = cpu_seconds(pids)
            result = request()
            per_request[name].append(cpu_seconds(pids) - before)
            return result

        flows = {
            "Keydrop hand-over": lambda: keydrop_flow(Browser(port, next(addresses)), next(intake_paths), metered),
            "bare Django form": lambda: bare_flow(Browser(port), metered),
        }
        for flow in flows.values():  # warm up: templates, connections, first-request work
            for _ in range(WARM_UP):
                flow()
        per_request.clear()
        cpu = {name: [] for name in flows}
        wall = {name: [] for name in flows}
        for _ in range(args.rounds):  # alternating, so drift in the machine's speed hits both alike
            for name, flow in flows.items():
                before_cpu, before_wall = cpu_seconds(pids), time.perf_counter()
                for _ in range(args.flows):
                    flow()
                wall[name].append((time.perf_counter() - before_wall) / args.flows)
                cpu[name].append((cpu_seconds(pids) - before_cpu) / args.flows)
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        connection.close()
        scratch.drop()
        SINK.__exit__(None, None, None)
        if OWN_DATA_DIR:
            shutil.rmtree(os.environ["PORTAL_DATA_DIR"], ignore_errors=True)

    print(
        f"database: {connection.vendor}; gunicorn, 2 workers; {args.rounds} rounds of {args.flows} flows each, "
        "alternating; server CPU per flow (median of the rounds)"
    )
    print(f"{'flow':<20} {'server CPU':>11} {'wall':>9} {'flows/s':>8}")
    median_cpu = {name: statistics.median(values) for name, values in cpu.items()}
    for name in flows:
        median_wall = statistics.median(wall[name])
        print(f"{name:<20} {median_cpu[name] * 1000:>9.1f}ms {median_wall * 1000:>7.1f}ms {1 / median_wall:>8.1f}")
    print("server CPU per request (median):")
    print("  " + "; ".join(f"{name} {statistics.median(values) * 1000:.2f}ms" for name, values in per_request.items()))
    ratio = median_cpu["Keydrop hand-over"] / median_cpu["bare Django form"]
    print(f"hand-over vs bare form, server CPU: {ratio:.2f}x (target <= 1.5x): {'ok' if ratio <= 1.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
