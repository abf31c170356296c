from django.core.management.base import BaseCommand

from keys.management import arguments
from keys.onboarding import campaigns


class Command(BaseCommand):
    help = "Run one campaign sweep now: plan due chasers, send due invitations and chasers, print what happened."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=100, help="emails claimed at a time")
        parser.add_argument(
            "--time-budget", type=arguments.time_budget, default=600.0, help="seconds before handing the rest back"
        )

    def handle(self, *args, batch_size, time_budget, **options):
        report = campaigns.sweep(batch_size=batch_size, time_budget=time_budget)
        self.stdout.write(
            f"Sent {report.sent} campaign email(s); {report.failed} failed and will be retried; "
            f"{report.deferred} wait for tomorrow (per-contact limit); {report.cancelled} cancelled; "
            f"{report.planned_chasers} chaser(s) planned."
        )
