"""Check credentials against Canvas now, one line each, then send the alerts that follow."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from keys import kinds
from keys.checks import alerts, live_checks
from keys.models import Credential, CredentialCheck, HostCheckBudget, Institution


class Command(BaseCommand):
    help = (
        "Ask Canvas now whether each usable credential works and print one line per credential: "
        "institution, kind, masked Client ID, outcome (works, rejected or inconclusive) and the reason. "
        "Alerts that follow are sent as the schedule would. Exit status 0 whenever it ran, whatever the outcomes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--institution", metavar="SLUG", help="only this institution's credentials")
        parser.add_argument("--kind", choices=list(kinds.KINDS), help="only credentials of this kind")

    def handle(self, *args, institution=None, kind=None, **options):
        credentials = (
            Credential.objects.usable()
            .select_related("institution")
            .order_by("institution__slug", "kind", "-verified_at")
        )
        if institution is not None:
            found = Institution.objects.filter(slug=institution).first()
            if found is None:
                raise CommandError(
                    f"No institution with the slug {institution!r}. The admin lists every institution's slug."
                )
            credentials = credentials.filter(institution=found)
        if kind is not None:
            credentials = credentials.filter(kind=kind)
        counts = {"works": 0, "rejected": 0, "inconclusive": 0}
        for credential in credentials.iterator(chunk_size=100):
            self.wait_for_budget(credential.kind_spec.check_host(credential))
            verdict, latency = live_checks.ask_canvas(credential)
            checked = live_checks.record(
                credential, verdict, trigger=CredentialCheck.Trigger.COMMAND, latency_ms=latency
            )
            counts[checked.outcome] += 1
            self.stdout.write(
                "  ".join(
                    (
                        credential.institution.slug,
                        credential.kind,
                        credential.masked_client_id,
                        checked.outcome,
                        checked.record.reason,
                    )
                )
            )
        sent = alerts.sweep().sent
        summary = ", ".join(f"{n} {outcome}" for outcome, n in counts.items())
        self.stderr.write(f"Checked {sum(counts.values())} credential(s): {summary}; {sent} alert(s) sent.")

    def wait_for_budget(self, host: str) -> None:
        """Canvas's hosts get no more checks a minute from a command than from the schedule."""
        while not HostCheckBudget.take(host, timezone.now(), settings.PORTAL_CHECK_RATE_PER_HOST_PER_MINUTE):
            time.sleep(61 - timezone.now().second)
