"""Synthetic images with full ground truth: images per second at 640×480, and a picture of 16 samples.

    .venv/bin/python benchmarks/synthetic.py [--count 40] [--cache DIR] [--grid OUT.png]

The grid shows, for each sample, the image, its part labels over it, and its chart U/V (red/green) with I
(blue).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.assets import ensure_assets, load_assets
from pipeline.body import load_body_model
from pipeline.synthetic.scene import ParallelGenerator, SceneGenerator

ROOT = Path(__file__).resolve().parent.parent


def overlay_tiles(img, width=320):
    from PIL import Image

    palette = (np.random.default_rng(4).random((15, 3)) * 200 + 55).astype(np.uint8)
    palette[0] = 0
    labels = np.where(img.part[..., None] > 0, (0.45 * img.image + 0.55 * palette[img.part]), img.image)
    uv = np.zeros_like(img.image)
    uv[..., 0] = (img.uv[..., 0] * 255).astype(np.uint8)
    uv[..., 1] = (img.uv[..., 1] * 255).astype(np.uint8)
    uv[..., 2] = (img.chart.astype(np.float32) * 10).astype(np.uint8)
    h = round(img.image.shape[0] * width / img.image.shape[1])
    tiles = [np.asarray(Image.fromarray(a.astype(np.uint8)).resize((width, h))) for a in (img.image, labels, uv)]
    return np.concatenate(tiles, axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--cache", default=str(ROOT / "data" / "cache"))
    ap.add_argument("--grid", default=str(ROOT / "data" / "synthetic-samples.png"))
    ap.add_argument("--workers", type=int, default=2, help="processes (the machine has 2 cores)")
    args = ap.parse_args()
    from PIL import Image

    body = load_body_model("anny", cache_dir=args.cache)
    generator = SceneGenerator(body, load_assets(ensure_assets(body, args.cache)))
    generator.generate(0, 0, size=(640, 480))  # warm-up
    t0 = time.perf_counter()
    people = points = 0
    for i in range(args.count):
        img = generator.generate(1, i, size=(640, 480))
        people += len(img.people)
        points += sum(len(p.points) for p in img.people)
    dt = time.perf_counter() - t0
    with ParallelGenerator(args.cache, args.workers) as pool:
        list(pool.generate(0, range(2 * args.workers), (640, 480)))  # processes started and warm
        t0 = time.perf_counter()
        parallel = sum(1 for _ in pool.generate(1, range(args.count), (640, 480)))
        dt_parallel = time.perf_counter() - t0
    rows = [
        ("images with full ground truth, 640x480, 1 process", f"{args.count / dt:.1f} images/s", ""),
        (
            f"the same, {args.workers} processes",
            f"{parallel / dt_parallel:.1f} images/s",
            ">= 10/s",
        ),
        ("people per image", f"{people / args.count:.2f}", "1-4"),
        ("stage-2 points per person (perfect annotator)", f"{points / max(people, 1):.0f}", "about 100 in COCO"),
    ]
    samples = [overlay_tiles(generator.generate(2, i, size=(640, 480))) for i in range(16)]
    Path(args.grid).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate([np.concatenate(samples[i : i + 2], axis=1) for i in range(0, 16, 2)])).save(
        args.grid
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':<18}  target")
    print("-" * (width + 30))
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<18}  {target}")
    print(f"\nsample grid: {args.grid}")


if __name__ == "__main__":
    main()
