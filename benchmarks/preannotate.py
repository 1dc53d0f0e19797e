"""Model in the loop, measured: what pre-annotation saves and what it costs in accuracy, on synthetic people.

    .venv/bin/python benchmarks/preannotate.py [--images 40] [--sizes 2.5,5,10] [--tolerances 2.5,5,7.5]
        [--checkpoint RUN] [--human-cm 3] [--click-px 2] [--click-seconds 4] [--confirm-seconds 1]

Synthetic 320 x 240 renders of a seed of their own (``--seed``), their true part masks and the stage-2 points
k-means samples in them, and, for each point, the true surface point. The proposals are made by the code the
``preannotate`` job runs (:mod:`pipeline.preannotate`):

- models of known quality: the true point replaced by one of the same part at a random distance whose median is
  ``--sizes`` cm (:func:`pipeline.preannotate.noisy_surface`); for the part masks, the true masks with their
  boundaries moved by about ``--boundary-px``;
- ``tiny``: a checkpoint of the training module (default: the learning benchmark's 500-image run, if it is
  there), run on the people's boxes (:func:`training.evaluate.box_maps`).

A simulated annotator answers every point (what a person means: the truth moved by their own judgement error of
median ``--human-cm``, then clicked with ``--click-px`` noise on the clearest view). With proposals it sees the
truth and confirms a proposal lying within ``--tolerances`` of it (one key), else clicks as without. Reported per
model and tolerance: the share of points confirmed, clicks and modelled seconds per person
(``--click-seconds`` a click, ``--confirm-seconds`` a confirmation: assumptions, not measurements), and the final
geodesic error against the truth with and without pre-annotation (median, mean, AUC10). Stage 1: each proposal's
mean part IoU with the truth, the box pixels whose label must change (from scratch: every labelled pixel) and the
regions to repaint (connected areas of >= 20 changed pixels, a lower bound on brush strokes).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZE = (320, 240)
REGION_PX = 20  # a changed area smaller than this is within a brush's precision: not counted as a stroke


def regions(mask: np.ndarray) -> int:
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    if not n:
        return 0
    return int((np.bincount(labels.ravel())[1:] >= REGION_PX).sum())


def scratch_regions(labels: np.ndarray) -> int:
    """Regions to paint from nothing: each part's connected areas."""
    return sum(regions(labels == p) for p in np.unique(labels) if p)


def collect(args, generator, assets, mapper, rng):
    """The people of the synthetic images: image, box, true label map, the sampled points with their truth and the
    annotator's own click (made once: the same with and without proposals)."""
    from pipeline.correspond import click_for
    from pipeline.preannotate import noisy_surface
    from pipeline.sampling import sample_points
    from pipeline.synthetic.truth import SyntheticTruth

    people = []
    for index in range(args.images):
        img = generator.generate(seed=args.seed, index=index, size=SIZE)
        truth = SyntheticTruth(img.instance, img.face, img.bary, img.surface)
        for person in img.people:
            if person.ignore:
                continue
            labels = img.part_masks_in_box(person)
            sampled = sample_points(labels, seed=index * 100 + person.index)
            part = np.array([p for p, xy in sampled.items() for _ in xy], dtype=np.int64)
            if not len(part):
                continue
            xy = np.concatenate([xy for xy in sampled.values()])
            true = truth.under(person.index, person.bbox, xy[:, 0], xy[:, 1])
            face, bary, surface = true.face, true.bary, true.surface
            shown = true.shown & (assets.face_part[np.maximum(face, 0)] == part)  # the truth lies on the point's part
            k = np.flatnonzero(shown)
            meant_face, _, meant = noisy_surface(assets, part[k], surface[k], args.human_cm / 100, rng)
            clicks = []
            for j, i in enumerate(k):  # what the annotator clicks: what they mean, off by their hand
                c = click_for(mapper, int(part[i]), meant[j], int(meant_face[j]))
                if c is not None and args.click_px:
                    x, y = np.floor(np.array(c[1:]) + rng.normal(0, args.click_px, 2)) + 0.5
                    if mapper.map_clicks([part[i]], [c[0]], [x], [y]).ok[0]:
                        c = (c[0], float(x), float(y))
                clicks.append(c)
            answered = [j for j, c in enumerate(clicks) if c is not None]
            k = k[answered]
            clicks = [clicks[j] for j in answered]
            hit = mapper.map_clicks(part[k], [c[0] for c in clicks], [c[1] for c in clicks], [c[2] for c in clicks])
            people.append({"image": img.image, "bbox": person.bbox, "labels": labels, "dp_masks": person.dp_masks,
                           "part": part[k], "box_xy": xy[k], "face": face[k], "bary": bary[k],
                           "surface": surface[k], "human_face": hit.face, "human_bary": hit.bary})  # fmt: skip
    return people


def error(mesh, assets, person, face, bary) -> np.ndarray:
    from pipeline.evaluation.study import surface_distance

    return surface_distance(mesh, assets.vertices, assets.faces, person["face"], person["bary"], face, bary)


def proposal_errors(mesh, assets, mapper, person, clicks) -> np.ndarray:
    """Each proposal's geodesic error against the truth (inf where there is none)."""
    out = np.full(len(clicks), np.inf)
    given = [k for k, c in enumerate(clicks) if c is not None]
    if given:
        hit = mapper.map_clicks(person["part"][given], [clicks[k]["view"] for k in given],
                                [clicks[k]["x"] for k in given], [clicks[k]["y"] for k in given])  # fmt: skip
        ok = np.flatnonzero(hit.ok)
        idx = np.array(given)[ok]
        sub = {key: person[key][idx] for key in ("face", "bary")}
        out[idx] = error(mesh, assets, sub, hit.face[ok], hit.bary[ok])
    return out


def stage2_rows(args, people, human, proposed: dict[str, list[np.ndarray]]) -> list[dict]:
    from pipeline.evaluation.gps import pointwise

    base = np.concatenate(human)
    n_people = len(people)
    base_curve = pointwise(base)
    rows = [{"model": "no pre-annotation", "tolerance": "", "confirmed": 0.0, "clicks": len(base) / n_people,
             "seconds": args.click_seconds * len(base) / n_people, "median": np.median(base) * 100,
             "mean": base.mean() * 100, "auc10": base_curve["auc10"], "proposal_median": float("nan")}]  # fmt: skip
    for name, errors in proposed.items():
        prop = np.concatenate(errors)
        for tol in args.tolerances:
            take = prop <= tol / 100
            final = np.where(take, prop, base)
            curve = pointwise(final)
            clicks, confirms = int((~take).sum()), int(take.sum())
            rows.append({"model": name, "tolerance": tol, "confirmed": take.mean(), "clicks": clicks / n_people,
                         "seconds": (clicks * args.click_seconds + confirms * args.confirm_seconds) / n_people,
                         "median": np.median(final) * 100, "mean": final.mean() * 100, "auc10": curve["auc10"],
                         "proposal_median": np.median(prop[np.isfinite(prop)]) * 100})  # fmt: skip
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    floats = lambda s: [float(x) for x in s.split(",") if x]  # noqa: E731
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--seed", type=int, default=777, help="the renders' seed (not a training seed)")
    parser.add_argument("--sizes", type=floats, default=[2.5, 5.0, 10.0], help="known-quality models, cm")
    parser.add_argument("--tolerances", type=floats, default=[2.5, 5.0, 7.5], help="cm")
    parser.add_argument("--boundary-px", type=float, default=2.0)
    default_run = ROOT / "test-artifacts" / "learning" / "size500-seed0" / "run"
    parser.add_argument("--checkpoint", default=str(default_run) if default_run.exists() else "",
                        help="a tiny run folder or .pth (default: the learning benchmark's 500-image run)")  # fmt: skip
    parser.add_argument("--human-cm", type=float, default=3.0, help="the annotator's judgement error, median")
    parser.add_argument("--click-px", type=float, default=2.0)
    parser.add_argument("--click-seconds", type=float, default=4.0)
    parser.add_argument("--confirm-seconds", type=float, default=1.0)
    parser.add_argument("--cache", default=str(ROOT / "test-artifacts" / "cache"))
    args = parser.parse_args(argv)

    from pipeline.assets import ensure_assets, load_assets
    from pipeline.body import load_body_model
    from pipeline.coco.densepose import labels_from_dp_masks
    from pipeline.correspond import ClickMapper
    from pipeline.evaluation.mesh import EvalMesh
    from pipeline.preannotate import (
        Proposer,
        mask_iou,
        mask_mirror_disagreement,
        masks_from_maps,
        masks_from_truth,
        origin_of_masks,
    )
    from pipeline.synthetic.scene import SceneGenerator

    t0 = time.monotonic()
    body = load_body_model("anny", cache_dir=args.cache)
    assets = load_assets(ensure_assets(body, args.cache))
    mapper, mesh = ClickMapper(assets), EvalMesh.from_assets(assets)
    rng = np.random.default_rng(args.seed)
    people = collect(args, SceneGenerator(body, assets), assets, mapper, rng)
    points = sum(len(p["part"]) for p in people)
    print(
        f"{len(people)} people, {points} answerable points in {args.images} images (seed {args.seed}); "
        f"{time.monotonic() - t0:.0f} s",
        file=sys.stderr,
    )
    human = [error(mesh, assets, p, p["human_face"], p["human_bary"]) for p in people]
    proposer = Proposer(mapper)
    proposed, masks = {}, {}
    for size in args.sizes:
        name = f"truth + {size:g} cm"
        proposed[name] = [proposal_errors(mesh, assets, mapper, p, proposer.from_truth(
            p["part"], np.ones(len(p["part"]), bool), p["surface"], size / 100, rng)) for p in people]  # fmt: skip
    masks[f"truth, boundary {args.boundary_px:g} px"] = [
        labels_from_dp_masks(masks_from_truth(p["dp_masks"], args.boundary_px, rng)) for p in people
    ]
    if args.checkpoint:
        from training.evaluate import box_maps, load_checkpoint, mirrored_box_maps

        model, info = load_checkpoint(Path(args.checkpoint))
        t1 = time.monotonic()
        errors, labels, doubts = [], [], []
        for p in people:
            maps = box_maps(model, p["image"], [p["bbox"]])[0]
            mirrored = mirrored_box_maps(model, p["image"], [p["bbox"]])[0]
            xs, ys = p["box_xy"][:, 0], p["box_xy"][:, 1]
            clicks, entropy = proposer.from_maps(maps, p["part"], xs, ys)
            errors.append(proposal_errors(mesh, assets, mapper, p, clicks))
            dp_masks, _, mask_entropy = masks_from_maps(maps)
            labels.append(labels_from_dp_masks(dp_masks))
            doubts.append((entropy, proposer.mirror_disagreement(maps, mirrored, p["part"], xs, ys).mean(),
                           mask_entropy, mask_mirror_disagreement(maps, mirrored)))  # fmt: skip
        name = f"tiny ({Path(info['path']).parent.name}/{Path(info['path']).name})"
        proposed[name] = errors
        masks[name] = labels
        print(f"tiny: {(time.monotonic() - t1) / len(people) * 1000:.0f} ms a person (twice: the mirror too)",
              file=sys.stderr)  # fmt: skip

    print(
        f"\n## Stage 2: {len(people)} people, {points} points; annotator {args.human_cm:g} cm + {args.click_px:g} px; "
        f"{args.click_seconds:g} s a click, {args.confirm_seconds:g} s a confirmation\n"
    )
    print(
        "| proposals | tolerance cm | proposal median cm | confirmed | clicks / person | s / person | "
        "final median cm | final mean cm | final AUC10 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in stage2_rows(args, people, human, proposed):
        tol = f"{r['tolerance']:g}" if r["tolerance"] != "" else "-"
        pm = f"{r['proposal_median']:.1f}" if np.isfinite(r["proposal_median"]) else "-"
        print(
            f"| {r['model']} | {tol} | {pm} | {100 * r['confirmed']:.0f} % | {r['clicks']:.1f} | {r['seconds']:.0f} | "
            f"{r['median']:.2f} | {r['mean']:.2f} | {r['auc10']:.3f} |"
        )
    print(f"\n## Stage 1: {len(people)} people\n")
    print("| proposals | mean part IoU | pixels to change | regions to repaint |")
    print("|---|---:|---:|---:|")
    scratch = sum(int((p["labels"] > 0).sum()) for p in people)
    print(f"| none (paint from scratch) | - | {scratch} | {sum(scratch_regions(p['labels']) for p in people)} |")
    for name, proposals in masks.items():
        ious = [np.mean(list(mask_iou(prop, p["labels"]).values())) for prop, p in zip(proposals, people, strict=True)]
        changed = sum(origin_of_masks(p["labels"], prop)[1] for prop, p in zip(proposals, people, strict=True))
        fix = sum(regions(p["labels"] != prop) for prop, p in zip(proposals, people, strict=True))
        print(f"| {name} | {np.mean(ious):.3f} | {changed} ({100 * changed / scratch:.0f} %) | {fix} |")
    if args.checkpoint:
        from scipy.stats import spearmanr

        tiny = next(n for n in masks if n.startswith("tiny"))
        worst = [np.median(e[np.isfinite(e)]) if np.isfinite(e).any() else np.nan for e in proposed[tiny]]
        miss = [1 - np.mean(list(mask_iou(prop, p["labels"]).values())) for prop, p in zip(masks[tiny], people,
                                                                                           strict=True)]  # fmt: skip
        d = np.array(doubts)
        print(
            f"\n## Uncertain first: does the model's uncertainty find its worst people? ({tiny}, {len(people)} "
            "people; Spearman rank correlation with the person's true error)\n"
        )
        print("| uncertainty | stage 2: the proposals' median error | stage 1: 1 - mean part IoU |")
        print("|---|---:|---:|")
        for name, k2, k1 in (("entropy", 0, 2), ("disagreement with the mirror image", 1, 3)):
            print(
                f"| {name} | {spearmanr(d[:, k2], worst, nan_policy='omit')[0]:.2f} | "
                f"{spearmanr(d[:, k1], miss)[0]:.2f} |"
            )
    print(f"\n{time.monotonic() - t0:.0f} s in all", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
