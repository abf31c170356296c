from django.core.management.base import BaseCommand

from keys import reminders
from keys.management import arguments


class Command(BaseCommand):
    help = "Run one renewal-reminder sweep now and print how many reminders it sent."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=100, help="reminders claimed at a time")
        parser.add_argument(
            "--time-budget", type=arguments.time_budget, default=600.0, help="seconds before handing the rest back"
        )

    def handle(self, *args, batch_size, time_budget, **options):
        report = reminders.sweep(batch_size=batch_size, time_budget=time_budget)
        self.stdout.write(
            f"Sent {report.sent} reminder(s); {report.failed} failed and will be retried; {report.skipped} skipped; "
            f"{report.cancelled} cancelled."
        )
