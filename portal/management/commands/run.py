"""Start Keydrop on one machine: migrate, then the web server and the django-q2 cluster together."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from keys.models import AdminContact, Institution

DEMO_SLUG = "demo-university"
# A task still running when you press Ctrl-C gets this long to finish before it is killed.
STOP_TIMEOUT = 10


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex((host, port)) != 0


class Command(BaseCommand):
    help = "Migrate, then run the web server and the task cluster (schedules, reminders) until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="address:port for the web server")
        parser.add_argument(
            "--no-demo", action="store_true", help="do not create the local admin user and demo institution"
        )

    def handle(self, *args, addr, no_demo, **options):
        host, _, port = addr.rpartition(":")
        if not port_is_free(host or "127.0.0.1", int(port)):
            raise CommandError(
                f"Port {port} is in use by another program. Start Keydrop on another: make run PORT=8001"
            )
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database is up to date.")
        if settings.DEBUG and not no_demo:
            self.print_local_login(addr)
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda *args: stop.set())
        # Each half in its own process group: Ctrl-C reaches only this command, which stops both
        # with one SIGTERM each. Left to the terminal, runserver sat out Ctrl-C whenever SIGINT was
        # ignored where `make run` started (a background job, some IDEs and runners), and qcluster
        # could hang on the second signal of a pair.
        children = [
            subprocess.Popen([*manage, "qcluster"], process_group=0),
            subprocess.Popen([*manage, "runserver", addr, "--noreload", "--skip-checks"], process_group=0),
        ]
        self.stdout.write(
            self.style.SUCCESS(f"Keydrop is running on http://{addr}/ with its task cluster. Ctrl-C stops both.")
        )
        self.supervise(children, stop)

    def supervise(self, children, stop: threading.Event):
        try:
            # If either half dies, stop the other: half a portal would silently skip reminders.
            while not stop.wait(0.2) and all(child.poll() is None for child in children):
                pass
        finally:
            # runserver ends at once; qcluster stops its workers in an orderly way.
            for child in children:
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    child.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)  # the whole group: qcluster's workers too
                    child.wait()
        failed = [
            child.args[2] for child in children if child.returncode not in (0, -signal.SIGINT, -signal.SIGTERM, None)
        ]
        if failed and not stop.is_set():
            self.stderr.write(f"Stopped because {', '.join(failed)} exited.")
            sys.exit(1)

    def print_local_login(self, addr):
        """A first local run gets an admin user and a demo institution, and says how to use them."""
        password_file = settings.DATA_DIR / "admin-password.txt"
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser("admin", "admin@localhost", password)
            fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(password + "\n")
        password = password_file.read_text().strip() if password_file.exists() else "(the password you set)"
        institution, created = Institution.objects.get_or_create(
            slug=DEMO_SLUG, defaults={"name": "Demo University", "canvas_url": "https://demo.instructure.com"}
        )
        if created:
            AdminContact.objects.create(
                institution=institution, email="canvas-admin@demo-university.invalid", name="Demo admin"
            )
        base = f"http://{addr}"
        self.stdout.write("")
        self.stdout.write(f"  Admin:        {base}/admin/  (user: admin, password: {password})")
        self.stdout.write(
            "                a superuser: the first sign-in emails a link to set up two-step verification"
        )
        self.stdout.write(f"  Demo intake:  {base}{institution.intake_path()}")
        mail_folder = getattr(settings, "EMAIL_FILE_PATH", "EMAIL_URL")
        self.stdout.write(f"  Emails are written to {mail_folder}")
        self.stdout.write("")
