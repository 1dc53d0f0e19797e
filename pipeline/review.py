"""Stage-2 review aids: which answers disagree with their neighbours.

Points sampled close together in the image lie close together on the body, and over a small patch the map from
the image to the surface is nearly affine. For each answered point, an affine map fitted (least squares) to its
nearest answered neighbours of the same part, in the box frame, says where its surface point should be; the
distance from there to where the annotator put it is the point's *residual*. A point clicked on the wrong side
of a limb, or on the other limb, stands out by tens of centimetres; the body's curvature alone gives a few. A
wrong answer must not make its neighbours look wrong too: a neighbour that disagrees with the others' fit by
more than half the suspect distance is left out of it (at most two, never below three neighbours). Neighbours
nearly on one line in the image cannot predict across it, nor can neighbours all to one side of a point predict
it far away: such a point is not judged (NaN), and no neighbour is left out if the rest would lie on a line.
"""

from __future__ import annotations

import numpy as np

NEIGHBOURS = 6  # the nearest answered points of the same part that predict a point (at least MIN_NEIGHBOURS)
MIN_NEIGHBOURS = 3
DROPPED = 2  # at most this many neighbours left out of a fit as disagreeing with the rest
SPREAD = 0.1  # neighbours nearly on one line say nothing across it: their spread's smallest over largest variance
REACH = 2.5  # nor about a point this many standard deviations (Mahalanobis) outside them: no far extrapolation
# A residual above this flags the point for the reviewer: about twice the paper's annotators' median error on the
# torso (7 cm), less than a front/back or left/right swap on a thigh or the torso; true answers reach it near a
# part's silhouette, where the body turns away and the map from the image is steep (tests/test_review_overview.py)
SUSPECT_M = 0.15


def neighbour_residuals(box_xy, part, surface) -> np.ndarray:
    """Residual (metres) of each point: ``box_xy`` (N, 2) box-frame positions, ``part`` (N,) mask parts,
    ``surface`` (N, 3) the answered surface points (NaN rows for points without one). NaN where a point has no
    surface point, fewer than MIN_NEIGHBOURS answered neighbours of its part, or neighbours nearly on one line or
    all well to one side of it."""
    box_xy = np.asarray(box_xy, dtype=np.float64).reshape(-1, 2)
    part = np.asarray(part).reshape(-1)
    surface = np.asarray(surface, dtype=np.float64).reshape(-1, 3)
    answered = np.isfinite(surface).all(axis=1)
    out = np.full(len(box_xy), np.nan)
    for i in np.flatnonzero(answered):
        others = np.flatnonzero(answered & (part == part[i]))
        others = others[others != i]
        if len(others) < MIN_NEIGHBOURS:
            continue
        near = others[np.argsort(np.linalg.norm(box_xy[others] - box_xy[i], axis=1), kind="stable")[:NEIGHBOURS]]
        if not _spread(box_xy[near]) or _outside(box_xy[near], box_xy[i]) > REACH:
            continue
        for _ in range(DROPPED):
            if len(near) <= MIN_NEIGHBOURS:
                break
            apart = np.full(len(near), -1.0)  # a neighbour's disagreement: how far from the fit of the others
            for j in range(len(near)):
                rest = np.delete(near, j)
                if _spread(box_xy[rest]):
                    guess = _predict(_fit(box_xy[rest], surface[rest]), box_xy[near[j]])
                    apart[j] = np.linalg.norm(guess - surface[near[j]])
            worst = int(np.argmax(apart))
            if apart[worst] <= SUSPECT_M / 2:
                break
            near = np.delete(near, worst)
        affine = _fit(box_xy[near], surface[near])
        out[i] = float(np.linalg.norm(_predict(affine, box_xy[i]) - surface[i]))
    return out


def _spread(xy: np.ndarray) -> bool:
    """Whether points (n, 2) spread in both directions (not nearly on one line)."""
    centred = xy - xy.mean(axis=0)
    low, high = np.linalg.eigvalsh(centred.T @ centred)
    return bool(high > 0 and low >= SPREAD * high)


def _outside(xy: np.ndarray, point: np.ndarray) -> float:
    """How far ``point`` lies outside the points ``xy`` (n, 2), in their standard deviations (Mahalanobis)."""
    centred = xy - xy.mean(axis=0)
    cov = centred.T @ centred / len(xy)
    d = point - xy.mean(axis=0)
    return float(np.sqrt(d @ np.linalg.solve(cov, d)))


def _fit(xy: np.ndarray, surface: np.ndarray) -> np.ndarray:
    """Least-squares affine map (3, 3) from box-frame points (n, 2) to surface points (n, 3)."""
    affine, *_ = np.linalg.lstsq(np.column_stack([xy, np.ones(len(xy))]), surface, rcond=None)
    return affine


def _predict(affine: np.ndarray, xy: np.ndarray) -> np.ndarray:
    return np.append(xy, 1.0) @ affine


def suspects(residuals) -> np.ndarray:
    """Indices of the points to look at first: residual above SUSPECT_M, largest first."""
    r = np.asarray(residuals, dtype=np.float64)
    flagged = np.flatnonzero(np.nan_to_num(r, nan=-1.0) > SUSPECT_M)
    return flagged[np.argsort(-r[flagged], kind="stable")]
