from django.core.management.base import BaseCommand

from keys.pipelines import webhooks


class Command(BaseCommand):
    help = "Run one webhook sweep now: owe each endpoint its new events, send what is due, and print what happened."

    def add_arguments(self, parser):
        parser.add_argument("--time-budget", type=float, default=600.0, help="seconds before handing the rest back")

    def handle(self, *args, time_budget, **options):
        report = webhooks.sweep(time_budget=time_budget)
        self.stdout.write(
            f"Planned {report['planned']} delivery(ies); sent {report['sent']}; {report['failed']} failed and will be "
            f"retried; {report['cancelled']} cancelled; {report['disabled']} endpoint(s) disabled."
        )
