"""The DensePose constants agree with each other (two tables typed from REFERENCE.md, cross-checked)."""

import pytest

from pipeline import parts


def swap_sides(name: str) -> str:
    return name.replace("Left", "@").replace("Right", "Left").replace("@", "Right")


def test_every_chart_lies_in_the_mask_part_its_name_says():
    assert len(parts.CHART_NAMES) == 24 and len(parts.MASK_PART_NAMES) == 14
    for chart in parts.CHARTS:
        part_name = parts.mask_part_name(parts.CHART_TO_MASK_PART[chart])
        chart_name = parts.chart_name(chart)
        stripped = chart_name.removesuffix(" Front").removesuffix(" Back")
        if part_name == "Head":
            stripped = "Head"
        assert stripped == part_name, (chart, chart_name, part_name)
    assert sum(len(c) for c in parts.MASK_PART_TO_CHARTS.values()) == 24


def test_flip_tables_swap_left_and_right_and_are_involutions():
    for table, name in ((parts.MASK_FLIP, parts.mask_part_name), (parts.CHART_FLIP, parts.chart_name)):
        assert table[0] == 0
        for i in range(1, len(table)):
            assert table[table[i]] == i
            assert name(table[i]) == swap_sides(name(i)), (i, name(i), name(table[i]))


def test_flips_commute_with_the_chart_to_part_map():
    for chart in parts.CHARTS:
        assert parts.MASK_FLIP[parts.CHART_TO_MASK_PART[chart]] == parts.CHART_TO_MASK_PART[parts.CHART_FLIP[chart]]


@pytest.mark.parametrize("bad", [0, 15, -1, "3", 2.0, True, None])
def test_unknown_part_is_a_clear_error(bad):
    with pytest.raises(parts.UnknownPart, match="unknown body part"):
        parts.check_mask_part(bad)
