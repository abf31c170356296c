"""Mail backends standing for mail servers that misbehave."""

from django.core.mail.backends.base import BaseEmailBackend

REFUSING = "tests.mail_backends.RefusingBackend"


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses every connection (set settings.EMAIL_BACKEND = REFUSING)."""

    def send_messages(self, messages):
        raise ConnectionRefusedError("mail server refused the connection")
