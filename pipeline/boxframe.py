"""Points inside a person's box: the one home of the rule that turns them into image coordinates and back.

A point inside a box ``(x0, y0, w, h)`` is given in a frame of ``scale`` units a side:
``x = x0 + u * w / scale``, ``y = y0 + v * h / scale``. Two frames use it:

- the **box frame** (``scale = parts.BOX_SCALE``, 256): the frame of the ``dp_masks`` and of this project's
  own points (sampled points, synthetic truth, training targets);
- the **dp frame** of DensePose-COCO files (``scale = parts.POINT_SCALE``, 255, as the dataset defines
  ``dp_x``/``dp_y``; 256 is what detectron2's training code reads). :mod:`pipeline.coco.densepose` names it.

Every function is vectorised and takes numpy arrays, lists or numbers, or torch tensors (kept as tensors).
"""

from __future__ import annotations

import numpy as np

from pipeline import parts


def _values(v):
    """Numbers as float64 arrays; tensors (anything with ``.detach``) as they are."""
    return v if hasattr(v, "detach") else np.asarray(v, dtype=np.float64)


def to_image(bbox, u, v, scale: float = parts.BOX_SCALE):
    """Frame coordinates -> image coordinates: ``x = x0 + u * w / scale`` (in this order of operations, the
    reference evaluator's)."""
    x0, y0, w, h = bbox
    return x0 + _values(u) * w / scale, y0 + _values(v) * h / scale


def from_image(bbox, x, y, scale: float = parts.BOX_SCALE):
    """Image coordinates -> frame coordinates (the inverse of :func:`to_image`)."""
    x0, y0, w, h = bbox
    return (_values(x) - x0) * scale / w, (_values(y) - y0) * scale / h


def pixel(bbox, u, v, shape, scale: float = parts.BOX_SCALE) -> tuple[np.ndarray, np.ndarray]:
    """The image pixel (row, column) that holds each frame point: the floor of :func:`to_image`, kept inside an
    image of ``shape`` (height, width, ...)."""
    x, y = to_image(bbox, u, v, scale)
    col = np.clip(np.floor(x).astype(np.int64), 0, shape[1] - 1)
    row = np.clip(np.floor(y).astype(np.int64), 0, shape[0] - 1)
    return row, col


def pixel_centres_in_frame(bbox, first: int, stop: int, axis: int, scale: float = parts.BOX_SCALE) -> np.ndarray:
    """The frame cells (0..scale-1, clipped) under the centres of image pixels ``first..stop-1`` along ``axis``
    (0: columns, x; 1: rows, y): how an image raster reads a box-frame mask."""
    x0, y0, w, h = bbox
    start, size = (x0, w) if axis == 0 else (y0, h)
    cells = np.floor((np.arange(first, stop) + 0.5 - start) * scale / size).astype(np.int64)
    return np.clip(cells, 0, int(scale) - 1)
