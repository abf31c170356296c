"""Mail backends standing for mail servers that misbehave."""

from django.core.mail.backends import locmem
from django.core.mail.backends.base import BaseEmailBackend

REFUSING = "tests.mail_backends.RefusingBackend"
SLOW = "tests.mail_backends.SlowBackend"


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses every connection (set settings.EMAIL_BACKEND = REFUSING)."""

    def send_messages(self, messages):
        raise ConnectionRefusedError("mail server refused the connection")


class SlowBackend(locmem.EmailBackend):
    """A mail server that takes its time over the next message: `meanwhile` runs while it does
    (a test moves the clock there and lets another worker sweep), once."""

    meanwhile = None

    def send_messages(self, messages):
        meanwhile, SlowBackend.meanwhile = SlowBackend.meanwhile, None
        if meanwhile:
            meanwhile()
        return super().send_messages(messages)
