"""The whole body from the front and from the back: the two pictures on which a stage-2 reviewer sees every
answered surface point at once, and where a surface point shows on them (or that the body hides it there).

Built with the body assets (:func:`build_overview` writes ``views/overview-{side}.png`` and the depth buffers
``overview.npz``; the cameras go into ``report.json``); :func:`load_overview` reads what projecting needs
(a few MB, for a web process) and :func:`project` places points.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import parts
from pipeline.body.base import FRONT, BodyTemplate
from pipeline.render import views as V
from pipeline.render.camera import Camera
from pipeline.render.raster import NO_FACE

OVERVIEW_SIZE = 480
SIDES = (("front", FRONT), ("back", -FRONT))
DEPTH_FILE = "overview.npz"
PART_TINT = 0.45  # how much of its part's colour a pixel of the body takes (the rest is white), before shading


def picture_path(folder: Path, side: str) -> Path:
    return Path(folder) / "views" / f"overview-{side}.png"


@dataclass
class Overview:
    cameras: list[Camera]  # front, back
    depth: np.ndarray  # (2, S, S) float32: distance along each camera's axis to the body, inf where none


def build_overview(template: BodyTemplate, normals: np.ndarray, folder: Path) -> list[dict]:
    """Render the front and back pictures (each pixel tinted with its part's display colour) and their depth
    into ``folder``; returns the cameras (as dicts, for report.json)."""
    from PIL import Image

    mesh = template.with_occluders()
    body = np.arange(len(template.faces))
    lo, hi = template.vertices.min(axis=0), template.vertices.max(axis=0)
    center, radius = (lo + hi) / 2, 1.05 * float((hi - lo).max() / 2)  # the body's longest extent fills the frame
    colours = np.asarray(parts.MASK_PART_COLORS, dtype=np.float64)
    cameras, depths = [], []
    for side, direction in SIDES:
        camera = V.frame_camera(center, radius, direction, size=OVERVIEW_SIZE)
        ids = V.subset_ids(mesh, body, camera)
        buffers = V.surface_buffers(mesh, camera, ids)
        hit = ids != NO_FACE
        image = np.tile(V.BACKGROUND, (OVERVIEW_SIZE, OVERVIEW_SIZE, 1))
        tint = PART_TINT * colours[template.face_parts[ids[hit]] - 1] + (1 - PART_TINT) * 255
        shade = V._shade(mesh, normals, camera, ids, buffers.bary)
        image[hit] = tint * (0.5 + 0.5 * shade[:, None])
        picture_path(folder, side).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(picture_path(folder, side), optimize=True)
        cameras.append(camera.to_dict())
        depths.append(buffers.depth.astype(np.float32))
    np.savez_compressed(Path(folder) / DEPTH_FILE, depth=np.stack(depths))
    return cameras


def load_overview(folder: Path, report: dict) -> Overview:
    with np.load(Path(folder) / DEPTH_FILE) as data:
        depth = data["depth"]
    return Overview([Camera.from_dict(c) for c in report["overview_cameras"]], depth)


def project(overview: Overview, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where surface points (N, 3) show on the two pictures: xy (2, N, 2) in picture pixels; whether the body
    shows them there (2, N): in front of the body's surface at that pixel, within the views' visibility
    tolerance (:func:`pipeline.render.views.visibility_tolerance`); and the side to draw each on (N,): the first
    that shows it, else (a point on the flank, edge-on from both) the one where it lies least behind the body."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    xy = np.zeros((len(overview.cameras), len(points), 2))
    visible = np.zeros((len(overview.cameras), len(points)), dtype=bool)
    behind = np.full((len(overview.cameras), len(points)), np.inf)
    for k, camera in enumerate(overview.cameras):
        at, z = camera.project(points)
        xy[k] = at
        col, row = np.floor(at[:, 0]).astype(int), np.floor(at[:, 1]).astype(int)
        inside = (col >= 0) & (col < camera.width) & (row >= 0) & (row < camera.height) & (z > 0)
        surface = np.full(len(points), -np.inf)
        surface[inside] = overview.depth[k, row[inside], col[inside]]
        visible[k] = inside & (z <= surface + V.visibility_tolerance(z, camera.fx))
        behind[k][inside] = z[inside] - surface[inside]
    side = np.where(visible.any(axis=0), np.argmax(visible, axis=0), np.argmin(behind, axis=0))
    return xy, visible, side
