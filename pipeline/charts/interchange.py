"""A chart set's files in the formats detectron2's DensePose reads, built once per asset folder and read back
by this project's own evaluator and flip augmentation (one source of truth: no second copy elsewhere).

- ``UV_symmetry_transforms.mat``: ``U_transforms`` and ``V_transforms``, MATLAB cell arrays 1 x 24 of
  256 x 256 float arrays. For chart i (cell i - 1), entry ``[floor(v * 255), floor(u * 255)]`` is the U (V)
  of the surface point mirrored across the body's sagittal plane, in the mirrored chart
  ``CHART_FLIP[i]``; texels outside a chart's used area hold the nearest used texel's value.
- ``<body>_subdiv.mat``: ``U_subdiv``, ``V_subdiv`` (float64), ``Part_ID_subdiv`` (uint8) (1 x N): every chart
  vertex (a mesh vertex in one chart; seam vertices appear once per chart) with its U, V and chart id 1..24.
- ``<body>_SUBDIV_TRANSFORM.mat``: ``index`` (int32, 1 x N): each chart vertex's 1-based row in the distance
  table. Ids are integers because the reference evaluator indexes arrays with them.
- ``Pdist_matrix.pkl``: ``{"Pdist_matrix": (n (n - 1) / 2, 1) float32}``, geodesic metres between the n mesh
  vertices; for 0-based rows a < b the entry is at k = b (b - 1) / 2 + a (detectron2's indexing).
"""

from __future__ import annotations

import fcntl
import json
import os
import pickle
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline import parts

FOLDER = "chart_assets"
FORMAT = 2  # 2: integer Part_ID_subdiv and index (format 1 stored them as float64, which the reference cannot use)
SYMMETRY_FILE = "UV_symmetry_transforms.mat"
PDIST_FILE = "Pdist_matrix.pkl"
TEXELS = 256
Progress = Callable[[float, str], None]


def subdiv_file(body: str) -> str:
    return f"{body}_subdiv.mat"


def transform_file(body: str) -> str:
    return f"{body}_SUBDIV_TRANSFORM.mat"


def chart_vertices(faces: np.ndarray, face_chart: np.ndarray, corner_uv: np.ndarray):
    """Each (chart, vertex) pair once, with the vertex's UV in that chart: (chart (M,), uv (M, 2), vertex (M,))."""
    chart = np.repeat(face_chart, 3)
    vertex = faces.reshape(-1)
    uv = corner_uv.reshape(-1, 2)
    keys = chart.astype(np.int64) * (int(faces.max()) + 1) + vertex
    _, first = np.unique(keys, return_index=True)
    return chart[first], uv[first], vertex[first]


def distance_table(vertices, faces, progress: Callable[[float], None] | None = None) -> np.ndarray:
    """Condensed float32 geodesic distances between all vertices (k = b(b-1)/2 + a for a < b), heat method;
    each pair takes the mean of its two directions (the heat method is not exactly symmetric)."""
    import potpourri3d as pp3d

    solver = pp3d.MeshHeatMethodDistanceSolver(np.asarray(vertices, dtype=np.float64), np.asarray(faces))
    n = len(vertices)
    full = np.empty((n, n), dtype=np.float32)
    for b in range(n):
        full[b] = solver.compute_distance(b)
        if progress is not None and b % 256 == 0:
            progress(b / n)
    out = np.empty(n * (n - 1) // 2, dtype=np.float32)
    for b in range(1, n):
        start = b * (b - 1) // 2
        out[start : start + b] = np.maximum((full[b, :b] + full[:b, b]) / 2, 0)
    return out


def closest_on_faces(points: np.ndarray, triangles: np.ndarray, candidates: int = 8):
    """For each point, the nearest of ``triangles`` (F, 3, 3) among the ``candidates`` whose centroids are
    closest, and the clamped barycentric coordinates of the closest point on it."""
    from scipy.spatial import cKDTree

    k = min(candidates, len(triangles))
    _, near = cKDTree(triangles.mean(axis=1)).query(points, k=k)
    near = near.reshape(len(points), k)
    tri = triangles[near]  # (n, k, 3, 3)
    a, b, c = tri[..., 0, :], tri[..., 1, :], tri[..., 2, :]
    p = points[:, None, :]
    v0, v1, v2 = b - a, c - a, p - a
    d00, d01, d11 = (v0 * v0).sum(-1), (v0 * v1).sum(-1), (v1 * v1).sum(-1)
    d20, d21 = (v2 * v0).sum(-1), (v2 * v1).sum(-1)
    den = np.where(np.abs(d00 * d11 - d01 * d01) < 1e-20, 1e-20, d00 * d11 - d01 * d01)
    bv, bw = (d11 * d20 - d01 * d21) / den, (d00 * d21 - d01 * d20) / den
    bary = np.clip(np.stack([1 - bv - bw, bv, bw], axis=-1), 0, None)
    bary /= bary.sum(axis=-1, keepdims=True)
    closest = np.einsum("nkj,nkjd->nkd", bary, tri)
    best = np.linalg.norm(closest - p, axis=-1).argmin(axis=1)
    pick = np.arange(len(points))
    return near[pick, best], bary[pick, best]


def symmetry_maps(vertices, faces, face_chart, corner_uv, progress: Progress | None = None):
    """(U, V) mirror maps (24, 256, 256) and the used-texel masks (24, 256, 256) of a chart set."""
    from scipy import ndimage

    from pipeline.charts.lookup import ChartLookup

    report = progress or (lambda p, m: None)
    lookup = ChartLookup(vertices, faces, face_chart, corner_uv)
    centre = (np.arange(TEXELS) + 0.5) / (TEXELS - 1)  # texel t covers [t/255, (t+1)/255)
    centre = np.minimum(centre, 1.0)
    gv, gu = np.meshgrid(centre, centre, indexing="ij")  # row = v, column = u
    u_maps = np.zeros((parts.NUM_CHARTS, TEXELS, TEXELS), dtype=np.float32)
    v_maps = np.zeros_like(u_maps)
    used = np.zeros(u_maps.shape, dtype=bool)
    from pipeline.body.base import MIRROR as mirror  # the sagittal plane x = 0 (the canonical frame: left is +x)

    for chart in parts.CHARTS:
        report(100 * (chart - 1) / parts.NUM_CHARTS, f"mirroring chart {chart}")
        n = TEXELS * TEXELS
        _, _, point, inside = lookup.to_surface_inside(np.full(n, chart), gu.ravel(), gv.ravel())
        target = parts.CHART_FLIP[chart]
        sel = np.flatnonzero(face_chart == target)
        face, bary = closest_on_faces(point[inside] * mirror, vertices[faces[sel]])
        uv = np.einsum("nk,nkj->nj", bary, corner_uv[sel[face]])
        u = np.zeros(n, dtype=np.float32)
        v = np.zeros(n, dtype=np.float32)
        u[inside], v[inside] = uv[:, 0], uv[:, 1]
        inside = inside.reshape(TEXELS, TEXELS)
        # texels outside the chart's used area take the nearest used texel's value
        _, (ri, ci) = ndimage.distance_transform_edt(~inside, return_indices=True)
        u_maps[chart - 1] = u.reshape(TEXELS, TEXELS)[ri, ci]
        v_maps[chart - 1] = v.reshape(TEXELS, TEXELS)[ri, ci]
        used[chart - 1] = inside
    return u_maps, v_maps, used


def build(assets, body: str, out: Path, progress: Progress | None = None) -> dict:
    """Write the chart-asset files of ``assets`` into ``out`` (atomically: a folder appears complete)."""
    from scipy.io import savemat

    report = progress or (lambda p, m: None)
    out = Path(out)
    tmp = out.with_name(out.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    timings = {}
    t0 = time.monotonic()
    chart = _write_vertex_tables(assets, body, tmp)
    t1 = time.monotonic()
    u_maps, v_maps, used = symmetry_maps(assets.vertices, assets.faces, assets.face_chart, assets.corner_uv,
                                         lambda p, m: report(p * 0.15, m))  # fmt: skip
    cells_u = np.empty((1, parts.NUM_CHARTS), dtype=object)
    cells_v = np.empty((1, parts.NUM_CHARTS), dtype=object)
    for i in range(parts.NUM_CHARTS):
        cells_u[0, i], cells_v[0, i] = u_maps[i].astype(np.float64), v_maps[i].astype(np.float64)
    savemat(tmp / SYMMETRY_FILE, {"U_transforms": cells_u, "V_transforms": cells_v})
    timings["symmetry_s"] = round(time.monotonic() - t1, 1)
    t2 = time.monotonic()
    pdist = distance_table(assets.vertices, assets.faces, lambda f: report(15 + 80 * f, "geodesic distance table"))
    with open(tmp / PDIST_FILE, "wb") as f:
        pickle.dump({"Pdist_matrix": pdist.reshape(-1, 1)}, f, protocol=4)
    timings["table_s"] = round(time.monotonic() - t2, 1)
    timings["total_s"] = round(time.monotonic() - t0, 1)
    info = {
        "format": FORMAT,
        "body": body,
        "asset_key": assets.key,
        "chart_vertices": len(chart),
        "table_vertices": len(assets.vertices),
        "used_texels": [int(m.sum()) for m in used],
        "timings": timings,
    }
    (tmp / "info.json").write_text(json.dumps(info, indent=1))
    (tmp / "README.md").write_text(readme(info))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    info["sizes"] = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    (out / "info.json").write_text(json.dumps(info, indent=1))
    return info


def _write_vertex_tables(assets, body: str, folder: Path) -> np.ndarray:
    """The two per-chart-vertex files (the evaluation mesh's charts, UVs and table rows); returns the charts."""
    from scipy.io import savemat

    chart, uv, vertex = chart_vertices(assets.faces, assets.face_chart, assets.corner_uv)
    row = lambda a: np.asarray(a)[None, :]  # noqa: E731  (1 x N, as MATLAB writes vectors)
    savemat(folder / subdiv_file(body), {"U_subdiv": row(uv[:, 0]), "V_subdiv": row(uv[:, 1]),
                                         "Part_ID_subdiv": row(chart.astype(np.uint8))})  # fmt: skip
    savemat(folder / transform_file(body), {"index": row((vertex + 1).astype(np.int32))})
    return chart


def _current(folder: Path) -> bool:
    info = folder / "info.json"
    return info.exists() and json.loads(info.read_text()).get("format", 1) >= FORMAT


def built(assets) -> Path | None:
    """The chart-asset folder of built assets if it is complete and current, else None (nothing is built)."""
    folder = Path(assets.folder) / FOLDER
    return folder if _current(folder) else None


def ensure(assets, body: str, progress: Progress | None = None) -> Path:
    """The chart-asset folder inside the asset folder, built if missing (one builder at a time); a folder of
    an older format has its vertex tables rewritten (the distance table stays)."""
    folder = Path(assets.folder) / FOLDER
    if _current(folder):
        return folder
    with open(folder.with_name(FOLDER + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "info.json").exists():
            build(assets, body, folder, progress)
        elif not _current(folder):
            _write_vertex_tables(assets, body, folder)
            info = {**json.loads((folder / "info.json").read_text()), "format": FORMAT}
            (folder / "README.md").write_text(readme(info))
            (folder / "info.json").write_text(json.dumps(info, indent=1))
    return folder


def eval_files(folder: Path, body: str | None = None) -> tuple[Path, Path, Path]:
    """The evaluation files of a chart-asset folder in the reference's format: ``<name>_subdiv.mat``,
    ``<name>_SUBDIV_TRANSFORM.mat`` and ``Pdist_matrix.pkl``, for ``body`` or, without it, the one set the folder
    holds (this project's export, or DensePose's own ``SMPL_subdiv.mat`` ... placed there by a user)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such chart-asset folder")
    if body:
        names = [body]
    else:
        names = sorted(p.name[: -len("_subdiv.mat")] for p in folder.glob("*_subdiv.mat"))
        if len(names) != 1:
            found = ", ".join(n + "_subdiv.mat" for n in names) or "none"
            raise FileNotFoundError(f"{folder}: needs exactly one <name>_subdiv.mat (found {found})")
    files = (folder / subdiv_file(names[0]), folder / transform_file(names[0]), folder / PDIST_FILE)
    missing = [f.name for f in files if not f.exists()]
    if missing:
        raise FileNotFoundError(f"{folder}: missing {', '.join(missing)} (the reference evaluator's files)")
    return files


def load_eval_tables(folder: Path, body: str | None = None):
    """(chart (N,), uv (N, 2), table row (N,), condensed distances, n) from the files detectron2 reads too."""
    from scipy.io import loadmat

    subdiv, transform, pdist_file = eval_files(folder, body)
    sub = loadmat(subdiv)
    index = loadmat(transform)["index"].ravel().astype(np.int64) - 1
    with open(pdist_file, "rb") as f:
        pdist = pickle.load(f, encoding="latin1")["Pdist_matrix"].reshape(-1)
    n = round((1 + np.sqrt(1 + 8 * len(pdist))) / 2)
    uv = np.stack([sub["U_subdiv"].ravel(), sub["V_subdiv"].ravel()], axis=1)
    return sub["Part_ID_subdiv"].ravel().astype(np.int64), uv, index, pdist, n


def load_symmetry(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(U, V) mirror maps (24, 256, 256) from ``UV_symmetry_transforms.mat``."""
    from scipy.io import loadmat

    data = loadmat(Path(folder) / SYMMETRY_FILE)
    u = np.stack([np.asarray(data["U_transforms"][0, i]) for i in range(parts.NUM_CHARTS)])
    v = np.stack([np.asarray(data["V_transforms"][0, i]) for i in range(parts.NUM_CHARTS)])
    return u, v


def mirror_iuv(u_maps, v_maps, chart, u, v):
    """(I, U, V) -> the mirror image's (I, U, V), through the maps (I = 0 stays 0)."""
    chart = np.asarray(chart, dtype=np.int64)
    col = np.clip(np.floor(np.asarray(u) * (TEXELS - 1)).astype(np.int64), 0, TEXELS - 1)
    row = np.clip(np.floor(np.asarray(v) * (TEXELS - 1)).astype(np.int64), 0, TEXELS - 1)
    c = np.clip(chart - 1, 0, parts.NUM_CHARTS - 1)
    flipped = np.asarray(parts.CHART_FLIP)[chart]
    return (flipped, np.where(chart > 0, u_maps[c, row, col], 0.0), np.where(chart > 0, v_maps[c, row, col], 0.0))


def readme(info: dict) -> str:
    body = info["body"]
    return f"""# DensePose chart assets: {body}

Made by the DensePose data factory from the `{body}` body model's chart set (asset key `{info["asset_key"]}`).
Use them only with annotations whose `info.chart_set` is `{body}-{info["asset_key"]}`: points on other
charts (SMPL's, or another build) mean something else.

| file | what |
|---|---|
| `{SYMMETRY_FILE}` | the horizontal-flip map of each of the 24 charts (`U_transforms`, `V_transforms`) |
| `{subdiv_file(body)}` | `U_subdiv`, `V_subdiv`, `Part_ID_subdiv` of the {info["chart_vertices"]} chart vertices |
| `{transform_file(body)}` | `index`: each chart vertex's 1-based row in the distance table |
| `{PDIST_FILE}` | `Pdist_matrix`: geodesic metres between the n = {info["table_vertices"]} vertices, k = b(b-1)/2 + a |

## detectron2

- Flip augmentation: point the dataset's metadata at the map, e.g.
  `MetadataCatalog.get("my_dataset").set(densepose_transform_src="/path/to/{SYMMETRY_FILE}")`.
- Evaluation: detectron2's `DensePoseCocoEval` loads `SMPL_subdiv.mat`, `SMPL_SUBDIV_TRANSFORM.mat` and
  `Pdist_matrix.pkl` in `_loadGEval`; load `{subdiv_file(body)}`, `{transform_file(body)}` and
  `{PDIST_FILE}` from here instead. Its distance lookup `getDistancesUV` hard-codes `n = 27554` (SMPL's
  subdivided mesh); nothing needs changing: its index formula reduces to k = i(i-1)/2 + j for any n.
"""
