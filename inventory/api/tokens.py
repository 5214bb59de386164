"""API keys: created here, looked up here, never stored in the clear.

The admin, ``manage.py create_api_token`` and the authentication classes of
both APIs share these functions, so a key made one way works everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from inventory.models import ApiToken, Store

PREFIX_LENGTH = 8
# Only refresh last_used_at this often, so busy clients do not write on every request.
LAST_USED_GRANULARITY_SECONDS = 60


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """43 URL-safe characters (256 bits): safe in a header, a shell and a URL."""
    return secrets.token_urlsafe(32)


def issue_key(token: ApiToken) -> str:
    """Give ``token`` a fresh key (unsaved); return the key, which is never stored."""
    key = new_key()
    token.prefix = key[:PREFIX_LENGTH]
    token.key_hash = hash_key(key)
    return key


def create_token(
    name: str, stores: Iterable[Store], *, read_only: bool = False, user=None
) -> tuple[ApiToken, str]:
    """Create a token for ``stores``; return it with its key (show the key once)."""
    token = ApiToken(name=name, read_only=read_only, created_by=user)
    key = issue_key(token)
    with transaction.atomic():
        token.save()
        token.stores.set(list(stores))
    return token, key


def token_for_key(key: str | None) -> ApiToken | None:
    """The active token whose key is ``key``, or None.

    The lookup is by hash (a unique index), then compared in constant time,
    so neither the database nor timing reveals anything about other keys.
    """
    if not key:
        return None
    key = key.strip()
    if not key or len(key) > 200:
        return None
    digest = hash_key(key)
    token = ApiToken.objects.filter(key_hash=digest, is_active=True).first()
    if token is None or not hmac.compare_digest(token.key_hash, digest):
        return None
    now = timezone.now()
    stale = token.last_used_at is None or (
        (now - token.last_used_at).total_seconds() > LAST_USED_GRANULARITY_SECONDS
    )
    if stale:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
