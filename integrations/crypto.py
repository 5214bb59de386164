"""Encryption of integration credentials at rest (Fernet: AES-128-CBC + HMAC).

The key comes from ``settings.CREDENTIALS_KEY`` or, when that is empty, is
derived from ``SECRET_KEY`` — so a database dump alone never reveals a
cart's token.  Rotating either key means re-entering credentials.
"""

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class CredentialsUnreadable(Exception):
    """The stored credentials were encrypted with another key."""


def _fernet() -> Fernet:
    material = settings.CREDENTIALS_KEY or settings.SECRET_KEY
    digest = hashlib.sha256(("integration-credentials:" + material).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_text(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt_text(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise CredentialsUnreadable(
            "Stored credentials cannot be read with the current key; enter them again."
        ) from None


def encrypt_json(value: dict) -> str:
    return encrypt_text(json.dumps(value, sort_keys=True))


def decrypt_json(token: str) -> dict:
    return json.loads(decrypt_text(token))


def mask(value) -> str:
    """Show a secret as dots and its last four characters (none when short)."""
    text = str(value or "")
    if len(text) <= 8:
        return "••••" if text else ""
    return "••••" + text[-4:]
