"""Cluster tasks that poll mailboxes and FTP folders, and the schedules that run them.

Thin: the work is in :mod:`imports.email_ingest` and :mod:`imports.ftp_ingest`,
which make a poll safe to repeat (each message and file counts once) and safe to
lose (the next schedule picks up whatever a lost task left).  One schedule per
source, named after it, so saving a source twice or syncing on several machines
never makes a second one.  ``catch_up`` is off in ``Q_CLUSTER``: after downtime
a source is polled once, not once per missed interval.
"""

from __future__ import annotations

from django.utils import timezone
from django_q.models import Schedule

from . import email_ingest, ftp_ingest
from .sources import FtpSource, Mailbox

PREFIX = "imports-poll-"


def poll_mailbox_task(mailbox_id: int) -> str:
    mailbox = Mailbox.objects.filter(pk=mailbox_id).first()
    if mailbox is None:
        return "gone"
    return email_ingest.poll_mailbox(mailbox).message


def poll_ftp_task(source_id: int) -> str:
    source = FtpSource.objects.select_related("store").filter(pk=source_id).first()
    if source is None:
        return "gone"
    return ftp_ingest.poll_ftp(source).message


def schedule_name(source: Mailbox | FtpSource) -> str:
    kind = "mailbox" if isinstance(source, Mailbox) else "ftp"
    return f"{PREFIX}{kind}-{source.pk}"


def _task_of(source: Mailbox | FtpSource) -> str:
    return "imports.source_tasks." + ("poll_mailbox_task" if isinstance(source, Mailbox) else "poll_ftp_task")


def sync_schedule(source: Mailbox | FtpSource) -> Schedule | None:
    """Create, update or remove the source's schedule to match its settings."""
    name = schedule_name(source)
    if not source.enabled or not source.poll_minutes:
        Schedule.objects.filter(name=name).delete()
        return None
    schedule, created = Schedule.objects.update_or_create(
        name=name,
        defaults={
            "func": _task_of(source),
            "args": repr((source.pk,)),
            "kwargs": None,
            "schedule_type": Schedule.MINUTES,
            "minutes": min(source.poll_minutes, 32767),
            "repeats": -1,
        },
    )
    if created or schedule.next_run is None:
        schedule.next_run = timezone.now()
        schedule.save(update_fields=["next_run"])
    return schedule


def remove_schedule(source: Mailbox | FtpSource) -> None:
    Schedule.objects.filter(name=schedule_name(source)).delete()


def sync_all_schedules() -> list[Schedule]:
    """Every source's schedule as its settings say; schedules of deleted sources go."""
    kept = []
    wanted = set()
    for model in (Mailbox, FtpSource):
        for source in model.objects.all():
            schedule = sync_schedule(source)
            if schedule is not None:
                kept.append(schedule)
                wanted.add(schedule.name)
    Schedule.objects.filter(name__startswith=PREFIX).exclude(name__in=wanted).delete()
    return kept
