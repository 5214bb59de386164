"""One django-q2 schedule per integration, kept in step with its settings.

Created and updated idempotently (by a name derived from the integration), so
saving an integration twice, or migrating on several machines, never makes a
second schedule.
"""

from django.utils import timezone
from django_q.models import Schedule

from .models import Integration


def schedule_name(integration: Integration) -> str:
    return f"integration-sync-{integration.pk}"


def ensure_schedule(integration: Integration) -> Schedule | None:
    name = schedule_name(integration)
    if not integration.inventory_sync or not integration.schedule_minutes:
        Schedule.objects.filter(name=name).delete()
        return None
    schedule, created = Schedule.objects.update_or_create(
        name=name,
        defaults={
            "func": "integrations.tasks.scheduled_sync",
            "args": repr((integration.pk,)),
            "schedule_type": Schedule.MINUTES,
            "minutes": integration.schedule_minutes,
            "repeats": -1,
        },
    )
    if created or schedule.next_run is None:
        schedule.next_run = timezone.now()
        schedule.save(update_fields=["next_run"])
    return schedule


def remove_schedule(integration: Integration) -> None:
    Schedule.objects.filter(name=schedule_name(integration)).delete()
