"""The default body model: Anny (PyPI ``anny``; Apache-2.0 code, CC0 MakeHuman assets).

Only the body surface is used (the largest connected component: eyes and tongue are separate pieces). Its
reference pose is a T-pose: anny's rest pose is an A-pose, so both upper arms are raised to horizontal.

Anny's first build is slow (about a minute, 2 GB of memory) and writes about 800 MB of cache; we keep only
its compact model (about 50 MB) and our own template file in ``cache_dir``, so later starts take a second.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from pipeline import parts
from pipeline.body.base import BodyModel, BodyModelError, BodyTemplate, smooth_face_labels

log = logging.getLogger(__name__)

# Bump when the template or its part assignment changes.
TEMPLATE_VERSION = "4"

# Anny bone name (without the .L/.R side) -> mask part name (side appended where the part has one).
_BONE_GROUPS = (
    (("upperarm01", "upperarm02"), "Upper Arm"),
    (("lowerarm01", "lowerarm02"), "Lower Arm"),
    (("wrist", "finger", "metacarpal"), "Hand"),
    (("upperleg01", "upperleg02"), "Upper Leg"),
    (("lowerleg01", "lowerleg02"), "Lower Leg"),
    (("foot", "toe"), "Foot"),
    (("neck02", "neck03", "head", "eye"), "Head"),
)
_SIDE = {"L": "Left", "R": "Right"}  # anny's .L bones are the person's left (+X)


def bone_mask_part(label: str) -> int:
    """The mask part (1..14) a bone's vertices belong to."""
    base, _, side = label.partition(".")
    stem = base.split("-")[0]
    for prefixes, group in _BONE_GROUPS:
        if stem.startswith(prefixes):
            if group == "Head":
                return parts.MASK_PART_NAMES.index("Head") + 1
            if side not in _SIDE:
                raise BodyModelError(f"anny bone {label!r} has no side")
            word = _SIDE[side]
            name = f"{word} {group}" if group in ("Hand", "Foot") else f"{group} {word}"
            return parts.MASK_PART_NAMES.index(name) + 1
    return parts.MASK_PART_NAMES.index("Torso") + 1


def _load_anny(cache_dir: Path):
    try:
        import anny
        import anny.paths
    except ImportError as exc:  # pragma: no cover - anny is in requirements.txt
        raise BodyModelError("the 'anny' package is not installed (pip install -r requirements.txt)") from exc
    anny_cache = cache_dir / "anny"
    anny_cache.mkdir(parents=True, exist_ok=True)
    anny.paths.set_anny_cache_path(anny_cache)
    model = anny.Anny(skinning_method="lbs")
    # Keep only the compact model that later loads read; the rest is build intermediates.
    for path in anny_cache.glob("v*/*.safetensors"):
        if not path.name.startswith("build_compact_model_data_"):
            path.unlink()
    return model


def _rotation(rotvec: np.ndarray):
    import roma
    import torch

    transform = torch.eye(4, dtype=torch.float64)[None].clone()
    transform[:, :3, :3] = roma.rotvec_to_rotmat(torch.as_tensor(rotvec, dtype=torch.float64)[None])
    return transform


def _align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation vector turning direction a onto direction b."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis)
    return axis / s * np.arctan2(s, float(a @ b)) if s > 1e-12 else np.zeros(3)


class AnnyBody(BodyModel):
    name = "anny"

    def __init__(self, cache_dir: str | os.PathLike):
        self.cache_dir = Path(cache_dir)
        self._model = None
        self._template: BodyTemplate | None = None
        self._vertex_map: np.ndarray | None = None
        self._tpose: dict[str, np.ndarray] | None = None
        self._keypoint_weights: np.ndarray | None = None

    # --- anny itself (slow first time) -------------------------------------------------------------------

    @property
    def model(self):
        if self._model is None:
            self._model = _load_anny(self.cache_dir)
        return self._model

    @property
    def template_file(self) -> Path:
        from importlib.metadata import version

        return self.cache_dir / f"anny-template-v{TEMPLATE_VERSION}-anny{version('anny')}.npz"

    def _bone_position(self, pose, label: str) -> np.ndarray:
        out = self.model(pose_parameters=pose)
        return out["bone_poses"][0, self.model.bone_labels.index(label), :3, 3].detach().numpy()

    def _tpose_rotvecs(self) -> dict[str, np.ndarray]:
        rotvecs = {}
        for side, direction in (("L", 1.0), ("R", -1.0)):
            shoulder = self._bone_position(None, f"upperarm01.{side}")
            wrist = self._bone_position(None, f"wrist.{side}")
            rotvecs[f"upperarm01.{side}"] = _align(wrist - shoulder, np.array([direction, 0.0, 0.0]))
        return rotvecs

    def _build_template(self) -> None:
        import torch
        import trimesh

        model = self.model
        faces_all = model.faces.numpy().astype(np.int64)
        tpose = self._tpose_rotvecs()
        with torch.no_grad():
            out = model(pose_parameters={k: _rotation(v) for k, v in tpose.items()})
        vertices_all = out["vertices"][0].numpy().astype(np.float64)

        mesh = trimesh.Trimesh(vertices_all, faces_all, process=False)
        components = trimesh.graph.connected_components(mesh.face_adjacency, nodes=np.arange(len(faces_all)))
        body_faces = np.sort(max(components, key=len))
        other_faces = np.setdiff1d(np.arange(len(faces_all)), body_faces)
        occluder_map = np.unique(faces_all[other_faces])
        occluder_remap = np.full(len(vertices_all), -1, dtype=np.int64)
        occluder_remap[occluder_map] = np.arange(len(occluder_map))
        vertex_map = np.unique(faces_all[body_faces])  # body vertex -> anny vertex
        remap = np.full(len(vertices_all), -1, dtype=np.int64)
        remap[vertex_map] = np.arange(len(vertex_map))
        faces = remap[faces_all[body_faces]]

        # Each face goes to the mask part of the bone with the most skinning weight on its corners.
        bone_ids = model.vertex_bone_indices.numpy()
        weights = model.vertex_bone_weights.numpy()
        dense = np.zeros((len(vertices_all), len(model.bone_labels)))
        np.add.at(dense, (np.arange(len(vertices_all))[:, None], bone_ids), weights)
        face_bone = dense[faces_all[body_faces]].sum(axis=1).argmax(axis=1)
        bone_part = np.array([bone_mask_part(label) for label in model.bone_labels], dtype=np.int8)

        self.template_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.template_file.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            vertices=vertices_all[vertex_map],
            faces=faces,
            face_parts=smooth_face_labels(faces, bone_part[face_bone]),
            vertex_map=vertex_map,
            corner_texcoords=model.texture_coordinates.numpy()[
                model.face_texture_coordinate_indices.numpy()[body_faces]
            ],
            occluder_vertices=vertices_all[occluder_map],
            occluder_faces=occluder_remap[faces_all[other_faces]],
            **{f"tpose:{k}": v for k, v in tpose.items()},
        )
        os.replace(tmp, self.template_file)

    def has_cached_template(self) -> bool:
        return self.template_file.exists()

    # --- the interface -----------------------------------------------------------------------------------

    def template(self) -> BodyTemplate:
        if self._template is None:
            if not self.template_file.exists():
                log.info("building the anny body template (first time only, about a minute)")
                self._build_template()
            with np.load(self.template_file) as data:
                self._vertex_map = data["vertex_map"]
                self._tpose = {k.split(":", 1)[1]: data[k] for k in data.files if k.startswith("tpose:")}
                self._template = BodyTemplate(
                    name=self.name,
                    version=f"anny{self.template_file.stem.split('-anny')[-1]}-t{TEMPLATE_VERSION}",
                    vertices=data["vertices"],
                    faces=data["faces"],
                    face_parts=data["face_parts"],
                    corner_texcoords=data["corner_texcoords"],
                    occluder_vertices=data["occluder_vertices"],
                    occluder_faces=data["occluder_faces"],
                )
        return self._template

    def posed(self, pose: dict | None = None, shape: dict | None = None) -> np.ndarray:
        """``pose``: {anny bone label: rotation vector (3,)} relative to anny's rest pose (an A-pose);
        ``shape``: {phenotype: value in [0, 1]} for gender, age, muscle, weight, height, proportions."""
        self.template()
        return self._posed_all(pose, shape)[self._vertex_map]

    def posed_with_keypoints(self, pose: dict | None = None, shape: dict | None = None):
        """Body vertices (V, 3) and the 17 COCO keypoints (17, 3) for a pose and shape (see :meth:`posed`)."""
        self.template()
        if self._keypoint_weights is None:
            import anny

            regressor = anny.KeypointsRegressor.coco(self.model, labels=list(parts.COCO_KEYPOINT_NAMES))
            self._keypoint_weights = regressor.regression_weights.detach().numpy().astype(np.float64)
        full = self._posed_all(pose, shape)
        return full[self._vertex_map], self._keypoint_weights @ full

    def _posed_all(self, pose: dict | None, shape: dict | None) -> np.ndarray:
        """Every anny vertex (eyes and tongue too) for a pose and shape."""
        import torch

        model = self.model
        pose = pose or {}
        unknown = sorted(set(pose) - set(model.bone_labels))
        if unknown:
            raise BodyModelError(f"unknown anny bones {unknown}; see AnnyBody.bone_labels()")
        bad_shape = sorted(set(shape or {}) - set(model.phenotype_labels))
        if bad_shape:
            raise BodyModelError(f"unknown anny phenotypes {bad_shape}; known: {list(model.phenotype_labels)}")
        transforms = {k: _rotation(np.asarray(v, dtype=np.float64)) for k, v in pose.items()}
        phenotype = {k: torch.tensor([float(v)], dtype=torch.float64) for k, v in (shape or {}).items()}
        with torch.no_grad():
            out = model(pose_parameters=transforms or None, phenotype_kwargs=phenotype or None)
        return out["vertices"][0].numpy().astype(np.float64)

    def tpose(self) -> dict[str, np.ndarray]:
        """The pose (for :meth:`posed`) that gives the template."""
        self.template()
        return dict(self._tpose)

    def bone_labels(self) -> list[str]:
        return list(self.model.bone_labels)
