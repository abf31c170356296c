"""The task queue in the admin: read-only for everyone, superusers included.

Keydrop declares its schedules in code (portal/schedules.py); django-q2's own admin would let anyone
with its add or change permission schedule any dotted path with literal arguments, or resubmit a
task, outside the audit trail. Here schedules, results and queued tasks can be looked at only.
"""

from django.contrib import admin
from django_q import admin as q_admin
from django_q.models import Failure, OrmQ, Schedule, Success


def replace_admin(model, model_admin, *, only_if_registered: bool = False) -> None:
    """Put Keydrop's admin for a third-party model in place of the library's own."""
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    elif only_if_registered:
        return
    admin.site.register(model, model_admin)


class LookOnly:
    actions = None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ScheduleAdmin(LookOnly, q_admin.ScheduleAdmin):
    pass


class SuccessAdmin(LookOnly, q_admin.TaskAdmin):
    pass


class FailureAdmin(LookOnly, q_admin.FailAdmin):
    pass


class QueueAdmin(LookOnly, q_admin.QueueAdmin):
    pass


for model, model_admin in [
    (Schedule, ScheduleAdmin),
    (Success, SuccessAdmin),
    (Failure, FailureAdmin),
    (OrmQ, QueueAdmin),
]:
    replace_admin(model, model_admin)
