"""The production smoke test: the production recipe (docs/operations.md), from the deploy kit, proven end to end.

nginx with a self-signed certificate (deploy/nginx/keydrop.conf) → gunicorn with two workers (the
ExecStart of deploy/systemd/keydrop-web.service) → PostgreSQL and Redis, with two qclusters (the
ExecStart of deploy/systemd/keydrop-scheduler.service), all reading one environment file made
from deploy/keydrop.env, and the recipe's commands run through deploy/manage. Then, over https
through nginx only:

- hashed static files are served compressed and cached for a year;
- a customer hands over a key (form, code from a loopback SMTP server, receipt), and the
  submission records the customer's address, not nginx's, whatever X-Forwarded-For they forge;
- failed sign-ins lock the attacker's address only; a staff member signs in and reveals the secret
  with a reason, and the audit event has the staff member's address;
- a pipeline token made with the command lists the credentials over the API (https only: plain
  http is refused, not redirected), and its use is audited as pipeline:NAME;
- /health/ is ok; a due reminder goes out exactly once with both clusters running, and after one
  cluster is stopped the other still sends the next one.

Each piece gets its own port (chosen free) or its own database, Redis server and data folder, so
several suites can run on one machine. Runs with `pytest --production` (`make test-production`);
CI runs it after the PostgreSQL suite. Needs nginx, redis-server and DATABASE_URL pointing at a
PostgreSQL role that may create databases: skipped with the reason here, a failure in CI.
"""

import base64
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings
from django_otp.oath import TOTP

from tests.ci import missing
from tests.flows import VALID_DAP_CLIENT_ID
from tests.https_client import Browser, self_signed_certificate
from tests.smtp_sink import SMTPSink, free_port

pytestmark = pytest.mark.production

HOST = "keydrop.internal"  # .internal: for private networks (ICANN), a real name rather than an example
DEPLOY = Path(settings.BASE_DIR, "deploy")
CUSTOMER, STAFF, ATTACKER, SECOND_CUSTOMER, PIPELINE = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"
STAFF_PASSWORD = "smoke-" + secrets.token_urlsafe(16)


def wait_for(condition, timeout: float, what: str, logs: "Logs | None" = None):
    """Poll other processes (servers, clusters); not a time rule."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}" + (logs.tails() if logs else ""))


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def requirements() -> tuple[str, str, str]:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    redis = shutil.which("redis-server")
    database_url = os.getenv("DATABASE_URL", "")
    if not nginx:
        missing("nginx not installed (apt-get install nginx)")
    if not redis:
        missing("redis-server not installed (apt-get install redis-server)")
    if not database_url.startswith(("postgres://", "postgresql://")):
        missing("DATABASE_URL must point at PostgreSQL (a role that may CREATE DATABASE)")
    return nginx, redis, database_url


class Logs:
    """Each process writes to a file of its own; failures show the end of each."""

    def __init__(self, folder: Path):
        self.folder = folder

    def open(self, name: str):
        return open(self.folder / f"{name}.log", "w")

    def tails(self, lines: int = 25) -> str:
        parts = []
        for path in sorted(self.folder.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"\n--- {path.name} ---\n" + "\n".join(text))
        return "".join(parts)


class Processes:
    def __init__(self):
        self.running: list[subprocess.Popen] = []

    def start(self, command: list[str], log, **options) -> subprocess.Popen:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **options)
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen, timeout: float = 60) -> None:
        """As systemd does with KillMode=mixed: SIGTERM to the main process, which stops its own
        children; whatever is left of the group after the timeout is killed."""
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for process in reversed(self.running):
            self.stop(process)


def environment_file(folder: Path, values: dict[str, str]) -> Path:
    """deploy/keydrop.env with its placeholders replaced, as docs/operations.md asks an operator to."""
    lines = []
    for line in (DEPLOY / "keydrop.env").read_text().splitlines():
        setting = re.fullmatch(r"(# )?([A-Z][A-Z0-9_]*)=.*", line)
        name = setting and setting[2]
        if name in values:  # filled in, or a commented-out default set
            line = f"{name}={values.pop(name)}"
        elif setting and not setting[1]:
            line = line.replace("partner.example", HOST)
        lines.append(line)
    assert not values, f"variables missing from deploy/keydrop.env: {sorted(values)}"
    path = folder / "keydrop.env"
    path.write_text("\n".join(lines) + "\n")
    return path


def read_environment(path: Path) -> dict[str, str]:
    """What systemd's EnvironmentFile= gives the services."""
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def exec_start(unit: str) -> list[str]:
    """A unit's ExecStart, for this checkout instead of /opt/keydrop."""
    [line] = [line for line in (DEPLOY / "systemd" / unit).read_text().splitlines() if line.startswith("ExecStart=")]
    return line.removeprefix("ExecStart=").replace("/opt/keydrop", str(settings.BASE_DIR)).split()


def nginx_site(**replacements: str) -> str:
    """deploy/nginx/keydrop.conf with the operator's edits; each edited line must exist in the kit."""
    site = (DEPLOY / "nginx" / "keydrop.conf").read_text()
    for old, new in replacements.items():
        assert old in site, f"deploy/nginx/keydrop.conf no longer has {old!r}"
        site = site.replace(old, new)
    return site


def start_nginx(nginx: str, folder: Path, site: str, processes: Processes, logs: Logs) -> None:
    folder.mkdir(mode=0o755)
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / temp).mkdir()
        (folder / temp).chmod(0o777)  # nginx's workers may run as nobody
    (folder / "site.conf").write_text(site)
    temp_paths = "".join(
        f"    {kind}_temp_path {folder / kind.split('_')[0]};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (folder / "nginx.conf").write_text(
        f"worker_processes 1;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} warn;\n"
        f"events {{ worker_connections 256; }}\n"
        f"http {{\n{temp_paths}    include {folder / 'site.conf'};\n}}\n"
    )
    command = [nginx, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", str(folder / "error.log")]
    test = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert test.returncode == 0, test.stderr
    processes.start([*command, "-g", "daemon off;"], logs.open("nginx"))


class Database:
    """A database of its own on the PostgreSQL server DATABASE_URL names, dropped afterwards."""

    def __init__(self, server_url: str):
        import psycopg

        self.psycopg = psycopg
        self.server = urlsplit(server_url)
        self.name = f"keydrop_smoke_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        self.url = self.server._replace(path=f"/{self.name}").geturl()

    def query(self, sql: str, *params):
        with self.psycopg.connect(self.url, autocommit=True) as connection:
            return connection.execute(sql, params).fetchall()

    def drop(self) -> None:
        with self.psycopg.connect(self.server.geturl(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def hand_over(browser: Browser, intake_path: str, sink: SMTPSink, contact: str, secret: str, forged_for: str = ""):
    """A customer's whole hand-over: the form, the code from their inbox, the receipt. Returns the submission id."""
    forged = {"X-Forwarded-For": forged_for} if forged_for else {}
    form = browser.get(intake_path, **forged)
    assert form.status == 200, form.text[:500]
    data = {
        "form_nonce": form.field("form_nonce"),
        "client_id": VALID_DAP_CLIENT_ID,
        "client_secret": secret,
        "key_type": "institutional",
        "expiry": "1w",  # a one-week key: its seven-day reminder is due at once
        "created_on": form.field("created_on"),
        "contact": re.search(r'name="contact" value="(\d+)"', form.text).group(1),
    }
    codes_before = len(messages_to(sink, contact, "is your code"))
    submitted = browser.post(intake_path, data, **forged)
    assert submitted.status == 302 and submitted.location.startswith("/s/"), submitted.text[:2000]
    verify_path = submitted.location
    assert browser.get(verify_path).status == 200
    [message] = wait_for(lambda: messages_to(sink, contact, "is your code")[codes_before:], 30, "the code email")
    code = re.search(
        r"confirmation code: ([0-9]{6})", message.get_payload()[0].get_payload(decode=True).decode()
    ).group(1)
    confirmed = browser.post(verify_path, {"code": code})
    assert confirmed.status == 302 and confirmed.location.endswith("/receipt/"), confirmed.text[:1000]
    receipt = browser.get(confirmed.location)
    assert receipt.status == 200 and "has your key" in receipt.text
    return verify_path.split("/")[2]


def sign_in_with_second_factor(staff: Browser, sink: SMTPSink) -> None:
    """The password, then (a superuser's first sign-in) the enrolment link from the account's own
    mailbox, then setting up the authenticator app with the key the page shows and the code the app
    would show."""
    staff.get("/admin/login/")
    signed_in = staff.post("/admin/login/?next=/admin/", {"username": "ops", "password": STAFF_PASSWORD})
    assert signed_in.status == 302 and signed_in.location.startswith("/admin/two-step/"), signed_in.text[:1000]
    location = signed_in.headers["Location"]
    while (page := staff.get(urlsplit(location).path + "?" + urlsplit(location).query)).status == 302:
        location = page.headers["Location"]
    assert 'id="kd-totp-key"' not in page.text  # the password alone is shown no key
    setup = urlsplit(location).path + "?" + urlsplit(location).query
    assert staff.post(setup, {"send_link": "1", "next": "/admin/"}).status == 302
    [message] = wait_for(lambda: messages_to(sink, f"ops@{HOST}", "two-step verification"), 30, "the enrolment link")
    body = message.get_payload()[0].get_payload(decode=True).decode()
    link = urlsplit(re.search(r"https://\S+/admin/two-step/enrol/\S+/", body).group(0)).path
    assert staff.get(link).status == 302
    page = staff.get(setup)
    key = re.search(r'id="kd-totp-key"[^>]*>([A-Z2-7 =]+)<', page.text).group(1).replace(" ", "")
    code = f"{TOTP(base64.b32decode(key)).token():06d}"
    done = staff.post(setup, {"code": code, "next": "/admin/"})
    assert done.status == 200 and "Two-step verification is on" in done.text, done.text[:1000]


def post_with_host(port: int, host: str, secret: str, cafile: Path | None = None) -> int:
    """A form POST carrying a pasted secret, to the port, under a Host name nobody configured."""
    if cafile is None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    else:
        context = ssl.create_default_context(cafile=str(cafile))
        context.check_hostname = False  # the point is the Host header, not the certificate's name
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        body = urlencode({"client_id": VALID_DAP_CLIENT_ID, "client_secret": secret})
        headers = {"Host": host, "Content-Type": "application/x-www-form-urlencoded"}
        connection.request("POST", "/i/stray-token/", body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def unknown_host_is_closed(port: int, cafile: Path | None, secret: str) -> bool:
    try:
        post_with_host(port, "unknown.example", secret, cafile)
    except (http.client.RemoteDisconnected, ConnectionResetError):
        return True
    return False


def messages_to(sink: SMTPSink, address: str, subject_part: str) -> list:
    with sink.handler._lock:
        return [m for m in sink.handler.messages if m["To"] == address and subject_part in m["Subject"]]


def test_production_from_the_deploy_kit_and_the_readme(tmp_path_factory, capsys):
    nginx, redis_server, server_url = requirements()
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="keydrop-production-"))
    folder.chmod(0o755)  # nginx's workers traverse it to their temp folders
    logs = Logs(folder)
    processes = Processes()
    database = Database(server_url)
    try:
        with SMTPSink() as sink:
            run_the_recipe(folder, logs, processes, database, sink, nginx, redis_server)
    finally:
        processes.stop_all()
        database.drop()
    with capsys.disabled():
        print(f"\nproduction smoke test: {time.monotonic() - started:.0f}s wall time")
    shutil.rmtree(folder, ignore_errors=True)


def run_the_recipe(folder, logs, processes, database, sink, nginx, redis_server):
    web_port, https_port, http_port, redis_port = free_port(), free_port(), free_port(), free_port()
    base_url = f"https://{HOST}:{https_port}"

    # Redis of its own, nothing written to disk.
    processes.start(
        [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        logs.open("redis"),
    )
    wait_for(lambda: accepts(redis_port), 20, "redis to start", logs)

    # 2. Environment: the template, filled in.
    env_file = environment_file(
        folder,
        {
            "SECRET_KEY": secrets.token_urlsafe(50),
            "PORTAL_ENCRYPTION_KEY": secrets.token_urlsafe(50),
            "PORTAL_BASE_URL": base_url,
            "ALLOWED_HOSTS": HOST,
            "PORTAL_PARTNER_NAME": "Acme Analytics",
            "PORTAL_DATA_DIR": str(folder / "data"),
            "DATABASE_URL": database.url,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "EMAIL_URL": sink.url,
            "PORTAL_DEVELOPER_KEY_FILE": str(Path(__file__).with_name("developer-key.toml")),
            # Canvas is never called from tests: live checks at hand-over find no such host.
            "PORTAL_DAP_API_URL": "https://dap-gateway.invalid",
        },
    )
    service_env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", **read_environment(env_file)}

    def manage(*args: str, **extra: str) -> str:
        # deploy/manage reads the file; nothing from this test's own environment leaks in.
        env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "KEYDROP_ENV_FILE": str(env_file), **extra}
        result = subprocess.run([str(DEPLOY / "manage"), *args], env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"manage {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    # 3. Database, static files, first user; check --deploy is clean.
    manage("migrate")
    manage("collectstatic", "--noinput")
    assert "System check identified no issues (1 silenced)." in manage("check", "--deploy", "--fail-level", "WARNING")
    manage(
        "createsuperuser",
        "--noinput",
        DJANGO_SUPERUSER_USERNAME="ops",
        DJANGO_SUPERUSER_EMAIL=f"ops@{HOST}",
        DJANGO_SUPERUSER_PASSWORD=STAFF_PASSWORD,
    )
    first_link = manage(
        "add_institution", "First University", "--slug", "first-u", "--contact", "admin@first.edu"
    ).splitlines()[-1]
    second_link = manage(
        "add_institution", "Second College", "--slug", "second-c", "--contact", "it@second.edu"
    ).splitlines()[-1]
    assert first_link.startswith(f"{base_url}/i/")

    # 4. Start: gunicorn (two workers), two schedulers, nginx in front.
    web = exec_start("keydrop-web.service") + ["--bind", f"127.0.0.1:{web_port}"]
    assert "--config" in web and "portal.wsgi" in web
    processes.start(web, logs.open("web"), env=service_env, cwd=settings.BASE_DIR)
    clusters = [
        processes.start(
            exec_start("keydrop-scheduler.service"), logs.open(f"scheduler-{n}"), env=service_env, cwd=settings.BASE_DIR
        )
        for n in (1, 2)
    ]
    site = nginx_site(
        **{
            "/etc/letsencrypt/live/keys.partner.example/fullchain.pem": str(folder / "cert.pem"),
            "/etc/letsencrypt/live/keys.partner.example/privkey.pem": str(folder / "key.pem"),
            "server_name keys.partner.example;": f"server_name {HOST};",
            "listen 80;": f"listen 127.0.0.1:{http_port};",
            "listen [::]:80;": "",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
            "listen [::]:443 ssl http2;": "",
            "listen 80 default_server;": f"listen 127.0.0.1:{http_port} default_server;",
            "listen [::]:80 default_server;": "",
            "listen 443 ssl http2 default_server;": f"listen 127.0.0.1:{https_port} ssl http2 default_server;",
            "listen [::]:443 ssl http2 default_server;": "",
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{web_port};",
            "/var/log/nginx/keydrop.access.log": str(folder / "nginx" / "access.log"),
        }
    )
    cert, _ = self_signed_certificate(HOST, folder)
    start_nginx(nginx, folder / "nginx", site, processes, logs)
    wait_for(lambda: accepts(web_port) and accepts(https_port), 60, "gunicorn and nginx to start", logs)

    customer = Browser(base_url, cert, source=CUSTOMER)

    # Any other Host is closed by nginx without an answer, over http and https, and never reaches Keydrop.
    stray_secret = "smoke-Stray_" + secrets.token_urlsafe(24)
    for port, secure in ((http_port, False), (https_port, True)):
        assert unknown_host_is_closed(port, cert if secure else None, stray_secret), (port, logs.tails())
    # Reached directly (no nginx in front), a bad Host is a 400 that mails nobody, the secret least of all.
    for _ in range(20):
        assert post_with_host(web_port, "unknown.example", stray_secret) == 400

    # Hashed static files, compressed, cached for a year.
    page = customer.get(urlsplit(first_link).path)
    assert page.status == 200, logs.tails()
    stylesheet = re.search(r'href="(/static/portal/keydrop\.[0-9a-f]{12}\.css)"', page.text).group(1)
    css = customer.get(stylesheet, **{"Accept-Encoding": "gzip"})
    assert css.status == 200 and css.headers["Content-Encoding"] == "gzip"
    assert css.headers["Cache-Control"] == "max-age=315360000, public, immutable"

    # The customer flow; the submission records the customer's address, not a forged one or nginx's.
    secret = "smoke-Secret_" + secrets.token_urlsafe(24)
    submission = hand_over(
        customer, urlsplit(first_link).path, sink, "admin@first.edu", secret, forged_for="198.51.100.99"
    )
    [(submitter_ip,)] = database.query("SELECT submitter_ip FROM intake_verification WHERE public_id = %s", submission)
    assert str(submitter_ip) == CUSTOMER

    # Five failed sign-ins lock the attacker's address for that account, not the staff member's.
    attacker = Browser(base_url, cert, source=ATTACKER)
    statuses = []
    for _ in range(5):
        attacker.get("/admin/login/")
        statuses.append(attacker.post("/admin/login/?next=/admin/", {"username": "ops", "password": "guess"}).status)
    assert statuses[-1] == 429, statuses
    staff = Browser(base_url, cert, source=STAFF)
    sign_in_with_second_factor(staff, sink)
    assert staff.get("/admin/").status == 200

    # Reveal with a reason; the audit event has the staff member's address.
    [(credential_id,)] = database.query(
        "SELECT credential_id FROM intake_verification WHERE public_id = %s", submission
    )
    reveal_path = f"/admin/keys/credential/{credential_id}/reveal/"
    assert staff.get(reveal_path).status == 200
    revealed = staff.post(reveal_path, {"reason": "smoke test: the nightly sync needs the key"})
    assert revealed.status == 200 and secret in revealed.text
    assert revealed.headers["Cache-Control"].startswith("no-store") or "no-store" in revealed.headers["Cache-Control"]
    [(action, ip)] = database.query("SELECT action, ip FROM keys_auditevent WHERE action = 'reveal'")
    assert str(ip) == STAFF

    # A pipeline: a token made with the command lists the credentials over the API, through nginx.
    token = manage("pipeline_token", "create", "smoke-pipeline", "--kind", "dap").splitlines()[-1]
    pipeline = Browser(base_url, cert, source=PIPELINE)
    listed = pipeline.get("/api/v1/credentials", Authorization=f"Bearer {token}")
    assert listed.status == 200 and listed.headers["Content-Type"].startswith("application/json"), listed.text[:500]
    [item] = json.loads(listed.body)["items"]
    assert item["institution"] == "first-u" and item["client_id"] == VALID_DAP_CLIENT_ID and secret not in listed.text
    refused = pipeline.get("/api/v1/credentials")
    assert refused.status == 401 and json.loads(refused.body)["error"]["code"] == "missing_token"
    assert json.loads(pipeline.get("/api/v1/openapi.json").body)["openapi"].startswith("3.")
    [(actor, ip)] = database.query("SELECT DISTINCT actor, ip FROM keys_auditevent WHERE action = 'pipeline_api'")
    assert actor == "pipeline:smoke-pipeline" and str(ip) == PIPELINE
    # Over plain http nginx refuses the API rather than redirect a token sent in clear.
    plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=30)
    plain.request("GET", "/api/v1/credentials", headers={"Host": HOST, "Authorization": "Bearer kdp_sent-in-clear"})
    answer = plain.getresponse()
    assert answer.status == 403 and json.loads(answer.read())["error"]["code"] == "https_required"
    plain.close()

    # Health, once both schedulers have run every schedule.
    def healthy():
        response = customer.get("/health/")
        body = json.loads(response.body)
        return (
            response.status == 200
            and body["ok"]
            and all(b["last_run"] for b in body["scheduler"]["schedules"])
            and body
        )

    body = wait_for(healthy, 120, "/health/ to be ok with every schedule run", logs)
    assert body["broker"] == {"ok": True, "kind": "redis"}
    # The same report from the health timer's unit (deploy/systemd/keydrop-health.service), as systemd runs it.
    report = subprocess.run(
        exec_start("keydrop-health.service"),
        env=service_env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0 and json.loads(report.stdout)["ok"] is True, report.stderr

    # The due reminder goes out exactly once with both clusters running, also after another sweep.
    reminder = "expires in 7 days"
    wait_for(lambda: messages_to(sink, "admin@first.edu", reminder), 120, "the seven-day reminder", logs)
    sweeps = database.query("SELECT count(*) FROM django_q_task WHERE \"group\" = 'keys.send_reminders'")[0][0]
    database.query("UPDATE django_q_schedule SET next_run = now() WHERE name = 'keys.send_reminders' RETURNING id")
    count_sweeps = "SELECT count(*) FROM django_q_task WHERE \"group\" = 'keys.send_reminders'"
    wait_for(lambda: database.query(count_sweeps)[0][0] > sweeps, 120, "another reminder sweep", logs)
    assert len(messages_to(sink, "admin@first.edu", reminder)) == 1

    # One cluster stops; the other sends the next reminder.
    processes.stop(clusters[0])
    assert clusters[0].returncode == 0 and "has stopped" in (folder / "scheduler-1.log").read_text(), logs.tails()
    second = Browser(base_url, cert, source=SECOND_CUSTOMER)
    hand_over(second, urlsplit(second_link).path, sink, "it@second.edu", "smoke-Second_" + secrets.token_urlsafe(24))
    database.query("UPDATE django_q_schedule SET next_run = now() WHERE name = 'keys.send_reminders' RETURNING id")
    wait_for(lambda: messages_to(sink, "it@second.edu", reminder), 120, "the second college's reminder", logs)
    assert clusters[1].poll() is None
    assert len(messages_to(sink, "admin@first.edu", reminder)) == 1

    # Canvas's redirect back to the OAuth callback carries a code and a state (here, not ours: refused).
    refused = customer.get("/oauth/canvas/callback?code=smokeCode4711&state=smokeState4711")
    assert refused.status == 400 and "We do not recognise this authorization" in refused.text

    # An invitation's link: its ?via= token is not logged either.
    assert customer.get(urlsplit(first_link).path + "?via=smokeVia4711").status == 200

    # Logs: Keydrop's JSON lines carry request ids; no intake token in them or in nginx's log.
    tokens = [urlsplit(link).path.split("/")[2] for link in (first_link, second_link)] + [submission]
    tokens += ["smokeCode4711", "smokeState4711", "smokeVia4711", token]
    keydrop_log = (folder / "data" / "logs" / "keydrop.log").read_text()
    request_lines = [json.loads(line) for line in keydrop_log.splitlines() if '"keydrop.request"' in line]
    assert request_lines and all(len(line["request_id"]) == 32 for line in request_lines)  # nginx's $request_id
    assert {line["client_ip"] for line in request_lines} >= {CUSTOMER, STAFF, ATTACKER}
    access_log = (folder / "nginx" / "access.log").read_text()
    assert "/i/[redacted]/" in access_log and "/oauth/canvas/callback?[redacted]" in access_log
    for token in tokens:
        assert token not in keydrop_log and token not in access_log
    assert secret not in keydrop_log + access_log
    assert stray_secret not in keydrop_log + access_log
    with sink.handler._lock:
        mailed = [message.as_string() for message in sink.handler.messages]
    assert not [message for message in mailed if "Invalid HTTP_HOST" in message]
    assert not [message for message in mailed if stray_secret in message]
