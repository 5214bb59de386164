"""Store roles as Django permissions: a membership is all a staff user needs.

Adding a staff user to a store as an *editor* or a *viewer* is how a shop owner
thinks about access; asking them to also tick dozens of model permissions would
leave new staff looking at an empty admin.  This authentication backend grants
the model permissions that follow from a user's memberships, and nothing else:

* a viewer of any store may view the store-scoped models;
* an editor of any store may also add, change and delete the ones staff work
  with (items, their metadata, imports, integrations, import sources) and
  change store settings.

These are model-level grants only.  *Which* objects a user sees or changes is
still decided per store by the admin (``StoreScopedAdmin``), so a viewer of
store A and editor of store B can change B's items and only look at A's.
Permissions given through Django's groups and user permissions keep working
beside these (Django asks every backend), and superusers need none of this.
Memberships, users, groups, API tokens and the task queue stay with those who
hold Django's own permissions for them.
"""

from __future__ import annotations

from .models import StoreMembership

VIEW = "view"
ALL = ("view", "add", "change", "delete")

# model label -> actions an editor gets; viewers get "view" on every model here.
EDITOR_ACTIONS: dict[str, tuple[str, ...]] = {
    "inventory.store": ("view", "change"),
    "inventory.inventoryitem": ALL,
    "inventory.itemmetadata": ALL,
    "inventory.stockledgerentry": ("view",),
    "inventory.order": ("view",),
    "inventory.orderline": ("view",),
    "imports.importjob": ("view", "add", "change"),
    "imports.columnmapping": ALL,
    "imports.emailsource": ALL,
    "imports.ftpsource": ALL,
    "integrations.integration": ALL,
    "integrations.syncrun": ("view",),
    "integrations.pushstate": ("view",),
}

_CACHE = "_hub_store_role_permissions"


def permissions_for_roles(roles: set[str]) -> frozenset[str]:
    """The ``app_label.action_model`` permissions that a set of membership roles grants."""
    granted = set()
    for label, editor_actions in EDITOR_ACTIONS.items():
        app_label, model = label.split(".")
        actions = editor_actions if StoreMembership.EDITOR in roles else (VIEW,) if roles else ()
        granted.update(f"{app_label}.{action}_{model}" for action in actions)
    return frozenset(granted)


class StoreRoleBackend:
    """Grants the permissions of :func:`permissions_for_roles`; never authenticates anyone."""

    def authenticate(self, request, **credentials):
        return None

    def get_user(self, user_id):
        return None

    def _permissions(self, user) -> frozenset[str]:
        if not (user.is_active and user.is_staff) or user.is_anonymous:
            return frozenset()
        cached = getattr(user, _CACHE, None)
        if cached is None:
            roles = set(StoreMembership.objects.filter(user=user).values_list("role", flat=True).distinct())
            cached = permissions_for_roles(roles)
            setattr(user, _CACHE, cached)
        return cached

    def get_all_permissions(self, user, obj=None) -> frozenset[str]:
        return self._permissions(user)

    def has_perm(self, user, perm, obj=None) -> bool:
        return perm in self._permissions(user)

    def has_module_perms(self, user, app_label) -> bool:
        prefix = app_label + "."
        return any(perm.startswith(prefix) for perm in self._permissions(user))


def forget_permissions(user) -> None:
    """Drop a user's cached grants (after their memberships changed in this request)."""
    if hasattr(user, _CACHE):
        delattr(user, _CACHE)
