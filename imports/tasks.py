"""Cluster tasks for imports.  Thin: the work is in :mod:`imports.services`.

Each task is safe to run twice: an applied job stays applied, a previewed job
is previewed again with the same result.
"""

from . import services
from .models import ImportJob


def process_import(job_id: int, apply: bool = False) -> str:
    job = ImportJob.objects.select_related("store").get(pk=job_id)
    if job.status in {ImportJob.APPLIED, ImportJob.UNDONE, ImportJob.REFUSED}:
        return job.status
    job = services.apply(job, user=job.created_by) if apply and not job.dry_run else services.preview(job)
    return job.status
