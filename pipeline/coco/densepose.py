"""DensePose-COCO annotations: coordinates, masks and validation (no Django).

Two frames for a point inside a person's box:

- the **dp frame** of DensePose-COCO files (``dp_x``, ``dp_y``): ``x = x0 + dp_x * w / 255``, as the dataset
  defines it (its reference evaluator and its authors' own notebook read it so; detectron2's training code
  divides by 256 instead, a sub-pixel difference). Written by the exporter, read by import, training and
  evaluation, converted only by :func:`dp_to_box` / :func:`box_to_dp` and :func:`dp_to_image` / :func:`image_to_dp`
  (:mod:`pipeline.boxframe` holds the rule).
- the **box frame** inside this project (sampled points, synthetic truth, training targets): the frame of the
  part masks, 256 units a side, ``x = x0 + box_x * w / 256``.

``dp_masks`` are 14 entries in mask-part order (``pipeline.parts.MASK_PART_NAMES``), each a COCO RLE in the
same 256 × 256 box frame, or ``[]`` when the part is absent.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import numpy as np

from pipeline import boxframe, parts

DP_FIELDS = ("dp_x", "dp_y", "dp_I", "dp_U", "dp_V")


def box_to_dp(v) -> np.ndarray:
    """Box frame (0..256, the masks') -> the dp frame of DensePose-COCO files (0..255): the same image point."""
    return np.asarray(v, dtype=np.float64) * parts.POINT_SCALE / parts.MASK_SIZE


def dp_to_box(v) -> np.ndarray:
    """DensePose-COCO's dp_x or dp_y -> the box frame (the same image point)."""
    return np.asarray(v, dtype=np.float64) * parts.MASK_SIZE / parts.POINT_SCALE


def dp_to_image(bbox, dp_x, dp_y) -> tuple[np.ndarray, np.ndarray]:
    """DensePose-COCO's dp_x, dp_y -> image coordinates: x = x0 + dp_x * w / 255."""
    return boxframe.to_image(bbox, dp_x, dp_y, parts.POINT_SCALE)


def image_to_dp(bbox, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates -> DensePose-COCO's dp_x, dp_y (the inverse of :func:`dp_to_image`)."""
    return boxframe.from_image(bbox, x, y, parts.POINT_SCALE)


def encode_rle(mask: np.ndarray) -> dict:
    """COCO RLE (column-major, pycocotools) with ``counts`` as a string, ready for JSON."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def pycoco_rle(rle: dict) -> dict:
    """Any COCO RLE of a JSON file (``counts`` a string, bytes or an uncompressed list) in the form pycocotools
    takes: the one place the forms are told apart."""
    from pycocotools import mask as mask_utils

    counts, size = rle["counts"], [int(v) for v in rle["size"]]
    if isinstance(counts, list):  # uncompressed RLE
        return mask_utils.frPyObjects({"size": size, "counts": counts}, *size)
    return {"size": size, "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def decode_rle(rle: dict) -> np.ndarray:
    from pycocotools import mask as mask_utils

    return mask_utils.decode(pycoco_rle(rle)).astype(bool)


# chart id -> its mask part (index 0: none)
CHART_PART_TABLE = np.array([0] + [parts.CHART_TO_MASK_PART[c] for c in parts.CHARTS])


def rle_counts(rle: dict) -> np.ndarray:
    """The run lengths of an RLE (column-major, zeros first), from pycocotools' string form or a list; the
    string is parsed with numpy (no decoding of the mask). Raises ValueError on a malformed string."""
    return rle_counts_many([rle])[0]


def rle_counts_many(rles: list[dict]) -> list[np.ndarray]:
    """:func:`rle_counts` of several RLEs, the string ones parsed in one numpy pass (a person's 14 masks cost
    about what one does); uncompressed ones (``counts`` a list) are their own run lengths."""
    listed = {k: np.asarray(r["counts"], dtype=np.int64) for k, r in enumerate(rles) if isinstance(r["counts"], list)}
    if listed:
        strings = [r for r in rles if not isinstance(r["counts"], list)]
        parsed = iter(rle_counts_many(strings))
        return [listed[k] if k in listed else next(parsed) for k in range(len(rles))]
    raw = [r["counts"].encode("ascii") if isinstance(r["counts"], str) else r["counts"] for r in rles]
    if not raw:
        return []
    c = np.frombuffer(b"".join(raw), dtype=np.uint8).astype(np.int64) - 48
    if len(c) == 0 or c.min() < 0 or c.max() > 63:
        raise ValueError("not a COCO RLE string")
    lengths = np.array([len(b) for b in raw])
    byte_end = np.cumsum(lengths)  # exclusive end of each string
    more = (c & 0x20) != 0
    if (more[byte_end[lengths > 0] - 1]).any():
        raise ValueError("the RLE string ends inside a number")
    ends = np.flatnonzero(~more)
    starts = np.concatenate([[0], ends[:-1] + 1])
    k = np.arange(len(c)) - np.repeat(starts, ends - starts + 1)
    x = np.add.reduceat((c & 0x1F) << (5 * k), starts)
    x = np.where(c[ends] & 0x10, x - (np.int64(1) << (5 * (ends - starts + 1))), x)
    mask_of = np.searchsorted(byte_end, ends, side="right")  # which string each number is in
    first = np.searchsorted(mask_of, np.arange(len(raw)), side="left")  # its first number's index
    m = np.arange(len(x)) - first[mask_of]  # position of the number within its string
    out = x.copy()
    for parity in (1, 0):  # counts[m] = x[m] + counts[m - 2] for m > 2, per string
        take = (m % 2 == parity) & (m >= (1 if parity else 2))
        cs = np.cumsum(np.where(take, x, 0))
        before = np.concatenate([[0], cs])[first]  # the running sum where each string starts
        out = np.where(take, cs - before[mask_of], out)
    return np.split(out, first[1:])


def mask_labels_at(dp_masks: list, row: np.ndarray, col: np.ndarray, counts: dict | None = None) -> np.ndarray:
    """The part label at pixels (row, col) of the 256 x 256 box frame (later parts win, as in
    :func:`labels_from_dp_masks`), read off the run lengths without decoding the masks. ``counts``: the
    masks' run lengths by part when the caller has them already."""
    q = np.asarray(col, dtype=np.int64) * parts.MASK_SIZE + np.asarray(row, dtype=np.int64)
    labels = np.zeros(len(q), dtype=np.int64)
    for part, rle in zip(parts.MASK_PARTS, dp_masks, strict=True):
        if rle:
            runs = counts[part] if counts and part in counts else rle_counts(rle)
            run = np.searchsorted(np.cumsum(runs), q, side="right")
            labels[run % 2 == 1] = part
    return labels


def union_mask(dp_masks: list) -> np.ndarray:
    """The union of the part masks (256 x 256 uint8, Fortran order), merged as RLE and decoded once."""
    from pycocotools import mask as mask_utils

    rles = [pycoco_rle(rle) for rle in dp_masks if rle]
    if not rles:
        return np.zeros((parts.MASK_SIZE, parts.MASK_SIZE), dtype=np.uint8, order="F")
    return mask_utils.decode(mask_utils.merge(rles, intersect=0))


def dp_masks_from_labels(labels: np.ndarray) -> list:
    """A 256 × 256 part-label map (0 background, 1..14 parts) -> the 14 dp_masks entries."""
    if labels.shape != (parts.MASK_SIZE, parts.MASK_SIZE):
        raise ValueError(f"part labels must be {parts.MASK_SIZE}x{parts.MASK_SIZE}, not {labels.shape}")
    return [encode_rle(labels == part) if (labels == part).any() else [] for part in parts.MASK_PARTS]


def labels_from_dp_masks(dp_masks: list) -> np.ndarray:
    """The 14 dp_masks entries -> one label map; where masks overlap the later part wins (as DensePose's
    loaders do: label = index + 1, written in order)."""
    from pycocotools import mask as mask_utils

    present = [(part, rle) for part, rle in zip(parts.MASK_PARTS, dp_masks, strict=True) if rle]
    if not present:
        return np.zeros((parts.MASK_SIZE, parts.MASK_SIZE), dtype=np.uint8)
    # all at once (one call), then the highest part label where masks overlap
    stack = mask_utils.decode([pycoco_rle(rle) for _, rle in present])
    return (stack * np.array([part for part, _ in present], dtype=np.uint8)).max(axis=2)


@dataclass(frozen=True)
class Problem:
    annotation_id: object
    reason: str

    def __str__(self) -> str:
        return f"annotation {self.annotation_id}: {self.reason}"


def check_annotation(ann: dict, image_size: tuple[int, int] | None = None, warnings: list | None = None) -> list[str]:
    """Every problem with one person annotation, as readable reasons (empty when valid).

    ``image_size`` is (width, height) of its image, to check that the box lies inside it. What any real dataset
    has and DensePose's own loader and evaluator accept (points a pixel off the mask part of their chart, at
    part borders) is not a problem: it goes to ``warnings`` when a list is given."""
    reasons = []
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list | tuple) and len(bbox) == 4 and all(finite_number(v) for v in bbox)):
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
        # numbers only (no bools, strings, None): checked by type, in C, then finite as arrays
        if not {type(v) for f in DP_FIELDS for v in arrays[f]} <= {int, float}:
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
            counts: dict = {}
            reasons += _check_masks(masks, counts)
            if not reasons and len(x):
                col = np.clip(np.floor(dp_to_box(x)).astype(int), 0, parts.MASK_SIZE - 1)
                row = np.clip(np.floor(dp_to_box(y)).astype(int), 0, parts.MASK_SIZE - 1)
                expected = CHART_PART_TABLE[i.astype(int)]
                found = mask_labels_at(masks, row, col, counts)
                wrong = np.flatnonzero(found != expected)
                if len(wrong) and warnings is not None:
                    k = wrong[0]
                    where = parts.mask_part_name(int(found[k])) if found[k] else "background"
                    warnings.append(
                        f"{len(wrong)} points lie outside the mask part of their chart; point {k} (chart "
                        f"{int(i[k])}, {parts.chart_name(int(i[k]))}) is on {where}"
                    )
    elif "dp_masks" in ann:
        reasons += _check_masks(ann["dp_masks"])
    return reasons


def _check_masks(masks, counts_out: dict | None = None) -> list[str]:
    """Problems of a dp_masks list; fills ``counts_out`` (part -> run lengths) for the caller to reuse."""
    if not isinstance(masks, list) or len(masks) != parts.NUM_MASK_PARTS:
        return [f"dp_masks must be a list of {parts.NUM_MASK_PARTS} entries"]
    strings = [
        (part, rle)
        for part, rle in zip(parts.MASK_PARTS, masks, strict=True)
        if isinstance(rle, dict)
        and isinstance(rle.get("counts"), str)
        and rle.get("size") in ([parts.MASK_SIZE] * 2, (parts.MASK_SIZE,) * 2)
    ]
    try:  # the usual case, all at once; a malformed string falls back to one at a time for its reason
        parsed = dict(zip([p for p, _ in strings], rle_counts_many([r for _, r in strings]), strict=True))
    except ValueError:
        parsed = {}
    reasons = []
    for part, rle in zip(parts.MASK_PARTS, masks, strict=True):
        if rle in ([], None, {}):
            continue
        if not isinstance(rle, dict) or "counts" not in rle or "size" not in rle:
            reasons.append(f"dp_masks[{part - 1}] ({parts.mask_part_name(part)}) is not an RLE")
        elif not isinstance(rle["size"], list | tuple) or list(rle["size"]) != [parts.MASK_SIZE, parts.MASK_SIZE]:
            reasons.append(f"dp_masks[{part - 1}] has size {rle['size']!r}, expected [256, 256]")
        elif isinstance(rle["counts"], list) and not all(
            type(c) is int and 0 <= c <= parts.MASK_SIZE**2 for c in rle["counts"]
        ):
            reasons.append(f"dp_masks[{part - 1}]: list counts must be whole numbers 0..{parts.MASK_SIZE**2}")
        elif not isinstance(rle["counts"], list | str):
            reasons.append(f"dp_masks[{part - 1}]: counts must be a string or a list of whole numbers")
        else:
            try:
                runs = parsed[part] if part in parsed else rle_counts(rle)
            except (ValueError, TypeError, AttributeError) as exc:
                reasons.append(f"dp_masks[{part - 1}] does not decode ({exc})")
                continue
            if counts_out is not None:
                counts_out[part] = runs
            total = int(runs.sum())
            if (runs < 0).any():
                reasons.append(f"dp_masks[{part - 1}] has negative run lengths")
            elif total != parts.MASK_SIZE**2:
                reasons.append(f"dp_masks[{part - 1}] covers {total} pixels, not {parts.MASK_SIZE}x{parts.MASK_SIZE}")
    return reasons


def person_segmentation(mask_box: np.ndarray, bbox, width: int, height: int) -> tuple[dict, int]:
    """The person's mask in the image as COCO RLE, and its area: each image pixel inside the box takes the
    value of ``mask_box`` (256 x 256, the box frame) at its centre. Only the columns of the box are built; the
    columns left and right of it are added to the runs."""
    from pycocotools import mask as mask_utils

    x, y, w, h = bbox
    x0, y0 = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
    x1, y1 = min(int(np.ceil(x + w)), width), min(int(np.ceil(y + h)), height)
    if x1 <= x0 or y1 <= y0:
        counts, area = [width * height], 0
    else:
        strip = np.zeros((height, x1 - x0), dtype=np.uint8, order="F")
        cols = boxframe.pixel_centres_in_frame(bbox, x0, x1, axis=0)
        rows = boxframe.pixel_centres_in_frame(bbox, y0, y1, axis=1)
        strip[y0:y1] = mask_box[rows[:, None], cols[None, :]] > 0
        flat = strip.ravel(order="F")
        area = int(flat.sum())
        bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [len(flat)]])
        runs = np.diff(bounds).tolist()
        if flat[0]:
            runs.insert(0, 0)
        runs[0] += x0 * height  # the columns left of the box: zeros
        after = (width - x1) * height
        if len(runs) % 2 == 1:  # ends with zeros
            runs[-1] += after
        elif after:
            runs.append(after)
        counts = runs
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}, area


def _range(reasons, name, values, lo, hi) -> None:
    bad = np.flatnonzero(~np.isfinite(values) | (values < lo) | (values > hi))
    if len(bad):
        reasons.append(f"{name} must be in [{lo}, {hi}]; {len(bad)} values are not (first: {values[bad[0]]})")


def finite_number(v) -> bool:
    """A real number a float can hold: an int or a float (never a bool), finite. The one test of numbers read
    from JSON (bodies, boxes, results, imports)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond any float
        return False


def validate_dataset(data: dict, warnings: list | None = None) -> list[Problem]:
    """Every problem in a DensePose-COCO dataset dict: structure, ids, image references, each annotation.
    Disagreements the reference accepts go to ``warnings`` (as :class:`Problem`) when a list is given."""
    if not isinstance(data, dict):
        return [Problem("-", "the file is not a JSON object with images, annotations and categories")]
    problems = []
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            problems.append(Problem("-", f"the file needs a list '{key}'"))
    if problems:
        return problems
    for what in ("images", "annotations"):
        bad = [k for k, entry in enumerate(data[what]) if not isinstance(entry, dict)]
        if bad:
            problems.append(Problem("-", f"{len(bad)} entries of '{what}' are not objects (first: {what}[{bad[0]}])"))
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
        notes: list[str] = []
        problems += [Problem(ann_id, r) for r in check_annotation(ann, size, notes)]
        if warnings is not None:
            warnings += [Problem(ann_id, r) for r in notes]
    return problems


# --- the results format's uv_data ------------------------------------------------------------------------


def encode_uv_png(chart: np.ndarray, u: np.ndarray, v: np.ndarray, fast: bool = False) -> str:
    """(H, W) I, U, V -> base64 PNG with channels I (0..24), U×255, V×255 (DensePose's results format).
    ``fast``: the quickest zlib level (inference writes many; the file is larger, the picture the same)."""
    from PIL import Image

    stack = np.stack([chart.astype(np.uint8), _byte(u), _byte(v)], axis=-1)
    buffer = io.BytesIO()
    Image.fromarray(stack, mode="RGB").save(buffer, format="PNG", compress_level=1 if fast else 6)
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
