"""Where explanations of told quantities learn about carts and extra notes.

``inventory`` imports no other app, yet an item's explanation should name each
connected cart and say when a fulfillment integration's product code match
mentions the item.  Apps that know about such things register providers here
(integrations does, in its ``ready()``).
"""

from collections.abc import Callable
from dataclasses import dataclass

from . import rules


@dataclass(frozen=True)
class CartInfo:
    label: str
    cart: rules.Cart
    sync_on: bool = True


_cart_providers: list[Callable] = []
_note_providers: list[Callable] = []


def register_cart_provider(provider: Callable) -> None:
    """``provider(store) -> list[CartInfo]``."""
    if provider not in _cart_providers:
        _cart_providers.append(provider)


def register_note_provider(provider: Callable) -> None:
    """``provider(store, code) -> list[str]``: extra lines for an item's explanation."""
    if provider not in _note_providers:
        _note_providers.append(provider)


def carts_for(store) -> list[CartInfo]:
    return [info for provider in _cart_providers for info in provider(store)]


def notes_for(store, code: str) -> list[str]:
    return [note for provider in _note_providers for note in provider(store, code)]
