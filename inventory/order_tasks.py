"""Task-cluster entry points for mail, and the schedule that drives the digest.

The tasks are thin: the work and its once-only bookkeeping live in
:mod:`inventory.mail`, so running a task twice, late or not at all (a task
lost with its worker) never sends a mail twice; the next scheduled run sends
what is still due.
"""

from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone
from django_q.models import Schedule

from . import mail

DIGEST_SCHEDULE_NAME = "inventory-low-stock-mail"
# Often enough that a digest arrives within a quarter hour of its hour in any
# time zone (some are offset by 30 or 45 minutes); each run is one small query.
DIGEST_EVERY_MINUTES = 15


def send_low_stock_alerts(store_id: int) -> int:
    return mail.send_low_stock_alerts(store_id)


def low_stock_mail_run() -> dict:
    """The scheduled run: falls still unmailed, then every digest that is due."""
    return {"alerts": mail.send_pending_alerts(), "digests": mail.send_due_digests()}


def ensure_schedules(using: str = DEFAULT_DB_ALIAS, **kwargs) -> Schedule | None:
    """Create the mail schedule once (safe to call on every migrate, on every machine).

    It runs every quarter hour and the task decides, per store and in the
    store's own time zone, whether a digest is due, so daylight-saving changes
    and stores in different zones need no schedule of their own.  A schedule
    that already exists keeps its next run.  Does nothing until django-q2's
    tables exist (``migrate inventory`` alone does not create them).
    """
    if Schedule._meta.db_table not in connections[using].introspection.table_names():
        return None
    schedule, _created = Schedule.objects.using(using).get_or_create(
        name=DIGEST_SCHEDULE_NAME,
        defaults={
            "func": "inventory.order_tasks.low_stock_mail_run",
            "schedule_type": Schedule.MINUTES,
            "minutes": DIGEST_EVERY_MINUTES,
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )
    wanted = {
        "func": "inventory.order_tasks.low_stock_mail_run",
        "schedule_type": Schedule.MINUTES,
        "minutes": DIGEST_EVERY_MINUTES,
        "repeats": -1,
    }
    stale = {name: value for name, value in wanted.items() if getattr(schedule, name) != value}
    if stale:
        Schedule.objects.using(using).filter(pk=schedule.pk).update(**stale)
        schedule.refresh_from_db()
    return schedule
