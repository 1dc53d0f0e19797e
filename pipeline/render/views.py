"""The six views of each body part that annotators click on (the paper's stage-2 interface).

For each of the 14 mask parts: six cameras framed on the part, chosen from 66 directions so that every face of
the part is seen in some view, the canonical ones (front, back, left, right, above, below) first wherever they
keep that coverage (:func:`choose_views`), each named for where it stands (:func:`direction_label`); for each
view a face-id buffer (the part's own faces only, so other parts never hide it) and a picture: the part lit and
covered with a faint grid of its chart coordinates, over the rest of the body drawn faded for context.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from pipeline import parts
from pipeline.body.base import FRONT, LEFT, UP, BodyTemplate, Mesh, vertex_normals
from pipeline.render.camera import Camera
from pipeline.render.raster import NO_FACE, pixel_centres, rasterize_ids, ray_triangle

VIEW_SIZE = 512
VIEWS_PER_PART = 6
FOV_DEG = 30.0
MARGIN = 1.12  # the part's bounding sphere fills this fraction less than the frame
GRID_LINES = 10  # chart grid lines per unit of U and V
SUPERSAMPLE = 2
BACKGROUND = np.array([244, 245, 248], dtype=np.float64)
CONTEXT = np.array([200, 204, 212], dtype=np.float64)


def candidate_directions() -> np.ndarray:
    """26 directions (cube faces, edges, corners) and 40 more spread evenly, front first, in a fixed order."""
    dirs = [np.array(d, dtype=np.float64) for d in itertools.product((-1, 0, 1), repeat=3) if any(d)]
    dirs += list(fibonacci_directions(40))
    dirs = [d / np.linalg.norm(d) for d in dirs]
    dirs.sort(key=lambda d: (-float(d @ FRONT), -float(d @ UP), float(d[0])))
    return np.array(dirs)


def _up_for(direction: np.ndarray) -> np.ndarray:
    # Looking from straight above or below, the person's back is up in the picture.
    return UP if abs(direction @ UP) < 0.95 else -FRONT * np.sign(direction @ UP)


def frame_camera(center: np.ndarray, radius: float, direction: np.ndarray, size: int = VIEW_SIZE) -> Camera:
    distance = MARGIN * radius / np.sin(np.deg2rad(FOV_DEG) / 2)
    return Camera.look_at(center + distance * direction, center, _up_for(direction), size=size, fov_deg=FOV_DEG)


@dataclass
class SurfaceBuffers:
    """Per-pixel surface data of one view: face id (global index), barycentric, depth, 3-D point."""

    face: np.ndarray  # (H, W) int32, NO_FACE where the part is not seen
    bary: np.ndarray  # (H, W, 3) float64
    depth: np.ndarray  # (H, W) float64, distance along the view axis; inf where no face


def surface_buffers(mesh: Mesh, camera: Camera, face_ids: np.ndarray) -> SurfaceBuffers:
    """Exact barycentrics and depth for an id buffer (ray-triangle intersection at each pixel centre)."""
    flat = face_ids.ravel()
    hit = np.flatnonzero(flat != NO_FACE)
    origin, dirs = camera.rays(pixel_centres(camera)[hit])
    bary, _ = ray_triangle(origin, dirs, mesh.vertices[mesh.faces[flat[hit]]])
    bary_img = np.zeros((flat.size, 3))
    bary_img[hit] = bary
    points = np.einsum("nk,nkj->nj", bary, mesh.vertices[mesh.faces[flat[hit]]])
    depth = np.full(flat.size, np.inf)
    depth[hit] = camera.to_camera(points)[:, 2]
    h, w = face_ids.shape
    return SurfaceBuffers(face_ids, bary_img.reshape(h, w, 3), depth.reshape(h, w))


@dataclass
class PartView:
    part: int
    index: int
    direction: np.ndarray  # unit vector from the part's centre towards the camera
    camera: Camera
    face_ids: np.ndarray  # (H, W) int32: global face index of a face of this part, or NO_FACE
    part_faces: np.ndarray  # the faces of the part one can click (seen from outside)


@dataclass
class PartViews:
    part: int
    faces: np.ndarray  # global indices of the part's faces
    views: list[PartView]
    coverage_faces: float  # fraction of the part's faces seen in at least one view
    coverage_area: float  # the same, weighted by face area
    unseen_faces: np.ndarray


def subset_ids(mesh: Mesh, subset: np.ndarray, camera: Camera) -> np.ndarray:
    """Id buffer of only the faces ``subset`` of the mesh, holding their indices in the whole mesh."""
    local = rasterize_ids(mesh.vertices, mesh.faces[subset], camera)
    return np.where(local == NO_FACE, NO_FACE, subset[np.maximum(local, 0)]).astype(np.int32)


def visible_faces(mesh: Mesh, part_faces: np.ndarray, camera: Camera, face_ids: np.ndarray):
    """Faces of the part seen in a view: present in the id buffer, or with an unoccluded centroid."""
    seen = np.zeros(len(mesh.faces), dtype=bool)
    seen[face_ids[face_ids != NO_FACE]] = True
    buffers = surface_buffers(mesh, camera, face_ids)
    centroids = mesh.vertices[mesh.faces[part_faces]].mean(axis=1)
    xy, z = camera.project(centroids)
    col, row = np.floor(xy[:, 0]).astype(int), np.floor(xy[:, 1]).astype(int)
    inside = (col >= 0) & (col < camera.width) & (row >= 0) & (row < camera.height) & (z > 0)
    tri = mesh.vertices[mesh.faces[part_faces]]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    inside &= np.einsum("ij,ij->i", normal, camera.position - centroids) > 0  # seen from the outside
    ok = np.zeros(len(part_faces), dtype=bool)
    surface = buffers.depth[row[inside], col[inside]]
    ok[inside] = np.isfinite(surface) & (z[inside] <= surface + visibility_tolerance(z[inside], camera.fx))
    seen[part_faces[ok]] = True
    return seen[part_faces]


VISIBILITY_BASE_M = 0.003
VISIBILITY_PIXELS = 2.0


def visibility_tolerance(depth, fx):
    """How far behind the visible surface (metres) a point at ``depth`` may be and still count as seen,
    for a camera of focal length ``fx`` pixels: 3 mm plus two pixels' footprint. (The browser applies the
    same rule with the constants it gets in the view bundle.)"""
    return VISIBILITY_BASE_M + VISIBILITY_PIXELS * depth / fx


def fibonacci_directions(n: int) -> np.ndarray:
    k = np.arange(n) + 0.5
    z = 1 - 2 * k / n
    r = np.sqrt(1 - z**2)
    phi = np.pi * (1 + 5**0.5) * k
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def exterior_faces(template: BodyTemplate, directions: int = 64) -> np.ndarray:
    """Faces of the closed body seen from outside from some direction; the rest (inside the mouth, ear
    canals, eye sockets' backs) can never be seen in a photo and are not offered for clicking."""
    all_faces = np.arange(len(template.faces))
    mesh = template.with_occluders()
    lo, hi = template.vertices.min(axis=0), template.vertices.max(axis=0)
    center = (lo + hi) / 2
    radius = float(np.linalg.norm(template.vertices - center, axis=1).max())
    seen = np.zeros(len(all_faces), dtype=bool)
    for direction in fibonacci_directions(directions):
        camera = frame_camera(center, radius, direction, size=1024)
        ids = rasterize_ids(mesh.vertices, mesh.faces, camera)
        seen |= visible_faces(mesh, all_faces, camera, ids)
    return seen


# The directions every part is shown from when they see it, in this order: an annotator finds the front view
# in the same place for every part. Left and right are the person's own.
CANONICAL_VIEWS = (("front", FRONT), ("back", -FRONT), ("left", LEFT), ("right", -LEFT), ("above", UP), ("below", -UP))
CANONICAL_MIN_SHARE = 0.05  # a canonical direction is offered only if it sees this share of the part's area
DIRECTION_NAME_MIN = 0.38  # a component of a view direction this large (about 22 degrees) names it


def direction_components(direction: np.ndarray) -> dict[str, float]:
    """A view direction (from the part towards the camera) in the body's own axes."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    return {"front": float(d @ FRONT), "left": float(d @ LEFT), "up": float(d @ UP)}


def direction_label(direction: np.ndarray) -> str:
    """Where the camera stands relative to the body: "front", "back-left", "right, above", "below"..."""
    c = direction_components(direction)
    words = []
    horizontal = [("front" if c["front"] > 0 else "back", abs(c["front"])),
                  ("left" if c["left"] > 0 else "right", abs(c["left"]))]  # fmt: skip
    side = "-".join(name for name, size in horizontal if size >= DIRECTION_NAME_MIN)
    if side:
        words.append(side)
    if abs(c["up"]) >= DIRECTION_NAME_MIN:
        words.append("above" if c["up"] > 0 else "below")
    return ", ".join(words) if words else max(horizontal, key=lambda h: h[1])[0]


def camera_direction(camera: Camera) -> np.ndarray:
    """The unit vector from the point a camera looks at towards the camera."""
    return -np.asarray(camera.rotation, dtype=np.float64)[2]


def choose_views(
    directions: list[np.ndarray], seen: list[np.ndarray], area: np.ndarray
) -> tuple[list[int], np.ndarray]:
    """Indices of the six views among the candidates, and the faces they cover together.

    Each canonical direction that sees the part (front, back, left, right, above, below, in that order) is
    taken if the views still free can then cover as many of the part's faces as a plain greedy choice of six
    does; the views still free are chosen greedily for the most new coverage. The front-most view comes first,
    then the views named for one canonical direction, in that order, then the others, front-most first."""
    total = float(area.sum())

    def greedy(start: list[int]) -> tuple[list[int], np.ndarray]:
        chosen = list(start)
        covered = np.zeros(len(area), dtype=bool)
        for i in chosen:
            covered |= seen[i]
        while len(chosen) < VIEWS_PER_PART:
            best, best_gain = None, -1.0
            for i, s in enumerate(seen):
                if i in chosen:
                    continue
                new = s & ~covered
                gain = float(area[new].sum()) / total + 10.0 * float(new.mean()) + 1e-6 * float(area[s].sum())
                if gain > best_gain:
                    best, best_gain = i, gain
            chosen.append(best)
            covered |= seen[best]
        return chosen, covered

    _, plain = greedy([])
    canonical = []
    for _, axis in CANONICAL_VIEWS:
        i = int(np.argmax([float(d @ axis) for d in directions]))
        if float(directions[i] @ axis) > 0.999 and float(area[seen[i]].sum()) >= CANONICAL_MIN_SHARE * total:
            canonical.append(i)
    kept: list[int] = []
    for i in canonical:
        if greedy([*kept, i])[1].sum() >= plain.sum():
            kept.append(i)
    chosen, covered = greedy(kept)
    names = [name for name, _ in CANONICAL_VIEWS]

    def order(i: int) -> tuple[int, float, float, float]:
        # views named front, back, left, right, above or below first, in that order; the rest front-most first
        label = direction_label(directions[i])
        rank = names.index(label) if label in names else len(names)
        return rank, -float(directions[i] @ FRONT), -float(directions[i] @ UP), float(directions[i] @ LEFT)

    front = min(chosen, key=lambda i: -float(directions[i] @ FRONT))  # first, whatever its name (the head's)
    return [front, *sorted((i for i in chosen if i != front), key=order)], covered


def part_views(template: BodyTemplate, part: int, exterior: np.ndarray | None = None) -> PartViews:
    """Six views of a part; ``exterior`` (from exterior_faces) limits the part to faces one can see."""
    mask = template.face_parts == parts.check_mask_part(part)
    if exterior is not None:
        mask &= exterior
    part_faces = np.flatnonzero(mask)
    points = template.vertices[np.unique(template.faces[part_faces])]
    lo, hi = points.min(axis=0), points.max(axis=0)
    center = (lo + hi) / 2
    radius = float(np.linalg.norm(points - center, axis=1).max())
    tri = template.vertices[template.faces[part_faces]]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)

    total_area = float(area.sum())
    candidates = []
    for direction in candidate_directions():
        camera = frame_camera(center, radius, direction)
        ids = subset_ids(template, part_faces, camera)
        candidates.append((direction, camera, ids, visible_faces(template, part_faces, camera, ids)))
    chosen, covered = choose_views([c[0] for c in candidates], [c[3] for c in candidates], area)
    views = [
        PartView(part, k, candidates[i][0], candidates[i][1], candidates[i][2], part_faces)
        for k, i in enumerate(chosen)
    ]
    return PartViews(
        part=part,
        faces=part_faces,
        views=views,
        coverage_faces=float(covered.mean()),
        coverage_area=float(area[covered].sum() / total_area),
        unseen_faces=part_faces[~covered],
    )


# --- pictures --------------------------------------------------------------------------------------------


def chart_colours() -> np.ndarray:
    """A soft colour for each chart (index = chart id); the two charts of a part differ in lightness."""
    colours = np.zeros((parts.NUM_CHARTS + 1, 3))
    for chart in parts.CHARTS:
        part = parts.CHART_TO_MASK_PART[chart]
        hue = (part - 1) / parts.NUM_MASK_PARTS
        light = 0.70 if parts.MASK_PART_TO_CHARTS[part].index(chart) == 0 else 0.80
        colours[chart] = _hls_to_rgb(hue, light, 0.45) * 255
    return colours


def _hls_to_rgb(h: float, light: float, s: float) -> np.ndarray:
    import colorsys

    return np.array(colorsys.hls_to_rgb(h, light, s))


def _shade(mesh: Mesh, normals, camera, ids, bary) -> np.ndarray:
    """Lambert shading (head light plus a light from above) for each pixel with a face."""
    hit = ids != NO_FACE
    n = np.einsum("nk,nkj->nj", bary[hit], normals[mesh.faces[ids[hit]]])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    to_camera = -camera.rotation[2]
    key = 0.75 * np.abs(n @ to_camera) + 0.25 * np.clip(n @ (0.6 * UP + 0.8 * to_camera), 0, 1)
    return 0.35 + 0.65 * key


def render_picture(template: BodyTemplate, face_chart, corner_uv, view: PartView, normals=None) -> np.ndarray:
    """The RGB picture (H, W, 3) uint8 of one view, supersampled for smooth edges."""
    mesh = template.with_occluders()
    normals = vertex_normals(mesh.vertices, mesh.faces) if normals is None else normals
    size = view.camera.width * SUPERSAMPLE
    cam = Camera(size, size, view.camera.fx * SUPERSAMPLE, view.camera.fy * SUPERSAMPLE,
                 view.camera.cx * SUPERSAMPLE, view.camera.cy * SUPERSAMPLE,
                 view.camera.rotation, view.camera.translation)  # fmt: skip
    part_faces = view.part_faces
    others = np.setdiff1d(np.arange(len(mesh.faces)), part_faces)
    image = np.tile(BACKGROUND, (size, size, 1))

    ctx_ids = subset_ids(mesh, others, cam)
    ctx = surface_buffers(mesh, cam, ctx_ids)
    hit = ctx_ids != NO_FACE
    shade = _shade(mesh, normals, cam, ctx_ids, ctx.bary)
    image[hit] = 0.45 * BACKGROUND + 0.55 * (CONTEXT * shade[:, None])

    ids = subset_ids(mesh, part_faces, cam)
    buf = surface_buffers(mesh, cam, ids)
    hit = ids != NO_FACE
    shade = _shade(mesh, normals, cam, ids, buf.bary)
    colour = chart_colours()[face_chart[ids[hit]]]
    uv = np.einsum("nk,nkj->nj", buf.bary[hit], corner_uv[ids[hit]])
    phase = np.abs(((uv * GRID_LINES) + 0.5) % 1.0 - 0.5)  # 0 on a grid line
    line = np.clip(1.0 - phase.min(axis=1) / 0.06, 0, 1)
    colour = colour * (1 - 0.22 * line[:, None])
    image[hit] = colour * shade[:, None]
    small = image.reshape(view.camera.height, SUPERSAMPLE, view.camera.width, SUPERSAMPLE, 3).mean(axis=(1, 3))
    return np.clip(small, 0, 255).astype(np.uint8)
