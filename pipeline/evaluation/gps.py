"""DensePose evaluation: GPS and GPSm average precision, rule for rule as DensePose's reference evaluator
(detectron2's ``DensePoseCocoEval``, the 2019 COCO DensePose challenge's ``densepose_cocoeval.py``), and the
paper's pointwise curve, which no public evaluator has.

The reference's rules, each followed here (and stated as a test with hand-worked values):

- **Ground-truth points** sit at ``x = x0 + dp_x * w / 255`` (``point_scale``; 256 is what detectron2's
  *training* code reads, kept as an option named for that). Against a detection with box ``(dx0, dy0, dw, dh)``
  the point's raster pixel is ``int(x - dx0)``, ``int(y - dy0)`` (truncated toward zero, so a point up to a
  pixel left of or above the box reads its first column or row); it is outside when that is not in
  ``[0, int(dw)) x [0, int(dh))``, and an outside point is predicted as background.
- **A detection's raster** (``uv_data``) is the box's integer size, ``int(h) x int(w)`` (at least 1 x 1): I,
  U x 255, V x 255, read at those integer offsets. The reference indexes the decoded array without checking
  its size, so a raster up to *one pixel larger* in each direction (``int(h)`` or ``int(h) + 1`` rows,
  ``int(w)`` or ``int(w) + 1`` columns) is read too: accepted, whether ``uv_shape`` declares that size or only
  the PNG has it; its points are read in its top-left ``int(h) x int(w)``, its foreground placed as GPSm's
  rule says; the evaluation's ``warnings`` count such results. A smaller raster (the reference fails on it,
  index out of range) or a still larger one is refused with its record named, as is a ``uv_shape`` that is
  not the PNG's size (the reference reshapes the PNG's pixels to ``uv_shape``).
- **GPS** of a detection and an annotated person: the mean over the person's points with a chart 1..24 of
  exp(-d^2 / 2 kappa^2), d the geodesic distance between the chart vertex nearest the true (I, U, V) and the
  one nearest the predicted (I, U, V) (infinite where the prediction is background or not a chart). kappa
  is per part (``"per-part"``, the reference's and the published numbers' normalisation, by the true point's
  chart) or the paper's 0.255 m (``"paper"``, a point 30 cm off scores 0.5).
- **GPSm** = sqrt(GPS x IoU), the IoU of the detection's foreground (I > 0, placed at ``int(dx0), int(dy0)``)
  and the person's part-mask union (the 256 x 256 masks resized to the box by linear interpolation, kept
  above 0.5, placed at ``int(x0), int(y0)``), both clipped to the image, at image resolution. A mask reaches
  column ``int(x0 + w)`` at most (row ``int(y0 + h)``), as detectron2 places it: a one-pixel-larger raster's
  last column counts where the fractions of ``x0`` and ``w`` add up to 1 or more (the 2019 challenge's
  evaluator stops at ``int(x0) + int(w)``).
- **Matching** as COCO's keypoint AP with GPS (GPSm) in place of OKS: at most 20 detections per image by
  score, thresholds 0.5:0.05:0.95, area ranges all / medium / large, 101-point interpolated precision.
  A person is *ignored* when they have no ``dp_x`` (no DensePose annotation) or are outside the area range.
  Then, DensePose's own additions: in an image where every person is ignored (or that has none), every
  detection is ignored; a detection still unmatched at the last threshold that has box IoU >= 0.8 with a
  person not matched there (a crowd region's IoU is over the detection's own box) takes that person's ignore
  flag at every threshold (and is matched to them when they are ignored).
- **Pointwise** (this project's): each annotated person is paired with a detection (greedily by GPS, best
  first); the ratio of its points within a geodesic threshold, for thresholds 0-30 cm, and its normalised area
  up to 10 cm and 30 cm (AUC10, AUC30). Points of people no detection covers count as wrong.

Detections are DensePose's results records: ``image_id, category_id, bbox, score, uv_shape = [3, H, W],
uv_data`` (a base64 PNG). A results file naming an image that the ground truth does not have is refused, as
the reference refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline import boxframe, parts
from pipeline.coco.densepose import DP_FIELDS, decode_rle, decode_uv_bytes, encode_uv_png, finite_number, union_mask

PAPER_KAPPA = 0.255  # metres: a point 30 cm off scores 0.5
# the reference's per-part kappa (metres, "mean geodesic distance between points on the part"), by mask part
PART_KAPPA = {
    "Torso": 0.351, "Right Hand": 0.107, "Left Hand": 0.107, "Left Foot": 0.126, "Right Foot": 0.126,
    "Upper Leg Right": 0.237, "Upper Leg Left": 0.237, "Lower Leg Right": 0.173, "Lower Leg Left": 0.173,
    "Upper Arm Left": 0.142, "Upper Arm Right": 0.142, "Lower Arm Left": 0.128, "Lower Arm Right": 0.128,
    "Head": 0.150,
}  # fmt: skip
KAPPAS = ("per-part", "paper")
DEFAULT_KAPPA = "per-part"
# as the reference builds them (np.linspace: its values differ from arange's in the last bits)
THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
MAX_DETECTIONS = 20
AREA_RANGES = {"all": (0.0, 1e5**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e5**2)}
BOX_IOU_IGNORE = 0.8  # a detection this close (box IoU) to a person takes their ignore flag
CURVE_CM = np.round(np.arange(0, 30.01, 0.5), 2)


def kappa_of_charts(charts: np.ndarray, kappa: str) -> np.ndarray:
    if kappa == "paper":
        return np.full(len(charts), PAPER_KAPPA)
    if kappa == "per-part":
        table = np.array([0.0] + [PART_KAPPA[parts.mask_part_name(parts.CHART_TO_MASK_PART[c])] for c in parts.CHARTS])
        return table[np.asarray(charts, dtype=np.int64)]
    raise ValueError(f"kappa is one of {', '.join(KAPPAS)}, not {kappa!r}")


def raster_size(bbox) -> tuple[int, int]:
    """The (height, width) of a detection's ``uv_data`` raster: its box's integer size, at least 1 x 1."""
    return max(int(bbox[3]), 1), max(int(bbox[2]), 1)


def raster_fit(size, bbox) -> str | None:
    """How a raster of ``size`` (height, width) fits a detection's box: ``"exact"`` (:func:`raster_size`),
    ``"larger"`` (one pixel more in either direction or both: read as the reference reads it, see the module's
    rules) or None (refused: smaller, or larger than that)."""
    height, width = raster_size(bbox)
    if tuple(size) == (height, width):
        return "exact"
    if size[0] in (height, height + 1) and size[1] in (width, width + 1):
        return "larger"
    return None


def _raster_needs(bbox) -> str:
    """What a box's raster must be, for refusals."""
    height, width = raster_size(bbox)
    bbox = bbox.tolist() if isinstance(bbox, np.ndarray) else list(bbox)
    return (
        f"its box {bbox} needs {height}x{width} (int(h) x int(w), at least 1x1); up to one pixel more "
        f"in each direction ({height + 1}x{width + 1}) is accepted and read at its top-left"
    )


def uv_data_size(data: str) -> tuple[int, int] | None:
    """The (height, width) of a ``uv_data`` picture (a PNG's from its header, without decoding it); None when
    it is not a base64 picture."""
    import base64
    import binascii
    import io
    import struct

    head = "".join(data[:64].split())[:32]  # base64 may be broken into lines; 32 characters: 24 bytes
    try:
        start = base64.b64decode(head[: len(head) // 4 * 4])
    except (binascii.Error, ValueError):
        return None
    if len(start) >= 24 and start[:8] == b"\x89PNG\r\n\x1a\n" and start[12:16] == b"IHDR":
        width, height = struct.unpack(">II", start[16:24])
        return height, width
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            width, height = image.size
    except (binascii.Error, ValueError, OSError, UnidentifiedImageError):
        return None
    return height, width


def raster_pixels(x: np.ndarray, y: np.ndarray, boxes: np.ndarray):
    """(D, P) raster row and column of image points in each of D boxes (x0, y0, w, h), as the reference finds
    them: ``int(x - x0)``, truncated toward zero; inside when in [0, int(w)) x [0, int(h)); 0 where outside."""
    col = (np.asarray(x)[None, :] - boxes[:, :1]).astype(np.int64)
    row = (np.asarray(y)[None, :] - boxes[:, 1:2]).astype(np.int64)
    inside = (col >= 0) & (col < boxes[:, 2:3].astype(np.int64)) & (row >= 0) & (row < boxes[:, 3:4].astype(np.int64))
    return np.where(inside, row, 0), np.where(inside, col, 0), inside


@dataclass
class Truth:
    ann: dict
    annotated: bool  # has dp_x: a person that counts (the reference's rule)
    crowd: bool
    area: float
    bbox: np.ndarray
    x: np.ndarray = field(default_factory=lambda: np.zeros(0))  # image coordinates of the points
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # evaluation-mesh rows
    kappa: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _mask: tuple | None = None

    def mask_on(self, image_size: tuple[int, int]) -> tuple[int, int, np.ndarray]:
        """The person's foreground on the image, clipped: (x0, y0, bool array) (computed once)."""
        if self._mask is None:
            self._mask = _truth_mask(self, image_size)
        return self._mask


@dataclass
class Detection:
    record: dict
    bbox: np.ndarray
    score: float
    _raw: np.ndarray | None = None
    _mask: tuple | None = None

    @property
    def area(self) -> float:
        return float(self.bbox[2] * self.bbox[3])

    @property
    def raw(self) -> np.ndarray:
        """The uv_data PNG as (H, W, 3) bytes: I, U x 255, V x 255 (decoded once; its size checked: the box's
        integer size or up to one pixel more, see :func:`raster_fit`; points read only its top-left
        ``int(h) x int(w)``)."""
        if self._raw is None:
            raw = decode_uv_bytes(self.record["uv_data"])
            if raster_fit(raw.shape[:2], self.bbox) is None:
                raise ValueError(
                    f"a result on image {self.record.get('image_id')} has a {raw.shape[0]}x"
                    f"{raw.shape[1]} uv_data raster; {_raster_needs(self.bbox)}"
                )
            self._raw = raw
        return self._raw

    def pixels(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The raster pixel (row, col) of image points (0 where outside), and whether each is inside."""
        row, col, inside = raster_pixels(x, y, self.bbox[None, :])
        return row[0], col[0], inside[0]

    def sample_bytes(self, x: np.ndarray, y: np.ndarray):
        """I and the U, V bytes predicted at image points (I = 0 outside the box)."""
        row, col, inside = self.pixels(x, y)
        if not inside.any():
            zero = np.zeros(len(x), dtype=np.int64)
            return zero, zero, zero
        picked = self.raw[row, col].astype(np.int64)
        return np.where(inside, picked[:, 0], 0), picked[:, 1], picked[:, 2]

    def mask_on(self, image_size: tuple[int, int]) -> tuple[int, int, np.ndarray]:
        """The detection's foreground (I > 0) on the image, clipped: (x0, y0, bool array) (computed once)."""
        if self._mask is None:
            self._mask = _place(self.raw[..., 0] > 0, self.bbox, image_size)
        return self._mask


def _place(mask: np.ndarray, bbox, image_size: tuple[int, int]) -> tuple[int, int, np.ndarray]:
    """A box-sized mask put on the image at the box's integer corner and clipped to the image, as the reference
    does: (x0, y0, the part of the mask inside)."""
    x, y, w, h = (float(v) for v in bbox)
    width, height = image_size
    xi, yi = int(x), int(y)
    x0, y0 = max(xi, 0), max(yi, 0)
    x1 = min(int(x + w), width, xi + mask.shape[1])
    y1 = min(int(y + h), height, yi + mask.shape[0])
    if x1 <= x0 or y1 <= y0:
        return x0, y0, np.zeros((0, 0), dtype=bool)
    return x0, y0, mask[y0 - yi : y1 - yi, x0 - xi : x1 - xi]


def box_mask(dp_masks: list, bbox) -> np.ndarray:
    """The person's part-mask union over the box as the reference builds it: the 256 x 256 union resized to
    the box (linear interpolation from corner to corner, ``round(max(h, 1)) x round(max(w, 1))``), kept above
    0.5; its pixel (0, 0) is the image pixel ``(int(y0), int(x0))``. The first 14 entries count."""
    from scipy.ndimage import zoom

    masks = (list(dp_masks or []) + [[]] * parts.NUM_MASK_PARTS)[: parts.NUM_MASK_PARTS]
    union = union_mask(masks).astype(np.float64)
    w, h = float(bbox[2]), float(bbox[3])
    return zoom(union, (max(h, 1.0) / union.shape[0], max(w, 1.0) / union.shape[1]), order=1, prefilter=False) > 0.5


def _truth_mask(t: Truth, image_size: tuple[int, int]) -> tuple[int, int, np.ndarray]:
    """The person's mask on the image as the reference builds it: from dp_masks (:func:`box_mask`); without
    them, the COCO ``segmentation``; else empty."""
    width, height = image_size
    ann = t.ann
    if "dp_masks" in ann:
        return _place(box_mask(ann["dp_masks"], t.bbox), t.bbox, image_size)
    segmentation = ann.get("segmentation")
    if segmentation:
        from pycocotools import mask as mask_utils

        if isinstance(segmentation, list):  # polygons
            mask = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width)))
        else:
            mask = decode_rle(segmentation)
        return 0, 0, mask.astype(bool)[:height, :width]
    return 0, 0, np.zeros((0, 0), dtype=bool)


def _mask_iou(a: tuple[int, int, np.ndarray], b: tuple[int, int, np.ndarray], crowd: bool) -> float:
    """IoU of two placed masks (a: the detection); for a crowd region, intersection over the detection's area."""
    ax, ay, am = a
    bx, by, bm = b
    area_a, area_b = int(am.sum()), int(bm.sum())
    x0, y0 = max(ax, bx), max(ay, by)
    x1, y1 = min(ax + am.shape[1], bx + bm.shape[1]), min(ay + am.shape[0], by + bm.shape[0])
    inter = 0
    if x1 > x0 and y1 > y0:
        a_part = am[y0 - ay : y1 - ay, x0 - ax : x1 - ax]
        inter = int(np.count_nonzero(a_part & bm[y0 - by : y1 - by, x0 - bx : x1 - bx]))
    union = area_a if crowd else area_a + area_b - inter
    return inter / union if inter and union > 0 else 0.0


def _box_ious(dets: list[Detection], truths: list[Truth]) -> np.ndarray:
    """(D, G) box IoU as pycocotools computes it (a crowd region: intersection over the detection's area)."""
    if not dets or not truths:
        return np.zeros((len(dets), len(truths)))
    d = np.array([x.bbox for x in dets], dtype=np.float64)[:, None, :]
    g = np.array([t.bbox for t in truths], dtype=np.float64)[None, :, :]
    iw = np.minimum(d[..., 0] + d[..., 2], g[..., 0] + g[..., 2]) - np.maximum(d[..., 0], g[..., 0])
    ih = np.minimum(d[..., 1] + d[..., 3], g[..., 1] + g[..., 3]) - np.maximum(d[..., 1], g[..., 1])
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    area_d, area_g = d[..., 2] * d[..., 3], g[..., 2] * g[..., 3]
    crowd = np.array([t.crowd for t in truths], dtype=bool)[None, :]
    union = np.where(crowd, area_d, area_d + area_g - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inter > 0, inter / union, 0.0)


def _truths(gt: dict, mesh, kappa: str, point_scale: float) -> dict:
    by_image: dict = {img["id"]: [] for img in gt["images"]}
    pending = []  # (truth, charts, u, v): their vertices are looked up together, one query per chart
    for ann in gt["annotations"]:
        if ann.get("category_id", 1) != 1 or ann.get("image_id") not in by_image:
            continue  # the reference evaluates the images of the file's image list
        bbox = np.asarray(ann["bbox"], dtype=np.float64)
        annotated = "dp_x" in ann
        t = Truth(ann, annotated, bool(ann.get("iscrowd")), float(ann.get("area", bbox[2] * bbox[3])), bbox)
        if annotated:
            missing = [f for f in DP_FIELDS if f not in ann]
            if missing:
                raise ValueError(f"annotation {ann.get('id')} has dp_x but no {', '.join(missing)}")
            charts = np.asarray(ann["dp_I"], dtype=np.float64)
            valid = np.isin(charts, parts.CHARTS)  # the reference drops points with another dp_I
            # the reference's arithmetic: dp_x * w / 255 + x0 (then - the detection's x0)
            box = [float(v) for v in ann["bbox"]]
            t.x, t.y = boxframe.to_image(box, np.asarray(ann["dp_x"], dtype=np.float64)[valid],
                                         np.asarray(ann["dp_y"], dtype=np.float64)[valid], point_scale)  # fmt: skip
            charts = charts[valid].astype(np.int64)
            t.kappa = kappa_of_charts(charts, kappa)
            u = np.asarray(ann["dp_U"], dtype=np.float64)[valid]
            pending.append((t, charts, u, np.asarray(ann["dp_V"], dtype=np.float64)[valid]))
        by_image[ann["image_id"]].append(t)
    if pending:
        rows = mesh.nearest(*(np.concatenate([p[k] for p in pending]) for k in (1, 2, 3)))
        for (t, *_), part in zip(pending, np.split(rows, np.cumsum([len(p[1]) for p in pending])[:-1]), strict=True):
            t.rows = part
    return by_image


def check_results(results, warnings: list | None = None) -> list[str]:
    """What makes a results list unreadable, as reasons naming the record (empty when it can be evaluated).
    ``warnings``, when given, gets what is read but worth knowing (rasters one pixel larger than their box's
    integer size, see :func:`raster_fit`)."""
    if not isinstance(results, list):
        return ["results are a JSON list of records (image_id, category_id, bbox, score, uv_shape, uv_data)"]
    reasons = []
    larger = 0
    for k, r in enumerate(results):
        problem = None
        if not isinstance(r, dict):
            problem = "is not an object"
        elif missing := [f for f in ("image_id", "bbox", "score", "uv_data") if f not in r]:
            problem = f"has no {', '.join(missing)}"
        elif not (isinstance(r["bbox"], list) and len(r["bbox"]) == 4 and all(map(finite_number, r["bbox"]))):
            problem = f"bbox must be 4 finite numbers, got {r['bbox']!r}"
        elif not finite_number(r["score"]):
            problem = f"score must be a finite number, got {r['score']!r}"
        elif not isinstance(r["uv_data"], str):
            problem = "uv_data must be a base64 PNG string"
        else:
            problem, fit = _raster_problem(r)
            larger += fit == "larger"
        if problem:
            reasons.append(f"result {k}: {problem}")
    if larger and warnings is not None:
        warnings.append(
            f"{larger} result{'s' if larger > 1 else ''} had a uv_data raster one pixel larger than "
            "the box's integer size (int(h) x int(w)) in height or width; read as DensePose's "
            "reference evaluator reads it (points from its top-left int(h) x int(w))"
        )
    return reasons


def _raster_problem(r: dict) -> tuple[str | None, str | None]:
    """A record's raster against its box: (why it is refused or None, :func:`raster_fit` of its size). The size
    is the PNG's; ``uv_shape``, when given, must be [3, H, W] of that size (the reference reshapes to it)."""
    size = uv_data_size(r["uv_data"])
    if size is None:
        return "uv_data is not a base64 PNG", None
    fit = raster_fit(size, r["bbox"])
    if fit is None:
        return f"uv_data is a {size[0]}x{size[1]} raster; {_raster_needs(r['bbox'])}", None
    shape = r.get("uv_shape")
    if shape is not None:
        integers = all(finite_number(v) and v == int(v) for v in shape) if isinstance(shape, list | tuple) else False
        if not (integers and len(shape) == 3 and shape[0] == 3):
            return f"uv_shape must be [3, H, W], got {shape!r}", None
        if raster_fit([int(v) for v in shape[1:]], r["bbox"]) is None:
            return f"uv_shape {list(shape)} does not fit its box: {_raster_needs(r['bbox'])}", None
        if (int(shape[1]), int(shape[2])) != size:
            return f"uv_shape {list(shape)} is not the size of its uv_data PNG, {size[0]}x{size[1]}", None
    return None, fit


def _detections(results: list[dict], known_images, warnings: list) -> dict:
    reasons = check_results(results, warnings)
    if reasons:
        raise ValueError(f"{reasons[0]}" + (f" ({len(reasons)} results have problems)" if len(reasons) > 1 else ""))
    by_image: dict = {}
    unknown = set()
    for r in results:
        if r.get("category_id", 1) != 1:
            continue
        if r["image_id"] not in known_images:
            unknown.add(r["image_id"])
            continue
        by_image.setdefault(r["image_id"], []).append(
            Detection(r, np.asarray(r["bbox"], dtype=np.float64), float(r["score"]))
        )
    if unknown:
        some = ", ".join(map(str, sorted(unknown, key=str)[:5]))
        raise ValueError(f"results name {len(unknown)} images that the ground truth does not have (e.g. {some})")
    for dets in by_image.values():
        dets.sort(key=lambda d: -d.score)  # stable: ties keep the file's order, as the reference's mergesort
        del dets[MAX_DETECTIONS:]
    return by_image


def point_distances(mesh, det: Detection, truth: Truth) -> np.ndarray:
    return mesh.distance(truth.rows, mesh.nearest_bytes(*det.sample_bytes(truth.x, truth.y)))


def _similarities(mesh, dets: list[Detection], truths: list[Truth], image_size):
    """(D, G) GPS, GPSm (0 without ``image_size``: (width, height)) and box IoU, and the point distances of each
    annotated pair a detection reaches.

    All people's points at once: their raster pixels in every detection's box, then one read of each
    detection's raster at those pixels."""
    n_d = len(dets)
    gps = np.zeros((n_d, len(truths)))
    gpsm = np.zeros_like(gps)
    dists = {}
    people = [j for j, t in enumerate(truths) if t.annotated and len(t.rows)]
    if not n_d or not people:
        return gps, gpsm, _box_ious(dets, truths), dists
    boxes = np.array([d.bbox for d in dets], dtype=np.float64)
    xs = np.concatenate([truths[j].x for j in people])
    ys = np.concatenate([truths[j].y for j in people])
    row, col, inside = raster_pixels(xs, ys, boxes)
    values = np.zeros((n_d, len(xs), 3), dtype=np.int64)
    for i in np.flatnonzero(inside.any(axis=1)).tolist():  # only detections that see a point are decoded
        values[i] = dets[i].raw[row[i], col[i]]
    chart = np.where(inside, values[..., 0], 0)  # outside the box: background
    predicted = mesh.nearest_bytes(chart.ravel(), values[..., 1].ravel(), values[..., 2].ravel()).reshape(chart.shape)
    ends = np.cumsum([len(truths[j].x) for j in people])
    for j, first, last in zip(people, np.concatenate([[0], ends[:-1]]), ends, strict=True):
        t = truths[j]
        hit = np.flatnonzero(inside[:, first:last].any(axis=1))  # detections that see at least one of its points
        if not len(hit):
            continue  # GPS 0
        guess = predicted[hit, first:last]
        d = mesh.distance(np.broadcast_to(t.rows, guess.shape).ravel(), guess.ravel()).reshape(guess.shape)
        score = np.mean(np.exp(-(d**2) / (2 * t.kappa**2)), axis=1)
        for k, i in enumerate(hit.tolist()):
            dists[i, j] = d[k]
            gps[i, j] = score[k]
            # GPSm <= sqrt(GPS): below GPS 0.25 it cannot reach the lowest threshold, 0.5; skip the mask IoU
            if score[k] >= THRESHOLDS[0] ** 2 and image_size is not None:
                iou = _mask_iou(dets[i].mask_on(image_size), t.mask_on(image_size), t.crowd)
                gpsm[i, j] = np.sqrt(score[k] * iou)
    return gps, gpsm, _box_ious(dets, truths), dists


# The per-image work (decoding detections, distances, mask IoU) runs in forked worker processes, which read
# these (set by evaluate before forking) instead of receiving them pickled.
_SHARED: dict = {}


def _image_work(image_id):
    """One image's matches, per mode and area range (see :func:`_match`), and its pointwise distances."""
    truths = _SHARED["truths"][image_id]
    dets = _SHARED["dets"].get(image_id, [])
    gps, gpsm, box, dists = _similarities(_SHARED["mesh"], dets, truths, _SHARED["sizes"].get(image_id))
    matches = {(name, area): _match(sim, box, dets, truths, bounds)
               for name, sim in (("gps", gps), ("gpsm", gpsm)) for area, bounds in AREA_RANGES.items()}  # fmt: skip
    return matches, _pointwise_pairs(gps, dists, truths)


def _match(sim: np.ndarray, box: np.ndarray, dets: list[Detection], truths: list[Truth], area: tuple):
    """The reference's evaluateImg for one image and area range: per threshold, which detections matched a
    person and which are ignored; the number of people that count; the detections' scores."""
    lo, hi = area
    n_t, n_d, n_g = len(THRESHOLDS), len(dets), len(truths)
    ignore_gt = np.array([(not t.annotated) or t.area < lo or t.area > hi for t in truths], dtype=bool)
    order = np.argsort(ignore_gt, kind="mergesort")  # people that count first
    ignore_gt = ignore_gt[order]
    matched = np.zeros((n_t, n_d), dtype=bool)
    ignored = np.zeros((n_t, n_d), dtype=bool)
    if ignore_gt.all():  # no person that counts in this image (or none at all): its detections are ignored
        ignored[:] = True
    if n_d and n_g:
        sim, box = sim[:, order], box[:, order]
        ig = ignore_gt.tolist()
        crowd = [truths[k].crowd for k in order]
        taken = [[False] * n_g for _ in range(n_t)]
        reach = sim.max(axis=1).tolist()  # a detection matches at a threshold only if some GPS reaches it
        rows = sim.tolist()
        for ti, threshold in enumerate(THRESHOLDS.tolist()):
            taken_t = taken[ti]
            for di in range(n_d):
                if reach[di] < threshold:
                    continue
                row = rows[di]
                best, m = min(threshold, 1 - 1e-10), -1
                for gi in range(n_g):
                    if taken_t[gi] and not crowd[gi]:
                        continue
                    if m > -1 and not ig[m] and ig[gi]:
                        break
                    s = row[gi]
                    if s < best or s == 0:
                        continue
                    best, m = s, gi
                if m == -1:
                    continue
                ignored[ti, di] = ig[m]
                matched[ti, di] = True
                taken_t[m] = True
        last = n_t - 1  # the reference reads the last threshold's matches here
        for di in np.flatnonzero(~matched[last] & (box >= BOX_IOU_IGNORE).any(axis=1)).tolist():
            best, m = BOX_IOU_IGNORE, -1
            for gi in range(n_g):
                if taken[last][gi] and not crowd[gi]:
                    continue
                if box[di, gi] < best:
                    continue
                best, m = box[di, gi], gi
            if m > -1:
                ignored[:, di] = ig[m]
                if ig[m]:
                    matched[last, di] = True
                    taken[last][m] = True
    det_area = np.array([d.area for d in dets])
    outside = (det_area < lo) | (det_area > hi) if n_d else np.zeros(0, dtype=bool)
    ignored |= ~matched & outside[None, :]
    return matched, ignored, int(np.sum(~ignore_gt)), np.array([d.score for d in dets])


def _average_precision(per_image: list) -> tuple[np.ndarray, np.ndarray]:
    """Per threshold: (AP, recall) from every image's matches, as the reference accumulates them (-1 if no
    person counts)."""
    n_people = sum(p[2] for p in per_image)
    ap, recall = np.full(len(THRESHOLDS), -1.0), np.full(len(THRESHOLDS), -1.0)
    if n_people == 0:
        return ap, recall
    scores = np.concatenate([p[3] for p in per_image]) if per_image else np.zeros(0)
    order = np.argsort(-scores, kind="mergesort")
    for ti in range(len(THRESHOLDS)):
        matched = np.concatenate([p[0][ti] for p in per_image])[order]
        ignored = np.concatenate([p[1][ti] for p in per_image])[order]
        tp = np.cumsum(matched & ~ignored).astype(np.float64)
        fp = np.cumsum(~matched & ~ignored).astype(np.float64)
        rc = tp / n_people
        pr = tp / (fp + tp + np.spacing(1))
        recall[ti] = rc[-1] if len(rc) else 0.0
        pr = np.maximum.accumulate(pr[::-1])[::-1] if len(pr) else pr
        idx = np.searchsorted(rc, RECALL_POINTS, side="left")
        q = np.zeros(len(RECALL_POINTS))
        ok = idx < len(pr)
        q[ok] = pr[idx[ok]]
        ap[ti] = q.mean()
    return ap, recall


def _summary(results: dict) -> dict:
    out = {}
    for name, (ap, recall) in results.items():
        suffix = {"all": "", "medium": "m", "large": "l"}[name]
        valid = ap[ap > -1]
        out[f"AP{suffix}"] = float(valid.mean()) if len(valid) else -1.0
        if name == "all":
            out["AP50"], out["AP75"] = float(ap[0]), float(ap[5])
        valid_r = recall[recall > -1]
        out[f"AR{suffix}"] = float(valid_r.mean()) if len(valid_r) else -1.0
        if name == "all":
            out["AR50"], out["AR75"] = float(recall[0]), float(recall[5])
    return out


def evaluate(gt: dict, results: list[dict], mesh, kappa: str = DEFAULT_KAPPA, workers: int | None = None,
             point_scale: float = parts.POINT_SCALE) -> dict:  # fmt: skip
    """GPS and GPSm AP/AR and the pointwise curve: ``{"gps": {...}, "gpsm": {...}, "pointwise": {...},
    "warnings": [...]}`` (warnings: what was read as the reference reads it but is worth knowing, as sentences).

    ``point_scale``: 255 (DensePose-COCO's definition, the reference evaluator's) or 256 (how detectron2's
    training code reads dp_x). ``workers``: processes for the per-image work (default: up to 2 with enough
    images; 1 = in this one). Raises ValueError, with the reason, on input the reference cannot read."""
    import multiprocessing
    import os

    if kappa not in KAPPAS:
        raise ValueError(f"kappa is one of {', '.join(KAPPAS)}, not {kappa!r}")
    if point_scale not in (255, 256):
        raise ValueError(f"point_scale is 255 (DensePose-COCO) or 256 (detectron2's training), not {point_scale}")
    truths_by_image = _truths(gt, mesh, kappa, float(point_scale))
    warnings: list[str] = []
    dets_by_image = _detections(results, truths_by_image, warnings)
    unsized = [img.get("id") for img in gt["images"] if not (finite_number(img.get("width"))
                                                            and finite_number(img.get("height")))]  # fmt: skip
    if unsized:
        raise ValueError(f"{len(unsized)} images have no width and height (e.g. image {unsized[0]}); the masks of "
                         "GPSm are compared on the image")  # fmt: skip
    sizes = {img["id"]: (int(img["width"]), int(img["height"])) for img in gt["images"]}
    # the reference's image order (sorted ids): it decides the order of equal scores across images
    images = sorted((i for i, truths in truths_by_image.items() if truths or dets_by_image.get(i)), key=_id_key)
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if len(images) >= 64 else 1
    if multiprocessing.current_process().daemon:  # a Celery pool process may not have children this way
        workers = 1
    mesh.byte_table()  # built here once, not in each worker process
    _SHARED.update(truths=truths_by_image, dets=dets_by_image, mesh=mesh, sizes=sizes)
    try:
        if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                done = pool.map(_image_work, images, chunksize=max(1, len(images) // (8 * workers)))
        else:
            done = [_image_work(i) for i in images]
    finally:
        _SHARED.clear()
    per = {"gps": {a: [] for a in AREA_RANGES}, "gpsm": {a: [] for a in AREA_RANGES}}
    point_d = []
    for matches, pairs in done:
        for (name, area), match in matches.items():
            per[name][area].append(match)
        point_d += pairs
    summary = {name: _summary({a: _average_precision(v) for a, v in by_area.items()}) for name, by_area in per.items()}
    summary["pointwise"] = pointwise(np.concatenate(point_d) if point_d else np.zeros(0))
    summary["warnings"] = warnings
    return summary


def _id_key(image_id):
    return (0, image_id, "") if isinstance(image_id, int | float) else (1, 0, str(image_id))


def _pointwise_pairs(gps: np.ndarray, dists: dict, truths: list[Truth]) -> list[np.ndarray]:
    out = []
    taken = set()
    for j, t in enumerate(truths):
        if not t.annotated:
            continue
        candidates = [i for i in range(gps.shape[0]) if i not in taken and gps[i, j] > 0]
        if not candidates:
            out.append(np.full(len(t.rows), np.inf))
            continue
        best = max(candidates, key=lambda i: gps[i, j])
        taken.add(best)
        out.append(dists[best, j])
    return out


def pointwise(distances_m: np.ndarray) -> dict:
    """Ratio of points within each threshold (0-30 cm), and AUC10, AUC30 (the curve's mean up to 10, 30 cm)."""
    d_cm = np.asarray(distances_m, dtype=np.float64) * 100
    ratio = np.array([np.mean(d_cm <= t) for t in CURVE_CM]) if len(d_cm) else np.zeros(len(CURVE_CM))

    def auc(limit):
        sel = limit + 1e-9 >= CURVE_CM
        x, y = CURVE_CM[sel], ratio[sel]
        return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / limit)

    return {
        "auc10": auc(10.0),
        "auc30": auc(30.0),
        "points": len(d_cm),
        "curve": [[float(t), float(r)] for t, r in zip(CURVE_CM, ratio, strict=True)],
    }


def perfect_results(gt: dict, score: float = 1.0, point_scale: float = parts.POINT_SCALE) -> list[dict]:
    """A results file that predicts every annotated person exactly: a raster of the box's integer size whose
    foreground is the person's mask as the evaluation builds it (:func:`box_mask`), filled with the IUV of the
    nearest annotated point, each point's own pixel (as the evaluation reads it) holding its own IUV."""
    from scipy.spatial import cKDTree

    out = []
    for ann in gt["annotations"]:
        if ann.get("iscrowd") or not all(f in ann for f in DP_FIELDS) or not ann["dp_x"]:
            continue
        x0, y0, w, h = (float(v) for v in ann["bbox"])
        height, width = raster_size(ann["bbox"])
        fg = np.zeros((height, width), dtype=bool)
        if ann.get("dp_masks"):
            mask = box_mask(ann["dp_masks"], ann["bbox"])[:height, :width]
            fg[: mask.shape[0], : mask.shape[1]] = mask
        else:
            fg[:] = True
        # the image point at each pixel's centre (pixel (0, 0) is image pixel (int(y0), int(x0)))
        gx, gy = np.meshgrid(int(x0) + np.arange(width) + 0.5, int(y0) + np.arange(height) + 0.5)
        px, py = boxframe.to_image((x0, y0, w, h), ann["dp_x"], ann["dp_y"], point_scale)
        _, nearest = cKDTree(np.stack([px, py], axis=1)).query(np.stack([gx.ravel(), gy.ravel()], axis=1))
        nearest = nearest.reshape(height, width)
        i_map = np.where(fg, np.asarray(ann["dp_I"])[nearest], 0)
        u_map = np.where(fg, np.asarray(ann["dp_U"])[nearest], 0)
        v_map = np.where(fg, np.asarray(ann["dp_V"])[nearest], 0)
        row, col, inside = Detection({}, np.array([x0, y0, w, h]), score).pixels(px, py)
        row, col = row[inside], col[inside]
        i_map[row, col] = np.asarray(ann["dp_I"])[inside]
        u_map[row, col] = np.asarray(ann["dp_U"])[inside]
        v_map[row, col] = np.asarray(ann["dp_V"])[inside]
        out.append(
            {
                "image_id": ann["image_id"],
                "category_id": 1,
                "bbox": [x0, y0, w, h],
                "score": float(score),
                "uv_shape": [3, height, width],
                "uv_data": encode_uv_png(i_map, u_map, v_map),
            }
        )
    return out
