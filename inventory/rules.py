"""Item metadata rules and the quantity a cart is told.

Pure functions and plain records: no Django, no database. Everything here is
decided from the values handed in, so the admin, the API, imports and the sync
engine all validate and compute the same way, and the rules can be tested as
tables of known answers.

Quantities are integers; percentages are ``Decimal``. No floats anywhere: a
float percentage turns "33.333…% of 3" into 1 instead of 0.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, Inexact, localcontext
from functools import lru_cache
from types import MappingProxyType

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})

SAFETY_KEYS = frozenset({"adjustment_percent", "min", "max", "skip_pull", "skip_push"})
KNOWN_KEYS = SAFETY_KEYS | {"code_replace", "low_stock"}

_WHOLE_KEYS = frozenset({"min", "max", "low_stock"})
_FLAG_KEYS = frozenset({"skip_pull", "skip_push"})

# ASCII only: str.isdigit() and int() also accept other scripts' digits and "1_000".
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")
_WHOLE = re.compile(r"[0-9]+")
_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*%?")

_NO_COMPONENTS: Mapping[str, "Component | None"] = MappingProxyType({})


class MetadataError(ValueError):
    """One refused metadata entry, with a message fit to show the person who entered it.

    ``key`` and ``value`` are what was given, so a caller can point at the
    admin field, API field or import cell they came from.
    """

    def __init__(self, key: str, value: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.value = value
        self.message = message

    def __reduce__(self):
        # Task queues pickle exceptions; the default would call cls(message).
        return (type(self), (self.key, self.value, self.message))

    def __repr__(self) -> str:
        return f"MetadataError(key={self.key!r}, value={self.value!r}, message={self.message!r})"


def _text(value: object) -> str:
    """Metadata arrives as text from forms and files; API clients may send numbers."""
    if value is None:
        return ""
    return str(value)


def _shown(value: str) -> str:
    return f'"{value}"' if value.strip() else "an empty value"


def split_key(key: str) -> tuple[str, str | None]:
    """Split ``"max@amazon-us"`` into the rule and the integration slug it is for.

    Keys are compared ignoring case and surrounding spaces, so both parts come
    back lower-cased and trimmed. ``"max@"`` gives an empty slug, not ``None``,
    so validation can refuse it. Whether the rule may carry a suffix and
    whether the slug is well formed is judged by ``validate_metadata``.
    """
    base, at, slug = _text(key).strip().lower().partition("@")
    if not at:
        return base.strip(), None
    return base.strip(), slug.strip()


def _joined_key(base: str, slug: str | None) -> str:
    return base if slug is None else f"{base}@{slug}"


def _check_key(key: str, value: str) -> tuple[str, str | None]:
    base, slug = split_key(key)
    if not base:
        if slug is None:
            raise MetadataError(
                key,
                value,
                "A metadata key may not be empty; name it, e.g. max or colour.",
            )
        raise MetadataError(
            key,
            value,
            f'The metadata key "{_text(key).strip()}" has nothing before "@"; '
            f"write the rule first, like max@{slug or 'amazon-us'}.",
        )
    if slug is None:
        return base, None
    if base not in SAFETY_KEYS:
        raise MetadataError(
            key,
            value,
            f'"{_joined_key(base, slug)}": only '
            f"{', '.join(sorted(SAFETY_KEYS))} may carry a cart suffix "
            f"(@integration-slug); {base} applies to every cart.",
        )
    if not _SLUG.fullmatch(slug):
        raise MetadataError(
            key,
            value,
            f'"{_joined_key(base, slug)}": the part after "@" must be an '
            'integration slug (lower-case letters, digits, "-" and "_", '
            f"starting with a letter or digit); got {_shown(slug)}.",
        )
    return base, slug


def _parse_whole(key: str, value: object) -> int:
    text = _text(value)
    stripped = text.strip()
    if not _WHOLE.fullmatch(stripped):
        raise MetadataError(
            key,
            text,
            f"{key} must be a whole number, 0 or more, written with digits only "
            f"(like 5); got {_shown(text)}.",
        )
    return int(stripped)


def _parse_percent(key: str, value: object) -> Decimal:
    text = _text(value)
    stripped = text.strip()
    match = _PERCENT.fullmatch(stripped)
    if not match:
        hint = " Use a dot for decimals." if "," in stripped else ""
        raise MetadataError(
            key,
            text,
            f"{key} must be a number from 0 to 100, like 50 or 12.5; got {_shown(text)}.{hint}",
        )
    percent = Decimal(match.group(1))
    if percent > 100:
        raise MetadataError(key, text, f"{key} must be from 0 to 100; got {_shown(text)}.")
    return percent


def _parse_flag(key: str, value: object) -> bool:
    text = _text(value)
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    name = f"{key} must be" if key else "A yes/no value must be"
    raise MetadataError(
        key,
        text,
        f"{name} one of 1, true, yes, on (for yes) or 0, false, no, off or empty "
        f"(for no); got {_shown(text)}.",
    )


def _parse_skus(key: str, value: object, *, strict: bool, own_code: str | None = None) -> list[str]:
    text = _text(value)
    parts = [part.strip() for part in text.split(",")]
    example = 'like "B" or, for a bundle, "B,C,C"'
    if strict and any(not part for part in parts):
        what = "is empty" if not text.strip() else "has an empty SKU between commas"
        raise MetadataError(
            key,
            text,
            f"{key} {what}; list the SKUs this item takes its count from, {example}; got {_shown(text)}.",
        )
    skus = [part for part in parts if part]
    if not skus:
        raise MetadataError(
            key,
            text,
            f"{key} names no SKU; list the SKUs this item takes its count from, "
            f"{example}; got {_shown(text)}.",
        )
    if own_code is not None and own_code.strip() in skus:
        raise MetadataError(
            key,
            text,
            f'{key} may not name the item itself ("{own_code.strip()}"); '
            f"list other items' SKUs, {example}; got {_shown(text)}.",
        )
    return skus


def _unit_counts(skus: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sku in skus:
        counts[sku] = counts.get(sku, 0) + 1
    return counts


def _decimal_text(number: Decimal) -> str:
    """Plain digits without exponent or trailing zeros: 50, 12.5, 0.001."""
    return format(number.normalize(), "f")


def parse_bool(value: object, *, key: str = "") -> bool:
    """Read a yes/no metadata value (case and surrounding spaces ignored).

    ``key`` only names the field in the error message.
    """
    return _parse_flag(key, value)


def parse_code_replace(value: str) -> dict[str, int]:
    """Units per SKU of a ``code_replace`` value: ``"B,C,C"`` -> ``{"B": 1, "C": 2}``.

    Order is kept. Stray empty parts (a trailing comma) are skipped rather than
    refused here, because stored values are read with this too and a harmless
    comma should not stop an item being sent; ``validate_metadata`` refuses
    them when entered. A value naming no SKU at all raises ``MetadataError``.
    """
    return _unit_counts(_parse_skus("code_replace", value, strict=False))


def validate_metadata(key: str, value: str, *, own_code: str | None = None) -> tuple[str, str]:
    """Check one metadata entry and return it normalised as ``(key, value)``.

    ``own_code`` is the item's SKU, needed to refuse a ``code_replace`` that
    names the item itself; without it that check is skipped. Whether the SKUs
    exist in the store is for the caller, which has the database.
    """
    raw_value = _text(value)
    base, slug = _check_key(key, raw_value)
    full_key = _joined_key(base, slug)
    try:
        if base == "adjustment_percent":
            return full_key, _decimal_text(_parse_percent(full_key, raw_value))
        if base in _WHOLE_KEYS:
            return full_key, str(_parse_whole(full_key, raw_value))
        if base in _FLAG_KEYS:
            return full_key, "1" if _parse_flag(full_key, raw_value) else "0"
        if base == "code_replace":
            skus = _parse_skus(full_key, raw_value, strict=True, own_code=own_code)
            return full_key, ",".join(skus)
    except MetadataError as problem:
        # The message names the normalised key; the error keeps the key as given.
        raise MetadataError(key, raw_value, problem.message) from None
    return full_key, raw_value


def validate_metadata_set(metadata: Mapping[str, str]) -> list[MetadataError]:
    """Problems that only show across keys of one item: the same key twice, and
    ``max`` below ``min`` — plain, and for each cart as that cart sees them.

    Entries that fail on their own are skipped here; ``validate_metadata``
    reports them.
    """
    problems: list[MetadataError] = []
    seen: dict[str, str] = {}
    bounds: dict[tuple[str, str | None], tuple[str, str, int]] = {}
    for key, value in metadata.items():
        base, slug = split_key(key)
        full_key = _joined_key(base, slug)
        if full_key in seen:
            problems.append(
                MetadataError(
                    key,
                    _text(value),
                    f'"{seen[full_key]}" and "{key}" are the same key (keys ignore '
                    "case and surrounding spaces); keep only one.",
                )
            )
            continue
        seen[full_key] = key
        if base not in ("min", "max") or (slug is not None and not _SLUG.fullmatch(slug)):
            continue
        try:
            bounds[(base, slug)] = (key, full_key, _parse_whole(full_key, value))
        except MetadataError:
            continue

    def check(slug: str | None) -> None:
        lower = bounds.get(("min", slug)) or bounds.get(("min", None))
        upper = bounds.get(("max", slug)) or bounds.get(("max", None))
        if lower is None or upper is None or upper[2] >= lower[2]:
            return
        # Blame the entry that makes this cart differ from the plain keys.
        blamed = upper if slug is None or ("max", slug) in bounds else lower
        where = "" if slug is None else f" (as {slug} sees them)"
        problems.append(
            MetadataError(
                blamed[0],
                _text(metadata[blamed[0]]),
                f"max may not be below min{where}: {upper[1]} is {upper[2]} "
                f"but {lower[1]} is {lower[2]}. "
                f"Set max to {lower[2]} or more, or lower min.",
            )
        )

    check(None)
    for slug in sorted({slug for (_, slug) in bounds if slug is not None}):
        check(slug)
    return problems


def _norm_slug(slug: str | None) -> str | None:
    if slug is None:
        return None
    slug = slug.strip().lower()
    return slug or None


def _effective(metadata: Mapping[str, str], integration_slug: str | None) -> dict[str, tuple[str, object]]:
    """Rule name -> (the key it came from, value) as one cart sees them."""
    slug = _norm_slug(integration_slug)
    plain: dict[str, tuple[str, object]] = {}
    overrides: dict[str, tuple[str, object]] = {}
    for key, value in metadata.items():
        base, key_slug = split_key(key)
        if key_slug is None:
            plain[base] = (base, value)
        elif base in SAFETY_KEYS and slug is not None and key_slug == slug:
            overrides[base] = (_joined_key(base, key_slug), value)
    return {**plain, **overrides}


def effective_metadata(metadata: Mapping[str, str], integration_slug: str | None) -> dict[str, str]:
    """The metadata as one integration sees it, keyed by plain (normalised) rule names.

    ``key@slug`` overrides ``key`` for that slug only; other slugs' entries are
    dropped, and so are suffixes on keys that may not carry one. With no slug,
    only plain keys apply. Values are passed through untouched.
    """
    return {base: value for base, (_, value) in _effective(metadata, integration_slug).items()}


@dataclass(frozen=True)
class Step:
    """One rule's effect on the quantity, kept so staff see why a cart got a number.

    ``rule`` is one of: stock, replace, bundle, own_stock_ignored, negative, min,
    adjustment_percent, max, skip_push, unsupported_cart, missing_component, chain.
    ``before``/``after`` are the quantity going in and coming out, ``None``
    where the step has no quantity to speak of.
    """

    rule: str
    before: int | None
    after: int | None
    note: str


@dataclass(frozen=True)
class Component:
    """What the rules need to know about an item named by ``code_replace``."""

    stock: int
    replaces: bool


@dataclass(frozen=True)
class Cart:
    """The receiving integration. ``slug=None`` stands for no cart in particular:
    no suffixed metadata applies."""

    slug: str | None = None
    supports_replaced_skus: bool = True


@dataclass(frozen=True)
class Told:
    """The quantity for a cart (``None``: not sent) and the steps behind it.

    ``error`` is set when the item cannot be sent because its data is wrong
    (a replacement SKU missing or itself replaced), so push state can show it;
    items left out on purpose (skip_push, a cart without replaced-SKU support)
    have no error.
    """

    quantity: int | None
    steps: tuple[Step, ...]
    error: str | None = None

    @property
    def sent(self) -> bool:
        return self.quantity is not None


def _for(slug: str | None) -> str:
    return f" for {slug}" if slug else ""


def _ignored(problem: MetadataError) -> str:
    return f"{problem.message} It is ignored until fixed."


def _sku_list(skus: list[str]) -> str:
    if len(skus) == 1:
        return skus[0]
    return ", ".join(skus[:-1]) + " and " + skus[-1]


def _percent_of(quantity: int, percent: Decimal) -> tuple[Decimal, int]:
    # Enough digits for the exact product; Inexact guards the claim.
    digits = len(str(abs(quantity))) + len(percent.as_tuple().digits) + 4
    with localcontext() as context:
        context.prec = max(context.prec, digits)
        context.traps[Inexact] = True
        exact = (Decimal(quantity) * percent).scaleb(-2)
        floored = exact.to_integral_value(rounding=ROUND_FLOOR)
    return exact, int(floored)


def _replaced_base(
    stock: int,
    counts: dict[str, int],
    cart: Cart,
    components: Mapping[str, Component | None],
    steps: list[Step],
) -> int | Told:
    """The replacement's count, or the final Told when the item cannot be sent."""
    skus = list(counts)
    if not cart.supports_replaced_skus:
        steps.append(
            Step(
                "unsupported_cart",
                None,
                None,
                f"This item takes its count from {_sku_list(skus)} (code_replace), "
                f"and {cart.slug or 'this cart'} cannot receive counts for "
                "replaced SKUs, so it is not sent there.",
            )
        )
        return Told(None, tuple(steps))

    errors: list[str] = []
    for sku in skus:
        component = components.get(sku)
        if component is None:
            steps.append(
                Step(
                    "missing_component",
                    None,
                    None,
                    f"code_replace names {sku}, but there is no item with that "
                    "SKU, so this item is not sent.",
                )
            )
            errors.append(f'code_replace names "{sku}", which is not an item in this store.')
        elif component.replaces:
            steps.append(
                Step(
                    "chain",
                    None,
                    None,
                    f"code_replace names {sku}, which takes its own count from "
                    "other SKUs; a replaced SKU may not point to another, so this "
                    "item is not sent.",
                )
            )
            errors.append(
                f'code_replace names "{sku}", which has code_replace itself (chains are not allowed).'
            )
    if errors:
        return Told(None, tuple(steps), error=" ".join(errors))

    if stock != 0:
        steps.append(
            Step(
                "own_stock_ignored",
                stock,
                None,
                f"This item's own stock ({stock}) is ignored: it takes its count from {_sku_list(skus)}.",
            )
        )

    if len(skus) == 1 and counts[skus[0]] == 1:
        sku = skus[0]
        base = components[sku].stock
        steps.append(
            Step(
                "replace",
                None,
                base,
                f"The count comes from {sku}, whose stock is {base}.",
            )
        )
        if base < 0:
            steps.append(
                Step(
                    "negative",
                    base,
                    0,
                    f"{sku}'s stock {base} is below zero, which counts as 0.",
                )
            )
            base = 0
        return base

    parts = []
    sets = []
    for sku, units in counts.items():
        component_stock = components[sku].stock
        if component_stock < 0:
            steps.append(
                Step(
                    "negative",
                    component_stock,
                    0,
                    f"{sku}'s stock {component_stock} is below zero, which counts as 0 for the bundle.",
                )
            )
            component_stock = 0
        enough_for = component_stock // units
        per = "" if units == 1 else f", {units} per bundle"
        parts.append(f"{sku} has {component_stock}{per}, enough for {enough_for}")
        sets.append(enough_for)
    base = min(sets)
    steps.append(
        Step(
            "bundle",
            None,
            base,
            f"Bundle: {'; '.join(parts)}. The fewest, {base}, is the count.",
        )
    )
    return base


@lru_cache(maxsize=8192)
def _told_plain(stock: int) -> Told:
    """An item with no metadata: its stock (0 when below zero), with the same steps as
    the full path.  Most items of a store are such items and share a few counts, so a
    whole-store push builds each answer (immutable) once, not once per item."""
    first = Step("stock", None, stock, f"Stock is {stock}.")
    if stock >= 0:
        return Told(stock, (first,))
    return Told(0, (first, Step("negative", stock, 0, f"Stock {stock} is below zero, which counts as 0.")))


def told_quantity(
    stock: int,
    metadata: Mapping[str, str],
    cart: Cart = Cart(),
    components: Mapping[str, Component | None] = _NO_COMPONENTS,
) -> Told:
    """What ``cart`` is told for an item, and why.

    ``components`` holds the items named by the item's ``code_replace``
    (``None`` or absent: no such SKU in the store). Stored metadata is read
    leniently (case, spaces); a value that is still not valid is ignored with
    a step saying so, rather than stopping every push of the store.
    """
    if not metadata:
        return _told_plain(stock)
    rules = _effective(metadata, cart.slug)
    slug = _norm_slug(cart.slug)
    steps: list[Step] = []

    def origin(rule: str) -> str:
        return _for(split_key(rules[rule][0])[1])

    if "skip_push" in rules:
        key, value = rules["skip_push"]
        try:
            skip = _parse_flag(key, value)
        except MetadataError as problem:
            steps.append(Step("skip_push", None, None, _ignored(problem)))
            skip = False
        if skip:
            where = f" to {slug}" if slug else ""
            steps.append(
                Step(
                    "skip_push",
                    None,
                    None,
                    f"skip_push is on{origin('skip_push')}, so this item is not sent{where}.",
                )
            )
            return Told(None, tuple(steps))

    counts: dict[str, int] | None = None
    if "code_replace" in rules:
        key, value = rules["code_replace"]
        try:
            counts = _unit_counts(_parse_skus(key, value, strict=False))
        except MetadataError as problem:
            steps.append(Step("replace", None, None, _ignored(problem)))

    if counts is None:
        quantity = stock
        steps.append(Step("stock", None, quantity, f"Stock is {quantity}."))
        if quantity < 0:
            steps.append(
                Step(
                    "negative",
                    quantity,
                    0,
                    f"Stock {quantity} is below zero, which counts as 0.",
                )
            )
            quantity = 0
    else:
        outcome = _replaced_base(stock, counts, cart, components, steps)
        if isinstance(outcome, Told):
            return outcome
        quantity = outcome

    if "min" in rules:
        key, value = rules["min"]
        try:
            minimum = _parse_whole(key, value)
        except MetadataError as problem:
            steps.append(Step("min", quantity, quantity, _ignored(problem)))
        else:
            if quantity <= minimum:
                steps.append(
                    Step(
                        "min",
                        quantity,
                        0,
                        f"{quantity} is at or below min {minimum}{origin('min')}, so 0 is told.",
                    )
                )
                return Told(0, tuple(steps))
            steps.append(
                Step(
                    "min",
                    quantity,
                    quantity,
                    f"{quantity} is above min {minimum}{origin('min')}.",
                )
            )

    if "adjustment_percent" in rules:
        key, value = rules["adjustment_percent"]
        try:
            percent = _parse_percent(key, value)
        except MetadataError as problem:
            steps.append(Step("adjustment_percent", quantity, quantity, _ignored(problem)))
        else:
            exact, adjusted = _percent_of(quantity, percent)
            said = f"{_decimal_text(percent)}% of {quantity} is"
            if exact == adjusted:
                note = f"{said} {adjusted}"
            else:
                note = f"{said} {_decimal_text(exact)}, rounded down to {adjusted}"
            suffix = split_key(rules["adjustment_percent"][0])[1]
            note += f" (adjustment_percent for {suffix})." if suffix else "."
            steps.append(Step("adjustment_percent", quantity, adjusted, note))
            quantity = adjusted

    if "max" in rules:
        key, value = rules["max"]
        try:
            maximum = _parse_whole(key, value)
        except MetadataError as problem:
            steps.append(Step("max", quantity, quantity, _ignored(problem)))
        else:
            if quantity > maximum:
                steps.append(
                    Step(
                        "max",
                        quantity,
                        maximum,
                        f"Capped at max {maximum}{origin('max')}.",
                    )
                )
                quantity = maximum
            else:
                steps.append(
                    Step(
                        "max",
                        quantity,
                        quantity,
                        f"{quantity} is within max {maximum}{origin('max')}.",
                    )
                )

    return Told(quantity, tuple(steps))
