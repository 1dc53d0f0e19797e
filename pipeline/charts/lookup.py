"""From DensePose coordinates (I, U, V) back to a point on the body surface: the inverse of the charts."""

from __future__ import annotations

import numpy as np

from pipeline import parts

CANDIDATES = 12  # nearest UV triangles tried per query


class ChartLookup:
    def __init__(self, vertices: np.ndarray, faces: np.ndarray, face_chart: np.ndarray, corner_uv: np.ndarray):
        from scipy.spatial import cKDTree

        self.vertices, self.faces = vertices, faces
        self.corner_uv = corner_uv.astype(np.float64)
        self._trees, self._faces = {}, {}
        for chart in parts.CHARTS:
            sel = np.flatnonzero(face_chart == chart)
            self._faces[chart] = sel
            self._trees[chart] = cKDTree(self.corner_uv[sel].mean(axis=1))

    def to_surface(self, chart, u, v) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(I, U, V) arrays -> face (N,), barycentric (N, 3), template point (N, 3).

        A (U, V) inside a chart's triangles maps exactly; one in a gap of the chart goes to the closest
        point of the nearest triangle."""
        face, bary, point, _ = self.to_surface_inside(chart, u, v)
        return face, bary, point

    def to_surface_inside(self, chart, u, v):
        """:meth:`to_surface`, and whether each (U, V) lies inside one of the chart's triangles (N,) bool."""
        chart = np.asarray(chart, dtype=np.int64).ravel()
        uv = np.stack([np.asarray(u, dtype=np.float64).ravel(), np.asarray(v, dtype=np.float64).ravel()], axis=1)
        face = np.full(len(chart), -1, dtype=np.int64)
        bary = np.zeros((len(chart), 3))
        within = np.zeros(len(chart), dtype=bool)
        for c in np.unique(chart):
            parts.check_chart(int(c))
            rows = np.flatnonzero(chart == c)
            k = min(CANDIDATES, len(self._faces[c]))
            _, near = self._trees[c].query(uv[rows], k=k)
            near = near.reshape(len(rows), k)
            cand = self._faces[c][near]  # (n, k)
            b = _uv_barycentric(self.corner_uv[cand], uv[rows][:, None, :])  # (n, k, 3)
            inside = (b >= -1e-9).all(axis=2)
            # the first candidate that contains the point, else the one it is least outside of
            score = np.where(inside, 0.0, -b.min(axis=2))
            best = score.argmin(axis=1)
            pick = np.arange(len(rows))
            within[rows] = inside[pick, best]
            face[rows] = cand[pick, best]
            chosen = np.clip(b[pick, best], 0, None)
            bary[rows] = chosen / chosen.sum(axis=1, keepdims=True)
        point = np.einsum("nk,nkj->nj", bary, self.vertices[self.faces[face]])
        return face, bary, point, within


def _uv_barycentric(tri: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Barycentric coordinates of 2-D points p (..., 2) in triangles tri (..., 3, 2)."""
    a, b, c = tri[..., 0, :], tri[..., 1, :], tri[..., 2, :]
    v0, v1, v2 = b - a, c - a, p - a
    d00 = (v0 * v0).sum(-1)
    d01 = (v0 * v1).sum(-1)
    d11 = (v1 * v1).sum(-1)
    d20 = (v2 * v0).sum(-1)
    d21 = (v2 * v1).sum(-1)
    den = d00 * d11 - d01 * d01
    den = np.where(np.abs(den) < 1e-20, 1e-20, den)
    bv = (d11 * d20 - d01 * d21) / den
    bw = (d00 * d21 - d01 * d20) / den
    return np.stack([1 - bv - bw, bv, bw], axis=-1)
