"""Model in the loop: what a model proposes for a person, and how an answer relates to the proposal.

A proposal is made from a person's box, never from a detection the model chose: the model's DensePose head runs
on the box the dataset already has (``training.evaluate.box_maps``), so proposal and person cannot be mismatched.

- Stage 1: :func:`masks_from_maps` turns the coarse segmentation (15 classes in the 256 x 256 box frame) into the
  14 ``dp_masks`` and the model's confidence in each part (the mean probability of the chosen label over the
  part's pixels).
- Stage 2: :func:`chart_at_points` reads the chart (restricted to the sampled point's part: the annotator's part
  masks decide the part), U and V at each sampled point, with the probability of that chart and the entropy of
  the whole chart distribution (the model's uncertainty). :class:`Proposer` turns (I, U, V) into a surface point
  and the surface point into the click that shows it on the clearest of the part's six views
  (:func:`pipeline.correspond.click_for`), which is what the annotator sees and confirms.
- A model of known quality: :func:`noisy_surface` replaces the true surface point by one of the same part at a
  random distance of a given typical size (the benchmark's and the tests' proposer).
- Provenance: :func:`origin_of_answer` says whether a stored answer is the proposal confirmed as it was, a
  proposal corrected, or a click with no proposal; :func:`origin_of_masks` does the same for part masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline import parts
from pipeline.body.base import MIRROR

PROPOSAL_FORMAT = 1
CLICK, CONFIRMED, CORRECTED = "click", "confirmed", "corrected"  # the origin of a stored answer
ORIGINS = (CLICK, CONFIRMED, CORRECTED)
ORIGIN_FIELD = "dp_origin"  # in an export with provenance, per point (DensePose's readers ignore it)
MASKS_ORIGIN_FIELD = "dp_masks_origin"  # ... and per person, for the part masks
SAME_CLICK_PX = 0.5  # an answer this close to the proposal's click, on its view, is the proposal confirmed


@dataclass(frozen=True)
class BoxMaps:
    """A model's output on one person's box, in the 256 x 256 box frame (row y, column x)."""

    segm: np.ndarray  # (15, 256, 256) probabilities: background and the 14 mask parts
    index: np.ndarray  # (25, 256, 256) probabilities: background and the 24 charts
    u: np.ndarray  # (25, 256, 256) in 0..1, per chart
    v: np.ndarray  # (25, 256, 256)

    def __post_init__(self):
        size = (parts.MASK_SIZE, parts.MASK_SIZE)
        expected = {"segm": parts.NUM_MASK_PARTS + 1, "index": parts.NUM_CHARTS + 1, "u": parts.NUM_CHARTS + 1,
                    "v": parts.NUM_CHARTS + 1}  # fmt: skip
        for name, channels in expected.items():
            shape = getattr(self, name).shape
            if shape != (channels, *size):
                raise ValueError(f"box maps: {name} is {shape}, expected {(channels, *size)}")


def _labels_and_confidence(maps: BoxMaps) -> tuple[dict[int, float], np.ndarray]:
    """({part: confidence 0..1}, label map (256, 256)) from the coarse segmentation."""
    labels = maps.segm.argmax(axis=0).astype(np.uint8)
    best = np.take_along_axis(maps.segm, labels[None].astype(np.int64), axis=0)[0]
    confidence = {}
    for part in parts.MASK_PARTS:
        mask = labels == part
        if mask.any():
            confidence[part] = round(float(best[mask].mean()), 4)
    return confidence, labels


def mask_iou(labels_a: np.ndarray, labels_b: np.ndarray) -> dict[int, float]:
    """Per part present in either label map, the IoU of its pixels in the two."""
    out = {}
    for part in parts.MASK_PARTS:
        a, b = labels_a == part, labels_b == part
        union = int((a | b).sum())
        if union:
            out[part] = int((a & b).sum()) / union
    return out


@dataclass(frozen=True)
class ChartReading:
    """The model's reading at N box points: chart (of the point's part), U, V, the chart's probability and the
    entropy (nats) of the whole chart distribution there."""

    chart: np.ndarray  # (N,) int64, 1..24
    u: np.ndarray
    v: np.ndarray
    confidence: np.ndarray
    entropy: np.ndarray


def entropy(prob: np.ndarray, axis: int) -> np.ndarray:
    """The entropy (nats) of probability distributions along ``axis`` (0 log 0 taken as 0)."""
    safe = np.clip(prob, 1e-12, 1)
    return -(safe * np.log(safe)).sum(axis=axis)


def chart_at_points(maps: BoxMaps, part, box_x, box_y) -> ChartReading:
    """The model's (I, U, V) at box-frame points (0..256) of the given mask parts: the chart is the most probable
    one among the part's own charts (the part is the annotator's)."""
    part = np.asarray(part, dtype=np.int64).ravel()
    col = np.clip(np.floor(np.asarray(box_x, dtype=np.float64).ravel()), 0, parts.MASK_SIZE - 1).astype(np.int64)
    row = np.clip(np.floor(np.asarray(box_y, dtype=np.float64).ravel()), 0, parts.MASK_SIZE - 1).astype(np.int64)
    prob = maps.index[:, row, col].T  # (N, 25)
    allowed = np.zeros((len(part), parts.NUM_CHARTS + 1), dtype=bool)
    for p in np.unique(part):
        parts.check_mask_part(int(p))
        allowed[np.ix_(part == p, list(parts.MASK_PART_TO_CHARTS[int(p)]))] = True
    chart = np.where(allowed, prob, -1.0).argmax(axis=1)
    pick = np.arange(len(part))
    u = np.clip(maps.u[chart, row, col], 0, 1)
    v = np.clip(maps.v[chart, row, col], 0, 1)
    return ChartReading(chart, u, v, prob[pick, chart], entropy(prob, axis=1))


class Proposer:
    """Proposals for one body's assets (a :class:`pipeline.correspond.ClickMapper`): from a model's maps or from
    the truth moved by noise of a known size. Each proposal is the click that shows its surface point:
    ``{"view", "x", "y", "confidence"}``, or None where there is none."""

    def __init__(self, mapper):
        from pipeline.charts.lookup import ChartLookup

        self.mapper = mapper
        a = mapper.assets
        self.lookup = ChartLookup(a.vertices, a.faces, a.face_chart, a.corner_uv)

    def clicks(self, part, point, face, confidence=None) -> list[dict | None]:
        """For each surface point on its part, the click that shows it (None where no view does)."""
        from pipeline.correspond import click_for

        out = []
        for k, (p, pt, f) in enumerate(zip(part, point, face, strict=True)):
            click = click_for(self.mapper, int(p), pt, int(f))
            c = None if confidence is None else round(float(confidence[k]), 4)
            out.append(None if click is None else {"view": click[0], "x": click[1], "y": click[2], "confidence": c})
        return out

    def from_maps(self, maps: BoxMaps, part, box_x, box_y, min_score: float = 0.0):
        """(proposals, uncertainty): the model's (I, U, V) at the points made surface points; none where the
        chart's probability is below ``min_score``. Uncertainty: the mean entropy of I at the points."""
        part = np.asarray(part, dtype=np.int64).ravel()
        if not len(part):
            return [], 0.0
        reading = chart_at_points(maps, part, box_x, box_y)
        face, _, point = self.lookup.to_surface(reading.chart, reading.u, reading.v)
        proposals = self.clicks(part, point, face, reading.confidence)
        proposals = [p if reading.confidence[k] >= min_score else None for k, p in enumerate(proposals)]
        return proposals, float(reading.entropy.mean())

    def mirror_disagreement(self, maps: BoxMaps, mirrored: BoxMaps, part, box_x, box_y) -> np.ndarray:
        """How far apart (metres) the model puts each point when it sees the image and when it sees its mirror
        image: the point (x, y) of a part is (256 - x, y) of the mirrored part there, and its surface point,
        mirrored back through the body's plane of symmetry, should be the same. ``mirrored``: the maps of the
        mirrored image's box (:func:`training.evaluate.box_maps` on ``image[:, ::-1]``)."""
        part = np.asarray(part, dtype=np.int64).ravel()
        if not len(part):
            return np.zeros(0)
        box_x = np.asarray(box_x, dtype=np.float64).ravel()
        here = chart_at_points(maps, part, box_x, box_y)
        there = chart_at_points(mirrored, np.array(parts.MASK_FLIP)[part], parts.MASK_SIZE - box_x, box_y)
        p = self.lookup.to_surface(here.chart, here.u, here.v)[2]
        q = self.lookup.to_surface(there.chart, there.u, there.v)[2] * MIRROR
        return np.linalg.norm(p - q, axis=1)

    def from_truth(self, part, shown, surface, size_m: float, rng) -> list[dict | None]:
        """A model of known quality: the true surface points (where ``shown``) moved by noise of median
        ``size_m`` (:func:`noisy_surface`)."""
        part = np.asarray(part, dtype=np.int64).ravel()
        out: list[dict | None] = [None] * len(part)
        rows = np.flatnonzero(np.asarray(shown, dtype=bool))
        if len(rows):
            face, _, point = noisy_surface(self.mapper.assets, part[rows], np.asarray(surface)[rows], size_m, rng)
            for k, click in zip(rows, self.clicks(part[rows], point, face), strict=True):
                out[k] = click
        return out


def masks_from_maps(maps: BoxMaps, min_score: float = 0.0) -> tuple[list, dict[int, float], float]:
    """(dp_masks, {part: confidence}, uncertainty) proposed from a model's coarse segmentation: parts whose
    confidence is below ``min_score`` are left out (background); uncertainty is the mean entropy of the
    segmentation over the person's pixels."""
    from pipeline.coco.densepose import dp_masks_from_labels

    confidence, labels = _labels_and_confidence(maps)
    for part, c in list(confidence.items()):
        if c < min_score:
            labels[labels == part] = 0
            del confidence[part]
    spread = entropy(maps.segm, axis=0)
    person = labels > 0
    uncertainty = float(spread[person].mean()) if person.any() else float(spread.mean())
    return dp_masks_from_labels(labels), confidence, uncertainty


def mask_mirror_disagreement(maps: BoxMaps, mirrored: BoxMaps) -> float:
    """The share of the person's pixels (either view's) whose part label differs between the image and its
    mirror image (the mirror's labels flipped back: columns reversed, left and right parts swapped)."""
    labels = maps.segm.argmax(axis=0)
    back = np.array(parts.MASK_FLIP)[mirrored.segm.argmax(axis=0)[:, ::-1]]
    person = (labels > 0) | (back > 0)
    return float((labels != back)[person].mean()) if person.any() else 0.0


def masks_from_truth(true_masks: list, boundary_px: float, rng) -> list:
    """A model of known quality for part masks: the true ones with their boundaries moved by about
    ``boundary_px`` (as :func:`pipeline.synthetic.annotator.noisy_masks` draws a person's)."""
    from pipeline.synthetic.annotator import Behaviour, noisy_masks

    return noisy_masks(true_masks, rng, Behaviour(boundary_noise_px=boundary_px))


def noisy_surface(assets, part, point, size_m: float, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A model of known quality: for each surface point, a point of the same part's visible surface at a random
    distance from it, the distances drawn from a 2-D Gaussian's radius with median ``size_m`` (a point of a small
    part is moved at most as far as the part reaches). Size 0: the point itself. (face, bary, point)."""
    from pipeline.charts.interchange import closest_on_faces

    point = np.atleast_2d(np.asarray(point, dtype=np.float64))
    part = np.asarray(part, dtype=np.int64).ravel()
    face = np.zeros(len(point), dtype=np.int64)
    bary = np.zeros((len(point), 3))
    # the radius of a 2-D Gaussian of standard deviation s per axis has median s * sqrt(2 ln 2)
    radius = np.hypot(*rng.normal(0, size_m / np.sqrt(2 * np.log(2)), (2, len(point))))
    for p in np.unique(part):
        own = np.flatnonzero((assets.face_part == p) & assets.exterior)
        rows = np.flatnonzero(part == p)
        if size_m <= 0:
            f, b = closest_on_faces(point[rows], assets.vertices[assets.faces[own]], 8)
            face[rows], bary[rows] = own[f], b
            continue
        centre = assets.vertices[assets.faces[own]].mean(axis=1)
        for k in rows:
            miss = np.abs(np.linalg.norm(centre - point[k], axis=1) - radius[k])
            near = np.flatnonzero(miss <= 0.1 * radius[k] + 0.002)  # faces at about that distance
            face[k] = own[rng.choice(near) if len(near) else miss.argmin()]
            bary[k] = rng.dirichlet((4.0, 4.0, 4.0))  # somewhere inside it, away from its edges
    moved = np.einsum("nk,nkj->nj", bary, assets.vertices[assets.faces[face]])
    return face, bary, moved


def origin_of_answer(answer: dict, proposal: dict | None) -> str:
    """``confirmed`` when a stage-2 answer is the proposal's click (same view, within ``SAME_CLICK_PX``),
    ``corrected`` when there was a proposal and the answer differs (another click, not visible, unsure), ``click``
    when there was none."""
    if not proposal:
        return CLICK
    near = lambda k: abs(answer[k] - proposal[k]) <= SAME_CLICK_PX  # noqa: E731
    same = answer.get("status", "ok") == "ok" and answer.get("view") == proposal["view"] and near("x") and near("y")
    return CONFIRMED if same else CORRECTED


def origin_of_masks(labels: np.ndarray, proposed: np.ndarray | None) -> tuple[str, int]:
    """(origin, pixels that differ from the proposal) of submitted part masks (label maps, 256 x 256)."""
    if proposed is None:
        return CLICK, int((labels > 0).sum())
    changed = int((labels != proposed).sum())
    return (CONFIRMED if changed == 0 else CORRECTED), changed
