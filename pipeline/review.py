"""Stage-2 review aids: which answers disagree with their neighbours.

Points sampled close together in the image lie close together on the body, and over a small patch the map from
the image to the surface is nearly affine. For each answered point, an affine map fitted (least squares) to its
nearest answered neighbours of the same part, in the box frame, says where its surface point should be; the
distance from there to where the annotator put it is the point's *residual*. A point clicked on the wrong side
of a limb, or on the other limb, stands out by tens of centimetres; the body's curvature alone gives a few.
"""

from __future__ import annotations

import numpy as np

NEIGHBOURS = 5  # the nearest answered points of the same part that predict a point (at least MIN_NEIGHBOURS)
MIN_NEIGHBOURS = 3
SUSPECT_M = 0.08  # a residual above this flags the point for the reviewer


def neighbour_residuals(box_xy, part, surface) -> np.ndarray:
    """Residual (metres) of each point: ``box_xy`` (N, 2) box-frame positions, ``part`` (N,) mask parts,
    ``surface`` (N, 3) the answered surface points (NaN rows for points without one). NaN where a point has no
    surface point or fewer than MIN_NEIGHBOURS answered neighbours of its part."""
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
        design = np.column_stack([box_xy[near], np.ones(len(near))])
        affine, *_ = np.linalg.lstsq(design, surface[near], rcond=None)
        out[i] = float(np.linalg.norm(np.append(box_xy[i], 1.0) @ affine - surface[i]))
    return out


def suspects(residuals) -> np.ndarray:
    """Indices of the points to look at first: residual above SUSPECT_M, largest first."""
    r = np.asarray(residuals, dtype=np.float64)
    flagged = np.flatnonzero(np.nan_to_num(r, nan=-1.0) > SUSPECT_M)
    return flagged[np.argsort(-r[flagged], kind="stable")]
