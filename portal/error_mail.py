"""Error email to ADMINS that nobody can turn into a flood.

ADMINS mail goes out through the partner's own SMTP account, the one that carries customers' code
emails, so its quota is shared. Three rules:

- Suspicious requests (a Host that is not allowed, more than 1,000 fields, a bad multipart body) are
  logged, never mailed: anyone can send them (settings.LOGGING, "django.security").
- One email per kind of error (logger, exception type and message template) per
  PORTAL_ERROR_MAIL_INTERVAL_SECONDS, claimed in the database so every web node shares the budget;
  the next one says how many of its kind were not mailed. If the database cannot answer (the error
  may be the database), a budget per process stands in.
- What was posted is shown only for views that declared their secrets (portal/errors.py).
"""

import datetime
import hashlib
import threading

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.log import AdminEmailHandler

_local_lock = threading.Lock()
_local: dict[str, tuple[datetime.datetime, int]] = {}


def kind_of(record) -> str:
    """Errors of one kind: same logger, exception type and message template (not the path or values)."""
    exc_type = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
    return hashlib.sha256(f"{record.name}|{exc_type}|{record.msg}".encode()).hexdigest()


def claim(kind: str, now: datetime.datetime) -> int | None:
    """None: not this time (counted). A number: send, saying how many were held back since the last."""
    interval = datetime.timedelta(seconds=settings.PORTAL_ERROR_MAIL_INTERVAL_SECONDS)
    try:
        return _claim_shared(kind, now, interval)
    except DatabaseError:
        return _claim_local(kind, now, interval)


def _claim_shared(kind: str, now: datetime.datetime, interval: datetime.timedelta) -> int | None:
    model = apps.get_model("portal", "ErrorMail")
    with transaction.atomic():  # a savepoint inside a request's transaction: its failure stays here
        row = model.objects.filter(kind=kind).first()
        if row is None:
            try:
                with transaction.atomic():
                    model.objects.create(kind=kind, sent_at=now)
                return 0
            except IntegrityError:  # another node mailed it a moment ago
                model.objects.filter(kind=kind).update(suppressed=F("suppressed") + 1)
                return None
        if row.sent_at <= now - interval and model.objects.filter(pk=row.pk, sent_at=row.sent_at).update(
            sent_at=now, suppressed=0
        ):
            return row.suppressed
        model.objects.filter(pk=row.pk).update(suppressed=F("suppressed") + 1)
        return None


def _claim_local(kind: str, now: datetime.datetime, interval: datetime.timedelta) -> int | None:
    with _local_lock:
        sent_at, suppressed = _local.get(kind, (None, 0))
        if sent_at is not None and sent_at > now - interval:
            _local[kind] = (sent_at, suppressed + 1)
            return None
        _local[kind] = (now, 0)
        return suppressed


class ThrottledAdminEmailHandler(AdminEmailHandler):
    """Django's AdminEmailHandler, at most once per kind of error per interval, with a count."""

    def emit(self, record):
        held_back = claim(kind_of(record), timezone.now())
        if held_back is None:
            return
        self._held_back = held_back  # emit runs under the handler's lock: one record at a time
        super().emit(record)

    def send_mail(self, subject, message, *args, **kwargs):
        held_back = getattr(self, "_held_back", 0)
        if held_back:
            minutes = settings.PORTAL_ERROR_MAIL_INTERVAL_SECONDS // 60
            note = f"{held_back} more error(s) of this kind were logged but not mailed in the last {minutes} minute(s)."
            subject = f"{subject} (+{held_back} not mailed)"
            message = f"{note}\n\n{message}"
        super().send_mail(subject, message, *args, **kwargs)
