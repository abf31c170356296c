"""One email, one function call, three templates: emails/<name>-subject.txt, -body.txt, -body.html."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from intake import rules


def build(name: str, to: list[str], context: dict) -> EmailMultiAlternatives:
    context = {
        "partner_name": settings.PORTAL_PARTNER_NAME,
        "support_email": settings.PORTAL_SUPPORT_EMAIL,
        "rules": rules.terms(),  # an email that states a verification number reads it here
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


def send(name: str, to: list[str], context: dict) -> None:
    """Send now; raises if the mail server refuses, so callers can decide what that means."""
    build(name, to, context).send(fail_silently=False)
