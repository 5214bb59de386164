"""The admin front page's store dashboards, rendered from :mod:`inventory.dashboard`.

A template tag rather than a custom AdminSite: the project keeps Django's
default admin site (every app registers on it), and the index template only
asks for the dashboards of the stores the signed-in user may see.
"""

from django import template
from django.apps import apps

from inventory import dashboard, selectors

register = template.Library()

# More stores than this make the front page a report; the rest are listed by name.
STORES_SHOWN = 12


@register.inclusion_tag("admin/inventory/dashboard.html", takes_context=True)
def store_dashboards(context):
    request = context["request"]
    user = request.user
    with_integrations = apps.is_installed("integrations") and user.has_perm("integrations.view_integration")
    with_imports = apps.is_installed("imports") and user.has_perm("imports.view_importjob")
    stores = list(selectors.visible_stores(user).select_related("inventory_source").order_by("name"))
    shown, more = stores[:STORES_SHOWN], stores[STORES_SHOWN:]
    return {
        "boards": dashboard.store_dashboards(
            shown,
            with_integrations=with_integrations,
            with_imports=with_imports,
        ),
        "with_integrations": with_integrations,
        "with_imports": with_imports,
        "more_stores": more,
        "can_view_items": user.has_perm("inventory.view_inventoryitem"),
        "can_view_push_states": user.has_perm("integrations.view_pushstate"),
        "can_view_runs": user.has_perm("integrations.view_syncrun"),
        "can_add_integration": user.has_perm("integrations.add_integration"),
        "can_upload": user.has_perm("imports.add_importjob")
        and bool(user.is_superuser or selectors.editable_stores(user).exists()),
        "is_superuser": user.is_superuser,
    }


@register.filter
def count_text(counts):
    """A run's or import's counts as words: "changed 3, unknown 1" (zeros left out)."""
    return dashboard.counts_text(counts)
