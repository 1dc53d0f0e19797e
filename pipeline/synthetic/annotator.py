"""How a simulated person annotates a synthetic person: from the truth (:mod:`pipeline.synthetic.truth`), the
part masks they paint in stage 1 (boundary noise, left/right confusions) and what they answer for each sampled
point in stage 2 (a click where the true surface point shows on one of the six views, off by Gaussian noise,
sometimes on a view of the other side, sometimes "not visible"). The web side's client
(``annotator_web.studies.simulate``) sends these answers through the API like a person would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline import parts
from pipeline.coco.densepose import decode_rle, dp_masks_from_labels
from pipeline.synthetic.truth import SyntheticTruth


@dataclass
class Behaviour:
    click_noise_px: float = 0.0  # Gaussian, per axis, in view pixels
    boundary_noise_px: float = 1.0  # part masks grow or shrink by about this much (box frame)
    confusion: float = 0.0  # chance a part is painted as its left/right mirror
    wrong_side: float = 0.0  # chance of clicking where the point would be on a view of the other side
    not_visible: float = 0.0  # chance of answering "not visible" for a point that is visible
    think_seconds: float = 0.0  # pause before each call (the client's)


def noisy_masks(true_masks: list, rng, behaviour: Behaviour) -> list:
    """The 14 dp_masks a person paints for these true ones."""
    from scipy import ndimage

    labels = np.zeros((parts.MASK_SIZE, parts.MASK_SIZE), dtype=np.uint8)
    for part, rle in zip(parts.MASK_PARTS, true_masks, strict=True):
        if not rle:
            continue
        mask = decode_rle(rle)
        if not mask.any():
            continue
        grow = round(rng.normal(0, behaviour.boundary_noise_px))
        if grow > 0:
            mask = ndimage.binary_dilation(mask, iterations=grow)
        elif grow < 0:
            mask = ndimage.binary_erosion(mask, iterations=-grow)
        label = parts.MASK_FLIP[part] if rng.random() < behaviour.confusion else part
        labels[mask] = label
    return dp_masks_from_labels(labels)


def simulated_click(rng, mapper, part: int, surface_point, behaviour: Behaviour, face: int | None = None):
    """Where a person clicks for a true surface point: on a view that shows it well (given the true ``face``:
    one that sees it nearly head-on, as a person picks the clearest view), or by mistake on one that shows the
    other side; off by Gaussian noise, on a pixel's centre. None when no view shows it."""
    from pipeline.correspond import clearest_views

    xy, shown, clear = clearest_views(mapper, part, surface_point, face)
    if not len(shown):
        return None
    hidden = np.setdiff1d(np.arange(mapper.n_views), shown)
    shown = np.sort(shown[clear])  # a person picks among the clear views
    views = hidden if len(hidden) and rng.random() < behaviour.wrong_side else shown
    for _ in range(10):
        view = int(rng.choice(views))
        x, y = xy[view] + (rng.normal(0, behaviour.click_noise_px, 2) if behaviour.click_noise_px else 0)
        x, y = np.floor(x) + 0.5, np.floor(y) + 0.5  # a click lands on a pixel
        if mapper.map_clicks([part], [view], [x], [y]).ok[0]:
            return view, float(x), float(y)
        views = shown  # off the part: look again on a view that shows the point
    return None


def answer_point(rng, mapper, behaviour: Behaviour, truth: SyntheticTruth, index: int, bbox, point: dict) -> dict:
    """A stage-2 answer for one sampled point (``id``, ``part``, ``box_x``, ``box_y``) of person ``index``:
    ``ok`` with the click's view and position, or ``not_visible`` (the point's pixel does not show the person,
    or the person says so by mistake), or ``unsure`` (no view shows the true point)."""
    true = truth.under(index, bbox, point["box_x"], point["box_y"])
    if not true.shown[0] or rng.random() < behaviour.not_visible:
        return {"point": point["id"], "status": "not_visible"}
    click = simulated_click(rng, mapper, point["part"], true.surface[0], behaviour, int(true.face[0]))
    if click is None:
        return {"point": point["id"], "status": "unsure"}
    view, x, y = click
    return {"point": point["id"], "status": "ok", "view": view, "x": x, "y": y}


def perfect_answer(mapper, truth: SyntheticTruth, index: int, bbox, point: dict) -> dict:
    """The exact answer: the true surface point on the first view that shows it; ``unsure`` when the point's
    pixel does not show the person or no view shows the point."""
    true = truth.under(index, bbox, point["box_x"], point["box_y"])
    xy, visible = mapper.project_to_views(point["part"], true.surface[0])
    views = np.flatnonzero(visible[:, 0])
    if not true.shown[0] or not len(views):
        return {"point": point["id"], "status": "unsure"}
    v = int(views[0])
    return {"point": point["id"], "status": "ok", "view": v, "x": float(xy[v, 0, 0]), "y": float(xy[v, 0, 1])}
