"""Product code match lines on a fulfillment integration (design §5).

``OLD=NEW`` says our SKU ``OLD`` is the service's ``NEW`` (bundles
``OLD=A,B,B``).  Counts never move back to ``OLD``: a pull applies the
service's count for ``NEW`` to our item whose SKU is ``NEW``, if any.  The
lines exist so that an ``OLD`` item's explanation can say so and point to
``code_replace``, which is how a cart is told a replaced SKU's count.
"""

from dataclasses import dataclass


class CodeMatchError(ValueError):
    pass


@dataclass(frozen=True)
class CodeMatch:
    line: int
    old: str
    new: tuple[str, ...]


def parse_code_match(text: str) -> list[CodeMatch]:
    matches, seen = [], {}
    for number, raw in enumerate((text or "").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.count("=") != 1:
            raise CodeMatchError(f"Line {number} '{line}': write one OLD=NEW per line.")
        old, new = (part.strip() for part in line.split("="))
        parts = tuple(part.strip() for part in new.split(","))
        if not old or not new or any(not part for part in parts):
            raise CodeMatchError(f"Line {number} '{line}': both sides need a SKU (bundles: OLD=A,B,B).")
        if old in seen:
            raise CodeMatchError(f"Line {number}: {old} is already matched on line {seen[old]}.")
        seen[old] = number
        matches.append(CodeMatch(number, old, parts))
    return matches


def explain_old_code(match: CodeMatch, integration_name: str) -> str:
    target = ",".join(match.new)
    return (
        f"{integration_name} matches this SKU to {target} (product code match, line {match.line}). "
        f"Pulls never move counts back to {match.old}: they update the item {target} if it exists. "
        f"To tell carts {target}'s count for {match.old}, set code_replace={target} on this item."
    )
