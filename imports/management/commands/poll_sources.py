"""Poll the import mailboxes and FTP folders now, the same way the schedules do.

For installs without a running task cluster (call it from cron) and for trying a
new source.  ``--schedules`` (re)creates the cluster's schedules from the
sources' settings.  Exit status 1 when a poll failed (its message is printed
and shown on the source in the admin).
"""

from django.core.management.base import BaseCommand, CommandError

from imports import email_ingest, ftp_ingest, source_tasks
from imports.sources import FtpSource, Mailbox
from inventory.models import Store


class Command(BaseCommand):
    help = "Poll import mailboxes and FTP folders now; --schedules syncs the cluster's schedules."

    def add_arguments(self, parser):
        parser.add_argument("--mailbox", type=int, action="append", default=[], help="Only this mailbox id.")
        parser.add_argument("--ftp", type=int, action="append", default=[], help="Only this FTP source id.")
        parser.add_argument("--store", help="Only the FTP folders of this store (slug).")
        parser.add_argument("--no-mail", action="store_true", help="Skip the mailboxes.")
        parser.add_argument("--no-ftp", action="store_true", help="Skip the FTP folders.")
        parser.add_argument(
            "--settle",
            type=float,
            help="Seconds between the two FTP listings that tell a finished file from one still "
            "arriving (default IMPORT_FTP_SETTLE_SECONDS).",
        )
        parser.add_argument(
            "--schedules", action="store_true", help="Only create/update the schedules; poll nothing."
        )

    def handle(self, *args, **opts):
        if opts["schedules"]:
            schedules = source_tasks.sync_all_schedules()
            for schedule in schedules:
                self.stdout.write(f"{schedule.name}: every {schedule.minutes} min")
            self.stdout.write(f"{len(schedules)} schedules.")
            return
        self._refuse_unknown(opts)
        only = bool(opts["mailbox"] or opts["ftp"] or opts["store"])
        mailboxes = Mailbox.objects.filter(enabled=True)
        sources = FtpSource.objects.filter(enabled=True).select_related("store")
        if only:
            mailboxes = mailboxes.filter(pk__in=opts["mailbox"])
            sources = sources.filter(pk__in=opts["ftp"]) if opts["ftp"] else sources
            if opts["store"]:
                sources = sources.filter(store__slug=opts["store"])
            elif not opts["ftp"]:
                sources = sources.none()
        if opts["no_mail"]:
            mailboxes = mailboxes.none()
        if opts["no_ftp"]:
            sources = sources.none()
        if not mailboxes and not sources:
            self.stdout.write("Nothing to poll: no enabled mailbox or FTP folder matches.")
            return
        failed = 0
        for mailbox in mailboxes:
            report = email_ingest.poll_mailbox(mailbox)
            failed += not report.ok
            self.stdout.write(f"mailbox {mailbox}: {report.message}")
        for source in sources:
            report = ftp_ingest.poll_ftp(source, settle=opts["settle"])
            failed += not report.ok
            self.stdout.write(f"ftp {source.location} ({source.store.slug}): {report.message}")
        if failed:
            raise CommandError(f"{failed} poll(s) failed.")

    @staticmethod
    def _refuse_unknown(opts):
        """A typo in a slug or an id is an error, not a quiet poll of nothing."""
        if opts["store"] and not Store.objects.filter(slug=opts["store"]).exists():
            raise CommandError(f"No store with slug {opts['store']!r}.")
        for label, model, wanted in (("mailbox", Mailbox, opts["mailbox"]), ("FTP source", FtpSource, opts["ftp"])):
            missing = sorted(set(wanted) - set(model.objects.filter(pk__in=wanted).values_list("pk", flat=True)))
            if missing:
                raise CommandError(f"No {label} with id {', '.join(map(str, missing))}.")
