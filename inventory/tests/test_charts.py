"""The stock-history SVG: a pure function of ledger records, checked as XML."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from inventory import charts
from inventory.charts import Change, nice_step, stock_history_svg, y_ticks

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)


def day(n: int, hour: int = 9) -> datetime:
    return datetime(2024, 6, n, hour, 0, tzinfo=UTC)


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # noqa: S314 - markup the code under test just built


def points(root):
    return root.findall(f".//{SVG}circle[@class='hub-chart-point']")


def history():
    return [
        Change(day(1), 20, 20, "import", "Import", "import:7"),
        Change(day(3), -3, 17, "order", "Order", "order:81 · note"),
        Change(day(5), 5, 22, "pull", "Pull", "sync-run:4"),
        Change(day(9), -25, -3, "order", "Order"),
    ]


def test_empty_history_draws_nothing():
    assert stock_history_svg([], now=NOW) == ""


def test_one_dot_per_change_coloured_by_source_with_a_tooltip():
    root = parse(stock_history_svg(history(), now=NOW))
    dots = points(root)
    assert [dot.get("data-source") for dot in dots] == ["import", "order", "pull", "order"]
    assert [dot.get("fill") for dot in dots] == [
        charts.SOURCE_COLOURS[s] for s in ("import", "order", "pull", "order")
    ]
    tips = [dot.find(f"{SVG}title").text for dot in dots]
    assert tips[0] == "2024-06-01 09:00 · Import · +20 → 20 · import:7"
    assert tips[1] == "2024-06-03 09:00 · Order · \u22123 → 17 · order:81 · note"
    assert tips[3].endswith("Order · \u221225 → \u22123")


def test_legend_names_each_source_once_in_a_fixed_order():
    root = parse(stock_history_svg(list(reversed(history())), now=NOW))
    legend = root.find(f".//{SVG}g[@class='hub-chart-legend']")
    assert [g.get("data-source") for g in legend] == ["import", "pull", "order"]
    assert [g.find(f"{SVG}text").text for g in legend] == ["Import", "Pull", "Order"]


def test_step_line_starts_at_the_stock_before_the_first_change_and_runs_to_now():
    root = parse(stock_history_svg(history(), now=NOW, width=720))
    path = root.find(f".//{SVG}path[@class='hub-chart-line']").get("d")
    assert path.startswith("M52,")  # the left edge of the plot, at the stock before (0)
    assert path.endswith("H708.0")  # width 720 minus the right margin: now
    assert path.count("V") == 4  # one vertical step per change


def test_changes_are_placed_by_time_and_value():
    changes = [Change(day(1), 10, 10, "admin"), Change(day(16, 9), -5, 5, "api")]
    root = parse(stock_history_svg(changes, now=datetime(2024, 7, 1, 9, tzinfo=UTC), width=352, height=240))
    first, second = points(root)
    # plot from x=52 to 340 over 30 days: the middle of the month is the middle of the plot.
    assert float(first.get("cx")) == 52.0 and float(second.get("cx")) == 196.0
    assert float(first.get("cy")) < float(second.get("cy"))  # 10 is drawn above 5


def test_below_zero_is_shaded_and_the_zero_line_stands_out():
    root = parse(stock_history_svg(history(), now=NOW))
    assert root.find(f".//{SVG}rect[@class='hub-chart-oversold']") is not None
    labels = [t.text for t in root.findall(f"{SVG}text")]
    assert "0" in labels and any(label.startswith("\u2212") for label in labels)
    without = parse(stock_history_svg(history()[:3], now=NOW))
    assert without.find(f".//{SVG}rect[@class='hub-chart-oversold']") is None


def test_text_is_escaped():
    evil = [Change(day(2), 1, 1, "admin", "Admin", 'note <script>alert("x")</script> & more')]
    markup = stock_history_svg(evil, now=NOW, caption="Stock of <b>A&B</b>")
    assert "<script>" not in markup and "<b>" not in markup
    root = parse(markup)  # still well-formed XML
    assert root.find(f"{SVG}title").text == "Stock of <b>A&B</b>"
    assert 'alert("x")' in points(root)[0].find(f"{SVG}title").text


def test_unknown_source_gets_the_neutral_colour_and_a_single_change_still_has_a_span():
    markup = stock_history_svg([Change(NOW, 4, 4, "teleport")], now=NOW)
    root = parse(markup)
    [dot] = points(root)
    assert (
        dot.get("fill") == charts.OTHER_COLOUR and dot.find(f"{SVG}title").text.split(" · ")[1] == "teleport"
    )
    axis = [t.text for t in root.findall(f"{SVG}text") if t.get("y") == str(12 + 240 - 12 - 50 + 16)]
    assert axis == ["2024-06-30 11:00", "2024-06-30 11:30", "2024-06-30 12:00"]  # an hour: times shown


def test_summary_for_screen_readers():
    root = parse(stock_history_svg(history(), now=NOW))
    assert root.find(f"{SVG}desc").text == (
        "From 2024-06-01 to 2024-06-30: 4 changes, stock 0 before the first and \u22123 after the last."
    )


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 1, [0, 1]),
        (0, 20, [0, 5, 10, 15, 20]),
        (-3, 22, [-5, 0, 5, 10, 15, 20, 25]),
        (0, 7, [0, 2, 4, 6, 8]),
        (0, 1000, [0, 200, 400, 600, 800, 1000]),
    ],
)
def test_round_ticks_cover_the_range(low, high, expected):
    assert y_ticks(low, high) == expected


def test_nice_steps():
    assert [nice_step(span) for span in (0, 1, 4, 9, 20, 99, 1000, 12345)] == [1, 1, 1, 2, 5, 20, 200, 5000]


def test_many_changes_stay_inside_the_plot():
    start = datetime(2024, 4, 1, tzinfo=UTC)
    changes = [
        Change(start + timedelta(hours=10 * n), 1 if n % 2 else -1, n % 2, "order") for n in range(200)
    ]
    root = parse(stock_history_svg(changes, now=start + timedelta(days=90), width=720, height=240))
    xs = [float(dot.get("cx")) for dot in points(root)]
    ys = [float(dot.get("cy")) for dot in points(root)]
    assert len(xs) == 200 and min(xs) >= 52 and max(xs) <= 708
    assert min(ys) >= 12 and max(ys) <= 240 - 50
