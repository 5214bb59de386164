"""Write access: a read-only key or a viewer may read a store but never change it.

The store is resolved first (404 when it is not the caller's), so a read-only
key learns nothing about stores it does not hold: 404 there, 403 only on its own.
"""

from rest_framework import permissions

from .authentication import access_for


class CanWriteStore(permissions.BasePermission):
    message = "This API key (or your store role) is read only: it cannot change this store."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        if not hasattr(view, request.method.lower()):
            return True  # the view does not take this method: 405 says so, not "read only"
        get_store = getattr(view, "get_store", None)
        if get_store is None:
            return False
        return access_for(request).can_write(get_store())
