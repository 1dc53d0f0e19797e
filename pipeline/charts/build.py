"""Cut a body surface into the 24 DensePose charts and unwrap each one to [0, 1]².

The recipe of the paper: each part is cut so that it is isomorphic to a plane (torso and limbs into front
and back halves, the head into right and left), then unwrapped by multidimensional scaling of the pairwise
geodesic distances between its vertices. Here MDS is the landmark variant (classical MDS on a farthest-point
set of landmarks, the other vertices placed from their distances to the landmarks), then any fold-overs are
relaxed away, and the chart is scaled to [0, 1] on each axis as DensePose's charts are.

Input is a template in the canonical frame (pipeline.body.base): +Z up, facing -Y, the person's left +X.
Everything here is deterministic: the same template gives byte-identical charts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from pipeline import parts
from pipeline.body.base import FRONT, BodyTemplate

# Bump whenever the charts this module builds change (it is part of the asset cache key).
CHARTS_VERSION = "1"
N_LANDMARKS = 240
RELAX_ITERATIONS = 400


@dataclass(frozen=True)
class ChartMetrics:
    chart: int
    name: str
    faces: int
    vertices: int
    method: str  # "mds" (geodesic MDS) or "mean-value" (fold-free fallback)
    euler: int  # 1 for a disk
    boundary_loops: int  # 1 for a disk
    folds: int  # faces whose UV triangle is flipped or degenerate
    geodesic_uv_correlation: float  # Pearson r between geodesic and (isotropic) UV distances
    stretch_p10: float  # per-face UV area / surface area, relative to the chart's mean; 1 = no stretch
    stretch_p90: float
    aspect: float  # extent of the isotropic layout along V over U, before scaling to [0, 1]²

    @property
    def is_disk(self) -> bool:
        return self.euler == 1 and self.boundary_loops == 1


@dataclass(frozen=True)
class ChartSet:
    face_chart: np.ndarray  # (F,) int8, 1..24
    corner_uv: np.ndarray  # (F, 3, 2) float32: U, V of each face corner within its chart
    metrics: tuple[ChartMetrics, ...]

    def metrics_table(self) -> list[dict]:
        return [asdict(m) | {"is_disk": m.is_disk} for m in self.metrics]


# --- topology helpers ------------------------------------------------------------------------------------


def _face_adjacency(faces: np.ndarray) -> np.ndarray:
    """Pairs of faces sharing an edge, (M, 2)."""
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    owner = np.repeat(np.arange(len(faces)), 3)
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    edges, owner = edges[order], owner[order]
    same = np.all(edges[1:] == edges[:-1], axis=1)
    return np.stack([owner[:-1][same], owner[1:][same]], axis=1)


def _components(n: int, pairs: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Connected-component label per face among faces where mask holds (-1 elsewhere)."""
    keep = mask[pairs[:, 0]] & mask[pairs[:, 1]]
    p = pairs[keep]
    graph = sp.coo_matrix((np.ones(len(p)), (p[:, 0], p[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    labels = labels.astype(np.int64)
    labels[~mask] = -1
    return labels


def _merge_islands(labels: np.ndarray, pairs: np.ndarray, allowed: dict[int, tuple[int, ...]] | None = None):
    """Give every face that is not in its label's largest connected piece the label of a neighbour.

    ``allowed`` restricts which labels an island may take (e.g. the sibling chart of the same part).
    """
    labels = labels.copy()
    n = len(labels)
    for _ in range(50):
        changed = False
        for value in np.unique(labels):
            mask = labels == value
            comp = _components(n, pairs, mask)
            ids, counts = np.unique(comp[mask], return_counts=True)
            if len(ids) <= 1:
                continue
            main = ids[np.argmax(counts)]
            stray = mask & (comp != main)
            # (stray face, neighbour outside the stray pieces) pairs, in a fixed order
            a, b = pairs[:, 0], pairs[:, 1]
            candidates = np.concatenate([np.stack([a, b], 1), np.stack([b, a], 1)])
            candidates = candidates[stray[candidates[:, 0]] & ~stray[candidates[:, 1]]]
            if len(candidates) == 0:
                continue
            for face, neighbour in candidates[np.lexsort((candidates[:, 1], candidates[:, 0]))]:
                if not stray[face]:
                    continue
                new = labels[neighbour]
                if allowed is not None and new not in allowed.get(int(value), (new,)):
                    continue
                labels[face] = new
                stray[face] = False
                changed = True
        if not changed:
            break
    return labels


def _boundary_loops(faces: np.ndarray) -> tuple[int, int]:
    """(euler characteristic, number of boundary loops) of a triangle mesh given by faces."""
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    n_vertices = len(np.unique(faces))
    euler = n_vertices - len(unique) + len(faces)
    boundary = unique[counts == 1]
    if len(boundary) == 0:
        return euler, 0
    verts = np.unique(boundary)
    index = {v: i for i, v in enumerate(verts)}
    rows = [index[v] for v in boundary[:, 0]]
    cols = [index[v] for v in boundary[:, 1]]
    graph = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(verts), len(verts)))
    loops, _ = connected_components(graph, directed=False)
    return euler, loops


# --- cutting ---------------------------------------------------------------------------------------------


def _chart_id(name: str) -> int:
    return parts.CHART_NAMES.index(name) + 1


def _split_part(part: int, vertices: np.ndarray, faces: np.ndarray, part_faces: np.ndarray) -> np.ndarray:
    """Chart id for each face of one mask part."""
    name = parts.mask_part_name(part)
    charts = parts.MASK_PART_TO_CHARTS[part]
    if len(charts) == 1:
        return np.full(len(part_faces), charts[0], dtype=np.int8)
    centroids = vertices[faces[part_faces]].mean(axis=1)
    part_vertices = vertices[np.unique(faces[part_faces])]
    center = part_vertices.mean(axis=0)
    if name == "Head":
        # the person's right is -X
        side = np.where(centroids[:, 0] - center[0] < 0, _chart_id("Head Right"), _chart_id("Head Left"))
        return side.astype(np.int8)
    if name == "Torso":
        normal = FRONT
    else:
        # a limb: split by the plane through its axis that faces the front
        _, _, vt = np.linalg.svd(part_vertices - center, full_matrices=False)
        axis = vt[0]
        normal = FRONT - (FRONT @ axis) * axis
        normal /= np.linalg.norm(normal)
    front = (centroids - center) @ normal > 0
    return np.where(front, _chart_id(f"{name} Front"), _chart_id(f"{name} Back")).astype(np.int8)


def assign_charts(template: BodyTemplate) -> np.ndarray:
    vertices, faces = template.vertices, template.faces
    pairs = _face_adjacency(faces)
    face_parts = _merge_islands(template.face_parts.astype(np.int64), pairs)
    face_chart = np.zeros(len(faces), dtype=np.int64)
    for part in parts.MASK_PARTS:
        sel = np.flatnonzero(face_parts == part)
        if len(sel) == 0:
            raise ValueError(f"{template.name}: no faces for mask part {parts.mask_part_name(part)}")
        face_chart[sel] = _split_part(part, vertices, faces, sel)
    siblings = {c: parts.MASK_PART_TO_CHARTS[parts.CHART_TO_MASK_PART[c]] for c in parts.CHARTS}
    return _merge_islands(face_chart, pairs, allowed=siblings).astype(np.int8)


# --- unwrapping ------------------------------------------------------------------------------------------


def _landmark_mds(distances: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """2-D coordinates for every vertex from distances (k landmarks × n vertices)."""
    d2 = distances**2
    k = len(landmarks)
    dk = d2[:, landmarks]
    dk = (dk + dk.T) / 2
    centering = np.eye(k) - 1.0 / k
    b = -0.5 * centering @ dk @ centering
    values, vectors = np.linalg.eigh(b)
    top = np.argsort(values)[::-1][:2]
    values, vectors = np.maximum(values[top], 1e-12), vectors[:, top]
    # sign convention: the largest-magnitude entry of each eigenvector is positive
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), [0, 1]])
    vectors = vectors * np.where(signs == 0, 1, signs)
    pinv = vectors / np.sqrt(values)  # (k, 2)
    mean_d2 = dk.mean(axis=1)  # (k,)
    return -0.5 * ((d2 - mean_d2[:, None]).T @ pinv)


def _signed_areas(uv: np.ndarray, faces: np.ndarray) -> np.ndarray:
    a, b, c = uv[faces[:, 0]], uv[faces[:, 1]], uv[faces[:, 2]]
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1]))


def _relax_folds(uv: np.ndarray, faces: np.ndarray, boundary: np.ndarray) -> np.ndarray:
    """Move interior vertices of flipped triangles (and their rings) towards their neighbours' mean."""
    n = len(uv)
    rows = faces[:, [0, 1, 2, 0, 1, 2]].ravel()
    cols = faces[:, [1, 2, 0, 2, 0, 1]].ravel()
    adjacency = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    adjacency.data[:] = 1.0
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    movable = np.ones(n, dtype=bool)
    movable[boundary] = False
    uv = uv.copy()
    for iteration in range(RELAX_ITERATIONS):
        bad = _signed_areas(uv, faces) <= 0
        if not bad.any():
            break
        region = np.zeros(n, dtype=bool)
        region[faces[bad].ravel()] = True
        region = region | (adjacency @ region.astype(float) > 0)  # and their one-ring
        if iteration < RELAX_ITERATIONS // 2:
            region &= movable  # first try with the boundary fixed, then let it move too
        mean = (adjacency @ uv) / degree[:, None]
        uv[region] = 0.5 * uv[region] + 0.5 * mean[region]
    return uv


def _boundary_loop(faces: np.ndarray) -> np.ndarray:
    """The boundary vertices of a disk in order, interior on the left (counter-clockwise)."""
    directed = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    present = {(int(a), int(b)) for a, b in directed}
    step = {int(a): int(b) for a, b in directed if (int(b), int(a)) not in present}
    start = min(step)
    loop = [start]
    while step[loop[-1]] != start:
        loop.append(step[loop[-1]])
        if len(loop) > len(step):
            raise ValueError("the chart boundary is not a single loop")
    return np.array(loop)


def _mean_value_embedding(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Floater's mean-value embedding with the boundary on a circle: never folds (convex boundary)."""
    from scipy.sparse.linalg import spsolve

    n = len(vertices)
    loop = _boundary_loop(faces)
    seg = np.linalg.norm(vertices[np.roll(loop, -1)] - vertices[loop], axis=1)
    theta = 2 * np.pi * np.concatenate([[0.0], np.cumsum(seg)[:-1]]) / seg.sum()
    rows, cols, vals = [], [], []
    for i, j, k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        vi, vj, vk = (vertices[faces[:, x]] for x in (i, j, k))
        eij, eik = vj - vi, vk - vi
        lij, lik = np.linalg.norm(eij, axis=1), np.linalg.norm(eik, axis=1)
        cos = np.clip(np.einsum("ij,ij->i", eij, eik) / np.maximum(lij * lik, 1e-15), -1, 1)
        half_tan = np.tan(np.arccos(cos) / 2)
        rows += [faces[:, i], faces[:, i]]
        cols += [faces[:, j], faces[:, k]]
        vals += [half_tan / np.maximum(lij, 1e-15), half_tan / np.maximum(lik, 1e-15)]
    w = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    fixed = np.zeros(n, dtype=bool)
    fixed[loop] = True
    uv = np.zeros((n, 2))
    uv[loop] = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    inner = np.flatnonzero(~fixed)
    lap = sp.diags(np.asarray(w.sum(axis=1)).ravel()) - w
    rhs = -(lap[inner][:, np.flatnonzero(fixed)] @ uv[fixed])
    solved = spsolve(lap[inner][:, inner].tocsc(), rhs)
    uv[inner] = solved.reshape(-1, 2)
    return uv


def _boundary_vertices(faces: np.ndarray) -> np.ndarray:
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    return np.unique(unique[counts == 1])


def _landmark_distances(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Farthest-point landmarks of a chart mesh and geodesic distances (k × n) from them to every vertex."""
    import potpourri3d as pp3d

    n = len(vertices)
    solver = pp3d.MeshHeatMethodDistanceSolver(vertices, faces)
    k = min(N_LANDMARKS, n)
    landmarks = np.empty(k, dtype=np.int64)
    distances = np.empty((k, n))
    # farthest-point landmarks, starting from the vertex farthest from vertex 0
    landmarks[0] = int(np.argmax(solver.compute_distance(0)))
    nearest = np.full(n, np.inf)
    for i in range(k):
        distances[i] = np.maximum(solver.compute_distance(int(landmarks[i])), 0.0)
        nearest = np.minimum(nearest, distances[i])
        if i + 1 < k:
            landmarks[i + 1] = int(np.argmax(nearest))
    return landmarks, distances


def _measure(vertices, faces, layout, landmarks, distances) -> dict:
    """Distortion of a chart layout: fold-overs, geodesic/UV distance correlation, area stretch, aspect."""
    n = len(vertices)
    folds = int(np.sum(_signed_areas(layout, faces) <= 0))
    lo, hi = layout.min(axis=0), layout.max(axis=0)
    extent = np.maximum(hi - lo, 1e-12)
    step = max(1, n // 2000)
    uv_dist = np.linalg.norm(layout[landmarks][:, None, :] - layout[::step][None, :, :], axis=2)
    corr = float(np.corrcoef(distances[:, ::step].ravel(), uv_dist.ravel())[0, 1])
    tri = vertices[faces]
    area3d = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    area_uv = np.abs(_signed_areas(layout, faces))
    ratio = (area_uv / max(area_uv.sum(), 1e-12)) / np.maximum(area3d / area3d.sum(), 1e-12)
    return {
        "folds": folds,
        "geodesic_uv_correlation": round(corr, 4),
        "stretch_p10": round(float(np.percentile(ratio, 10)), 4),
        "stretch_p90": round(float(np.percentile(ratio, 90)), 4),
        "aspect": round(float(extent[1] / extent[0]), 4),
    }


def _unwrap_chart(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, dict]:
    """UV in [0,1]² for a chart given as its own small mesh, and its distortion figures."""
    landmarks, distances = _landmark_distances(vertices, faces)
    xy = _landmark_mds(distances, landmarks)

    # Orientation: V grows along the world axis the chart is longest in; faces keep their winding.
    centered = vertices - vertices.mean(axis=0)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    long_axis = vt[0] * np.sign(vt[0][np.abs(vt[0]).argmax()])
    _, _, wt = np.linalg.svd(xy - xy.mean(axis=0), full_matrices=False)
    along = (xy - xy.mean(axis=0)) @ wt[0]
    v_dir = wt[0] if along @ (centered @ long_axis) >= 0 else -wt[0]
    u_dir = np.array([v_dir[1], -v_dir[0]])
    layout = np.stack([xy @ u_dir, xy @ v_dir], axis=1)
    if np.sum(_signed_areas(layout, faces)) < 0:
        layout[:, 0] *= -1
    layout = _relax_folds(layout, faces, _boundary_vertices(faces))
    method = "mds"
    if np.any(_signed_areas(layout, faces) <= 0):
        # Geodesic MDS folds where a part is far from flat (fingers, toes, ears): fall back to an
        # embedding that cannot fold, turned to agree with the MDS layout's long direction.
        method = "mean-value"
        embedded = _mean_value_embedding(vertices, faces)
        _, _, et = np.linalg.svd(embedded - embedded.mean(axis=0), full_matrices=False)
        along = (embedded - embedded.mean(axis=0)) @ et[0]
        v_dir = et[0] if along @ (centered @ long_axis) >= 0 else -et[0]
        layout = np.stack([embedded @ np.array([v_dir[1], -v_dir[0]]), embedded @ v_dir], axis=1)
        if np.sum(_signed_areas(layout, faces)) < 0:
            layout[:, 0] *= -1
    figures = {"method": method, **_measure(vertices, faces, layout, landmarks, distances)}
    lo, hi = layout.min(axis=0), layout.max(axis=0)
    uv = (layout - lo) / np.maximum(hi - lo, 1e-12)
    return np.clip(uv, 0.0, 1.0), figures


def build_charts(template: BodyTemplate) -> ChartSet:
    vertices, faces = template.vertices, template.faces
    face_chart = assign_charts(template)
    corner_uv = np.zeros((len(faces), 3, 2), dtype=np.float32)
    metrics = []
    for chart in parts.CHARTS:
        sel = np.flatnonzero(face_chart == chart)
        chart_faces = faces[sel]
        used, local = np.unique(chart_faces, return_inverse=True)
        local = local.reshape(-1, 3)
        euler, loops = _boundary_loops(local)
        uv, figures = _unwrap_chart(vertices[used], local)
        corner_uv[sel] = uv[local].astype(np.float32)
        metrics.append(
            ChartMetrics(
                chart=chart,
                name=parts.chart_name(chart),
                faces=len(sel),
                vertices=len(used),
                euler=int(euler),
                boundary_loops=int(loops),
                **figures,
            )
        )
    return ChartSet(face_chart=face_chart, corner_uv=corner_uv, metrics=tuple(metrics))


def measure_charts(template: BodyTemplate, face_chart: np.ndarray, corner_uv: np.ndarray, method: str) -> ChartSet:
    """Topology and distortion figures for charts that come from elsewhere (DensePose's own, for SMPL)."""
    vertices, faces = template.vertices, template.faces
    metrics = []
    for chart in parts.CHARTS:
        sel = np.flatnonzero(face_chart == chart)
        if len(sel) == 0:
            raise ValueError(f"chart {chart} ({parts.chart_name(chart)}) has no faces")
        used, local = np.unique(faces[sel], return_inverse=True)
        local = local.reshape(-1, 3)
        uv = np.zeros((len(used), 2))
        uv[local.ravel()] = corner_uv[sel].reshape(-1, 2)
        euler, loops = _boundary_loops(local)
        landmarks, distances = _landmark_distances(vertices[used], local)
        figures = _measure(vertices[used], local, uv, landmarks, distances)
        if figures["folds"] > len(sel) // 2:  # the chart's UV winds the other way: count the other sign
            figures["folds"] = int(np.sum(_signed_areas(uv, local) >= 0))
        metrics.append(
            ChartMetrics(chart=chart, name=parts.chart_name(chart), faces=len(sel), vertices=len(used),
                         method=method, euler=int(euler), boundary_loops=int(loops), **figures)
        )  # fmt: skip
    return ChartSet(
        face_chart=face_chart.astype(np.int8), corner_uv=corner_uv.astype(np.float32), metrics=tuple(metrics)
    )
