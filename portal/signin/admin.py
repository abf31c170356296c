"""What the admin shows of staff sign-in.

No second-factor device is edited in the admin: django-otp's device pages would show TOTP keys and
recovery codes, and would let one staff member give another a device. People enrol themselves; an
administrator can only reset (audited, on the user's page).

django-axes' pages stay, with every deletion told to the audit trail (``access_records_deleted``):
deleting an access attempt is how staff lift a (username, address) lock early (docs/staff-guide.md), so it is a
privileged action like any other, and so is deleting the sign-in history.
"""

from axes import admin as axes_admin  # registers django-axes' pages now, so they can be replaced below
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib import admin
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.admin import replace_admin
from portal.signin import signals

for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


def _cool_off_start():
    """Failures recorded before this no longer lock (AXES_COOLOFF_TIME, PORTAL_LOGIN_LOCKOUT_MINUTES)."""
    return timezone.now() - settings.AXES_COOLOFF_TIME


class AuditedDeletion:
    """Deleting from a django-axes list, one record or many, sends ``access_records_deleted`` first."""

    kind = ""

    def what_deleting_does(self, obj) -> str:
        return "record deleted"

    def _tell(self, request, objects) -> None:
        records = [(obj.username or "", obj.ip_address, self.what_deleting_does(obj)) for obj in objects]
        if records:
            signals.access_records_deleted.send(sender=type(self), request=request, kind=self.kind, records=records)

    # The event and the deletion commit together: no record of it, no deletion.

    def delete_model(self, request, obj):
        with transaction.atomic():
            self._tell(request, [obj])
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            self._tell(request, list(queryset))
            super().delete_queryset(request, queryset)


class AccessAttemptAdmin(AuditedDeletion, axes_admin.AccessAttemptAdmin):
    kind = "access attempt"

    def what_deleting_does(self, attempt) -> str:
        failures = attempt.failures_since_start
        if failures >= settings.AXES_FAILURE_LIMIT and attempt.attempt_time > _cool_off_start():
            return f"lock lifted ({failures} failures)"
        return f"{failures} failure(s) forgotten; no lock was in force"

    @admin.action(description="Clean up expired attempts")
    def cleanup_expired_attempts(self, request, queryset):
        # django-axes' own clean-up deletes behind the admin's back; this one goes through the audit.
        expired = AccessAttempt.objects.filter(attempt_time__lte=_cool_off_start())
        count = len(expired)
        self.delete_queryset(request, expired)
        self.message_user(request, f"Cleaned up {count} expired access attempt(s).")


class AccessFailureLogAdmin(AuditedDeletion, axes_admin.AccessFailureLogAdmin):
    kind = "failed sign-in record"

    def what_deleting_does(self, failure) -> str:
        return "record of a lockout deleted" if failure.locked_out else "record deleted"


class AccessLogAdmin(AuditedDeletion, axes_admin.AccessLogAdmin):
    kind = "sign-in record"


for model, model_admin in [
    (AccessAttempt, AccessAttemptAdmin),
    (AccessFailureLog, AccessFailureLogAdmin),
    (AccessLog, AccessLogAdmin),
]:
    replace_admin(model, model_admin, only_if_registered=True)
