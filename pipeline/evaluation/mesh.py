"""The evaluation mesh: DensePose coordinates (I, U, V) -> the nearest vertex of that chart, and geodesic
distances between vertices from a precomputed table, as DensePose's evaluator does.

- *Chart vertices*: every (chart, mesh vertex) pair with the vertex's U, V in that chart (a vertex on a seam
  belongs to several charts). ``nearest`` maps (I, U, V) to a chart vertex, vectorised, one KD-tree per chart.
- *Distance table*: geodesic distances (metres) between the ``n`` table vertices (all mesh vertices here),
  kept condensed as detectron2 indexes its ``Pdist_matrix``: for 0-based rows a < b the entry is at
  k = b(b-1)/2 + a. Both come from the chart-asset files of :mod:`pipeline.charts.interchange` (built once
  per asset folder, about a minute), the same files detectron2 is given.
"""

from __future__ import annotations

import os

import numpy as np

from pipeline import parts


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
        self._byte_table: np.ndarray | None = None
        for c in parts.CHARTS:
            members = np.flatnonzero(self.chart == c)
            if len(members):
                self._members[c] = members
                self._trees[c] = cKDTree(self.uv[members])

    @classmethod
    def from_assets(cls, assets, progress=None) -> EvalMesh:
        """The evaluation mesh of built assets, from their chart-asset files (built first if missing)."""
        from pipeline.charts import interchange

        return cls.from_folder(interchange.ensure(assets, assets.body, progress), assets.body, cache=assets.folder)

    @classmethod
    def from_folder(cls, folder, body: str | None = None, cache=None) -> EvalMesh:
        """The evaluation mesh of any folder of files in the reference's format (this project's chart assets,
        or DensePose's SMPL evaluation files). With ``cache`` (a folder), the byte lookup table is kept there,
        keyed by the vertex file's content, instead of being rebuilt (about 0.4 s)."""
        import hashlib
        from pathlib import Path

        from pipeline.charts import interchange

        mesh = cls(*interchange.load_eval_tables(folder, body))
        if cache is None:
            return mesh
        subdiv = interchange.eval_files(folder, body)[0]
        path = Path(cache) / f"nearest_vertex_bytes-{hashlib.sha256(subdiv.read_bytes()).hexdigest()[:16]}.npy"
        if path.exists():
            mesh._byte_table = np.load(path).astype(np.int64)
        else:
            table = mesh.byte_table()
            try:
                tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
                with open(tmp, "wb") as f:
                    np.save(f, table.astype(np.int32))
                os.replace(tmp, path)
                for stale in Path(cache).glob("nearest_vertex_bytes-*.npy"):  # of older vertex files
                    if stale != path:
                        stale.unlink(missing_ok=True)
            except OSError:
                pass  # a read-only cache: the table lives in memory only
        return mesh

    def _query(self, c: int, uv: np.ndarray) -> np.ndarray:
        """Table rows of chart c's vertices nearest to ``uv``; of two equally near, the one listed first (as
        the reference's argmin over the chart's vertices picks it)."""
        members = self._members[c]
        if len(members) == 1:
            return np.full(len(uv), self.row[members[0]], dtype=np.int64)
        d, k = self._trees[c].query(uv, k=2)
        k = np.where(d[:, 0] == d[:, 1], np.minimum(k[:, 0], k[:, 1]), k[:, 0])
        return self.row[members[k]]

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
            rows[sel] = self._query(int(c), uv[sel])
        return rows

    def byte_table(self) -> np.ndarray:
        """(25, 256, 256) table rows of the vertex nearest to each (I, U byte, V byte); -1 for I = 0. Built once
        (about 0.3 s), then every lookup is one indexing."""
        if self._byte_table is None:
            values = np.arange(256) / 255.0
            gu, gv = np.meshgrid(values, values, indexing="ij")
            grid = np.stack([gu.ravel(), gv.ravel()], axis=1)
            table = np.full((parts.NUM_CHARTS + 1, 256, 256), -1, dtype=np.int64)
            for c in parts.CHARTS:
                if c in self._trees:  # a chart without vertices (only in made-up meshes) stays -1: no point
                    table[c] = self._query(c, grid).reshape(256, 256)
            self._byte_table = table
        return self._byte_table

    def nearest_bytes(self, chart, u_byte, v_byte) -> np.ndarray:
        """:meth:`nearest` for U, V given as bytes (U x 255 rounded, as results' ``uv_data`` holds them): one
        table lookup per point, exact for those 256 x 256 values; -1 where I is 0 or above 24 (no chart)."""
        chart = np.asarray(chart, dtype=np.int64).ravel()
        ub, vb = np.asarray(u_byte, dtype=np.int64).ravel(), np.asarray(v_byte, dtype=np.int64).ravel()
        valid = (chart >= 1) & (chart <= parts.NUM_CHARTS)
        return np.where(valid, self.byte_table()[np.where(valid, chart, 0), ub, vb], -1)

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Geodesic distance (metres) between table rows a and b, element-wise; inf where either is -1."""
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        valid = (lo >= 0) & (lo != hi)
        d = np.zeros(len(lo))
        k = hi[valid] * (hi[valid] - 1) // 2 + lo[valid]  # only real pairs are read: never a diagonal
        d[valid] = np.asarray(self.pdist[k], dtype=np.float64).reshape(-1)
        return np.where((a < 0) | (b < 0), np.inf, d)

    def distance_iuv(self, gt, dt) -> np.ndarray:
        """Distance between ground-truth (I, U, V) and predicted (I, U, V) arrays (predicted I = 0: inf)."""
        return self.distance(self.nearest(*gt), self.nearest(*dt))
