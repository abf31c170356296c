"""What the pipeline tests share: a token made as staff make it, and an API client as a pipeline holds one."""

import io

import httpx
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.db import close_old_connections
from standardwebhooks.webhooks import Webhook

from tests.fakes import FakeServer


def create_token(name: str, *kinds_and_options: str) -> str:
    """`manage.py pipeline_token create NAME …`; returns its last line, the token."""
    out = io.StringIO()
    call_command("pipeline_token", "create", name, *kinds_and_options, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def api(token: str | None = None, **headers) -> httpx.Client:
    """An httpx client of the API, as a pipeline's code uses one, served in this process (WSGI)."""
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    transport = httpx.WSGITransport(app=InTestTransaction(WSGIHandler()), remote_addr="192.0.2.44")
    return httpx.Client(transport=transport, base_url="http://testserver/api/v1", headers=headers)


class InTestTransaction:
    """Django's WSGI handler, minus closing the database connection at the end of each request, as
    Django's own test client does: the test's transaction must survive the request."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        try:
            response = self.app(environ, start_response)
            body = b"".join(response)
            response.close()  # sends request_finished, while the signal is disconnected
        finally:
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)
        return [body]


class Receiver(FakeServer):
    """A pipeline's webhook receiver on loopback: it keeps every POST (headers and body as received)
    and answers ``status``; ``verified()`` checks each with the standardwebhooks library."""

    def __init__(self):
        super().__init__()
        self.status = 204
        self.received: list[tuple[dict, bytes]] = []

    @property
    def endpoint(self) -> str:
        return f"{self.url}/hooks/keydrop"

    def answer(self, request):
        self.received.append(({name.lower(): value for name, value in request.headers.items()}, request.body))
        return self.status, {}, b""

    def verified(self, secret: str) -> list[dict]:
        """Each delivery's event, as a receiver would accept it (WebhookVerificationError if one is not genuine)."""
        return [Webhook(secret).verify(body, headers) for headers, body in self.received]


def add_endpoint(url: str, *events: str) -> str:
    """`manage.py webhook_endpoint add URL --event …`; returns its last line, the signing secret."""
    out = io.StringIO()
    call_command("webhook_endpoint", "add", url, *(part for event in events for part in ("--event", event)), stdout=out)
    return out.getvalue().strip().splitlines()[-1]
