"""The one Markdown table builder every report uses."""

from __future__ import annotations

import pytest

from runtime.markdown import table


def test_a_table_has_its_header_alignment_row_and_one_line_per_row():
    lines = table(["model", "n", "accuracy"], [["a", 10, "70.0 %"], ["b", 2, "–"]], "lrr")
    assert lines == [
        "| model | n | accuracy |",
        "|---|---:|---:|",
        "| a | 10 | 70.0 % |",
        "| b | 2 | – |",
    ]


def test_missing_alignment_letters_mean_left_and_wrong_shapes_are_refused():
    assert table(["a", "b"], [])[1] == "|---|---|"
    with pytest.raises(ValueError, match="one 'l' or 'r'"):
        table(["a"], [], "x")
    with pytest.raises(ValueError, match="a row of 1 cells in a table of 2 columns"):
        table(["a", "b"], [["only one"]])
