"""A real SMTP server on loopback (aiosmtpd) that records what it accepts.

It can hold one mail transaction at RCPT TO, before any message content is sent: to stand for a
slow mail server at the moment a worker dies (released by the test), or to keep one sender busy
until another sender's transaction begins (released by that transaction).
"""

import asyncio
import email
import socket
import threading
from email.message import Message

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingHandler:
    def __init__(self, hold_transaction: int | None = None, release_on_transaction: int | None = None):
        self.messages: list[Message] = []
        self.transactions = 0
        self.hold_transaction = hold_transaction
        self.release_on_transaction = release_on_transaction
        self.holding = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self._lock:
            self.transactions += 1
            session.transaction_number = self.transactions
        if session.transaction_number == self.release_on_transaction:
            self.release.set()
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if session.transaction_number == self.hold_transaction and not envelope.rcpt_tos:
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def header_values(self, name: str) -> list[str]:
        with self._lock:
            return [message[name] for message in self.messages]


class SMTPSink:
    def __init__(self, **handler_options):
        self.handler = RecordingHandler(**handler_options)
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.handler.release.set()
        self.controller.stop()

    @property
    def url(self) -> str:
        """EMAIL_URL for a child process."""
        return f"smtp://127.0.0.1:{self.port}"

    def receive_mail_of(self, settings) -> None:
        """Point this process's mail (pytest-django's `settings` fixture) at the sink."""
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", self.port
