"""Declare django-q2 schedules in code; migrate creates or updates them (never at import or start-up)."""

from django.utils import timezone


def ensure_schedules(schedules: list[dict], **kwargs) -> None:
    """post_migrate receiver body: update_or_create each schedule by its name."""
    from django_q.models import Schedule

    for spec in schedules:
        spec = dict(spec)
        name = spec.pop("name")
        defaults = {"schedule_type": Schedule.MINUTES, "repeats": -1, **spec}
        schedule, created = Schedule.objects.get_or_create(name=name, defaults={**defaults, "next_run": timezone.now()})
        if not created:
            changed = {field: value for field, value in defaults.items() if getattr(schedule, field) != value}
            if changed:
                Schedule.objects.filter(pk=schedule.pk).update(**changed)
