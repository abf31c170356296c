"""`manage.py health`: the /health/ report from the command line, for a timer or a monitor.

It does what a request to /health/ does, the ADMINS email for a stopped scheduler included, so
that email does not wait for someone to ask (deploy/systemd/keydrop-health.timer runs it).
"""

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from portal import health


class Command(BaseCommand):
    help = "Print the health report as JSON; exit 1 when any part of it is not ok."

    def handle(self, *args, **options):
        body = health.report(timezone.now())
        self.stdout.write(json.dumps(body, indent=2, default=str))
        if not body["ok"]:
            raise CommandError('Keydrop is not healthy: see the parts above whose "ok" is false.')
