"""The body-model interface every backend implements.

Canonical frame for every backend: metres, +Z up, the person faces -Y, the person's left is +X.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

UP = np.array([0.0, 0.0, 1.0])
FRONT = np.array([0.0, -1.0, 0.0])
LEFT = np.array([1.0, 0.0, 0.0])
MIRROR = 1.0 - 2.0 * LEFT  # a point times this: its mirror image through the plane of symmetry (x = 0)


class BodyModelError(Exception):
    """A body model cannot be loaded or used; the message says what to do."""


@dataclass(frozen=True)
class Mesh:
    vertices: np.ndarray  # (V, 3)
    faces: np.ndarray  # (F, 3)


@dataclass(frozen=True)
class BodyTemplate:
    """The reference (T-like pose) surface the charts and the six views are built on."""

    name: str  # e.g. "anny"
    version: str  # changes whenever the template or its parts change
    vertices: np.ndarray  # (V, 3) float64
    faces: np.ndarray  # (F, 3) int64, counter-clockwise seen from outside
    face_parts: np.ndarray  # (F,) int8, DensePose mask part 1..14 from the model's own rig
    # The model's own texture coordinates of each face corner (F, 3, 2), where it has a texture layout.
    corner_texcoords: np.ndarray | None = None
    # Pieces that are not body surface but hide some of it and belong in pictures (anny: eyes, tongue).
    occluder_vertices: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    occluder_faces: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))

    def with_occluders(self) -> Mesh:
        """Body and occluders as one mesh; body faces keep their indices, occluder faces come after."""
        return Mesh(
            np.concatenate([self.vertices, self.occluder_vertices]),
            np.concatenate([self.faces, self.occluder_faces + len(self.vertices)]),
        )

    def __post_init__(self):
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3:
            raise BodyModelError(f"{self.name}: vertices must be (V, 3), got {self.vertices.shape}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3 or self.faces.min() < 0:
            raise BodyModelError(f"{self.name}: faces must be (F, 3) non-negative indices")
        if self.faces.max() >= len(self.vertices):
            raise BodyModelError(f"{self.name}: a face refers to vertex {self.faces.max()} of {len(self.vertices)}")
        if self.face_parts.shape != (len(self.faces),):
            raise BodyModelError(f"{self.name}: face_parts must have one entry per face")


class BodyModel(ABC):
    name: str

    @abstractmethod
    def template(self) -> BodyTemplate:
        """The reference surface (cheap after the first call)."""

    def official_charts(self):
        """The model's own DensePose charts (a ChartSet), or None to build them from the mesh."""
        return None

    def charts_source(self) -> str:
        """Identifies where the charts come from (part of the asset cache key)."""
        return "built"

    def has_cached_template(self) -> bool:
        """True when :meth:`template` will not have to build anything slow."""
        return True

    @abstractmethod
    def posed(self, pose: dict | None = None, shape: dict | None = None) -> np.ndarray:
        """Vertices (V, 3) of the template's topology for a pose and shape (backend-specific keys)."""


def smooth_face_labels(faces: np.ndarray, labels: np.ndarray, iterations: int = 4) -> np.ndarray:
    """Straighten saw-tooth borders between labelled regions: a face whose edge neighbours mostly (2 or 3
    of 3) carry another label takes that label. Deterministic; leaves smooth borders as they are."""
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    owner = np.repeat(np.arange(len(faces)), 3)
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    edges, owner = edges[order], owner[order]
    same = np.all(edges[1:] == edges[:-1], axis=1)
    a, b = owner[:-1][same], owner[1:][same]
    neighbours = np.full((len(faces), 3), -1)
    fill = np.zeros(len(faces), dtype=np.int64)
    for x, y in ((a, b), (b, a)):
        for i, j in zip(x, y, strict=True):
            neighbours[i, fill[i]] = j
            fill[i] += 1
    labels = labels.copy()
    for _ in range(iterations):
        nb = np.where(neighbours >= 0, labels[np.maximum(neighbours, 0)], -1)
        first_two = (nb[:, 0] == nb[:, 1]) & (nb[:, 0] != labels) & (nb[:, 0] >= 0)
        last_two = (nb[:, 1] == nb[:, 2]) & (nb[:, 1] != labels) & (nb[:, 1] >= 0)
        outer_two = (nb[:, 0] == nb[:, 2]) & (nb[:, 0] != labels) & (nb[:, 0] >= 0)
        new = np.where(first_two | outer_two, nb[:, 0], np.where(last_two, nb[:, 1], labels))
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals."""
    n = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    corner = faces.ravel()
    per_corner = np.repeat(n, 3, axis=0)
    normals = np.stack([np.bincount(corner, per_corner[:, d], minlength=len(vertices)) for d in range(3)], 1)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
