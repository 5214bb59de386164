"""combine_records: locations summed, duplicates refused whole-file, details merged."""

import pytest

from imports.reading import Count, ReadOptions, ReadResult, Record, combine_records, read_stock_file


def read(text, **options):
    return read_stock_file(text.encode(), "stock.csv", ReadOptions(**options))


def totals(text, **options):
    counts, problems = combine_records(read(text, **options))
    return {sku: c.quantity for sku, c in counts.items()}, problems


def test_counts_in_different_locations_are_summed():
    counts, problems = totals("sku,qty,location\nA,2,North\nB,1,North\nA,3,South\nA,,East\nC,--,North\n")
    assert counts == {"A": 5, "B": 1, "C": None}
    assert problems == []


def test_no_count_anywhere_is_none_and_zero_stays_zero():
    counts, _ = totals("sku,qty,location\nA,,X\nA,not stocked,Y\nB,0,X\nB,,Y\n")
    assert counts == {"A": None, "B": 0}


def test_negative_location_counts_are_summed_too():
    counts, _ = totals("sku,qty,location\nA,-1,X\nA,3,Y\n")
    assert counts == {"A": 2}


def test_same_sku_twice_in_one_location_is_an_error_naming_all_its_rows():
    counts, problems = totals("sku,qty,location\nA,1,X\nB,1,X\nA,2,Y\nA,3,X\n")
    assert counts == {"B": 1}
    [problem] = problems
    assert (problem.row, problem.column, problem.value, problem.sku, problem.code) == (
        2,
        "sku",
        "A",
        "A",
        "duplicate_sku",
    )
    assert "rows 2, 4 and 5" in problem.message and "'X'" in problem.message


def test_blank_location_counts_as_one_location():
    counts, problems = totals("sku,qty,location\nA,1,\nA,2, \n")
    assert counts == {}
    assert "(no location)" in problems[0].message


def test_same_sku_twice_without_a_location_column():
    counts, problems = totals("sku,qty\nA,1\nB,2\nA,1\n")
    assert counts == {"B": 2}
    assert [(p.row, p.sku) for p in problems] == [(2, "A")]
    assert "rows 2 and 4" in problems[0].message


def test_duplicate_with_no_count_rows_is_still_a_duplicate():
    counts, problems = totals("sku,qty\nA,\nA,5\n")
    assert counts == {}
    assert [p.code for p in problems] == ["duplicate_sku"]


def test_a_rejected_row_counts_as_an_occurrence_without_location():
    counts, problems = totals("sku,qty\nA,5\nA,5.5\n")
    assert counts == {}
    assert "rows 2 and 3" in problems[0].message


def test_a_sku_with_a_rejected_location_row_is_left_out():
    counts, problems = totals("sku,qty,location\nA,5,X\nA,2.5,Y\nB,1,X\n")
    assert counts == {"B": 1}
    [problem] = problems
    assert (problem.sku, problem.code, problem.row) == ("A", "sku_incomplete", 2)
    assert "row 3 has an error" in problem.message


def test_a_sku_only_in_rejected_rows_without_location_is_reported_as_duplicate():
    _counts, problems = totals("sku,qty\nA,x\nA,y\n")
    assert [(p.sku, p.code, p.row) for p in problems] == [("A", "duplicate_sku", 2)]


def test_sku_matching_is_exact():
    counts, problems = totals("sku,qty\nA-1,1\na-1,2\n A-1 ,3\n")
    assert counts == {"a-1": 2}
    assert [p.sku for p in problems] == ["A-1"]


def test_details_and_metadata_merge_first_non_empty_wins():
    text = "sku,qty,location,name,price,metadata:max\nA,1,X,,2.00,\nA,2,Y,Hat,3.00,9\n"
    counts, _ = combine_records(read(text))
    count = counts["A"]
    assert count == Count("A", 3, (2, 3), {"name": "Hat", "price": "2.00"}, {"max": "9"})


@pytest.mark.parametrize("size", [101, 5001, 20001])
def test_duplicates_are_found_across_the_whole_file(size):
    lines = ["sku,qty"] + [f"S{n},1" for n in range(2, size)] + ["DUP,1", "DUP,2"]
    counts, problems = totals("\n".join(lines))
    assert "DUP" not in counts and len(counts) == size - 2
    [problem] = problems
    assert f"rows {size} and {size + 1}" in problem.message


def test_combine_works_on_a_hand_made_result():
    result = ReadResult(
        records=[Record(2, "A", 1, "X"), Record(3, "A", None, "Y"), Record(4, "B", 7)],
        sku_column="code",
        qty_columns=["n"],
        location_column="where",
    )
    counts, problems = combine_records(result)
    assert counts["A"] == Count("A", 1, (2, 3))
    assert counts["B"].quantity == 7
    assert problems == []
