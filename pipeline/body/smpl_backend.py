"""SMPL through smplx, from model files the user supplies (SMPL is licensed; this project never downloads it).

Real SMPL pickles hold ``chumpy`` objects, and chumpy does not import on Python 3.11: they are read with an
unpickler that turns chumpy arrays into numpy arrays. SMPL's rest pose is already a T-pose. Its frame (+Y
up, facing +Z, the person's left +X) is turned into the canonical one (+Z up, facing -Y, left +X).
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import numpy as np

from pipeline import parts
from pipeline.body.base import BodyModel, BodyModelError, BodyTemplate, smooth_face_labels

SMPL_JOINTS = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand",
    "right_hand",
)  # fmt: skip
REQUIRED_KEYS = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")
# SMPL (x, y, z) -> canonical (x, -z, y)
TO_CANONICAL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
MODEL_FILES = (
    "SMPL_NEUTRAL.pkl",
    "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl",
    "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl",
)


def joint_mask_part(joint: str) -> int:
    """The mask part (1..14) of the body segment a SMPL joint moves."""
    side, _, name = joint.partition("_")
    side_word = {"left": "Left", "right": "Right"}.get(side)
    groups = {"hip": "Upper Leg", "knee": "Lower Leg", "ankle": "Foot", "foot": "Foot", "shoulder": "Upper Arm",
              "elbow": "Lower Arm", "wrist": "Hand", "hand": "Hand"}  # fmt: skip
    if side_word and name in groups:
        group = groups[name]
        label = f"{side_word} {group}" if group in ("Hand", "Foot") else f"{group} {side_word}"
        return parts.MASK_PART_NAMES.index(label) + 1
    if joint in ("neck", "head"):
        return parts.MASK_PART_NAMES.index("Head") + 1
    return parts.MASK_PART_NAMES.index("Torso") + 1


class _ChumpyArray:
    """Stands in for chumpy.Ch while unpickling; keeps the array value."""

    def __init__(self, *args, **kwargs):
        self.value = None

    def __setstate__(self, state):
        if isinstance(state, dict):
            for key in ("x", "_x", "r"):
                if key in state and state[key] is not None:
                    self.value = np.asarray(state[key])
                    return
            arrays = [v for v in state.values() if isinstance(v, np.ndarray)]
            self.value = arrays[0] if arrays else None
        else:
            self.value = np.asarray(state)


class _NoChumpyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.startswith("chumpy"):
            return _ChumpyArray
        return super().find_class(module, name)


def _plain(value):
    if isinstance(value, _ChumpyArray):
        return value.value
    if "scipy.sparse" in str(type(value)):
        return np.asarray(value.todense())
    return value


def read_smpl_pickle(path: Path) -> dict:
    """An SMPL model pickle as a dict of numpy arrays, without chumpy."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise BodyModelError(f"cannot read the SMPL model file {path}: {exc}") from None
    try:
        data = _NoChumpyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as exc:
        raise BodyModelError(f"{path} is not a readable SMPL model pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise BodyModelError(f"{path} does not hold an SMPL model (a dict), but {type(data).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise BodyModelError(f"{path} is missing SMPL keys {missing}")
    model = {key: _plain(value) for key, value in data.items()}
    v = np.asarray(model["v_template"])
    checks = [
        (v.ndim == 2 and v.shape[1] == 3, f"v_template has shape {v.shape}, expected (V, 3)"),
        (np.asarray(model["weights"]).shape == (len(v), len(SMPL_JOINTS)), "weights must be (V, 24)"),
        (np.asarray(model["J_regressor"]).shape == (len(SMPL_JOINTS), len(v)), "J_regressor must be (24, V)"),
        (np.asarray(model["f"]).ndim == 2 and np.asarray(model["f"]).max() < len(v), "faces refer to missing vertices"),
    ]
    for ok, problem in checks:
        if not ok:
            raise BodyModelError(f"{path}: {problem}")
    return model


def find_model_file(model_dir: Path) -> Path:
    for name in MODEL_FILES:
        if (Path(model_dir) / name).exists():
            return Path(model_dir) / name
    raise BodyModelError(
        f"no SMPL model in {model_dir}: SMPL is licensed and not shipped; download it from the SMPL authors and "
        f"put one of {', '.join(MODEL_FILES)} there (settings SMPL_MODEL_DIR)"
    )


class SmplBody(BodyModel):
    name = "smpl"

    def __init__(self, model_dir: str | Path):
        self.model_file = find_model_file(Path(model_dir))
        self._data = read_smpl_pickle(self.model_file)
        self._smplx = None
        self._template: BodyTemplate | None = None

    @property
    def smplx_model(self):
        if self._smplx is None:
            import smplx
            from smplx.utils import Struct

            self._smplx = smplx.SMPL(model_path=str(self.model_file.parent), data_struct=Struct(**self._data))
        return self._smplx

    @property
    def uv_processed(self) -> Path:
        return self.model_file.parent / "UV_Processed.mat"

    def official_charts(self):
        """DensePose's official SMPL charts when the user put UV_Processed.mat beside the model."""
        if not self.uv_processed.exists():
            return None
        from pipeline.charts.densepose_uv import read_uv_processed

        return read_uv_processed(self.uv_processed, self.template())

    def charts_source(self) -> str:
        if not self.uv_processed.exists():
            return "built"
        return "densepose-" + hashlib.sha256(self.uv_processed.read_bytes()).hexdigest()[:12]

    def template(self) -> BodyTemplate:
        if self._template is None:
            data = self._data
            vertices = np.asarray(data["v_template"], dtype=np.float64) @ TO_CANONICAL.T
            faces = np.asarray(data["f"], dtype=np.int64)
            weights = np.asarray(data["weights"], dtype=np.float64)
            joint_part = np.array([joint_mask_part(j) for j in SMPL_JOINTS], dtype=np.int8)
            face_parts = smooth_face_labels(faces, joint_part[weights[faces].sum(axis=1).argmax(axis=1)])
            digest = hashlib.sha256(vertices.tobytes() + faces.tobytes()).hexdigest()[:12]
            self._template = BodyTemplate("smpl", f"smpl-{digest}", vertices, faces, face_parts)
        return self._template

    def posed(self, pose: dict | None = None, shape: dict | None = None) -> np.ndarray:
        """``pose``: {"global_orient": (3,), "body_pose": (69,)} axis-angle; ``shape``: {"betas": (10,)}."""
        import torch

        pose, shape = pose or {}, shape or {}
        unknown = sorted(set(pose) - {"global_orient", "body_pose"}) + sorted(set(shape) - {"betas"})
        if unknown:
            raise BodyModelError(f"unknown SMPL parameters {unknown}: use global_orient, body_pose, betas")
        kwargs = {}
        for key, size, source in (("global_orient", 3, pose), ("body_pose", 69, pose), ("betas", 10, shape)):
            if key in source:
                value = np.asarray(source[key], dtype=np.float32).reshape(-1)
                if value.shape != (size,):
                    raise BodyModelError(f"SMPL {key} must have {size} values, got {value.size}")
                kwargs[key] = torch.from_numpy(value)[None]
        with torch.no_grad():
            out = self.smplx_model(**kwargs)
        return out.vertices[0].numpy().astype(np.float64) @ TO_CANONICAL.T
