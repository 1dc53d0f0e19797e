"""Stage-2 point sampling: roughly equidistant points inside each part mask, by k-means (the paper's way).

At most ``MAX_POINTS_PER_PART`` points per part, fewer for small parts: one point per
``PIXELS_PER_POINT`` pixels of the part (in the 256×256 box frame), at least one. Deterministic under a seed.
"""

from __future__ import annotations

import numpy as np

from pipeline.parts import MASK_PARTS, MAX_POINTS_PER_PART

PIXELS_PER_POINT = 300  # in the 256 x 256 box frame: a part filling 1/16 of the box gets 14 points
MIN_PIXELS = 6  # a part smaller than this gets no point
FIT_PIXELS = 800


def points_for_area(pixels: int, cap: int = MAX_POINTS_PER_PART) -> int:
    if pixels < MIN_PIXELS:
        return 0
    return int(min(cap, max(1, round(pixels / PIXELS_PER_POINT))))


def kmeans(points: np.ndarray, k: int, seed: int = 0, iterations: int = 25) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding, deterministic under ``seed`` (a few hundred microseconds
    for a part mask, where scikit-learn's per-call overhead is tens of milliseconds)."""
    rng = np.random.default_rng(seed)
    centres = np.empty((k, points.shape[1]))
    centres[0] = points[rng.integers(len(points))]
    d2 = ((points - centres[0]) ** 2).sum(axis=1)
    for i in range(1, k):
        total = d2.sum()
        j = rng.choice(len(points), p=d2 / total) if total > 0 else rng.integers(len(points))
        centres[i] = points[j]
        d2 = np.minimum(d2, ((points - centres[i]) ** 2).sum(axis=1))
    for _ in range(iterations):
        label = ((centres**2).sum(axis=1)[None, :] - 2 * points @ centres.T).argmin(axis=1)
        counts = np.bincount(label, minlength=k)
        sums = np.stack([np.bincount(label, weights=points[:, d], minlength=k) for d in range(points.shape[1])], 1)
        moved = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centres)
        shift = np.abs(moved - centres).max()
        centres = moved
        if shift < 1e-3:
            break
    return centres


def sample_part(mask: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` points (x, y) at pixel centres inside a boolean mask, spread out by k-means."""
    ys, xs = np.nonzero(mask)
    if count <= 0 or len(xs) == 0:
        return np.zeros((0, 2))
    pixels = np.stack([xs + 0.5, ys + 0.5], axis=1)
    if len(pixels) <= count:
        return pixels
    # k-means on an even subset of a large part: the centres barely move, the cost drops tenfold
    step = max(1, len(pixels) // FIT_PIXELS)
    centres = kmeans(pixels[::step], count, seed=seed)
    # snap each centre to the nearest pixel of the part (a centre can fall outside a curved part)
    d = (pixels**2).sum(axis=1)[None, :] - 2 * centres @ pixels.T
    chosen = np.unique(pixels[np.argmin(d, axis=1)], axis=0)
    order = np.lexsort((chosen[:, 0], chosen[:, 1]))  # a stable reading order: top to bottom, left to right
    return chosen[order]


def person_seed(image_digest: str, bbox) -> int:
    """The k-means seed of a person: from their image's content hash and their box, so that the same person gets
    the same points in any database (an id would differ from one installation to the next)."""
    import hashlib

    box = ",".join(f"{float(v):.3f}" for v in bbox)
    return int.from_bytes(hashlib.sha256(f"{image_digest}:{box}".encode()).digest()[:4], "big")


def sample_points(label_map: np.ndarray, seed: int = 0, cap: int = MAX_POINTS_PER_PART) -> dict[int, np.ndarray]:
    """Points for every part present in a label map (0 = background, 1..14 = mask parts)."""
    points = {}
    for part in MASK_PARTS:
        mask = label_map == part
        n = points_for_area(int(mask.sum()), cap)
        if n:
            points[part] = sample_part(mask, n, seed=seed + part)
    return points
