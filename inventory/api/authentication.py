"""Who is calling, and which stores they may reach.

``/api/v1/`` accepts ``Authorization: Token <key>`` (scripts) and the admin
session (staff trying the browsable API).  Either way the request ends up with
an :class:`Access`: the stores it may see and whether it may write there, so
every view scopes its queries the same way and other stores' objects are 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import cached_property
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from inventory.models import ApiToken, Store
from inventory.selectors import editable_stores, visible_stores

from . import tokens


class TokenUser:
    """Stands in for ``request.user`` when a key, not a person, is calling."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, token: ApiToken):
        self.token = token
        self.username = f"api key {token.prefix}"

    def __str__(self):
        return self.username


@dataclass
class Access:
    """The stores a request may see and change, and how its changes are labelled."""

    token: ApiToken | None = None
    user: object = None

    @cached_property
    def stores(self):
        if self.token is not None:
            return self.token.stores.all()
        if self.user is not None and getattr(self.user, "is_staff", False):
            return visible_stores(self.user)
        return Store.objects.none()

    def can_write(self, store: Store) -> bool:
        if self.token is not None:
            return not self.token.read_only
        if self.user is None or not getattr(self.user, "is_staff", False):
            return False
        return editable_stores(self.user).filter(pk=store.pk).exists()

    @property
    def reference(self) -> str:
        """The ledger reference: which key (by its public prefix) or which user did it."""
        if self.token is not None:
            return f"api:{self.token.prefix}"
        return f"api:user:{getattr(self.user, 'pk', '')}"

    @property
    def ledger_user(self):
        """The person to credit in the ledger; a key is named by the reference instead."""
        return None if self.token is not None else self.user

    @property
    def sender(self) -> str:
        if self.token is not None:
            return f"api key {self.token.prefix} ({self.token.name})"
        return f"api user {getattr(self.user, 'username', '')}"


def access_for(request) -> Access:
    cached = getattr(request, "_api_access", None)
    if cached is not None:
        return cached
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken):
        access = Access(token=auth)
    else:
        user = getattr(request, "user", None)
        access = Access(user=user if getattr(user, "is_authenticated", False) else None)
    request._api_access = access
    return access


class TokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <key>``; the key is looked up by its hash."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the key as: Authorization: Token <key>.")
        try:
            key = header[1].decode("ascii")
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        token = tokens.token_for_key(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        return TokenUser(token), token

    def authenticate_header(self, request):
        return self.keyword


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "inventory.api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'An API key, sent as "Token <key>". Create one in the admin or with '
                           "manage.py create_api_token.",
        }
