"""The one way work is handed to the django-q2 cluster.

Tasks are enqueued only after the surrounding transaction commits, so a worker
never looks for a row that is not there yet (or that a rollback removed).
"""

from django.db import transaction
from django_q.tasks import async_task


def offload(func_path: str, *args, task_name: str | None = None, group: str | None = None, **kwargs):
    """Run ``func_path(*args, **kwargs)`` on the cluster once the transaction commits."""
    options = {}
    if task_name:
        options["task_name"] = task_name
    if group:
        options["group"] = group

    def enqueue():
        # django-q2's database broker closes this process's connections when it is
        # called outside a transaction (on SQLite at once): whatever still runs on
        # them (an import's staging table, an open cursor) would fail.  Inside one,
        # it leaves them alone; with Redis this costs nothing.
        with transaction.atomic():
            async_task(func_path, *args, q_options=options, **kwargs)

    transaction.on_commit(enqueue)
