"""Known answers for item metadata validation and the quantity a cart is told.

Each table row is one rule or one form of input from the design's metadata,
told-quantity and replaced-SKU sections.
"""

import ast
import dataclasses
import pickle
from pathlib import Path

import pytest

from inventory import rules
from inventory.rules import (
    FALSE_WORDS,
    KNOWN_KEYS,
    SAFETY_KEYS,
    TRUE_WORDS,
    Cart,
    Component,
    MetadataError,
    Step,
    Told,
    effective_metadata,
    parse_bool,
    parse_code_replace,
    split_key,
    told_quantity,
    validate_metadata,
    validate_metadata_set,
)

AMAZON = Cart(slug="amazon-us")
EBAY = Cart(slug="ebay")
NO_REPLACED = Cart(slug="etsy", supports_replaced_skus=False)


def case(id_, *values):
    return pytest.param(*values, id=id_)


# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------


def test_key_sets():
    assert {"1", "true", "yes", "on"} == TRUE_WORDS
    assert {"0", "false", "no", "off", ""} == FALSE_WORDS
    assert {"adjustment_percent", "min", "max", "skip_pull", "skip_push"} == SAFETY_KEYS
    assert SAFETY_KEYS | {"code_replace", "low_stock"} == KNOWN_KEYS


def test_rules_module_imports_only_the_standard_library():
    tree = ast.parse(Path(rules.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"re", "collections", "dataclasses", "decimal", "functools", "types"}


# --------------------------------------------------------------------------
# split_key
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, expected",
    [
        case("plain", "max", ("max", None)),
        case("suffixed", "max@amazon-us", ("max", "amazon-us")),
        case("upper case", "MAX@Amazon-US", ("max", "amazon-us")),
        case("surrounding spaces", "  min  ", ("min", None)),
        case("spaces around at", " max @ amazon-us ", ("max", "amazon-us")),
        case("empty suffix kept apart from none", "max@", ("max", "")),
        case("only the first at splits", "max@a@b", ("max", "a@b")),
        case("unknown key", "Colour", ("colour", None)),
        case("empty", "", ("", None)),
    ],
)
def test_split_key(key, expected):
    assert split_key(key) == expected


# --------------------------------------------------------------------------
# validate_metadata: accepted forms
# --------------------------------------------------------------------------

ACCEPTED = [
    # adjustment_percent: 0..100, decimals allowed, normalised text
    case("percent whole", "adjustment_percent", "50", {}, ("adjustment_percent", "50")),
    case("percent spaces", "adjustment_percent", " 50 ", {}, ("adjustment_percent", "50")),
    case("percent decimal", "adjustment_percent", "12.5", {}, ("adjustment_percent", "12.5")),
    case("percent trailing zero", "adjustment_percent", "12.50", {}, ("adjustment_percent", "12.5")),
    case("percent point zero", "adjustment_percent", "100.0", {}, ("adjustment_percent", "100")),
    case("percent leading zero", "adjustment_percent", "050", {}, ("adjustment_percent", "50")),
    case("percent zero", "adjustment_percent", "0", {}, ("adjustment_percent", "0")),
    case("percent zero point zero", "adjustment_percent", "0.00", {}, ("adjustment_percent", "0")),
    case("percent hundred", "adjustment_percent", "100", {}, ("adjustment_percent", "100")),
    case("percent small", "adjustment_percent", "0.001", {}, ("adjustment_percent", "0.001")),
    case("percent sign", "adjustment_percent", "50%", {}, ("adjustment_percent", "50")),
    case("percent sign spaced", "adjustment_percent", "12.5 %", {}, ("adjustment_percent", "12.5")),
    case("percent key upper", "ADJUSTMENT_PERCENT", "50", {}, ("adjustment_percent", "50")),
    # min, max, low_stock: plain whole numbers >= 0
    case("min", "min", "5", {}, ("min", "5")),
    case("min zero", "min", "0", {}, ("min", "0")),
    case("min spaces", "min", " 5 ", {}, ("min", "5")),
    case("min leading zeros", "min", "007", {}, ("min", "7")),
    case("max", "max", "25", {}, ("max", "25")),
    case("max large", "max", "1000000", {}, ("max", "1000000")),
    case("max key spaces", "  Max ", "25", {}, ("max", "25")),
    case("low_stock", "low_stock", "3", {}, ("low_stock", "3")),
    case("low_stock zero", "low_stock", "0", {}, ("low_stock", "0")),
    # skip_pull / skip_push: yes/no words, normalised to 1/0
    *[case(f"skip_push {word!r}", "skip_push", word, {}, ("skip_push", "1")) for word in sorted(TRUE_WORDS)],
    *[case(f"skip_push {word!r}", "skip_push", word, {}, ("skip_push", "0")) for word in sorted(FALSE_WORDS)],
    *[case(f"skip_pull {word!r}", "skip_pull", word, {}, ("skip_pull", "1")) for word in sorted(TRUE_WORDS)],
    *[case(f"skip_pull {word!r}", "skip_pull", word, {}, ("skip_pull", "0")) for word in sorted(FALSE_WORDS)],
    case("skip_push upper", "skip_push", "YES", {}, ("skip_push", "1")),
    case("skip_push mixed case spaced", "skip_push", " On ", {}, ("skip_push", "1")),
    case("skip_push False", "skip_push", "False", {}, ("skip_push", "0")),
    case("skip_pull OFF", "skip_pull", "OFF", {}, ("skip_pull", "0")),
    case("skip_pull spaces only", "skip_pull", "   ", {}, ("skip_pull", "0")),
    # code_replace: comma-separated SKUs, trimmed, repeats kept
    case("code_replace one", "code_replace", "B", {}, ("code_replace", "B")),
    case("code_replace bundle", "code_replace", "B,C,C", {}, ("code_replace", "B,C,C")),
    case("code_replace trimmed", "code_replace", " B , C,C ", {}, ("code_replace", "B,C,C")),
    case("code_replace case kept", "code_replace", "b-1", {}, ("code_replace", "b-1")),
    case("code_replace inner space kept", "code_replace", "Blue Mug", {}, ("code_replace", "Blue Mug")),
    case("code_replace order kept", "code_replace", "C,B,C", {}, ("code_replace", "C,B,C")),
    case("code_replace other items", "code_replace", "B,C", {"own_code": "A"}, ("code_replace", "B,C")),
    case(
        "code_replace own code differs by case", "code_replace", "a", {"own_code": "A"}, ("code_replace", "a")
    ),
    # cart suffixes on every safety key
    case("suffix percent", "adjustment_percent@amazon-us", "25", {}, ("adjustment_percent@amazon-us", "25")),
    case("suffix min", "min@amazon-us", "10", {}, ("min@amazon-us", "10")),
    case("suffix max", "max@amazon-us", "10", {}, ("max@amazon-us", "10")),
    case("suffix skip_pull", "skip_pull@amazon-us", "yes", {}, ("skip_pull@amazon-us", "1")),
    case("suffix skip_push", "skip_push@amazon-us", "no", {}, ("skip_push@amazon-us", "0")),
    case("suffix upper case", "MAX@Amazon-US", "10", {}, ("max@amazon-us", "10")),
    case("suffix spaced", " max @ amazon-us ", "10", {}, ("max@amazon-us", "10")),
    case("suffix underscore", "max@shop_2", "10", {}, ("max@shop_2", "10")),
    case("suffix digit first", "max@2nd-shop", "10", {}, ("max@2nd-shop", "10")),
    # other keys: free text kept as is
    case("free text", "Colour", "Dark Blue ", {}, ("colour", "Dark Blue ")),
    case("free text empty", "note", "", {}, ("note", "")),
    case("free text with comma", "tags", "a, b", {}, ("tags", "a, b")),
]


@pytest.mark.parametrize("key, value, kwargs, expected", ACCEPTED)
def test_validate_metadata_accepts(key, value, kwargs, expected):
    assert validate_metadata(key, value, **kwargs) == expected


@pytest.mark.parametrize("key, value, kwargs, expected", ACCEPTED)
def test_validated_value_validates_to_itself(key, value, kwargs, expected):
    assert validate_metadata(*expected, **kwargs) == expected


# --------------------------------------------------------------------------
# validate_metadata: refused forms
# --------------------------------------------------------------------------

PERCENT_ALLOWED = "from 0 to 100"
WHOLE_ALLOWED = "whole number, 0 or more"
FLAG_ALLOWED = "1, true, yes, on"
SKUS_ALLOWED = "B,C,C"
SUFFIX_ALLOWED = "may carry a cart suffix"
SLUG_ALLOWED = "integration slug"

REFUSED = [
    # adjustment_percent
    case("percent empty", "adjustment_percent", "", {}, [PERCENT_ALLOWED, "empty value"]),
    case("percent text", "adjustment_percent", "half", {}, [PERCENT_ALLOWED, '"half"']),
    case("percent negative", "adjustment_percent", "-1", {}, [PERCENT_ALLOWED, '"-1"']),
    case("percent above", "adjustment_percent", "100.1", {}, [PERCENT_ALLOWED, '"100.1"']),
    case("percent far above", "adjustment_percent", "150", {}, [PERCENT_ALLOWED, '"150"']),
    case("percent comma decimal", "adjustment_percent", "12,5", {}, [PERCENT_ALLOWED, '"12,5"', "dot"]),
    case("percent exponent", "adjustment_percent", "1e1", {}, [PERCENT_ALLOWED, '"1e1"']),
    case("percent nan", "adjustment_percent", "NaN", {}, [PERCENT_ALLOWED, '"NaN"']),
    case("percent infinity", "adjustment_percent", "Infinity", {}, [PERCENT_ALLOWED, '"Infinity"']),
    case("percent bare point", "adjustment_percent", ".5", {}, [PERCENT_ALLOWED, '".5"']),
    case("percent trailing point", "adjustment_percent", "5.", {}, [PERCENT_ALLOWED, '"5."']),
    case("percent plus sign", "adjustment_percent", "+5", {}, [PERCENT_ALLOWED, '"+5"']),
    case(
        "percent suffixed",
        "adjustment_percent@amazon-us",
        "101",
        {},
        ["adjustment_percent@amazon-us", '"101"'],
    ),
    # min, max, low_stock
    *[
        case(f"{key} {label}", key, value, {}, [key, WHOLE_ALLOWED, shown])
        for key in ("min", "max", "low_stock")
        for label, value, shown in (
            ("empty", "", "empty value"),
            ("decimal point", "5.0", '"5.0"'),
            ("fraction", "5.5", '"5.5"'),
            ("negative", "-1", '"-1"'),
            ("plus sign", "+5", '"+5"'),
            ("exponent", "1e3", '"1e3"'),
            ("word", "five", '"five"'),
            ("thousands comma", "1,000", '"1,000"'),
            ("underscore", "1_000", '"1_000"'),
            ("two numbers", "5 5", '"5 5"'),
            ("non-ascii digit", "\u0665", '"\u0665"'),
            ("hex", "0x10", '"0x10"'),
        )
    ],
    case("max suffixed", "max@amazon-us", "ten", {}, ["max@amazon-us", WHOLE_ALLOWED, '"ten"']),
    # skip_pull / skip_push
    *[
        case(f"{key} {value!r}", key, value, {}, [key, FLAG_ALLOWED, f'"{value}"'])
        for key in ("skip_pull", "skip_push")
        for value in ("maybe", "2", "y", "n", "t", "enabled", "none", "null", "-1")
    ],
    case("skip_push suffixed", "skip_push@amazon-us", "sometimes", {}, ["skip_push@amazon-us", FLAG_ALLOWED]),
    # code_replace
    case("code_replace empty", "code_replace", "", {}, ["code_replace", SKUS_ALLOWED, "empty"]),
    case("code_replace spaces", "code_replace", "  ", {}, ["code_replace", SKUS_ALLOWED, "empty"]),
    case("code_replace trailing comma", "code_replace", "B,", {}, ["code_replace", "empty SKU", '"B,"']),
    case("code_replace leading comma", "code_replace", ",B", {}, ["code_replace", "empty SKU", '",B"']),
    case("code_replace double comma", "code_replace", "B,,C", {}, ["code_replace", "empty SKU", '"B,,C"']),
    case("code_replace blank between", "code_replace", "B, ,C", {}, ["code_replace", "empty SKU"]),
    case("code_replace itself", "code_replace", "A", {"own_code": "A"}, ["code_replace", "itself", '"A"']),
    case("code_replace itself in bundle", "code_replace", "B,A", {"own_code": "A"}, ["itself", '"A"']),
    case("code_replace itself trimmed", "code_replace", " A ", {"own_code": "A "}, ["itself", '"A"']),
    # suffixes only on safety keys, and only slug-shaped
    case(
        "suffix on code_replace",
        "code_replace@amazon-us",
        "B",
        {},
        ["code_replace@amazon-us", SUFFIX_ALLOWED],
    ),
    case("suffix on low_stock", "low_stock@amazon-us", "3", {}, ["low_stock@amazon-us", SUFFIX_ALLOWED]),
    case("suffix on free text", "colour@amazon-us", "red", {}, ["colour@amazon-us", SUFFIX_ALLOWED]),
    case("suffix empty", "max@", "10", {}, ['"max@"', SLUG_ALLOWED, "empty value"]),
    case("suffix with space", "max@Amazon US", "10", {}, ["max@amazon us", SLUG_ALLOWED, '"amazon us"']),
    case("suffix dash first", "max@-amazon", "10", {}, [SLUG_ALLOWED, '"-amazon"']),
    case("suffix underscore first", "max@_amazon", "10", {}, [SLUG_ALLOWED, '"_amazon"']),
    case("suffix with dot", "max@amazon.us", "10", {}, [SLUG_ALLOWED, '"amazon.us"']),
    case("suffix with second at", "max@a@b", "10", {}, [SLUG_ALLOWED, '"a@b"']),
    # keys
    case("key empty", "", "x", {}, ["key may not be empty"]),
    case("key spaces", "   ", "x", {}, ["key may not be empty"]),
    case("key only suffix", "@amazon-us", "10", {}, ["nothing before", "max@amazon-us"]),
]


@pytest.mark.parametrize("key, value, kwargs, fragments", REFUSED)
def test_validate_metadata_refuses(key, value, kwargs, fragments):
    with pytest.raises(MetadataError) as caught:
        validate_metadata(key, value, **kwargs)
    problem = caught.value
    assert problem.key == key
    assert problem.value == value
    assert str(problem) == problem.message
    for fragment in fragments:
        assert fragment in problem.message


def test_metadata_error_is_a_value_error_and_survives_pickling():
    problem = MetadataError("max", "5.0", "max must be a whole number")
    assert isinstance(problem, ValueError)
    copy = pickle.loads(pickle.dumps(problem))  # noqa: S301 - our own bytes, just written
    assert (copy.key, copy.value, copy.message, str(copy)) == (
        "max",
        "5.0",
        "max must be a whole number",
        "max must be a whole number",
    )


# --------------------------------------------------------------------------
# validate_metadata_set: cross-key checks
# --------------------------------------------------------------------------

METADATA_SETS = [
    case("empty", {}, []),
    case("min below max", {"min": "3", "max": "5"}, []),
    case("min equals max", {"min": "3", "max": "3"}, []),
    case("only max", {"max": "0"}, []),
    case("max below min", {"min": "5", "max": "3"}, [("max", "3")]),
    case("unnormalised keys", {" MIN ": "5", "Max": "3"}, [("Max", "3")]),
    case("suffixed max below plain min", {"min": "5", "max@amazon-us": "3"}, [("max@amazon-us", "3")]),
    case("suffixed min above plain max", {"max": "5", "min@amazon-us": "10"}, [("min@amazon-us", "10")]),
    case("both suffixed", {"min@amazon-us": "5", "max@amazon-us": "3"}, [("max@amazon-us", "3")]),
    case(
        "suffix repairs plain for its cart", {"min": "5", "max": "3", "max@amazon-us": "10"}, [("max", "3")]
    ),
    case("suffixed min below plain max", {"min": "1", "max": "10", "min@amazon-us": "5"}, []),
    case("different carts do not mix", {"min@amazon-us": "5", "max@ebay": "3"}, []),
    case(
        "every problem reported",
        {"min": "5", "max": "3", "max@ebay": "4", "min@amazon-us": "9", "max@amazon-us": "8"},
        [("max", "3"), ("max@amazon-us", "8"), ("max@ebay", "4")],
    ),
    case("invalid values left to single checks", {"min": "x", "max": "3"}, []),
    case("invalid suffix left to single checks", {"min": "5", "max@Bad Slug": "3"}, []),
    case("same key twice", {"MAX": "3", "max": "4"}, [("max", "4")]),
    case("same suffixed key twice", {"max@amazon-us": "3", "MAX@Amazon-US": "4"}, [("MAX@Amazon-US", "4")]),
]


@pytest.mark.parametrize("metadata, expected", METADATA_SETS)
def test_validate_metadata_set(metadata, expected):
    problems = validate_metadata_set(metadata)
    assert [(p.key, p.value) for p in problems] == expected
    for problem in problems:
        assert isinstance(problem, MetadataError)
        assert str(problem) == problem.message


def test_max_below_min_message_names_both_values_and_the_cart():
    (problem,) = validate_metadata_set({"min": "5", "max@amazon-us": "3"})
    assert "max@amazon-us is 3" in problem.message
    assert "min is 5" in problem.message
    assert "amazon-us" in problem.message
    assert "max may not be below min" in problem.message


def test_duplicate_key_message_names_both_spellings():
    (problem,) = validate_metadata_set({"MAX": "3", "max": "4"})
    assert '"MAX"' in problem.message and '"max"' in problem.message


# --------------------------------------------------------------------------
# parse_bool, parse_code_replace
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        *[case(f"true {word!r}", word, True) for word in sorted(TRUE_WORDS)],
        *[case(f"false {word!r}", word, False) for word in sorted(FALSE_WORDS)],
        case("upper", "YES", True),
        case("spaced", " off ", False),
        case("none is empty", None, False),
        case("bool true", True, True),
        case("bool false", False, False),
        case("int one", 1, True),
        case("int zero", 0, False),
    ],
)
def test_parse_bool(value, expected):
    assert parse_bool(value) is expected


@pytest.mark.parametrize("value", ["maybe", "2", "y", "enabled"])
def test_parse_bool_refuses(value):
    with pytest.raises(MetadataError) as caught:
        parse_bool(value, key="skip_pull")
    assert caught.value.message.startswith("skip_pull must be one of 1, true, yes, on")
    assert f'"{value}"' in caught.value.message


@pytest.mark.parametrize(
    "value, expected",
    [
        case("one", "B", {"B": 1}),
        case("bundle", "B,C,C", {"B": 1, "C": 2}),
        case("order kept", "C,B,C", {"C": 2, "B": 1}),
        case("spaces", " B , C ", {"B": 1, "C": 1}),
        case("stray commas skipped", "B,,C,", {"B": 1, "C": 1}),
        case("case sensitive", "b,B", {"b": 1, "B": 1}),
    ],
)
def test_parse_code_replace(value, expected):
    counts = parse_code_replace(value)
    assert counts == expected
    assert list(counts) == list(expected)


@pytest.mark.parametrize("value", ["", " ", ",", " , "])
def test_parse_code_replace_refuses_no_sku(value):
    with pytest.raises(MetadataError) as caught:
        parse_code_replace(value)
    assert caught.value.key == "code_replace"
    assert "names no SKU" in caught.value.message


# --------------------------------------------------------------------------
# effective_metadata
# --------------------------------------------------------------------------

EFFECTIVE = [
    case("no slug: plain only", {"max": "25", "max@amazon-us": "10"}, None, {"max": "25"}),
    case("empty slug: plain only", {"max": "25", "max@amazon-us": "10"}, "", {"max": "25"}),
    case("other slug: plain only", {"max": "25", "max@amazon-us": "10"}, "ebay", {"max": "25"}),
    case("own slug overrides", {"max": "25", "max@amazon-us": "10"}, "amazon-us", {"max": "10"}),
    case("override without plain", {"min@amazon-us": "3"}, "amazon-us", {"min": "3"}),
    case(
        "override regardless of order",
        {"skip_push@amazon-us": "0", "skip_push": "1"},
        "amazon-us",
        {"skip_push": "0"},
    ),
    case(
        "every safety key",
        {
            "adjustment_percent@amazon-us": "25",
            "min@amazon-us": "1",
            "max@amazon-us": "9",
            "skip_pull@amazon-us": "1",
            "skip_push@amazon-us": "0",
        },
        "amazon-us",
        {"adjustment_percent": "25", "min": "1", "max": "9", "skip_pull": "1", "skip_push": "0"},
    ),
    case(
        "case-insensitive keys and slug", {"MAX@Amazon-US": "10", " Max ": "25"}, "AMAZON-US", {"max": "10"}
    ),
    case(
        "suffix on non-safety key dropped",
        {"code_replace@amazon-us": "B", "low_stock@amazon-us": "1"},
        "amazon-us",
        {},
    ),
    case(
        "other keys kept",
        {"colour": "red ", "code_replace": "B,C,C", "low_stock": "2"},
        "amazon-us",
        {"colour": "red ", "code_replace": "B,C,C", "low_stock": "2"},
    ),
]


@pytest.mark.parametrize("metadata, slug, expected", EFFECTIVE)
def test_effective_metadata(metadata, slug, expected):
    assert effective_metadata(metadata, slug) == expected


# --------------------------------------------------------------------------
# told_quantity
# --------------------------------------------------------------------------

BUNDLE = {"B": Component(stock=10, replaces=False), "C": Component(stock=7, replaces=False)}

# (stock, metadata, cart, components, told quantity, steps as (rule, before, after), error)
TOLD = [
    # The design's table of known answers.
    case(
        "70 at 50%",
        70,
        {"adjustment_percent": "50"},
        Cart(),
        {},
        35,
        [("stock", None, 70), ("adjustment_percent", 70, 35)],
        None,
    ),
    case(
        "5 at 50% rounds down",
        5,
        {"adjustment_percent": "50"},
        Cart(),
        {},
        2,
        [("stock", None, 5), ("adjustment_percent", 5, 2)],
        None,
    ),
    case("3 at min 3", 3, {"min": "3"}, Cart(), {}, 0, [("stock", None, 3), ("min", 3, 0)], None),
    case("4 above min 3", 4, {"min": "3"}, Cart(), {}, 4, [("stock", None, 4), ("min", 4, 4)], None),
    case("100 max 25", 100, {"max": "25"}, Cart(), {}, 25, [("stock", None, 100), ("max", 100, 25)], None),
    case(
        "100 at 50% max 25",
        100,
        {"adjustment_percent": "50", "max": "25"},
        Cart(),
        {},
        25,
        [("stock", None, 100), ("adjustment_percent", 100, 50), ("max", 50, 25)],
        None,
    ),
    case(
        "40 at 50% max 25",
        40,
        {"adjustment_percent": "50", "max": "25"},
        Cart(),
        {},
        20,
        [("stock", None, 40), ("adjustment_percent", 40, 20), ("max", 20, 20)],
        None,
    ),
    case(
        "10 min 3 at 50%",
        10,
        {"min": "3", "adjustment_percent": "50"},
        Cart(),
        {},
        5,
        [("stock", None, 10), ("min", 10, 10), ("adjustment_percent", 10, 5)],
        None,
    ),
    case("-4 counts as 0", -4, {}, Cart(), {}, 0, [("stock", None, -4), ("negative", -4, 0)], None),
    case(
        "max@amazon-us, other cart",
        100,
        {"max": "25", "max@amazon-us": "10"},
        EBAY,
        {},
        25,
        [("stock", None, 100), ("max", 100, 25)],
        None,
    ),
    case(
        "max@amazon-us, no cart",
        100,
        {"max": "25", "max@amazon-us": "10"},
        Cart(slug=None),
        {},
        25,
        [("stock", None, 100), ("max", 100, 25)],
        None,
    ),
    case(
        "max@amazon-us, amazon-us",
        100,
        {"max": "25", "max@amazon-us": "10"},
        AMAZON,
        {},
        10,
        [("stock", None, 100), ("max", 100, 10)],
        None,
    ),
    # Order and arithmetic.
    case("no metadata", 7, {}, Cart(), {}, 7, [("stock", None, 7)], None),
    case("zero stock", 0, {}, Cart(), {}, 0, [("stock", None, 0)], None),
    case(
        "min judged before the percentage",
        6,
        {"min": "3", "adjustment_percent": "50"},
        Cart(),
        {},
        3,
        [("stock", None, 6), ("min", 6, 6), ("adjustment_percent", 6, 3)],
        None,
    ),
    case(
        "min stops the steps",
        3,
        {"min": "3", "adjustment_percent": "50", "max": "1"},
        Cart(),
        {},
        0,
        [("stock", None, 3), ("min", 3, 0)],
        None,
    ),
    case("min 0 with no stock", 0, {"min": "0"}, Cart(), {}, 0, [("stock", None, 0), ("min", 0, 0)], None),
    case(
        "negative stock then min",
        -2,
        {"min": "0"},
        Cart(),
        {},
        0,
        [("stock", None, -2), ("negative", -2, 0), ("min", 0, 0)],
        None,
    ),
    case(
        "12.5% of 17",
        17,
        {"adjustment_percent": "12.5"},
        Cart(),
        {},
        2,
        [("stock", None, 17), ("adjustment_percent", 17, 2)],
        None,
    ),
    case(
        "floor not round: 99% of 1",
        1,
        {"adjustment_percent": "99"},
        Cart(),
        {},
        0,
        [("stock", None, 1), ("adjustment_percent", 1, 0)],
        None,
    ),
    case(
        "100% keeps all",
        7,
        {"adjustment_percent": "100"},
        Cart(),
        {},
        7,
        [("stock", None, 7), ("adjustment_percent", 7, 7)],
        None,
    ),
    case(
        "0% tells 0",
        7,
        {"adjustment_percent": "0"},
        Cart(),
        {},
        0,
        [("stock", None, 7), ("adjustment_percent", 7, 0)],
        None,
    ),
    case(
        "decimal exact where a float is not",
        3,
        {"adjustment_percent": "33.333333333333333333333333333333"},
        Cart(),
        {},
        0,
        [("stock", None, 3), ("adjustment_percent", 3, 0)],
        None,
    ),
    case(
        "huge stock stays exact",
        10**30,
        {"adjustment_percent": "12.5"},
        Cart(),
        {},
        125 * 10**27,
        [("stock", None, 10**30), ("adjustment_percent", 10**30, 125 * 10**27)],
        None,
    ),
    case("max 0", 5, {"max": "0"}, Cart(), {}, 0, [("stock", None, 5), ("max", 5, 0)], None),
    case("at max", 25, {"max": "25"}, Cart(), {}, 25, [("stock", None, 25), ("max", 25, 25)], None),
    # Cart suffixes on each safety key.
    case(
        "adjustment_percent@amazon-us on amazon-us",
        80,
        {"adjustment_percent": "50", "adjustment_percent@amazon-us": "25"},
        AMAZON,
        {},
        20,
        [("stock", None, 80), ("adjustment_percent", 80, 20)],
        None,
    ),
    case(
        "adjustment_percent@amazon-us elsewhere",
        80,
        {"adjustment_percent": "50", "adjustment_percent@amazon-us": "25"},
        EBAY,
        {},
        40,
        [("stock", None, 80), ("adjustment_percent", 80, 40)],
        None,
    ),
    case(
        "min@amazon-us overrides min on amazon-us",
        8,
        {"min": "3", "min@amazon-us": "10"},
        AMAZON,
        {},
        0,
        [("stock", None, 8), ("min", 8, 0)],
        None,
    ),
    case(
        "min@amazon-us elsewhere",
        8,
        {"min": "3", "min@amazon-us": "10"},
        EBAY,
        {},
        8,
        [("stock", None, 8), ("min", 8, 8)],
        None,
    ),
    case(
        "min@amazon-us lower than min",
        8,
        {"min": "10", "min@amazon-us": "2"},
        AMAZON,
        {},
        8,
        [("stock", None, 8), ("min", 8, 8)],
        None,
    ),
    case(
        "max@amazon-us without plain max, elsewhere",
        100,
        {"max@amazon-us": "10"},
        EBAY,
        {},
        100,
        [("stock", None, 100)],
        None,
    ),
    case(
        "skip_push@amazon-us on amazon-us",
        5,
        {"skip_push@amazon-us": "yes"},
        AMAZON,
        {},
        None,
        [("skip_push", None, None)],
        None,
    ),
    case(
        "skip_push@amazon-us elsewhere",
        5,
        {"skip_push@amazon-us": "yes"},
        EBAY,
        {},
        5,
        [("stock", None, 5)],
        None,
    ),
    case(
        "skip_push@amazon-us off overrides skip_push",
        5,
        {"skip_push": "1", "skip_push@amazon-us": "0"},
        AMAZON,
        {},
        5,
        [("stock", None, 5)],
        None,
    ),
    case(
        "skip_push on, amazon-us off, elsewhere",
        5,
        {"skip_push": "1", "skip_push@amazon-us": "0"},
        EBAY,
        {},
        None,
        [("skip_push", None, None)],
        None,
    ),
    case(
        "skip_pull@amazon-us does not stop a push",
        5,
        {"skip_pull@amazon-us": "1", "skip_pull": "1"},
        AMAZON,
        {},
        5,
        [("stock", None, 5)],
        None,
    ),
    case(
        "suffix keys and cart slug ignore case",
        100,
        {"MAX@Amazon-US": "10"},
        Cart(slug="Amazon-US"),
        {},
        10,
        [("stock", None, 100), ("max", 100, 10)],
        None,
    ),
    # skip_push
    case("skip_push", 5, {"skip_push": "1", "max": "2"}, Cart(), {}, None, [("skip_push", None, None)], None),
    case("skip_push off", 5, {"skip_push": "0"}, Cart(), {}, 5, [("stock", None, 5)], None),
    case("skip_push empty is off", 5, {"skip_push": ""}, Cart(), {}, 5, [("stock", None, 5)], None),
    case(
        "skip_push before a data problem",
        0,
        {"skip_push": "1", "code_replace": "B"},
        Cart(),
        {},
        None,
        [("skip_push", None, None)],
        None,
    ),
    # Stored values that are not normalised are read leniently.
    case(
        "unnormalised values",
        100,
        {" Adjustment_Percent ": " 50% ", "MAX": " 25 "},
        Cart(),
        {},
        25,
        [("stock", None, 100), ("adjustment_percent", 100, 50), ("max", 50, 25)],
        None,
    ),
    case("skip_push YES", 5, {"skip_push": " YES "}, Cart(), {}, None, [("skip_push", None, None)], None),
    case(
        "numbers instead of text",
        100,
        {"max": 25, "adjustment_percent": 50},
        Cart(),
        {},
        25,
        [("stock", None, 100), ("adjustment_percent", 100, 50), ("max", 50, 25)],
        None,
    ),
    # Invalid stored values are ignored, and the steps say so.
    case(
        "invalid max ignored",
        100,
        {"max": "5.0"},
        Cart(),
        {},
        100,
        [("stock", None, 100), ("max", 100, 100)],
        None,
    ),
    case(
        "invalid min ignored", 4, {"min": "three"}, Cart(), {}, 4, [("stock", None, 4), ("min", 4, 4)], None
    ),
    case(
        "invalid percent ignored",
        70,
        {"adjustment_percent": "150"},
        Cart(),
        {},
        70,
        [("stock", None, 70), ("adjustment_percent", 70, 70)],
        None,
    ),
    case(
        "invalid skip_push ignored",
        5,
        {"skip_push": "maybe"},
        Cart(),
        {},
        5,
        [("skip_push", None, None), ("stock", None, 5)],
        None,
    ),
    case(
        "code_replace naming no SKU ignored",
        5,
        {"code_replace": " , "},
        Cart(),
        {},
        5,
        [("replace", None, None), ("stock", None, 5)],
        None,
    ),
    # Replaced SKUs.
    case(
        "replace",
        0,
        {"code_replace": "B"},
        Cart(),
        {"B": Component(12, False)},
        12,
        [("replace", None, 12)],
        None,
    ),
    case(
        "replace then safety metadata",
        0,
        {"code_replace": "B", "adjustment_percent": "50", "max": "30"},
        Cart(),
        {"B": Component(70, False)},
        30,
        [("replace", None, 70), ("adjustment_percent", 70, 35), ("max", 35, 30)],
        None,
    ),
    case(
        "replace then min",
        0,
        {"code_replace": "B", "min": "3"},
        Cart(),
        {"B": Component(3, False)},
        0,
        [("replace", None, 3), ("min", 3, 0)],
        None,
    ),
    case(
        "own stock ignored",
        5,
        {"code_replace": "B"},
        Cart(),
        {"B": Component(12, False)},
        12,
        [("own_stock_ignored", 5, None), ("replace", None, 12)],
        None,
    ),
    case(
        "own negative stock ignored",
        -2,
        {"code_replace": "B"},
        Cart(),
        {"B": Component(12, False)},
        12,
        [("own_stock_ignored", -2, None), ("replace", None, 12)],
        None,
    ),
    case(
        "negative replacement",
        0,
        {"code_replace": "B"},
        Cart(),
        {"B": Component(-3, False)},
        0,
        [("replace", None, -3), ("negative", -3, 0)],
        None,
    ),
    case("bundle B,C,C", 0, {"code_replace": "B,C,C"}, Cart(), BUNDLE, 3, [("bundle", None, 3)], None),
    case(
        "bundle order does not matter",
        0,
        {"code_replace": "C,B,C"},
        Cart(),
        BUNDLE,
        3,
        [("bundle", None, 3)],
        None,
    ),
    case(
        "bundle of one SKU twice",
        0,
        {"code_replace": "B,B"},
        Cart(),
        {"B": Component(5, False)},
        2,
        [("bundle", None, 2)],
        None,
    ),
    case(
        "bundle limited by B",
        0,
        {"code_replace": "B,C,C"},
        Cart(),
        {"B": Component(2, False), "C": Component(100, False)},
        2,
        [("bundle", None, 2)],
        None,
    ),
    case(
        "bundle with a negative component",
        0,
        {"code_replace": "B,C,C"},
        Cart(),
        {"B": Component(-2, False), "C": Component(7, False)},
        0,
        [("negative", -2, 0), ("bundle", None, 0)],
        None,
    ),
    case(
        "bundle then safety metadata",
        4,
        {"code_replace": "B,C,C", "adjustment_percent": "50"},
        Cart(),
        BUNDLE,
        1,
        [("own_stock_ignored", 4, None), ("bundle", None, 3), ("adjustment_percent", 3, 1)],
        None,
    ),
    case(
        "bundle on a cart that supports it",
        0,
        {"code_replace": "B,C,C", "max@amazon-us": "1"},
        AMAZON,
        BUNDLE,
        1,
        [("bundle", None, 3), ("max", 3, 1)],
        None,
    ),
    case(
        "cart without replaced-SKU support",
        5,
        {"code_replace": "B"},
        NO_REPLACED,
        {"B": Component(12, False)},
        None,
        [("unsupported_cart", None, None)],
        None,
    ),
    case(
        "bundle on a cart without support",
        0,
        {"code_replace": "B,C,C"},
        NO_REPLACED,
        BUNDLE,
        None,
        [("unsupported_cart", None, None)],
        None,
    ),
    case("plain item on a cart without support", 5, {}, NO_REPLACED, {}, 5, [("stock", None, 5)], None),
    case(
        "missing component",
        0,
        {"code_replace": "B"},
        Cart(),
        {},
        None,
        [("missing_component", None, None)],
        'code_replace names "B", which is not an item in this store.',
    ),
    case(
        "component given as None",
        0,
        {"code_replace": "B,C"},
        Cart(),
        {"B": Component(4, False), "C": None},
        None,
        [("missing_component", None, None)],
        'code_replace names "C", which is not an item in this store.',
    ),
    case(
        "chain refused",
        0,
        {"code_replace": "B,C"},
        Cart(),
        {"B": Component(4, False), "C": Component(9, True)},
        None,
        [("chain", None, None)],
        'code_replace names "C", which has code_replace itself (chains are not allowed).',
    ),
    case(
        "every bad component reported",
        0,
        {"code_replace": "B,C,D"},
        Cart(),
        {"B": None, "C": Component(9, True), "D": Component(1, False)},
        None,
        [("missing_component", None, None), ("chain", None, None)],
        'code_replace names "B", which is not an item in this store. '
        'code_replace names "C", which has code_replace itself (chains are not allowed).',
    ),
    case(
        "code_replace@slug is not a thing",
        5,
        {"code_replace@amazon-us": "B"},
        AMAZON,
        {},
        5,
        [("stock", None, 5)],
        None,
    ),
]


@pytest.mark.parametrize("stock, metadata, cart, components, quantity, steps, error", TOLD)
def test_told_quantity(stock, metadata, cart, components, quantity, steps, error):
    told = told_quantity(stock, metadata, cart, components)
    assert told.quantity == quantity
    assert [(s.rule, s.before, s.after) for s in told.steps] == steps
    assert told.error == error
    assert told.sent is (quantity is not None)


STEP_RULES = {
    "stock",
    "replace",
    "bundle",
    "own_stock_ignored",
    "negative",
    "min",
    "adjustment_percent",
    "max",
    "skip_push",
    "unsupported_cart",
    "missing_component",
    "chain",
}


@pytest.mark.parametrize("stock, metadata, cart, components, quantity, steps, error", TOLD)
def test_every_step_is_a_known_rule_with_a_sentence(
    stock, metadata, cart, components, quantity, steps, error
):
    for step in told_quantity(stock, metadata, cart, components).steps:
        assert step.rule in STEP_RULES
        assert step.note.strip() == step.note
        assert step.note.endswith(".")


NOTES = [
    case("stock", 70, {"adjustment_percent": "50"}, Cart(), {}, 0, "Stock is 70."),
    case("exact percentage", 70, {"adjustment_percent": "50"}, Cart(), {}, 1, "50% of 70 is 35."),
    case(
        "rounded down", 5, {"adjustment_percent": "50"}, Cart(), {}, 1, "50% of 5 is 2.5, rounded down to 2."
    ),
    case(
        "decimal percentage",
        17,
        {"adjustment_percent": "12.5"},
        Cart(),
        {},
        1,
        "12.5% of 17 is 2.125, rounded down to 2.",
    ),
    case(
        "percentage for a cart",
        80,
        {"adjustment_percent@amazon-us": "25"},
        AMAZON,
        {},
        1,
        "25% of 80 is 20 (adjustment_percent for amazon-us).",
    ),
    case("capped", 100, {"max": "25"}, Cart(), {}, 1, "Capped at max 25."),
    case(
        "capped for a cart",
        100,
        {"max": "25", "max@amazon-us": "10"},
        AMAZON,
        {},
        1,
        "Capped at max 10 for amazon-us.",
    ),
    case("within max", 20, {"max": "25"}, Cart(), {}, 1, "20 is within max 25."),
    case("at min", 3, {"min": "3"}, Cart(), {}, 1, "3 is at or below min 3, so 0 is told."),
    case(
        "at min for a cart",
        8,
        {"min@amazon-us": "10"},
        AMAZON,
        {},
        1,
        "8 is at or below min 10 for amazon-us, so 0 is told.",
    ),
    case("above min", 4, {"min": "3"}, Cart(), {}, 1, "4 is above min 3."),
    case("negative", -4, {}, Cart(), {}, 1, "Stock -4 is below zero, which counts as 0."),
    case("skip_push", 5, {"skip_push": "1"}, Cart(), {}, 0, "skip_push is on, so this item is not sent."),
    case(
        "skip_push for a cart",
        5,
        {"skip_push@amazon-us": "1"},
        AMAZON,
        {},
        0,
        "skip_push is on for amazon-us, so this item is not sent to amazon-us.",
    ),
    case(
        "replace",
        0,
        {"code_replace": "B"},
        Cart(),
        {"B": Component(12, False)},
        0,
        "The count comes from B, whose stock is 12.",
    ),
    case(
        "own stock ignored",
        5,
        {"code_replace": "B,C"},
        Cart(),
        BUNDLE,
        0,
        "This item's own stock (5) is ignored: it takes its count from B and C.",
    ),
    case(
        "bundle",
        0,
        {"code_replace": "B,C,C"},
        Cart(),
        BUNDLE,
        0,
        "Bundle: B has 10, enough for 10; C has 7, 2 per bundle, enough for 3. The fewest, 3, is the count.",
    ),
    case(
        "negative component",
        0,
        {"code_replace": "B,C,C"},
        Cart(),
        {"B": Component(-2, False), "C": Component(7, False)},
        0,
        "B's stock -2 is below zero, which counts as 0 for the bundle.",
    ),
    case(
        "unsupported cart",
        0,
        {"code_replace": "B"},
        NO_REPLACED,
        {"B": Component(1, False)},
        0,
        "This item takes its count from B (code_replace), and etsy cannot receive counts for replaced SKUs, "
        "so it is not sent there.",
    ),
    case(
        "missing component",
        0,
        {"code_replace": "B"},
        Cart(),
        {},
        0,
        "code_replace names B, but there is no item with that SKU, so this item is not sent.",
    ),
    case(
        "chain",
        0,
        {"code_replace": "C"},
        Cart(),
        {"C": Component(1, True)},
        0,
        "code_replace names C, which takes its own count from other SKUs; a replaced SKU may not point to "
        "another, so this item is not sent.",
    ),
    case(
        "invalid value ignored",
        100,
        {"max": "5.0"},
        Cart(),
        {},
        1,
        'max must be a whole number, 0 or more, written with digits only (like 5); got "5.0". '
        "It is ignored until fixed.",
    ),
    case(
        "invalid suffixed value ignored",
        100,
        {"max@amazon-us": "lots"},
        AMAZON,
        {},
        1,
        'max@amazon-us must be a whole number, 0 or more, written with digits only (like 5); got "lots". '
        "It is ignored until fixed.",
    ),
]


@pytest.mark.parametrize("stock, metadata, cart, components, index, note", NOTES)
def test_step_notes(stock, metadata, cart, components, index, note):
    assert told_quantity(stock, metadata, cart, components).steps[index].note == note


# --------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------


def test_defaults():
    assert Cart() == Cart(slug=None, supports_replaced_skus=True)
    assert told_quantity(7, {}) == Told(7, (Step("stock", None, 7, "Stock is 7."),))
    assert Told(None, ()).error is None


@pytest.mark.parametrize(
    "record, field",
    [
        case("step", Step("stock", None, 1, "Stock is 1."), "after"),
        case("component", Component(1, False), "stock"),
        case("cart", Cart(), "slug"),
        case("told", Told(1, ()), "quantity"),
    ],
)
def test_records_are_frozen(record, field):
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, field, 2)


@pytest.mark.parametrize(
    "told, sent",
    [
        case("a number", Told(3, ()), True),
        case("zero is sent", Told(0, ()), True),
        case("not sent", Told(None, ()), False),
    ],
)
def test_told_sent(told, sent):
    assert told.sent is sent
