"""The synthetic-render accuracy study: how far annotated surface points are from the true ones.

- :func:`surface_distance`: geodesic distance between pairs of surface points (face, barycentric): the
  straight line for near pairs (within 3 cm, where the surface is nearly flat), else the evaluation mesh's
  geodesic table interpolated over the two faces' corners.
- :func:`error_map`: per person, the errors at its points spread over the rest of the surface (a Gaussian of
  the geodesic distance, as the paper interpolated them), then averaged over people into one value per vertex.
- :func:`summarise`: per part and per annotator mean, median and p90 in cm, and the pointwise curve (AUC10,
  AUC30).
- :func:`expected_click_error`: what a Gaussian click noise of ``sigma`` pixels implies on the surface, by ray
  casting at the part's mesh (not the id buffers or the click mapping): the study is checked against it.
- :func:`render_error_map`: the body from the front and from the back coloured by error, with a scale bar.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline import parts
from pipeline.evaluation.gps import pointwise

NEAR_M = 0.03
SPREAD_M = 0.05  # the Gaussian that spreads each point's error over the surface
REACH_M = 3 * SPREAD_M  # vertices farther than this from every point of a person get nothing from them


def surface_distance(mesh, vertices, faces, face_a, bary_a, face_b, bary_b) -> np.ndarray:
    face_a, face_b = np.asarray(face_a, dtype=np.int64), np.asarray(face_b, dtype=np.int64)
    bary_a, bary_b = np.asarray(bary_a, dtype=np.float64), np.asarray(bary_b, dtype=np.float64)
    pa = np.einsum("nk,nkj->nj", bary_a, vertices[faces[face_a]])
    pb = np.einsum("nk,nkj->nj", bary_b, vertices[faces[face_b]])
    straight = np.linalg.norm(pa - pb, axis=1)
    out = straight.copy()
    far = np.flatnonzero(straight >= NEAR_M)
    if len(far):
        va, vb = faces[face_a[far]], faces[face_b[far]]  # (m, 3) corner vertices = table rows
        d = mesh.distance(np.repeat(va, 3, axis=1).ravel(), np.tile(vb, (1, 3)).ravel()).reshape(len(far), 3, 3)
        weights = bary_a[far][:, :, None] * bary_b[far][:, None, :]
        out[far] = np.maximum(np.einsum("nij,nij->n", weights, d), straight[far])
    return out


def error_map(mesh, people: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Per vertex, the mean over people of their interpolated error (metres); NaN where no one reaches.

    ``people``: (table rows of the true points, their errors) per annotated person."""
    n = mesh.n
    total = np.zeros(n)
    count = np.zeros(n)
    every = np.arange(n)
    for rows, errors in people:
        if not len(rows):
            continue
        d = mesh.distance(np.repeat(every, len(rows)), np.tile(rows, n)).reshape(n, len(rows))
        w = np.exp(-(d**2) / (2 * SPREAD_M**2))
        reach = d.min(axis=1) <= REACH_M
        value = (w @ errors) / np.maximum(w.sum(axis=1), 1e-12)
        total[reach] += value[reach]
        count[reach] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _stats(errors_m: np.ndarray) -> dict:
    cm = np.asarray(errors_m) * 100
    if not len(cm):
        return {"points": 0, "mean_cm": None, "median_cm": None, "p90_cm": None}
    return {
        "points": len(cm),
        "mean_cm": round(float(cm.mean()), 2),
        "median_cm": round(float(np.median(cm)), 2),
        "p90_cm": round(float(np.percentile(cm, 90)), 2),
    }


def summarise(errors_m: np.ndarray, part: np.ndarray, annotator: list[str], origin: list[str] | None = None) -> dict:
    """Error statistics overall, per part and per annotator; given each point's ``origin`` (a click, a model's
    proposal confirmed or corrected), also per origin, overall and per part."""
    errors_m, part = np.asarray(errors_m, dtype=np.float64), np.asarray(part, dtype=np.int64)
    annotator = np.asarray(annotator, dtype=object)
    by_part = {parts.mask_part_name(p): _stats(errors_m[part == p]) for p in parts.MASK_PARTS if (part == p).any()}
    by_annotator = {}
    for name in sorted(set(annotator.tolist())):
        mine = errors_m[annotator == name]
        curve = pointwise(mine)
        by_annotator[name] = {**_stats(mine), "auc10": round(curve["auc10"], 3), "auc30": round(curve["auc30"], 3)}
    overall = pointwise(errors_m)
    out = {"overall": _stats(errors_m), "parts": by_part, "annotators": by_annotator, "pointwise": overall}
    if origin is not None:
        origin = np.asarray(origin, dtype=object)
        out["origins"] = {}
        for name in sorted(set(origin.tolist())):
            mine = origin == name
            out["origins"][name] = {**_stats(errors_m[mine]), "parts": {
                parts.mask_part_name(p): _stats(errors_m[mine & (part == p)]) for p in parts.MASK_PARTS
                if (mine & (part == p)).any()}}  # fmt: skip
    return out


def expected_click_error(camera, point: np.ndarray, sigma_px: float, part_mesh, samples: int = 128) -> float:
    """The mean distance between a surface point and where clicks around its pixel land, for Gaussian noise
    of ``sigma_px`` per axis and clicks on pixel centres, by casting the rays at the part's mesh (trimesh with
    Embree: another renderer than the id buffers the click mapping reads). Rays that miss the part are left out,
    as an annotator whose click misses clicks again. Fixed quasi-random samples: repeatable."""
    xy, _ = camera.project(np.asarray(point, dtype=np.float64)[None, :])
    u = (np.arange(samples) + 0.5) / samples
    radius = sigma_px * np.sqrt(-2 * np.log(1 - u))  # inverse CDF of the Rayleigh distribution
    angle = np.pi * (1 + 5**0.5) * np.arange(samples)
    pixels = np.floor(xy + np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)) + 0.5
    origin, directions = camera.rays(pixels)
    hits, _, _ = part_mesh.ray.intersects_location(
        np.repeat(origin[None, :], len(pixels), axis=0), directions, multiple_hits=False
    )
    if not len(hits):
        return float("nan")
    return float(np.mean(np.linalg.norm(hits - point, axis=1)))


# A perceptual colour scale from low (dark blue) to high (yellow) error, by anchor colours.
SCALE = np.array([[48, 18, 59], [70, 107, 227], [41, 187, 236], [49, 242, 153], [162, 252, 60], [237, 208, 58],
                  [251, 128, 34], [208, 47, 5], [122, 4, 3]], dtype=np.float64)  # fmt: skip
NO_DATA = np.array([205, 208, 215], dtype=np.float64)


def colour_scale(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> RGB (N, 3); NaN -> grey."""
    v = np.asarray(values, dtype=np.float64)
    pos = np.clip(np.nan_to_num(v, nan=0.0), 0, 1) * (len(SCALE) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(SCALE) - 2)
    frac = (pos - lo)[:, None]
    rgb = SCALE[lo] * (1 - frac) + SCALE[lo + 1] * frac
    rgb[np.isnan(v)] = NO_DATA
    return rgb


def render_error_map(template, vertex_error_m: np.ndarray, out: Path, vmax_cm: float | None = None, size=440) -> Path:
    """Front and back of the body coloured by error (cm), with a scale bar, as a PNG."""
    from PIL import Image, ImageDraw

    from pipeline.body.base import FRONT, vertex_normals
    from pipeline.render import views as V
    from pipeline.render.raster import NO_FACE

    error_cm = np.asarray(vertex_error_m, dtype=np.float64) * 100
    if vmax_cm is None:
        finite = error_cm[np.isfinite(error_cm)]
        vmax_cm = float(np.ceil(np.percentile(finite, 98))) if len(finite) else 1.0
    vmax_cm = max(vmax_cm, 0.5)
    mesh = template.with_occluders()
    body = np.arange(len(template.faces))
    normals = vertex_normals(mesh.vertices, mesh.faces)
    lo, hi = template.vertices.min(axis=0), template.vertices.max(axis=0)
    center, radius = (lo + hi) / 2, float(np.linalg.norm(hi - lo) / 2)
    panels = []
    for direction, title in ((FRONT, "front"), (-FRONT, "back")):
        camera = V.frame_camera(center, radius, direction, size=size)
        ids = V.subset_ids(mesh, body, camera)
        buf = V.surface_buffers(mesh, camera, ids)
        hit = ids != NO_FACE
        image = np.tile(np.array([255.0, 255.0, 255.0]), (size, size, 1))
        corner = error_cm[template.faces[ids[hit]]]  # (n, 3)
        weights = buf.bary[hit]
        known = np.isfinite(corner)
        value = np.where(known.any(axis=1), (np.nan_to_num(corner) * weights).sum(1) / np.maximum(
            (weights * known).sum(1), 1e-9), np.nan)  # fmt: skip
        shade = V._shade(mesh, normals, camera, ids, buf.bary)
        image[hit] = colour_scale(value / vmax_cm) * (0.55 + 0.45 * shade[:, None])
        panel = Image.fromarray(image.astype(np.uint8))
        ImageDraw.Draw(panel).text((10, 8), title, fill=(40, 40, 50))
        panels.append(panel)
    bar_h = 70
    sheet = Image.new("RGB", (2 * size, size + bar_h), (255, 255, 255))
    for k, panel in enumerate(panels):
        sheet.paste(panel, (k * size, 0))
    draw = ImageDraw.Draw(sheet)
    x0, x1, y = 60, 2 * size - 60, size + 18
    ramp = colour_scale(np.linspace(0, 1, x1 - x0))
    for i, rgb in enumerate(ramp):
        draw.line([(x0 + i, y), (x0 + i, y + 16)], fill=tuple(int(c) for c in rgb))
    for k in range(5):
        x = x0 + (x1 - x0) * k / 4
        draw.line([(x, y + 16), (x, y + 21)], fill=(40, 40, 50))
        draw.text((x - 10, y + 24), f"{vmax_cm * k / 4:.1f}", fill=(40, 40, 50))
    draw.text((x1 + 8, y + 2), "cm", fill=(40, 40, 50))
    draw.text((x0, y - 16), "mean geodesic error of the annotated points, spread over the surface", fill=(40, 40, 50))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
