"""Stage-2 review aids (pipeline.review): a point whose surface point disagrees with its neighbours' stands out."""

import numpy as np
import pytest

from pipeline import review


def plane(box_xy):
    """An affine image -> surface map: 1 cm a box pixel across, 2 cm down, on the plane z = 0.1."""
    box_xy = np.asarray(box_xy, dtype=np.float64)
    return np.column_stack([0.01 * box_xy[:, 0], 0.02 * box_xy[:, 1], np.full(len(box_xy), 0.1)])


GRID = np.array([(x, y) for x in (40, 80, 120) for y in (50, 100, 150)], dtype=np.float64)


def test_answers_that_follow_their_neighbours_have_no_residual():
    residuals = review.neighbour_residuals(GRID, np.ones(len(GRID), int), plane(GRID))
    judged = ~np.isnan(residuals)
    # the grid's four corners lie 2.7 standard deviations outside their six neighbours: not judged
    assert list(np.flatnonzero(~judged)) == [0, 2, 6, 8]
    assert np.allclose(residuals[judged], 0, atol=1e-9)
    assert len(review.suspects(residuals)) == 0


def test_a_point_put_30_cm_away_is_the_first_suspect():
    surface = plane(GRID)
    surface[4] += [0, 0, 0.3]  # the middle point, clicked on the other side
    residuals = review.neighbour_residuals(GRID, np.ones(len(GRID), int), surface)
    # its nearest neighbours are all right: they put it exactly 30 cm from where it was clicked
    assert residuals[4] == pytest.approx(0.3)
    assert list(review.suspects(residuals)) == [4]
    # and the wrong one, a neighbour of every other point, is left out of their fits: they are not suspects
    others = np.delete(residuals, 4)
    assert np.allclose(others[~np.isnan(others)], 0, atol=1e-9)


def test_points_are_judged_by_their_own_part_only_and_need_three_answered_neighbours():
    part = np.array([1] * 4 + [2] * 5)
    surface = plane(GRID)
    surface[part == 2] += [5.0, 0, 0]  # another part far away: no influence on part 1
    surface[0] = np.nan  # not answered (not visible or unsure)
    residuals = review.neighbour_residuals(GRID, part, surface)
    assert np.isnan(residuals[0]), "no surface point: nothing to judge"
    assert np.isnan(residuals[1:4]).all(), "part 1 has two other answered points: too few to predict one"
    judged = residuals[4:][~np.isnan(residuals[4:])]
    assert len(judged) >= 2 and np.allclose(judged, 0, atol=1e-9)


def test_neighbours_on_one_line_do_not_judge_a_point_off_it():
    line = np.array([(40, 50), (40, 100), (40, 150), (40, 200)], dtype=np.float64)
    xy = np.vstack([line, [(90, 120)]])
    surface = plane(xy)
    residuals = review.neighbour_residuals(xy, np.ones(len(xy), int), surface)
    assert np.isnan(residuals[4]), "four points on a line say nothing about the map across it"
    judged = residuals[:4][~np.isnan(residuals[:4])]
    assert len(judged) >= 2 and np.allclose(judged, 0, atol=1e-9)
