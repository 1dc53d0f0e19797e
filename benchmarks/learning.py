"""What the training module learns, measured on held-out synthetic people: data scaling, the teacher's effect and
the cost of sparse annotation.

    .venv/bin/python benchmarks/learning.py [--sizes 125,500,2000] [--seeds 0,1] [--test-people 300]
        [--iterations 3000] [--study-size 500] [--out test-artifacts/learning] [--cache DIR]

- A fixed held-out split: synthetic 320x240 renders of a seed of its own (never trained on), at least
  ``--test-people`` annotated people, scored with the project's evaluator (GPS AP, GPSm AP, AUC10, AUC30; the
  reference's rules: per-part kappa, dp_x / 255).
- Data scaling: ``tiny`` trained on the first 125, 500 and 2,000 images of a training series, the same iteration
  budget for every size (``--iterations``: the data varies, the compute does not), once per seed.
- The teacher, as the paper uses it, on the ``--study-size`` set: the sparse points stage 2 collects (k-means, at
  most 14 a part) alone, against the same points plus the teacher's dense targets.
- Annotation density: the same images with every ground-truth point (up to ``--dense-points`` pixels a person,
  drawn evenly from the person's pixels) against the sparse points.

Each run's wall time is reported, so that a GPU run can be planned. Prints a markdown table, writes
``results.json`` and ``learning.png`` into ``--out``; finished runs are kept there and not run again.

``--teacher-study`` runs, instead, why the teacher does or does not help, on the ``--study-size`` set with seed 0:
the sparse points, the sparse points + the teacher (weight 0.5, and 1.0), every truth point, and the same with at
most ``--few`` points a part (what a sparser protocol would give the student and the teacher); and how good
the teacher's targets are: at the dense truth points of those people, the share whose chart (I) it gets right
and its U, V error where it does, against the nearest-annotated-point fill it starts from.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZE = (320, 240)
TRAIN_SEED, TEST_SEED = 100, 999
METRICS = (("GPS AP", "gps", "AP"), ("GPSm AP", "gpsm", "AP"), ("AUC10", "pointwise", "auc10"),
           ("AUC30", "pointwise", "auc30"))  # fmt: skip


def dense_person(img, person, sparse, count: int, rng):
    """``sparse`` (the person's record with the stage-2 points) with every ground-truth point of their pixels
    instead (up to ``count``, evenly drawn)."""
    from dataclasses import replace

    from pipeline import boxframe

    if not sparse.has_points:
        return sparse
    rows, cols = np.nonzero((img.instance == person.index) & (img.chart > 0))
    if len(rows) > count:
        pick = np.sort(rng.choice(len(rows), count, replace=False))
        rows, cols = rows[pick], cols[pick]
    bx, by = boxframe.from_image(person.bbox, cols + 0.5, rows + 0.5)
    inside = (bx >= 0) & (bx <= 256) & (by >= 0) & (by <= 256)
    rows, cols, bx, by = rows[inside], cols[inside], bx[inside], by[inside]
    return replace(sparse, box_x=bx, box_y=by, chart=img.chart[rows, cols].astype(np.int64),
                   u=img.uv[rows, cols, 0].astype(np.float64), v=img.uv[rows, cols, 1].astype(np.float64))  # fmt: skip


def make_series(cache: str, folder: Path, seed: int, count: int | None, min_people: int | None, dense_for: int,
                dense_points: int) -> dict:  # fmt: skip
    """Render a series into ``folder`` (PNG files) and keep its records: image records, sparse people and, for
    the first ``dense_for`` images, dense people."""
    from PIL import Image

    from pipeline.coco.record import image_record
    from pipeline.synthetic.coco import person_record
    from pipeline.synthetic.scene import ParallelGenerator

    folder.mkdir(parents=True, exist_ok=True)
    images, sparse, dense = [], [], []
    rng = np.random.default_rng(seed)
    people = 0
    with ParallelGenerator(cache, 2) as generator:
        stream = generator.generate(seed, range(count or 100_000), size=SIZE)
        for index, img in enumerate(stream):
            image_id = index + 1
            Image.fromarray(img.image).save(folder / f"{index}.png")
            h, w = img.instance.shape
            images.append(image_record(image_id, f"{index}.png", w, h))
            for person in img.people:
                ann_id = len(sparse) + 1
                record = person_record(person, image_id, ann_id)
                sparse.append(record)
                people += record.has_points
                if index < dense_for:
                    dense.append(dense_person(img, person, record, dense_points, rng))
            if min_people is not None and people >= min_people:
                break
    return {"images": images, "sparse": sparse, "dense": dense}


def write_subset(series: dict, n: int, path: Path, which: str = "sparse") -> Path:
    from pipeline.coco.record import DatasetWriter

    keep = {img["id"] for img in series["images"][:n]}
    with DatasetWriter(path) as out:
        for img in series["images"][:n]:
            out.add_image(img)
        for person in series[which]:
            if person.image_id in keep:
                out.add_person(person)
    return path


def thin(series: dict, per_part: int, seed: int = 0) -> dict:
    """``series`` with at most ``per_part`` of each person's sparse points in each mask part (drawn at random)."""
    from dataclasses import replace

    from pipeline import parts

    rng = np.random.default_rng(seed)
    chart_part = np.asarray([0, *(parts.CHART_TO_MASK_PART[c] for c in parts.CHARTS)])
    people = []
    for p in series["sparse"]:
        if not p.has_points:
            people.append(p)
            continue
        part = chart_part[p.chart]
        keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(part == q))[:per_part] for q in np.unique(part)]))
        people.append(replace(p, box_x=p.box_x[keep], box_y=p.box_y[keep], chart=p.chart[keep], u=p.u[keep],
                              v=p.v[keep]))  # fmt: skip
    return {**series, "sparse": people}


def target_quality(model, data: Path, images: Path, dense: list) -> dict:
    """The teacher's targets against the truth, at each person's dense truth points: the share whose chart it
    gets right and the median U, V error where it does; the same for the nearest-annotated-point fill."""
    from pipeline import parts
    from training.data import DensePoseCoco
    from training.teacher import crop, nearest_fill, teacher_fill_at

    truth = {p.id: p for p in dense if p.has_points}
    found = {"teacher": [], "nearest": []}
    dataset = DensePoseCoco(data, images)
    for index in range(len(dataset)):
        sample = dataset[index]
        for person in sample.people:
            t = truth.get(person.ann_id)
            if not person.has_points or t is None:
                continue
            fills = {"nearest": nearest_fill(person, t.box_x, t.box_y),
                     "teacher": teacher_fill_at(model, crop(sample.image, person.box, model.config.size), person,
                                                t.box_x, t.box_y)}  # fmt: skip
            for name, (chart, u, v) in fills.items():
                found[name].append((np.asarray(chart) == t.chart, np.hypot(np.asarray(u) - t.u, np.asarray(v) - t.v),
                                    np.asarray([parts.CHART_TO_MASK_PART[c] for c in t.chart])))  # fmt: skip
    out = {}
    for name, rows in found.items():
        ok = np.concatenate([r[0] for r in rows])
        err = np.concatenate([r[1] for r in rows])
        part = np.concatenate([r[2] for r in rows])
        per_part = {parts.mask_part_name(int(q)): round(float(ok[part == q].mean()), 3) for q in np.unique(part)}
        out[name] = {"points": len(ok), "chart_right": round(float(ok.mean()), 4),
                     "uv_error_median": round(float(np.median(err[ok])), 4),
                     "chart_right_by_part": per_part}  # fmt: skip
    return out


def run(name: str, out: Path, data: Path, images: Path, test: Path, test_images: Path, chart_assets: Path,
        iterations: int, seed: int, teacher: bool = False, teacher_weight: float | None = None,
        dense: list | None = None, teacher_iterations: int | None = None) -> dict:  # fmt: skip
    """One training run (kept in ``out/name``; a finished one is read back), scored on the held-out split."""
    from training import config as configs
    from training.evaluate import Evaluator, load_run
    from training.train import read_metrics, train

    folder = out / name
    done = folder / "heldout.json"
    if done.exists():
        return json.loads(done.read_text())
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    t0 = time.perf_counter()
    overrides = {"iterations": iterations, "seed": seed, "checkpoint_period": max(1, iterations // 4)}
    extra = targets = None
    if teacher:
        from training.teacher import TeacherConfig, dense_targets, train_teacher

        overrides["teacher_points_per_person"] = configs.TEACHER_POINTS
        config = (
            TeacherConfig(seed=seed)
            if teacher_iterations is None
            else TeacherConfig(seed=seed, iterations=teacher_iterations)
        )
        model, _ = train_teacher(data, images, folder / "teacher", config, progress=False)
        weight = configs.get("tiny").teacher_weight if teacher_weight is None else teacher_weight
        overrides["teacher_weight"] = weight
        extra = dense_targets(model, data, images, configs.TEACHER_POINTS, weight)
        targets = target_quality(model, data, images, dense) if dense is not None else None
    config = configs.get("tiny", **overrides)
    train(config, data, images, folder / "run", chart_assets=chart_assets, progress=False, extra_points=extra,
          eval_data=test, eval_images=test_images, evaluate_every=config.checkpoint_period)  # fmt: skip
    train_s = time.perf_counter() - t0
    numbers = Evaluator(chart_assets, test, test_images)(load_run(folder / "run"))
    curve = [{"iteration": r["iteration"], "gps_ap": r["eval"]["gps"]["AP"]}
             for r in read_metrics(folder / "run") if "eval" in r]  # fmt: skip
    result = {"name": name, "seed": seed, "iterations": iterations, "wall_s": round(train_s, 1),
              **{label: round(float(numbers[a][b]), 4) for label, a, b in METRICS}, "heldout_curve": curve}  # fmt: skip
    if teacher and targets is not None:
        result["targets"] = targets
    done.write_text(json.dumps(result, indent=1))
    from training.summary import write_summary

    write_summary(folder / "run", test, test_images)  # losses, held-out curve, predictions beside the truth
    return result


def mean_spread(rows: list[dict], label: str) -> str:
    values = np.array([r[label] for r in rows])
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


def plot(results: dict, sizes: list[int], path: Path) -> None:
    """Held-out metrics against training-set size (log scale), each seed a dot and the mean a line."""
    from PIL import Image, ImageDraw

    w, h, left, right, top, bottom = 760, 440, 70, 170, 40, 60
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    d.text((left, 12), "tiny on synthetic people: held-out metrics against training images (same iterations)",
           fill=(20, 20, 30))  # fmt: skip
    colors = {"GPS AP": (47, 111, 222), "GPSm AP": (30, 132, 73), "AUC10": (192, 57, 43), "AUC30": (142, 68, 173)}
    lo, hi = np.log10(min(sizes)), np.log10(max(sizes))

    def px(size, value):
        x = left + (w - left - right) * (np.log10(size) - lo) / max(hi - lo, 1e-9)
        return x, h - bottom - (h - top - bottom) * value

    for v in np.linspace(0, 1, 6):
        _, y = px(sizes[0], v)
        d.line([(left, y), (w - right, y)], fill=(232, 234, 240))
        d.text((left - 35, y - 6), f"{v:.1f}", fill=(60, 60, 70))
    for s in sizes:
        x, _ = px(s, 0)
        d.text((x - 12, h - bottom + 8), str(s), fill=(60, 60, 70))
    d.text(((w - right) // 2, h - 24), "training images (log scale)", fill=(60, 60, 70))
    for k, (label, color) in enumerate(colors.items()):
        means = []
        for s in sizes:
            rows = results["scaling"].get(str(s), [])
            for r in rows:
                x, y = px(s, r[label])
                d.ellipse([x - 3, y - 3, x + 3, y + 3], outline=color)
            if rows:
                means.append(px(s, float(np.mean([r[label] for r in rows]))))
        if len(means) > 1:
            d.line(means, fill=color, width=2)
        d.line([(w - right + 15, top + 20 * k + 6), (w - right + 35, top + 20 * k + 6)], fill=color, width=2)
        d.text((w - right + 40, top + 20 * k), label, fill=(20, 20, 30))
    img.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="125,500,2000")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--test-people", type=int, default=300)
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--study-size", type=int, default=500, help="the set of the teacher and density runs")
    parser.add_argument("--dense-points", type=int, default=400)
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "learning")
    parser.add_argument("--cache", default=str(ROOT / "test-artifacts" / "cache"))
    parser.add_argument("--teacher-study", action="store_true", help="why the teacher does or does not help")
    parser.add_argument("--few", type=int, default=4, help="--teacher-study: the sparser protocol's points a part")
    parser.add_argument("--teacher-iterations", type=int, default=None, help="the teacher's (default: its own)")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    seeds = [int(s) for s in args.seeds.split(",")]
    study = args.study_size
    if study not in sizes:
        sys.exit(f"--study-size {study} must be one of --sizes {args.sizes} (its sparse runs are the baseline)")

    from pipeline.assets import ensure_assets, load_assets
    from pipeline.body import load_body_model
    from pipeline.charts import interchange

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    body = load_body_model("anny", cache_dir=args.cache)
    chart_assets = interchange.ensure(load_assets(ensure_assets(body, args.cache)), "anny")

    t0 = time.perf_counter()
    test = make_series(args.cache, out / "test", TEST_SEED, None, args.test_people, 0, 0)
    test_json = write_subset(test, len(test["images"]), out / "test.json")
    pool = make_series(args.cache, out / "train", TRAIN_SEED, max(sizes), None, study, args.dense_points)
    render_s = time.perf_counter() - t0
    test_people = sum(p.has_points for p in test["sparse"])
    print(f"held-out split: {len(test['images'])} images, {test_people} annotated people (seed {TEST_SEED}); "
          f"training series: {len(pool['images'])} images (seed {TRAIN_SEED}); rendered in {render_s:.0f} s",
          flush=True)  # fmt: skip

    if args.teacher_study:
        return teacher_study(args, out, pool, test_json, chart_assets, test_people, len(test["images"]))
    results = {"iterations": args.iterations, "test_images": len(test["images"]), "test_people": test_people,
               "scaling": {}, "study": {}}  # fmt: skip
    for n in sizes:
        data = write_subset(pool, n, out / f"train-{n}.json")
        for seed in seeds:
            r = run(f"size{n}-seed{seed}", out, data, out / "train", test_json, out / "test", chart_assets,
                    args.iterations, seed)  # fmt: skip
            results["scaling"].setdefault(str(n), []).append(r)
            print(f"  {n} images, seed {seed}: GPS AP {r['GPS AP']:.3f}, AUC10 {r['AUC10']:.3f} ({r['wall_s']:.0f} s)",
                  flush=True)  # fmt: skip
    data = write_subset(pool, study, out / f"train-{study}.json")
    dense = write_subset(pool, study, out / f"train-{study}-dense.json", which="dense")
    for seed in seeds:
        variants = (("sparse + teacher", f"teacher-{study}-seed{seed}", data, True),
                    ("dense (every truth point)", f"dense-{study}-seed{seed}", dense, False))  # fmt: skip
        for kind, name, source, teacher in variants:
            r = run(name, out, source, out / "train", test_json, out / "test", chart_assets, args.iterations, seed,
                    teacher=teacher)  # fmt: skip
            results["study"].setdefault(kind, []).append(r)
            print(f"  {study} images, {kind}, seed {seed}: GPS AP {r['GPS AP']:.3f}, AUC10 {r['AUC10']:.3f} "
                  f"({r['wall_s']:.0f} s)", flush=True)  # fmt: skip

    (out / "results.json").write_text(json.dumps(results, indent=1))
    plot(results, sizes, out / "learning.png")
    labels = [m[0] for m in METRICS]
    print(f"\nHeld-out: {results['test_people']} annotated people in {results['test_images']} images; tiny, "
          f"{args.iterations} iterations a run (2 images an iteration); mean ± standard deviation over seeds "
          f"{', '.join(map(str, seeds))}\n")  # fmt: skip
    print("| training | " + " | ".join(labels) + " | wall s a run |")
    print("|---|" + "---:|" * (len(labels) + 1))
    for n in sizes:
        rows = results["scaling"][str(n)]
        print(f"| {n} images, sparse points | " + " | ".join(mean_spread(rows, m) for m in labels)
              + f" | {np.mean([r['wall_s'] for r in rows]):.0f} |")  # fmt: skip
    for kind, rows in results["study"].items():
        print(f"| {study} images, {kind} | " + " | ".join(mean_spread(rows, m) for m in labels)
              + f" | {np.mean([r['wall_s'] for r in rows]):.0f} |")  # fmt: skip
    print(f"\nwrote {out / 'results.json'} and {out / 'learning.png'}")


def teacher_study(args, out: Path, pool: dict, test_json: Path, chart_assets: Path, test_people: int,
                  test_images: int) -> None:  # fmt: skip
    """The teacher's effect and its targets' quality on the study set, with the usual and a sparser protocol."""
    n, seed, few = args.study_size, 0, args.few
    sparse = write_subset(pool, n, out / f"train-{n}.json")
    dense = write_subset(pool, n, out / f"train-{n}-dense.json", which="dense")
    fewer = write_subset(thin(pool, few), n, out / f"train-{n}-few{few}.json")
    truth = list(pool["dense"])
    variants = (
        ("sparse points (at most 14 a part)", f"size{n}-seed{seed}", sparse, False, None),
        ("sparse + teacher, weight 0.5", f"teacher-{n}-seed{seed}", sparse, True, None),
        ("sparse + teacher, weight 1.0", f"teacher-w1-{n}-seed{seed}", sparse, True, 1.0),
        ("every truth point (up to 400)", f"dense-{n}-seed{seed}", dense, False, None),
        (f"at most {few} a part", f"few{few}-{n}-seed{seed}", fewer, False, None),
        (f"at most {few} a part + teacher, weight 0.5", f"few{few}-teacher-{n}-seed{seed}", fewer, True, None),
    )
    rows = []
    for label, name, source, teacher, weight in variants:
        r = run(name, out, source, out / "train", test_json, out / "test", chart_assets, args.iterations, seed,
                teacher=teacher, teacher_weight=weight, dense=truth,
                teacher_iterations=args.teacher_iterations)  # fmt: skip
        if teacher and "targets" not in r:  # a run kept from before the targets were measured
            from training.teacher import Teacher

            r["targets"] = target_quality(Teacher.load(out / name / "teacher" / "teacher.pth"), source, out / "train",
                                          truth)  # fmt: skip
            (out / name / "heldout.json").write_text(json.dumps(r, indent=1))
        points = json.loads(source.read_text())["annotations"]
        r["points_a_person"] = round(float(np.mean([len(a["dp_I"]) for a in points if "dp_I" in a])), 1)
        rows.append((label, r))
        print(f"  {label}: GPS AP {r['GPS AP']:.3f}, AUC10 {r['AUC10']:.3f} ({r['wall_s']:.0f} s)", flush=True)
    (out / "teacher_study.json").write_text(json.dumps([{"label": k, **r} for k, r in rows], indent=1))
    print(f"\nHeld-out: {test_people} annotated people in {test_images} images; tiny, {args.iterations} "
          f"iterations a run, {n} training images, seed {seed}\n")  # fmt: skip
    labels = [m[0] for m in METRICS]
    print("| training | points a person | " + " | ".join(labels) + " | wall s |")
    print("|---|---:|" + "---:|" * (len(labels) + 1))
    for label, r in rows:
        print(f"| {label} | {r['points_a_person']:.0f} | " + " | ".join(f"{r[m]:.3f}" for m in labels)
              + f" | {r['wall_s']:.0f} |")  # fmt: skip
    print("\nThe teacher's targets at the dense truth points of its people (chart right; median U, V error where it"
          " is right), against the nearest-annotated-point fill it starts from:\n")  # fmt: skip
    print("| teacher of | teacher: chart right | teacher: UV error | nearest fill: chart right | nearest: UV error |")
    print("|---|---:|---:|---:|---:|")
    for label, r in rows:
        t = r.get("targets")
        if t:
            print(f"| {label} | {t['teacher']['chart_right']:.3f} | {t['teacher']['uv_error_median']:.3f} | "
                  f"{t['nearest']['chart_right']:.3f} | {t['nearest']['uv_error_median']:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
