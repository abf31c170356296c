"""One email, one function call, three templates: emails/<name>-subject.txt, -body.txt, -body.html.

Every HTML body extends emails/base.html, which carries the partner's brand.
"""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from portal import fragments
from portal.branding import brand


def check_every() -> str:
    """How often the live checks run, in words: "every day", "every 6 hours"."""
    hours = int(settings.PORTAL_CHECK_INTERVAL.total_seconds() // 3600)
    if hours % 24 == 0:
        days = hours // 24
        return "every day" if days == 1 else f"every {days} days"
    return "every hour" if hours == 1 else f"every {hours} hours"


def build(name: str, to: list[str], context: dict) -> EmailMultiAlternatives:
    current = brand()
    logo_src = current.logo_url
    if logo_src.startswith("/"):  # a path on this site: mail clients need the whole address
        logo_src = settings.PORTAL_BASE_URL + logo_src
    context = {
        **fragments.layout(),  # the partner's name, brand and addresses, the verification numbers
        "check_every": check_every(),
        "logo_src": logo_src,
        **context,
    }
    subject = " ".join(render_to_string(f"emails/{name}-subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"emails/{name}-body.txt", context),
        to=to,
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(render_to_string(f"emails/{name}-body.html", context), "text/html")
    return message


# An email being sent runs on after its sender's time is up: each step of an SMTP exchange
# (connect, greeting, TLS, login, sender, recipient, data, end of data) may wait up to
# EMAIL_TIMEOUT, or this long without one.
SMTP_STEPS = 8
SMTP_STEP_SECONDS_WITHOUT_TIMEOUT = 60


def in_flight_seconds() -> float:
    """The longest an email being sent may still take: what a sweep's claim must outlast it by
    (keys/outbox.py). A claim that ran out mid-send would let another sweep send it again."""
    return SMTP_STEPS * (settings.EMAIL_TIMEOUT or SMTP_STEP_SECONDS_WITHOUT_TIMEOUT)


def send(name: str, to: list[str], context: dict) -> None:
    """Send now; raises if the mail server refuses, so callers can decide what that means."""
    build(name, to, context).send(fail_silently=False)
