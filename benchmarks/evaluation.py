"""GPS evaluation at COCO's scale: 1,500 annotated people, 20 detections per image.

    .venv/bin/python benchmarks/evaluation.py [--people 1500] [--base-images 24] [--no-fill] [--save DIR]

Ground truth: ``--base-images`` synthetic images (full DensePose annotation), repeated under new ids until
there are ``--people`` annotated people. Detections per image: each person predicted perfectly, a copy with
every point moved ~15 cm, a background-only copy, and (unless ``--no-fill``) shifted boxes, up to 20. Prints
the time to evaluate (GPS and GPSm AP, the pointwise curve) and the numbers. ``--save DIR`` also writes the
ground truth and results as ``DIR/gt.json`` and ``DIR/dt.json``, to run another evaluator on the same files.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1500)
    parser.add_argument("--base-images", type=int, default=24)
    parser.add_argument("--cache", default=str(ROOT / "test-artifacts" / "cache"))
    parser.add_argument("--no-fill", action="store_true", help="only the three detections of each person")
    parser.add_argument("--save", type=Path, help="write gt.json and dt.json into this folder")
    args = parser.parse_args()

    from dataclasses import replace

    from pipeline.assets import ensure_assets, load_assets
    from pipeline.body import load_body_model
    from pipeline.coco.densepose import decode_uv_png, encode_uv_png
    from pipeline.coco.record import CATEGORY
    from pipeline.evaluation import gps as _G
    from pipeline.evaluation.gps import MAX_DETECTIONS, perfect_results

    evaluate = _G.evaluate
    from pipeline.evaluation.mesh import EvalMesh
    from pipeline.synthetic import coco as synthetic_coco
    from pipeline.synthetic.scene import SceneGenerator

    body = load_body_model("anny", cache_dir=args.cache)
    assets = load_assets(ensure_assets(body, args.cache))
    t0 = time.monotonic()
    mesh = EvalMesh.from_assets(assets)
    mesh_s = time.monotonic() - t0

    generator = SceneGenerator(body, assets)
    base = []
    for index in range(args.base_images):
        img = generator.generate(seed=5, index=index)
        anns = [synthetic_coco.person_record(person, 0, 0) for person in img.people]
        h, w = img.instance.shape
        base.append((w, h, anns))
    rng = np.random.default_rng(0)

    images, annotations, results = [], [], []
    people = 0
    while people < args.people:
        w, h, anns = base[len(images) % len(base)]
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": f"{image_id}.jpg", "width": w, "height": h})
        dets = []
        for ann in anns:
            a = replace(ann, id=len(annotations) + 1, image_id=image_id).to_json()
            annotations.append(a)
            if "dp_x" not in a:
                continue
            people += 1
            perfect = perfect_results({"annotations": [a]})[0]
            chart, u, v = decode_uv_png(perfect["uv_data"])
            moved = (u + 0.15) % 1.0  # U off by 0.15: roughly 5-20 cm on most charts
            dets += [
                {**perfect, "score": float(rng.uniform(0.5, 1))},
                {**perfect, "score": float(rng.uniform(0.2, 0.8)), "uv_data": encode_uv_png(chart, moved, v)},
                {**perfect, "score": float(rng.uniform(0, 0.5)),
                 "uv_data": encode_uv_png(np.zeros_like(chart), u, v)},
            ]  # fmt: skip
        while dets and len(dets) < MAX_DETECTIONS and not args.no_fill:
            d = dets[int(rng.integers(len(dets)))]
            x, y, bw, bh = d["bbox"]
            dx, dy = rng.normal(0, 0.2) * bw, rng.normal(0, 0.2) * bh
            x1, y1 = float(np.clip(x + dx, 0, w - bw)), float(np.clip(y + dy, 0, h - bh))  # a detector's boxes
            dets.append({**d, "bbox": [x1, y1, bw, bh], "score": float(rng.uniform(0, 0.6))})  # stay in the image
        for d in dets:
            d["image_id"] = image_id
        results += dets
    gt = {"images": images, "annotations": annotations, "categories": [CATEGORY]}
    if args.save:
        import json

        args.save.mkdir(parents=True, exist_ok=True)
        (args.save / "gt.json").write_text(json.dumps(gt))
        (args.save / "dt.json").write_text(json.dumps(results))

    t0 = time.monotonic()
    numbers = evaluate(gt, results, mesh)
    eval_s = time.monotonic() - t0
    points = sum(len(a.get("dp_x", [])) for a in annotations)
    print(f"\n{people} annotated people, {len(images)} images, {len(results)} detections "
          f"({len(results) / len(images):.1f} per image), {points} points")  # fmt: skip
    print(f"{'evaluation mesh (load or build)':38}{mesh_s:8.2f} s")
    print(f"{'evaluate (GPS, GPSm, pointwise)':38}{eval_s:8.2f} s   (target < 10 s)")
    for name in ("gps", "gpsm"):
        print(f"{name.upper():6}" + "  ".join(f"{k} {numbers[name][k]:.3f}" for k in ("AP", "AP50", "AP75", "AR")))
    pw = numbers["pointwise"]
    print(f"pointwise AUC10 {pw['auc10']:.3f}  AUC30 {pw['auc30']:.3f}")


if __name__ == "__main__":
    main()
