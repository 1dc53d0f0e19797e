"""Clicks on the six views <-> points on the body surface, vectorised.

- :func:`map_clicks`: (part, view, x, y) -> face, barycentric, chart I, U, V and the 3-D point on the template.
  ``x``, ``y`` are image coordinates in pixels (the pixel in column j, row i spans [j, j+1) × [i, i+1)).
- :func:`project_to_views`: a surface point -> its pixel in each of the part's six views, with a visibility
  flag from the view's depth buffer: what draws the chosen point on all six views at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline import parts
from pipeline.assets import Assets
from pipeline.render.raster import NO_FACE
from pipeline.render.views import visibility_tolerance

# Why a click was rejected (0 = accepted).
OK, UNKNOWN_PART, UNKNOWN_VIEW, OUTSIDE_IMAGE, OFF_SURFACE = 0, 1, 2, 3, 4
REASONS = {
    OK: "ok",
    UNKNOWN_PART: f"unknown body part: mask parts are 1..{parts.NUM_MASK_PARTS}",
    UNKNOWN_VIEW: "unknown view: each part has views 0..5",
    OUTSIDE_IMAGE: "the pixel is outside the view",
    OFF_SURFACE: "the click is not on the part's surface in that view",
}


CHUNK = 1 << 14


class ClickError(ValueError):
    def __init__(self, code: int, detail: str = ""):
        self.code = code
        super().__init__(REASONS[code] + (f" ({detail})" if detail else ""))


@dataclass
class SurfacePoints:
    """Points on the template surface, one per row; rows with ``reason != 0`` are not valid."""

    reason: np.ndarray  # (N,) int8
    face: np.ndarray  # (N,) int64, -1 where rejected
    bary: np.ndarray  # (N, 3)
    chart: np.ndarray  # (N,) int8: DensePose I, 1..24 (0 where rejected)
    uv: np.ndarray  # (N, 2): DensePose U, V within the chart
    point: np.ndarray  # (N, 3): the 3-D point on the template

    @property
    def ok(self) -> np.ndarray:
        return self.reason == OK


class ClickChecker:
    """Which face of a part's view lies under each click, from the views' id buffers alone (no mapping): what a
    request needs to refuse a click at once. ``face_ids`` is ``Assets.face_ids`` or
    :func:`pipeline.assets.id_buffers` (memory-mapped)."""

    def __init__(self, face_ids: np.ndarray):
        self.n_views, self.size = face_ids.shape[1], face_ids.shape[-1]
        self.flat_ids = face_ids.reshape(-1)

    def locate(self, part, view, x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(reason (N,) int8, camera index (N,), face (N,), -1 where rejected) for arrays of clicks."""
        part, view = np.asarray(part, dtype=np.int64).ravel(), np.asarray(view, dtype=np.int64).ravel()
        x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
        if not len(part) == len(view) == len(x) == len(y):
            raise ValueError(f"part, view, x, y differ in length: {len(part)}, {len(view)}, {len(x)}, {len(y)}")
        reason = np.zeros(len(part), dtype=np.int8)
        reason[(part < 1) | (part > parts.NUM_MASK_PARTS)] = UNKNOWN_PART
        reason[(reason == OK) & ((view < 0) | (view >= self.n_views))] = UNKNOWN_VIEW
        finite = np.isfinite(x) & np.isfinite(y)
        col, row = np.floor(np.where(finite, x, -1.0)), np.floor(np.where(finite, y, -1.0))
        inside = (col >= 0) & (col < self.size) & (row >= 0) & (row < self.size)
        reason[(reason == OK) & ~inside] = OUTSIDE_IMAGE
        good = reason == OK
        cam = np.where(good, (part - 1) * self.n_views + view, 0)
        col, row = np.where(good, col, 0).astype(np.int64), np.where(good, row, 0).astype(np.int64)
        face = np.where(good, self.flat_ids[(cam * self.size + row) * self.size + col], NO_FACE).astype(np.int64)
        reason[good & (face == NO_FACE)] = OFF_SURFACE
        face[reason != OK] = -1
        return reason, cam, face


class ClickMapper:
    """Holds the per-view camera arrays so that batches of clicks map without Python loops."""

    def __init__(self, assets: Assets):
        self.assets = assets
        self.checker = ClickChecker(assets.face_ids)
        self.n_views, self.size, self.flat_ids = self.checker.n_views, self.checker.size, self.checker.flat_ids
        cams = [cam for views in assets.cameras for cam in views]
        self.rotation = np.stack([c.rotation for c in cams])  # (P*6, 3, 3)
        self.translation = np.stack([c.translation for c in cams])
        self.position = np.stack([c.position for c in cams])
        self.intrinsics = np.array([[c.fx, c.fy, c.cx, c.cy] for c in cams])
        self.triangles = assets.vertices[assets.faces]  # (F, 3, 3)
        normal = np.cross(self.triangles[:, 1] - self.triangles[:, 0], self.triangles[:, 2] - self.triangles[:, 0])
        self.face_normal = normal  # the plane of face f: face_normal[f] . p = face_offset[f]
        self.face_offset = np.einsum("fi,fi->f", normal, self.triangles[:, 0])
        # (u, v) = to_bary[f] @ (p - corner 0) for a point p in the plane of face f
        edges = np.stack([self.triangles[:, 1] - self.triangles[:, 0], self.triangles[:, 2] - self.triangles[:, 0]], 2)
        gram = np.einsum("fki,fkj->fij", edges, edges)
        self.to_bary = np.linalg.solve(gram, np.transpose(edges, (0, 2, 1)))  # (F, 2, 3)

    def map_clicks(self, part, view, x, y) -> SurfacePoints:
        part = np.asarray(part, dtype=np.int64).ravel()
        view = np.asarray(view, dtype=np.int64).ravel()
        x = np.asarray(x, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        if not len(part) == len(view) == len(x) == len(y):  # before cutting into blocks, which would hide it
            raise ValueError(f"part, view, x, y differ in length: {len(part)}, {len(view)}, {len(x)}, {len(y)}")
        if len(part) <= CHUNK:
            return self._map_chunk(part, view, x, y)
        # in blocks that stay in the processor's cache: several times faster than one pass over millions
        pieces = [
            self._map_chunk(part[i : i + CHUNK], view[i : i + CHUNK], x[i : i + CHUNK], y[i : i + CHUNK])
            for i in range(0, len(part), CHUNK)
        ]
        return SurfacePoints(
            *(np.concatenate([getattr(p, f) for p in pieces]) for f in SurfacePoints.__dataclass_fields__)
        )

    def _map_chunk(self, part, view, x, y) -> SurfacePoints:
        n = len(part)
        reason, cam, face = self.checker.locate(part, view, x, y)
        good = reason == OK

        idx = np.flatnonzero(good)
        c, f = cam[idx], face[idx]
        k = self.intrinsics[c]
        dx, dy = (x[idx] - k[:, 2]) / k[:, 0], (y[idx] - k[:, 3]) / k[:, 1]
        # ray direction in the world: R^T (dx, dy, 1) = dx R[0] + dy R[1] + R[2]
        d_world = dx[:, None] * self.rotation[c, 0] + dy[:, None] * self.rotation[c, 1] + self.rotation[c, 2]
        origin = self.position[c]
        normal = self.face_normal[f]
        t = (self.face_offset[f] - np.einsum("ij,ij->i", normal, origin)) / np.einsum("ij,ij->i", normal, d_world)
        w = origin + t[:, None] * d_world - self.triangles[f, 0]
        u = np.einsum("ij,ij->i", self.to_bary[f, 0], w)
        v = np.einsum("ij,ij->i", self.to_bary[f, 1], w)
        bary_hit = np.stack([1 - u - v, u, v], axis=1)
        # a click a hair off the face's edge (its pixel belongs to the face) is clamped onto the face
        bary_hit = np.clip(bary_hit, 0.0, None)
        bary_hit /= bary_hit.sum(axis=1, keepdims=True)
        tri = self.triangles[f]

        bary = np.zeros((n, 3))
        bary[idx] = bary_hit
        chart = np.zeros(n, dtype=np.int8)
        chart[idx] = self.assets.face_chart[face[idx]]
        uv = np.zeros((n, 2))
        uv[idx] = np.einsum("nk,nkj->nj", bary_hit, self.assets.corner_uv[face[idx]])
        point = np.zeros((n, 3))
        point[idx] = np.einsum("nk,nkj->nj", bary_hit, tri)
        return SurfacePoints(reason, face, bary, chart, uv, point)

    def map_click(self, part: int, view: int, x: float, y: float) -> SurfacePoints:
        """One click; raises :class:`ClickError` with the reason when it is not on the part."""
        result = self.map_clicks([part], [view], [x], [y])
        if not result.ok[0]:
            raise ClickError(int(result.reason[0]), f"part {part}, view {view}, x={x}, y={y}")
        return result

    def project_to_views(self, part: int, points: np.ndarray):
        """Points (N, 3) on the part -> (xy (6, N, 2), visible (6, N) bool) in the part's six views."""
        parts.check_mask_part(int(part))
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        first = (part - 1) * self.n_views
        rot = self.rotation[first : first + self.n_views]
        trans = self.translation[first : first + self.n_views]
        k = self.intrinsics[first : first + self.n_views]
        cam = np.einsum("vij,nj->vni", rot, points) + trans[:, None, :]
        z = cam[..., 2]
        xy = np.stack(
            [k[:, None, 0] * cam[..., 0] / z + k[:, None, 2], k[:, None, 1] * cam[..., 1] / z + k[:, None, 3]], -1
        )
        col, row = np.floor(xy[..., 0]).astype(np.int64), np.floor(xy[..., 1]).astype(np.int64)
        inside = (col >= 0) & (col < self.size) & (row >= 0) & (row < self.size) & (z > 0)
        views = np.arange(self.n_views)[:, None] + first
        pixel = (views * self.size + np.where(inside, row, 0)) * self.size + np.where(inside, col, 0)
        # The surface at exactly (x, y): the ray through it meets the plane of the face seen in that pixel.
        face = np.where(inside, self.flat_ids[pixel], NO_FACE)
        seen = face != NO_FACE
        face = np.where(seen, face, 0)
        d_cam = np.stack([(xy[..., 0] - k[:, None, 2]) / k[:, None, 0], (xy[..., 1] - k[:, None, 3]) / k[:, None, 1],
                          np.ones(z.shape)], axis=-1)  # fmt: skip
        d_world = np.einsum("vji,vnj->vni", rot, d_cam)
        normal = self.face_normal[face]
        origin_offset = np.einsum("vni,vi->vn", normal, self.position[first : first + self.n_views])
        with np.errstate(divide="ignore", invalid="ignore"):
            # d_cam has unit z, so the ray parameter is the depth along the view axis
            surface = (self.face_offset[face] - origin_offset) / np.einsum("vni,vni->vn", normal, d_world)
        visible = seen & (np.abs(z - surface) <= visibility_tolerance(z, k[:, None, 0]))
        return xy, visible


CLEAR_FACING = 0.9  # views that see a point within this share of the most head-on one's facing are clear


def clearest_views(mapper, part: int, point, face: int | None = None):
    """Where a surface point shows on its part's six views: (xy (6, 2), the views that show it, clearest first,
    and which of those are clear). Given the point's ``face``, a view is clear when it sees the face nearly
    head-on (within ``CLEAR_FACING`` of the best view's facing); without it every view that shows it is."""
    point = np.asarray(point, dtype=np.float64)
    xy, visible = mapper.project_to_views(part, point)
    shown = np.flatnonzero(visible[:, 0])
    clear = np.ones(len(shown), dtype=bool)
    if face is not None and len(shown) > 1:
        first = (part - 1) * mapper.n_views
        normal = mapper.face_normal[face] / np.linalg.norm(mapper.face_normal[face])
        to_camera = mapper.position[first + shown] - point
        facing = np.abs(to_camera @ normal) / np.linalg.norm(to_camera, axis=1)
        order = np.argsort(-facing, kind="stable")
        shown, clear = shown[order], facing[order] >= CLEAR_FACING * facing.max()
    return xy[:, 0], shown, clear


def click_for(mapper, part: int, point, face: int | None = None) -> tuple[int, float, float] | None:
    """The click that answers ``point`` (on ``part``): the clearest view showing it, at its exact projection,
    when that click maps onto the part there; else the next view; None when no view shows it."""
    xy, shown, _ = clearest_views(mapper, part, point, face)
    for view in shown:
        x, y = float(xy[view, 0]), float(xy[view, 1])
        if mapper.map_clicks([part], [int(view)], [x], [y]).ok[0]:
            return int(view), x, y
    return None
