"""DensePose-COCO annotations: coordinates, masks and validation (no Django).

Coordinate convention (one, documented, used everywhere here): a point's ``dp_x``, ``dp_y`` are its
position relative to the box corner with each axis scaled so the box is ``BOX_SCALE`` (256) wide and tall:
``x = x0 + dp_x * w / 256`` and back ``dp_x = (x - x0) * 256 / w``. (DensePose's training code reads them this
way; its evaluator divides by 255 instead, a sub-pixel difference.)

``dp_masks`` are 14 entries in mask-part order (``pipeline.parts.MASK_PART_NAMES``), each a COCO RLE in the
same 256 × 256 box frame, or ``[]`` when the part is absent.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np

from pipeline import parts

DP_FIELDS = ("dp_x", "dp_y", "dp_I", "dp_U", "dp_V")


def box_to_image(bbox, dp_x, dp_y) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, w, h = bbox
    return x0 + np.asarray(dp_x, dtype=np.float64) * w / parts.BOX_SCALE, y0 + np.asarray(
        dp_y, dtype=np.float64
    ) * h / parts.BOX_SCALE


def image_to_box(bbox, x, y) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, w, h = bbox
    return (np.asarray(x, dtype=np.float64) - x0) * parts.BOX_SCALE / w, (
        np.asarray(y, dtype=np.float64) - y0
    ) * parts.BOX_SCALE / h


def encode_rle(mask: np.ndarray) -> dict:
    """COCO RLE (column-major, pycocotools) with ``counts`` as a string, ready for JSON."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict) -> np.ndarray:
    from pycocotools import mask as mask_utils

    counts = rle["counts"]
    if isinstance(counts, list):  # uncompressed RLE
        compressed = mask_utils.frPyObjects(rle, *rle["size"])
        return mask_utils.decode(compressed).astype(bool)
    return mask_utils.decode({"size": list(rle["size"]), "counts": counts.encode("ascii")}).astype(bool)


def dp_masks_from_labels(labels: np.ndarray) -> list:
    """A 256 × 256 part-label map (0 background, 1..14 parts) -> the 14 dp_masks entries."""
    if labels.shape != (parts.MASK_SIZE, parts.MASK_SIZE):
        raise ValueError(f"part labels must be {parts.MASK_SIZE}x{parts.MASK_SIZE}, not {labels.shape}")
    return [encode_rle(labels == part) if (labels == part).any() else [] for part in parts.MASK_PARTS]


def labels_from_dp_masks(dp_masks: list) -> np.ndarray:
    """The 14 dp_masks entries -> one label map; where masks overlap the later part wins (as DensePose's
    loaders do: label = index + 1, written in order)."""
    labels = np.zeros((parts.MASK_SIZE, parts.MASK_SIZE), dtype=np.uint8)
    for part, rle in zip(parts.MASK_PARTS, dp_masks, strict=True):
        if rle:
            labels[decode_rle(rle)] = part
    return labels


@dataclass(frozen=True)
class Problem:
    annotation_id: object
    reason: str

    def __str__(self) -> str:
        return f"annotation {self.annotation_id}: {self.reason}"


def check_annotation(
    ann: dict, image_size: tuple[int, int] | None = None, labels: np.ndarray | None = None
) -> list[str]:
    """Every problem with one person annotation, as readable reasons (empty when valid).

    ``image_size`` is (width, height) of its image, to check that the box lies inside it. ``labels``: the
    label map of ``dp_masks`` when the caller has decoded them already (so they decode, and are not again)."""
    reasons = []
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list | tuple) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        return [f"bbox must be [x, y, w, h] numbers, got {bbox!r}"]
    x0, y0, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        reasons.append(f"bbox width and height must be positive, got {w} x {h}")
    if image_size is not None:
        width, height = image_size
        if x0 < -0.5 or y0 < -0.5 or x0 + w > width + 0.5 or y0 + h > height + 0.5:
            reasons.append(f"bbox {[x0, y0, w, h]} is outside the {width}x{height} image")
    present = [f for f in DP_FIELDS if f in ann]
    if present and len(present) < len(DP_FIELDS):
        reasons.append(f"has {present} but not {[f for f in DP_FIELDS if f not in ann]}")
        return reasons
    if present:
        arrays = {f: ann[f] for f in DP_FIELDS}
        lengths = {f: len(v) if isinstance(v, list) else -1 for f, v in arrays.items()}
        if len(set(lengths.values())) != 1 or -1 in lengths.values():
            reasons.append(f"dp_x, dp_y, dp_I, dp_U, dp_V must be lists of one length, got lengths {lengths}")
            return reasons
        if not all(_is_number(v) for f in DP_FIELDS for v in arrays[f]):
            reasons.append("dp_* lists must hold numbers only")
            return reasons
        x, y = np.array(arrays["dp_x"], dtype=float), np.array(arrays["dp_y"], dtype=float)
        i = np.array(arrays["dp_I"], dtype=float)
        u, v = np.array(arrays["dp_U"], dtype=float), np.array(arrays["dp_V"], dtype=float)
        _range(reasons, "dp_x", x, 0, parts.BOX_SCALE)
        _range(reasons, "dp_y", y, 0, parts.BOX_SCALE)
        _range(reasons, "dp_U", u, 0, 1)
        _range(reasons, "dp_V", v, 0, 1)
        bad_i = np.flatnonzero((i != np.round(i)) | (i < 1) | (i > parts.NUM_CHARTS))
        if len(bad_i):
            reasons.append(f"dp_I must be whole numbers 1..{parts.NUM_CHARTS}; point {bad_i[0]} has {i[bad_i[0]]}")
        masks = ann.get("dp_masks")
        if masks is not None and not reasons:
            reasons += _check_masks(masks, decode=labels is None)
            if not reasons and len(x):
                labels = labels_from_dp_masks(masks) if labels is None else labels
                col = np.clip(np.floor(x).astype(int), 0, parts.MASK_SIZE - 1)
                row = np.clip(np.floor(y).astype(int), 0, parts.MASK_SIZE - 1)
                expected = np.array([parts.CHART_TO_MASK_PART[int(c)] for c in i])
                found = labels[row, col]
                wrong = np.flatnonzero(found != expected)
                if len(wrong):
                    k = wrong[0]
                    where = parts.mask_part_name(int(found[k])) if found[k] else "background"
                    reasons.append(
                        f"{len(wrong)} points lie outside the mask part of their chart; point {k} (chart "
                        f"{int(i[k])}, {parts.chart_name(int(i[k]))}) is on {where}"
                    )
    elif "dp_masks" in ann:
        reasons += _check_masks(ann["dp_masks"])
    return reasons


def _check_masks(masks, decode: bool = True) -> list[str]:
    if not isinstance(masks, list) or len(masks) != parts.NUM_MASK_PARTS:
        return [f"dp_masks must be a list of {parts.NUM_MASK_PARTS} entries"]
    reasons = []
    for part, rle in zip(parts.MASK_PARTS, masks, strict=True):
        if rle in ([], None, {}):
            continue
        if not isinstance(rle, dict) or "counts" not in rle or "size" not in rle:
            reasons.append(f"dp_masks[{part - 1}] ({parts.mask_part_name(part)}) is not an RLE")
        elif list(rle["size"]) != [parts.MASK_SIZE, parts.MASK_SIZE]:
            reasons.append(f"dp_masks[{part - 1}] has size {rle['size']}, expected [256, 256]")
        elif decode:
            try:
                decode_rle(rle)
            except Exception as exc:
                reasons.append(f"dp_masks[{part - 1}] does not decode ({exc})")
    return reasons


def person_segmentation(labels: np.ndarray, bbox, width: int, height: int) -> np.ndarray:
    """The person's mask in the image (height, width): the union of the parts, from the 256 x 256 box frame
    (each image pixel inside the box takes the label at its centre)."""
    x, y, w, h = bbox
    full = np.zeros((height, width), dtype=bool)
    x0, y0 = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
    x1, y1 = min(int(np.ceil(x + w)), width), min(int(np.ceil(y + h)), height)
    if x1 > x0 and y1 > y0:
        cols = np.clip(((np.arange(x0, x1) + 0.5 - x) * parts.BOX_SCALE / w).astype(int), 0, parts.MASK_SIZE - 1)
        rows = np.clip(((np.arange(y0, y1) + 0.5 - y) * parts.BOX_SCALE / h).astype(int), 0, parts.MASK_SIZE - 1)
        full[y0:y1, x0:x1] = labels[rows[:, None], cols[None, :]] > 0
    return full


def _range(reasons, name, values, lo, hi) -> None:
    bad = np.flatnonzero(~np.isfinite(values) | (values < lo) | (values > hi))
    if len(bad):
        reasons.append(f"{name} must be in [{lo}, {hi}]; {len(bad)} values are not (first: {values[bad[0]]})")


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)


def validate_dataset(data: dict) -> list[Problem]:
    """Every problem in a DensePose-COCO dataset dict: structure, ids, image references, each annotation."""
    problems = []
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            problems.append(Problem("-", f"the file needs a list '{key}'"))
    if problems:
        return problems
    images = {}
    for img in data["images"]:
        if img.get("id") in images:
            problems.append(Problem("-", f"image id {img.get('id')} appears twice"))
        images[img.get("id")] = img
    seen = set()
    for ann in data["annotations"]:
        ann_id = ann.get("id")
        if ann_id in seen:
            problems.append(Problem(ann_id, "duplicate annotation id"))
        seen.add(ann_id)
        image = images.get(ann.get("image_id"))
        if image is None:
            problems.append(Problem(ann_id, f"refers to image {ann.get('image_id')}, which is not in 'images'"))
            size = None
        else:
            size = (image.get("width"), image.get("height")) if image.get("width") and image.get("height") else None
        problems += [Problem(ann_id, r) for r in check_annotation(ann, size)]
    return problems


# --- the results format's uv_data ------------------------------------------------------------------------


def encode_uv_png(chart: np.ndarray, u: np.ndarray, v: np.ndarray) -> str:
    """(H, W) I, U, V -> base64 PNG with channels I (0..24), U×255, V×255 (DensePose's results format)."""
    from PIL import Image

    stack = np.stack([chart.astype(np.uint8), _byte(u), _byte(v)], axis=-1)
    buffer = io.BytesIO()
    Image.fromarray(stack, mode="RGB").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_uv_bytes(data: str) -> np.ndarray:
    """base64 PNG -> (H, W, 3) uint8: I, U x 255, V x 255."""
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(data)))
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))


def decode_uv_png(data: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    array = decode_uv_bytes(data)
    return array[..., 0].astype(np.int64), array[..., 1] / 255.0, array[..., 2] / 255.0


def _byte(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, dtype=np.float64) * 255), 0, 255).astype(np.uint8)
