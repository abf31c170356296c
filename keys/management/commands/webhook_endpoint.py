"""Webhook endpoints from a shell: add (the last line is the signing secret, shown once), list, disable, enable."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from keys import audit
from keys.models import WebhookEndpoint
from keys.models.webhooks import EVENT_TYPES
from keys.pipelines import endpoints


class Command(BaseCommand):
    help = (
        "Add, list, disable or enable webhook endpoints. `add` prints the signing secret (whsec_…) as its last "
        "line, once. Each change is in the audit trail as cli:<user>."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="Add an endpoint; its last line is the signing secret, shown once")
        add.add_argument("url", help="https://… (loopback http only with PORTAL_OUTBOUND_ALLOW_PRIVATE=1)")
        add.add_argument("--event", action="append", default=[], choices=EVENT_TYPES, required=True, help="Repeat")
        add.add_argument("--description", default="")
        actions.add_parser("list", help="Every endpoint, its events and whether it is failing or disabled")
        for name, text in (("disable", "Stop deliveries to it"), ("enable", "Deliver to it again")):
            action = actions.add_parser(name, help=text)
            action.add_argument("id", type=int)

    def handle(self, *args, action, **options):
        getattr(self, f"_{action}")(**options)

    def _add(self, *, url, event, description, **options):
        try:
            endpoint, secret = endpoints.add(url, event, actor=audit.cli_actor(), description=description)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(f"Added webhook endpoint {endpoint.pk}: {endpoint.url} for {', '.join(endpoint.events)}.")
        self.stdout.write("Its signing secret is shown once (verify each delivery's webhook-signature with it):")
        self.stdout.write(secret)

    def _list(self, **options):
        for endpoint in WebhookEndpoint.objects.all():
            state = f"disabled ({endpoint.disabled_reason})" if endpoint.disabled_at else "enabled"
            if endpoint.enabled and endpoint.failing_since:
                state += f", failing since {endpoint.failing_since:%Y-%m-%d %H:%M}"
            self.stdout.write(f"{endpoint.pk}\t{endpoint.url}\t{','.join(endpoint.events)}\t{state}")

    def _endpoint(self, pk: int) -> WebhookEndpoint:
        endpoint = WebhookEndpoint.objects.filter(pk=pk).first()
        if endpoint is None:
            raise CommandError(f"No webhook endpoint {pk}. `webhook_endpoint list` shows them.")
        return endpoint

    def _disable(self, *, id, **options):
        endpoints.disable(self._endpoint(id), "by hand", actor=audit.cli_actor())
        self.stdout.write(f"Webhook endpoint {id} is disabled.")

    def _enable(self, *, id, **options):
        endpoints.enable(self._endpoint(id), actor=audit.cli_actor())
        self.stdout.write(f"Webhook endpoint {id} is enabled.")
