"""DensePose evaluation: GPS and GPSm average precision (COCO-style matching) and the paper's pointwise curve.

- **GPS** of a detection and a ground-truth person: the mean over the person's annotated points of
  exp(-d^2 / 2 kappa^2), d the geodesic distance between the true surface point and the one the detection
  predicts at that pixel (infinite where it predicts background or the point is outside its box). kappa is the
  paper's 0.255 m (``"paper"``) or per part (``"per-part"``, detectron2's values).
- **GPSm** = sqrt(GPS x IoU of the detection's foreground and the person's part-mask union).
- **AP** as COCO's keypoint AP with GPS (or GPSm) in place of OKS: thresholds 0.5:0.05:0.95, at most 20
  detections per image (best scores first), area ranges all / medium / large, 101-point interpolated
  precision. People without DensePose annotation are *ignored*: a detection that matches one (by box IoU)
  is neither a true nor a false positive.
- **Pointwise**: each annotated person is paired with a detection (greedily by GPS, best score first); the
  ratio of its points within a geodesic threshold, for thresholds 0-30 cm, and its normalised area up to
  10 cm and 30 cm (AUC10, AUC30). Points of people no detection covers count as wrong.

Detections are DensePose's results records: ``image_id, bbox, score, uv_shape = [3, H, W], uv_data`` (a
base64 PNG of I, U x 255, V x 255 over the box). Ground truth is DensePose-COCO with this project's
``dp_x``/``dp_y`` convention (``x = x0 + dp_x * w / 256``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline import parts
from pipeline.coco.densepose import DP_FIELDS, box_to_image, decode_uv_bytes, encode_uv_png, labels_from_dp_masks

PAPER_KAPPA = 0.255  # metres: a point 30 cm off scores 0.5
# detectron2's per-part kappa (metres), by mask part
PART_KAPPA = {
    "Torso": 0.351, "Right Hand": 0.107, "Left Hand": 0.107, "Left Foot": 0.126, "Right Foot": 0.126,
    "Upper Leg Right": 0.237, "Upper Leg Left": 0.237, "Lower Leg Right": 0.173, "Lower Leg Left": 0.173,
    "Upper Arm Left": 0.142, "Upper Arm Right": 0.142, "Lower Arm Left": 0.128, "Lower Arm Right": 0.128,
    "Head": 0.150,
}  # fmt: skip
THRESHOLDS = np.round(np.arange(0.5, 0.951, 0.05), 2)
RECALL_POINTS = np.linspace(0, 1, 101)
MAX_DETECTIONS = 20
AREA_RANGES = {"all": (0.0, 1e10), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e10)}
CURVE_CM = np.round(np.arange(0, 30.01, 0.5), 2)
MASK_GRID = 48  # mask IoU is measured on a grid of at most this many samples a side over the two boxes


def kappa_of_charts(charts: np.ndarray, kappa: str) -> np.ndarray:
    if kappa == "paper":
        return np.full(len(charts), PAPER_KAPPA)
    if kappa == "per-part":
        table = np.array([0.0] + [PART_KAPPA[parts.mask_part_name(parts.CHART_TO_MASK_PART[c])] for c in parts.CHARTS])
        return table[np.asarray(charts, dtype=np.int64)]
    raise ValueError(f"kappa is 'paper' or 'per-part', not {kappa!r}")


@dataclass
class Truth:
    ann: dict
    annotated: bool
    area: float
    bbox: np.ndarray
    x: np.ndarray = field(default_factory=lambda: np.zeros(0))  # image coordinates of the points
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # evaluation-mesh rows
    kappa: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _labels: np.ndarray | None = None

    @property
    def labels(self) -> np.ndarray | None:
        """256 x 256 part labels in the box frame (decoded when first needed), None without dp_masks."""
        if self._labels is None and self.annotated and self.ann.get("dp_masks"):
            self._labels = labels_from_dp_masks(self.ann["dp_masks"])
        return self._labels


@dataclass
class Detection:
    record: dict
    bbox: np.ndarray
    score: float
    _raw: np.ndarray | None = None

    @property
    def raw(self) -> np.ndarray:
        """The uv_data PNG as (H, W, 3) bytes: I, U x 255, V x 255 (decoded once)."""
        if self._raw is None:
            self._raw = decode_uv_bytes(self.record["uv_data"])
        return self._raw

    def sample_bytes(self, x: np.ndarray, y: np.ndarray):
        """I and the U, V bytes predicted at image points (I = 0 outside the box)."""
        raw = self.raw
        h, w = raw.shape[:2]
        x0, y0, bw, bh = self.bbox
        col = np.floor((x - x0) * w / bw).astype(np.int64)
        row = np.floor((y - y0) * h / bh).astype(np.int64)
        inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
        picked = raw[np.where(inside, row, 0), np.where(inside, col, 0)].astype(np.int64)
        return np.where(inside, picked[:, 0], 0), picked[:, 1], picked[:, 2]

    def sample(self, x: np.ndarray, y: np.ndarray):
        """I, U, V predicted at image points (I = 0 outside the box)."""
        chart, ub, vb = self.sample_bytes(x, y)
        return chart, ub / 255.0, vb / 255.0


def _truths(gt: dict, mesh, kappa: str) -> dict:
    by_image: dict = {img["id"]: [] for img in gt["images"]}
    for ann in gt["annotations"]:
        if ann.get("category_id", 1) != 1 or ann.get("iscrowd"):
            continue
        annotated = all(f in ann for f in DP_FIELDS) and len(ann["dp_x"]) > 0
        bbox = np.asarray(ann["bbox"], dtype=np.float64)
        t = Truth(ann, annotated, float(ann.get("area", bbox[2] * bbox[3])), bbox)
        if annotated:
            t.x, t.y = box_to_image(ann["bbox"], ann["dp_x"], ann["dp_y"])
            charts = np.asarray(ann["dp_I"], dtype=np.int64)
            t.rows = mesh.nearest(charts, ann["dp_U"], ann["dp_V"])
            t.kappa = kappa_of_charts(charts, kappa)
        by_image.setdefault(ann.get("image_id"), []).append(t)
    return by_image


def _detections(results: list[dict]) -> dict:
    by_image: dict = {}
    for r in results:
        if r.get("category_id", 1) != 1:
            continue
        by_image.setdefault(r["image_id"], []).append(
            Detection(r, np.asarray(r["bbox"], dtype=np.float64), float(r["score"]))
        )
    for dets in by_image.values():
        dets.sort(key=lambda d: -d.score)
        del dets[MAX_DETECTIONS:]
    return by_image


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _mask_iou(det: Detection, truth: Truth) -> float:
    if truth.labels is None:
        return 0.0
    a, b = det.bbox, truth.bbox
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    nx = int(min(MASK_GRID, max(1, np.ceil(x1 - x0))))
    ny = int(min(MASK_GRID, max(1, np.ceil(y1 - y0))))
    xs = x0 + (np.arange(nx) + 0.5) * (x1 - x0) / nx
    ys = y0 + (np.arange(ny) + 0.5) * (y1 - y0) / ny
    gx, gy = np.meshgrid(xs, ys)
    gx, gy = gx.ravel(), gy.ravel()
    predicted = det.sample_bytes(gx, gy)[0] > 0
    bx = np.floor((gx - b[0]) * parts.BOX_SCALE / b[2]).astype(np.int64)
    by = np.floor((gy - b[1]) * parts.BOX_SCALE / b[3]).astype(np.int64)
    inside = (bx >= 0) & (bx < parts.MASK_SIZE) & (by >= 0) & (by < parts.MASK_SIZE)
    true = np.zeros(len(gx), dtype=bool)
    true[inside] = truth.labels[by[inside], bx[inside]] > 0
    union = np.sum(predicted | true)
    return float(np.sum(predicted & true) / union) if union else 0.0


def point_distances(mesh, det: Detection, truth: Truth) -> np.ndarray:
    return mesh.distance(truth.rows, mesh.nearest_bytes(*det.sample_bytes(truth.x, truth.y)))


def _similarities(mesh, dets: list[Detection], truths: list[Truth]):
    """(D, G) GPS, GPSm (box IoU for people without DensePose annotation) and the point distances."""
    gps = np.zeros((len(dets), len(truths)))
    gpsm = np.zeros_like(gps)
    dists = {}
    for j, t in enumerate(truths):
        for i, d in enumerate(dets):
            if not t.annotated:
                gps[i, j] = gpsm[i, j] = _box_iou(d.bbox, t.bbox)
                continue
            if _box_iou(d.bbox, t.bbox) <= 0:
                continue  # every point lies outside the detection: GPS 0
            dist = point_distances(mesh, d, t)
            dists[i, j] = dist
            gps[i, j] = float(np.mean(np.exp(-(dist**2) / (2 * t.kappa**2))))
            # GPSm <= sqrt(GPS): below GPS 0.25 it cannot reach the lowest threshold, 0.5; skip the mask IoU
            if gps[i, j] >= THRESHOLDS[0] ** 2:
                gpsm[i, j] = np.sqrt(gps[i, j] * _mask_iou(d, t))
    return gps, gpsm, dists


# The per-image work (decoding detections, distances, mask IoU) runs in forked worker processes, which read
# these (set by evaluate before forking) instead of receiving them pickled.
_SHARED: dict = {}


def _image_work(image_id):
    truths = _SHARED["truths"][image_id]
    dets = _SHARED["dets"].get(image_id, [])
    gps, gpsm, dists = _similarities(_SHARED["mesh"], dets, truths)
    return image_id, gps, gpsm, _pointwise_pairs(gps, dists, truths)


def _match(sim: np.ndarray, dets: list[Detection], truths: list[Truth], area: tuple[float, float]):
    """COCO's evaluateImg for one image and area range: per threshold, which detections are true positives."""
    lo, hi = area
    ignore_gt = np.array([(not t.annotated) or not (lo <= t.area <= hi) for t in truths], dtype=bool)
    order = np.argsort(ignore_gt, kind="stable")  # people that count first
    ignore_gt = ignore_gt[order]
    sim = sim[:, order] if len(truths) else sim
    n_t, n_d = len(THRESHOLDS), len(dets)
    matched = np.zeros((n_t, n_d), dtype=bool)
    ignored = np.zeros((n_t, n_d), dtype=bool)
    for ti, threshold in enumerate(THRESHOLDS):
        taken = np.zeros(len(truths), dtype=bool)
        for di in range(n_d):
            best, m = min(threshold, 1 - 1e-10), -1
            for gi in range(len(truths)):
                if taken[gi]:
                    continue
                if m > -1 and not ignore_gt[m] and ignore_gt[gi]:
                    break
                if sim[di, gi] < best:
                    continue
                best, m = sim[di, gi], gi
            if m == -1:
                continue
            taken[m] = True
            matched[ti, di] = True
            ignored[ti, di] = ignore_gt[m]
    det_area = np.array([d.bbox[2] * d.bbox[3] for d in dets])
    outside = (det_area < lo) | (det_area > hi) if n_d else np.zeros(0, dtype=bool)
    ignored |= ~matched & outside[None, :]
    return matched, ignored, int(np.sum(~ignore_gt)), np.array([d.score for d in dets])


def _average_precision(per_image: list) -> tuple[np.ndarray, np.ndarray]:
    """Per threshold: (AP, recall) from every image's matches, as COCOeval.accumulate does (-1 if no people)."""
    n_people = sum(p[2] for p in per_image)
    ap, recall = np.full(len(THRESHOLDS), -1.0), np.full(len(THRESHOLDS), -1.0)
    if n_people == 0:
        return ap, recall
    scores = np.concatenate([p[3] for p in per_image]) if per_image else np.zeros(0)
    order = np.argsort(-scores, kind="mergesort")
    for ti in range(len(THRESHOLDS)):
        matched = np.concatenate([p[0][ti] for p in per_image])[order]
        ignored = np.concatenate([p[1][ti] for p in per_image])[order]
        tp = np.cumsum(matched & ~ignored)
        fp = np.cumsum(~matched & ~ignored)
        rc = tp / n_people
        pr = tp / np.maximum(tp + fp, np.finfo(float).eps)
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


def evaluate(gt: dict, results: list[dict], mesh, kappa: str = "paper", workers: int | None = None) -> dict:
    """GPS and GPSm AP/AR and the pointwise curve: ``{"gps": {...}, "gpsm": {...}, "pointwise": {...}}``.

    ``workers``: processes for the per-image work (default: up to 2 with enough images; 1 = in this one)."""
    import multiprocessing
    import os

    truths_by_image = _truths(gt, mesh, kappa)
    dets_by_image = _detections(results)
    images = [i for i, truths in truths_by_image.items() if truths or dets_by_image.get(i)]
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if len(images) >= 64 else 1
    if multiprocessing.current_process().daemon:  # a Celery pool process may not have children this way
        workers = 1
    _SHARED.update(truths=truths_by_image, dets=dets_by_image, mesh=mesh)
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
    for image_id, gps, gpsm, pairs in done:
        truths, dets = truths_by_image[image_id], dets_by_image.get(image_id, [])
        for name, sim in (("gps", gps), ("gpsm", gpsm)):
            for area, bounds in AREA_RANGES.items():
                per[name][area].append(_match(sim, dets, truths, bounds))
        point_d += pairs
    summary = {name: _summary({a: _average_precision(v) for a, v in by_area.items()}) for name, by_area in per.items()}
    summary["pointwise"] = pointwise(np.concatenate(point_d) if point_d else np.zeros(0))
    return summary


def _pointwise_pairs(gps: np.ndarray, dists: dict, truths: list[Truth]) -> list[np.ndarray]:
    out = []
    taken = set()
    for j in np.argsort([-1 if not t.annotated else 0 for t in truths], kind="stable"):
        t = truths[j]
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


def perfect_results(gt: dict, score: float = 1.0) -> list[dict]:
    """A results file that predicts every annotated person exactly: the box, and over it the part masks filled
    with the IUV of the nearest annotated point, each annotated point's own pixel holding its own IUV."""
    from scipy.spatial import cKDTree

    out = []
    for ann in gt["annotations"]:
        if ann.get("iscrowd") or not all(f in ann for f in DP_FIELDS) or not ann["dp_x"]:
            continue
        x0, y0, w, h = ann["bbox"]
        width, height = max(1, round(w)), max(1, round(h))
        bx = (np.arange(width) + 0.5) * parts.BOX_SCALE / width
        by = (np.arange(height) + 0.5) * parts.BOX_SCALE / height
        gx, gy = np.meshgrid(bx, by)
        labels = labels_from_dp_masks(ann["dp_masks"]) if ann.get("dp_masks") else np.ones((256, 256), np.uint8)
        fg = labels[gy.astype(int).clip(0, 255), gx.astype(int).clip(0, 255)] > 0
        points = np.stack([ann["dp_x"], ann["dp_y"]], axis=1)
        _, nearest = cKDTree(points).query(np.stack([gx.ravel(), gy.ravel()], axis=1))
        nearest = nearest.reshape(height, width)
        i_map = np.where(fg, np.asarray(ann["dp_I"])[nearest], 0)
        u_map = np.where(fg, np.asarray(ann["dp_U"])[nearest], 0)
        v_map = np.where(fg, np.asarray(ann["dp_V"])[nearest], 0)
        col = np.clip(np.floor(np.asarray(ann["dp_x"]) * width / parts.BOX_SCALE).astype(int), 0, width - 1)
        row = np.clip(np.floor(np.asarray(ann["dp_y"]) * height / parts.BOX_SCALE).astype(int), 0, height - 1)
        i_map[row, col], u_map[row, col], v_map[row, col] = ann["dp_I"], ann["dp_U"], ann["dp_V"]
        out.append(
            {
                "image_id": ann["image_id"],
                "category_id": 1,
                "bbox": [float(x0), float(y0), float(w), float(h)],
                "score": float(score),
                "uv_shape": [3, height, width],
                "uv_data": encode_uv_png(i_map, u_map, v_map),
            }
        )
    return out
