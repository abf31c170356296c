"""What the pipeline tests share: a token made as staff make it, and an API client as a pipeline holds one."""

import io

import httpx
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.db import close_old_connections


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
