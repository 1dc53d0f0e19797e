"""Training and inference speed of the DensePose-RCNN configs, and the teacher's fill against the nearest
annotated point, on synthetic renders whose truth is exact.

    .venv/bin/python benchmarks/training.py [--images 8] [--iterations 60] [--teacher-iterations 150]

``tiny`` runs on this CPU; ``r50_fpn`` runs on a GPU when there is one (detectron2's R_50_FPN_s1x: 0.359 s a
training iteration of 16 images on 8 GPUs, 0.066 s an image at inference), and otherwise a few iterations on
the CPU for scale (``--r50-cpu-iterations``, 0 to skip). Prints a table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def speed(config, data, folder, chart_assets, iterations: int, device: str) -> dict:
    import torch

    from training.data import DensePoseCoco, image_tensor, to_tensors
    from training.evaluate import iter_images, predict_images, read_json
    from training.model import build_model
    from training.train import _optimizer

    torch.manual_seed(0)
    model = build_model(config).to(device)
    optimizer = _optimizer(config, model)
    dataset = DensePoseCoco(data, folder, chart_assets, augment=True, sizes=None, flip=config.flip)
    batches = [[(i * config.batch_size + k) % len(dataset) for k in range(config.batch_size)]
               for i in range(iterations + 2)]  # fmt: skip
    times = []
    for batch in batches:
        samples = [to_tensors(dataset[i]) for i in batch]
        t0 = time.perf_counter()
        losses = model(
            [s[0].to(device) for s in samples], [{k: v.to(device) for k, v in s[1].items()} for s in samples]
        )
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    train_s = float(np.median(times[2:]))  # the first two warm up
    images = list(iter_images(read_json(data), folder))
    predict_images(model, images[:1])
    t0 = time.perf_counter()
    records = predict_images(model, images)
    infer_s = (time.perf_counter() - t0) / len(images)
    model.eval()
    tensors = [image_tensor(img).to(device) for _, img in images]
    t0 = time.perf_counter()
    with torch.no_grad():
        for t in tensors:
            model([t])
    forward_s = (time.perf_counter() - t0) / len(images)
    return {"s_per_iter": train_s, "images_per_iter": config.batch_size, "iter_per_s": 1 / train_s,
            "infer_s_per_image": infer_s, "images_per_s": 1 / infer_s, "forward_s_per_image": forward_s,
            "detections_per_image": len(records) / len(images)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--teacher-iterations", type=int, default=150)
    parser.add_argument("--r50-cpu-iterations", type=int, default=3)
    parser.add_argument("--cache", default=str(ROOT / "test-artifacts" / "cache"))
    args = parser.parse_args()

    import torch

    from pipeline.assets import ensure_assets, load_assets
    from pipeline.body import load_body_model
    from pipeline.charts import interchange
    from pipeline.evaluation.mesh import EvalMesh
    from pipeline.synthetic import coco
    from pipeline.synthetic.scene import SceneGenerator
    from training import config as configs
    from training.data import DensePoseCoco
    from training.teacher import TeacherConfig, fill_errors, train_teacher

    body = load_body_model("anny", cache_dir=args.cache)
    assets = load_assets(ensure_assets(body, args.cache))
    chart_assets = interchange.ensure(assets, "anny")
    generator = SceneGenerator(body, assets)
    images = [generator.generate(seed=7, index=i, size=(320, 240)) for i in range(args.images)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = coco.write(images, Path(tmp))
        people = sum(1 for a in coco.dataset(images)["annotations"] if "dp_x" in a)
        print(f"{args.images} synthetic images (320 x 240), {people} annotated people; torch {torch.__version__}, "
              f"{torch.get_num_threads()} CPU threads, GPU: {torch.cuda.is_available()}")  # fmt: skip
        tiny = speed(configs.get("tiny"), data, Path(tmp), chart_assets, args.iterations, "cpu")
        rows.append(("tiny", "cpu", tiny))
        if torch.cuda.is_available():
            r50 = speed(configs.get("r50_fpn"), data, Path(tmp), chart_assets, args.iterations, "cuda")
            rows.append(("r50_fpn", "cuda", r50))
        elif args.r50_cpu_iterations:
            r50 = speed(replace(configs.get("r50_fpn"), batch_size=1), data, Path(tmp), chart_assets,
                        args.r50_cpu_iterations, "cpu")  # fmt: skip
            rows.append(("r50_fpn (1 image a batch)", "cpu", r50))

        print(f"\nTraining: median of {args.iterations} iterations. Inference: the model's forward pass, and the "
              "whole predict (forward, maps to box size, uv_data PNGs) with the detections it made.\n")  # fmt: skip
        print("| config | device | images / iteration | s / iteration | iterations / s | forward s / image "
              "| predict s / image | images / s | detections / image |")  # fmt: skip
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, device, r in rows:
            print(f"| {name} | {device} | {r['images_per_iter']} | {r['s_per_iter']:.3f} | {r['iter_per_s']:.2f} | "
                  f"{r['forward_s_per_image']:.3f} | {r['infer_s_per_image']:.3f} | {r['images_per_s']:.1f} | "
                  f"{r['detections_per_image']:.1f} |")  # fmt: skip
        print("| detectron2 R_50_FPN_s1x (reported) | 8 GPUs | 16 | 0.359 | 2.79 | 0.066 | — | 15.2 | — |")
        if not torch.cuda.is_available():
            print("\nr50_fpn on a GPU: not measured (no GPU on this machine).")

        t0 = time.perf_counter()
        teacher, _ = train_teacher(data, Path(tmp), None, replace(TeacherConfig(), iterations=args.teacher_iterations),
                                   progress=False)  # fmt: skip
        teacher_s = time.perf_counter() - t0
        mesh = EvalMesh.from_assets(assets)
        errors = fill_errors(teacher, DensePoseCoco(data, Path(tmp)), coco.people_by_annotation(images), mesh)
        print(f"\nTeacher: {args.teacher_iterations} iterations in {teacher_s:.0f} s; geodesic error at "
              f"{len(errors['teacher'])} pixels nobody annotated (exact synthetic truth):\n")  # fmt: skip
        print("| fill | mean cm | median cm | p90 cm | within 5 cm |")
        print("|---|---:|---:|---:|---:|")
        for name in ("teacher", "nearest"):
            e = errors[name] * 100
            label = "teacher" if name == "teacher" else "nearest annotated point"
            print(f"| {label} | {e.mean():.2f} | {np.median(e):.2f} | {np.percentile(e, 90):.2f} | "
                  f"{np.mean(e <= 5):.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
