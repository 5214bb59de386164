"""Cluster tasks for integrations: thin wrappers over :mod:`integrations.services`.

Each is safe to run twice: runs take a lease, and pushes send only what the
cart has not confirmed.
"""

from . import services
from .models import Integration


def scheduled_sync(integration_id: int) -> str:
    integration = Integration.objects.filter(pk=integration_id).select_related("store").first()
    if integration is None:
        return "gone"
    runs = services.sync(integration, trigger="schedule")
    return ", ".join(f"{run.kind}:{run.status}" for run in runs) or "skipped"


def run_pending_push(integration_id: int) -> str:
    if not Integration.objects.filter(pk=integration_id).exists():
        return "gone"
    run = services.run_pending_push(integration_id)
    return f"{run.kind}:{run.status}" if run else "nothing pending"


def sync_now(integration_id: int) -> str:
    integration = Integration.objects.select_related("store").get(pk=integration_id)
    runs = services.sync(integration, trigger="manual")
    return ", ".join(f"{run.kind}:{run.status}" for run in runs) or "skipped"
