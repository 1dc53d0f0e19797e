"""The evaluation mesh: DensePose coordinates (I, U, V) -> the nearest vertex of that chart, and geodesic
distances between vertices from a precomputed table, as DensePose's evaluator does.

- *Chart vertices*: every (chart, mesh vertex) pair with the vertex's U, V in that chart (a vertex on a seam
  belongs to several charts). ``nearest`` maps (I, U, V) to a chart vertex, vectorised, one KD-tree per chart.
- *Distance table*: geodesic distances (metres) between the ``n`` table vertices (all mesh vertices here),
  kept condensed as detectron2 indexes its ``Pdist_matrix``: for 0-based rows a < b the entry is at
  k = b(b-1)/2 + a. Built once per asset folder (heat method, about a minute for 13k vertices) and cached
  beside the assets as ``eval/pdist.npy`` (float32, memory-mapped when read).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline import parts

TABLE_FILE = "pdist.npy"


class EvalMesh:
    def __init__(self, chart: np.ndarray, uv: np.ndarray, row: np.ndarray, pdist: np.ndarray, n: int):
        from scipy.spatial import cKDTree

        self.chart = np.asarray(chart, dtype=np.int64)  # (M,) chart id of each chart vertex
        self.uv = np.asarray(uv, dtype=np.float64)  # (M, 2)
        self.row = np.asarray(row, dtype=np.int64)  # (M,) its row in the distance table
        self.pdist = pdist  # (n (n-1) / 2,) condensed
        self.n = int(n)
        if len(self.pdist) != self.n * (self.n - 1) // 2:
            raise ValueError(f"the distance table holds {len(self.pdist)} entries, not n(n-1)/2 for n = {n}")
        self._trees = {}
        self._members = {}
        self._byte_grid: dict[int, np.ndarray] = {}
        for c in parts.CHARTS:
            members = np.flatnonzero(self.chart == c)
            if len(members):
                self._members[c] = members
                self._trees[c] = cKDTree(self.uv[members])

    @classmethod
    def from_assets(cls, assets, cache: bool = True, progress: Callable[[float], None] | None = None) -> EvalMesh:
        chart, uv, vertex = chart_vertices(assets.faces, assets.face_chart, assets.corner_uv)
        n = len(assets.vertices)
        path = Path(assets.folder) / "eval" / TABLE_FILE
        if cache and path.exists():
            pdist = np.load(path, mmap_mode="r")
        else:
            pdist = build_table(assets.vertices, assets.faces, progress)
            if cache:
                _save_once(path, pdist)
        return cls(chart, uv, vertex, pdist, n)

    def nearest(self, chart, u, v) -> np.ndarray:
        """Table rows of the chart vertices nearest to (I, U, V) in UV space; -1 where I is 0 (background)."""
        chart = np.asarray(chart, dtype=np.int64).ravel()
        uv = np.stack([np.asarray(u, dtype=np.float64).ravel(), np.asarray(v, dtype=np.float64).ravel()], axis=1)
        rows = np.full(len(chart), -1, dtype=np.int64)
        for c in np.unique(chart):
            if c == 0:
                continue
            if int(c) not in self._trees:
                raise ValueError(f"chart {int(c)} is not on the evaluation mesh (charts are 1..{parts.NUM_CHARTS})")
            sel = np.flatnonzero(chart == c)
            _, k = self._trees[int(c)].query(uv[sel])
            rows[sel] = self.row[self._members[int(c)][k]]
        return rows

    def nearest_bytes(self, chart, u_byte, v_byte) -> np.ndarray:
        """:meth:`nearest` for U, V given as bytes (U x 255 rounded, as results' ``uv_data`` holds them): one
        table lookup per point, exact for those 256 x 256 values."""
        chart = np.asarray(chart, dtype=np.int64).ravel()
        ub, vb = np.asarray(u_byte, dtype=np.int64).ravel(), np.asarray(v_byte, dtype=np.int64).ravel()
        rows = np.full(len(chart), -1, dtype=np.int64)
        for c in np.unique(chart):
            if c == 0:
                continue
            grid = self._byte_grid.get(int(c))
            if grid is None:
                if int(c) not in self._trees:
                    raise ValueError(f"chart {int(c)} is not on the evaluation mesh (charts 1..{parts.NUM_CHARTS})")
                values = np.arange(256) / 255.0
                gu, gv = np.meshgrid(values, values, indexing="ij")
                _, k = self._trees[int(c)].query(np.stack([gu.ravel(), gv.ravel()], axis=1))
                grid = self._byte_grid[int(c)] = self.row[self._members[int(c)][k]].reshape(256, 256)
            sel = chart == c
            rows[sel] = grid[ub[sel], vb[sel]]
        return rows

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Geodesic distance (metres) between table rows a and b, element-wise; inf where either is -1."""
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        valid = (lo >= 0) & (lo != hi)
        k = np.where(valid, hi * (hi - 1) // 2 + lo, 0)
        d = np.where(valid, np.asarray(self.pdist[k], dtype=np.float64), 0.0)
        return np.where((a < 0) | (b < 0), np.inf, d)

    def distance_iuv(self, gt, dt) -> np.ndarray:
        """Distance between ground-truth (I, U, V) and predicted (I, U, V) arrays (predicted I = 0: inf)."""
        return self.distance(self.nearest(*gt), self.nearest(*dt))


def chart_vertices(faces: np.ndarray, face_chart: np.ndarray, corner_uv: np.ndarray):
    """Each (chart, vertex) pair once, with the vertex's UV in that chart: (chart (M,), uv (M, 2), vertex (M,))."""
    chart = np.repeat(face_chart, 3)
    vertex = faces.reshape(-1)
    uv = corner_uv.reshape(-1, 2)
    keys = chart.astype(np.int64) * (int(faces.max()) + 1) + vertex
    _, first = np.unique(keys, return_index=True)
    return chart[first], uv[first], vertex[first]


def build_table(vertices, faces, progress: Callable[[float], None] | None = None) -> np.ndarray:
    """Condensed float32 geodesic distances between all vertices (k = b(b-1)/2 + a for a < b)."""
    import potpourri3d as pp3d

    solver = pp3d.MeshHeatMethodDistanceSolver(np.asarray(vertices, dtype=np.float64), np.asarray(faces))
    n = len(vertices)
    out = np.empty(n * (n - 1) // 2, dtype=np.float32)
    # row b holds the distances from vertex b to vertices 0..b-1; the heat method is not exactly symmetric,
    # so each pair takes the mean of its two directions
    full = np.empty((n, n), dtype=np.float32)
    for b in range(n):
        full[b] = solver.compute_distance(b)
        if progress is not None and b % 256 == 0:
            progress(b / n)
    for b in range(1, n):
        start = b * (b - 1) // 2
        out[start : start + b] = np.maximum((full[b, :b] + full[:b, b]) / 2, 0)
    return out


def _save_once(path: Path, pdist: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npy")
        np.save(tmp, pdist)
        os.replace(tmp, path)
