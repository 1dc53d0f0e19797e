"""A run folder's summary a person looks at: ``summary.html`` with the loss curves, the evaluation over the
iterations (GPS AP, GPSm AP, AUC10 on the evaluation file: held-out when the run was given one) and a grid of
predictions beside the annotation on a few evaluation images (PIL only; the pictures sit beside the page).

    python -m training summary --run RUN_DIR --data EVAL.json --images DIR
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from pipeline import boxframe, parts

TILE = 240  # the grid's tiles are this tall
EVAL_SERIES = (("GPS AP", "gps", "AP", (47, 111, 222)), ("GPSm AP", "gpsm", "AP", (30, 132, 73)),
               ("AUC10", "pointwise", "auc10", (192, 57, 43)))  # fmt: skip


def plot_evaluation(records: list[dict], out: Path) -> Path:
    """The evaluation records of a run (``{"iteration", "eval"}``) as lines against the iteration."""
    from PIL import Image, ImageDraw

    w, h, left, right, top, bottom = 720, 360, 60, 150, 36, 44
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    d.text((left, 12), "Evaluation during the run", fill=(20, 20, 30))
    rows = [r for r in records if "eval" in r]
    x_max = max([r["iteration"] for r in rows] + [1])

    def px(it, value):
        return left + (w - left - right) * it / x_max, h - bottom - (h - top - bottom) * value

    for v in np.linspace(0, 1, 6):
        _, y = px(0, v)
        d.line([(left, y), (w - right, y)], fill=(232, 234, 240))
        d.text((left - 30, y - 6), f"{v:.1f}", fill=(60, 60, 70))
    d.text((w // 2 - 40, h - 22), "iteration", fill=(60, 60, 70))
    for n, (label, group, key, color) in enumerate(EVAL_SERIES):
        pts = [px(r["iteration"], float(r["eval"][group][key])) for r in rows]
        if len(pts) > 1:
            d.line(pts, fill=color, width=2)
        for x, y in pts:
            d.ellipse([x - 3, y - 3, x + 3, y + 3], outline=color)
        last = f" {rows[-1]['eval'][group][key]:.3f}" if rows else ""
        d.line([(w - right + 12, top + 8 + 18 * n), (w - right + 30, top + 8 + 18 * n)], fill=color, width=2)
        d.text((w - right + 36, top + 2 + 18 * n), label + last, fill=(20, 20, 30))
    if not rows:
        d.text((left + 20, h // 2), "no evaluation in this run", fill=(90, 90, 100))
    img.save(out)
    return Path(out)


def _palette() -> np.ndarray:
    """Chart colours (0: none): the part colours of pipeline.parts, each chart of a part a shade of it."""
    out = np.zeros((parts.NUM_CHARTS + 1, 3), dtype=np.float64)
    for c in parts.CHARTS:
        base = np.asarray(parts.MASK_PART_COLORS[parts.CHART_TO_MASK_PART[c] - 1], dtype=np.float64)
        out[c] = base * (0.75 if c % 2 else 1.0)
    return out


def prediction_grid(model, data: dict, images: Path, out: Path, count: int = 4) -> Path:
    """For ``count`` images of the evaluation file: the image, the prediction's I over it, its U and V (red,
    green), and the annotation (part masks, points coloured by I) over it."""
    from PIL import Image, ImageDraw

    from pipeline.coco.densepose import decode_uv_png, labels_from_dp_masks
    from pipeline.coco.record import DensePosePerson

    from .evaluate import iter_images, predict_images

    palette = _palette()
    wanted = {img["id"] for img in data["images"][:count]}
    people = {}
    for ann in data["annotations"]:
        if ann.get("image_id") in wanted:
            people.setdefault(ann["image_id"], []).append(DensePosePerson.from_json(ann))
    rows = []
    for image_id, image in iter_images({"images": data["images"][:count]}, images):
        h, w = image.shape[:2]
        chart = np.zeros((h, w), dtype=np.int64)
        uv = np.zeros((h, w, 3), dtype=np.float64)
        for r in sorted(predict_images(model, [(image_id, image)]), key=lambda r: r["score"]):
            if r["score"] < 0.5:
                continue
            i, u, v = decode_uv_png(r["uv_data"])
            x0, y0 = int(r["bbox"][0]), int(r["bbox"][1])
            ys, xs = np.nonzero(i)
            keep = (ys + y0 < h) & (xs + x0 < w) & (ys + y0 >= 0) & (xs + x0 >= 0)
            ys, xs = ys[keep], xs[keep]
            chart[ys + y0, xs + x0] = i[ys, xs]
            uv[ys + y0, xs + x0, 0], uv[ys + y0, xs + x0, 1] = u[ys, xs], v[ys, xs]
        shown = chart > 0
        overlay = image.astype(np.float64).copy()
        overlay[shown] = 0.35 * overlay[shown] + 0.65 * palette[chart[shown]]
        uv_tile = image.astype(np.float64) * 0.25
        uv_tile[shown] = uv[shown] * 255
        truth_px = image.astype(np.float64)
        rr, cc = np.mgrid[0:h, 0:w]
        colors = np.asarray(parts.MASK_PART_COLORS, dtype=np.float64)
        for person in people.get(image_id, []):
            if person.dp_masks:
                labels = labels_from_dp_masks(person.dp_masks)
                bx, by = boxframe.from_image(person.bbox, cc + 0.5, rr + 0.5)  # each pixel's centre in the box
                inside = (bx >= 0) & (bx < parts.MASK_SIZE) & (by >= 0) & (by < parts.MASK_SIZE)
                lab = np.zeros((h, w), dtype=np.int64)
                lab[inside] = labels[by[inside].astype(np.int64), bx[inside].astype(np.int64)]
                truth_px[lab > 0] = 0.5 * truth_px[lab > 0] + 0.5 * colors[lab[lab > 0] - 1]
        truth = Image.fromarray(truth_px.astype(np.uint8))
        draw = ImageDraw.Draw(truth)
        for person in people.get(image_id, []):
            if person.has_points:
                xs, ys = boxframe.to_image(person.bbox, person.box_x, person.box_y)
                for x, y, c in zip(xs, ys, person.chart, strict=True):
                    color = tuple(int(v) for v in palette[int(c)])
                    draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=color, outline=(255, 255, 255))
        tiles = [image, overlay.astype(np.uint8), np.clip(uv_tile, 0, 255).astype(np.uint8), np.asarray(truth)]
        scale = TILE / h
        row = [np.asarray(Image.fromarray(t).resize((max(1, round(w * scale)), TILE))) for t in tiles]
        rows.append(np.concatenate(row, axis=1))
    if not rows:
        raise ValueError("the evaluation file lists no image to show")
    width = max(r.shape[1] for r in rows)
    grid = np.concatenate([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    Image.fromarray(grid).save(out)
    return Path(out)


def write_summary(run: Path, data: Path | dict, images: Path, count: int = 4) -> Path:
    """``summary.html`` (and its pictures) in the run folder: what the run learnt, at a glance."""
    from .evaluate import load_run, read_json
    from .plot import plot_losses
    from .train import read_metrics

    run = Path(run)
    records = read_metrics(run)
    data = data if isinstance(data, dict) else read_json(data)
    plot_losses(records, run / "loss.png", title=f"Training loss: {run.name}")
    plot_evaluation(records, run / "evaluation.png")
    prediction_grid(load_run(run), data, images, run / "predictions.png", count)
    config = json.loads((run / "config.json").read_text()) if (run / "config.json").exists() else {}
    evals = [r for r in records if "eval" in r]
    last = evals[-1]["eval"] if evals else None
    figures = ""
    if last:
        figures = "".join(f"<tr><th>{html.escape(label)}</th><td>{last[g][k]:.3f}</td></tr>"
                          for label, g, k, _ in EVAL_SERIES)  # fmt: skip
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Run {html.escape(run.name)}</title>
<style>body{{font:14px system-ui,sans-serif;margin:24px;color:#1d2230}}img{{max-width:100%;border:1px solid #dde}}
table{{border-collapse:collapse}}th,td{{padding:2px 10px;text-align:left}}</style></head><body>
<h1>Run {html.escape(run.name)}</h1>
<p>config {html.escape(str(config.get("name", "?")))}, {config.get("iterations", "?")} iterations,
batch {config.get("batch_size", "?")}, seed {config.get("seed", 0)}</p>
<h2>Evaluation (the last)</h2><table>{figures or "<tr><td>no evaluation in this run</td></tr>"}</table>
<h2>Loss</h2><img src="loss.png" alt="loss curves">
<h2>Evaluation during the run</h2><img src="evaluation.png" alt="evaluation over iterations">
<h2>Predictions beside the annotation</h2>
<p>Each row: the image; the predicted charts (I) over it; the predicted U (red) and V (green); the annotation
(part masks, points coloured by chart).</p><img src="predictions.png" alt="predictions and annotation">
</body></html>
"""
    (run / "summary.html").write_text(page)
    return run / "summary.html"
