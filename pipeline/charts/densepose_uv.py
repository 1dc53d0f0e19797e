"""DensePose's own chart file for SMPL, ``UV_Processed.mat`` (distributed with DensePose; not shipped here).

Its fields: ``All_FaceIndices`` (chart 1..24 of each face of a seam-split copy of SMPL), ``All_Faces`` (those
faces, 1-based into the split vertices), ``All_U_norm`` and ``All_V_norm`` (U, V of each split vertex) and
``All_vertices`` (the 1-based SMPL vertex of each split vertex).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline import parts
from pipeline.body.base import BodyModelError, BodyTemplate
from pipeline.charts.build import ChartSet, measure_charts

FIELDS = ("All_FaceIndices", "All_Faces", "All_U_norm", "All_V_norm", "All_vertices")


def read_uv_processed(path: Path, template: BodyTemplate) -> ChartSet:
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except Exception as exc:
        raise BodyModelError(f"{path} is not a readable MATLAB file ({type(exc).__name__}: {exc})") from None
    missing = [f for f in FIELDS if f not in mat]
    if missing:
        raise BodyModelError(f"{path} is missing {missing}; is it DensePose's UV_Processed.mat?")
    chart = np.asarray(mat["All_FaceIndices"]).ravel().astype(np.int64)
    split_faces = np.asarray(mat["All_Faces"]).astype(np.int64) - 1
    u, v = np.asarray(mat["All_U_norm"]).ravel(), np.asarray(mat["All_V_norm"]).ravel()
    to_model = np.asarray(mat["All_vertices"]).ravel().astype(np.int64) - 1
    if split_faces.ndim != 2 or split_faces.shape[1] != 3 or len(chart) != len(split_faces):
        raise BodyModelError(f"{path}: All_Faces must be (F, 3) with one All_FaceIndices entry per face")
    if chart.min() < 1 or chart.max() > parts.NUM_CHARTS:
        raise BodyModelError(f"{path}: chart ids must be 1..{parts.NUM_CHARTS}")
    if to_model.max() >= len(template.vertices):
        raise BodyModelError(f"{path} refers to vertex {to_model.max() + 1}; the model has {len(template.vertices)}")

    index = {tuple(sorted(f)): i for i, f in enumerate(template.faces.tolist())}
    face_chart = np.zeros(len(template.faces), dtype=np.int8)
    corner_uv = np.zeros((len(template.faces), 3, 2), dtype=np.float32)
    for k, split in enumerate(split_faces):
        model_vertices = to_model[split]
        i = index.get(tuple(sorted(model_vertices.tolist())))
        if i is None:
            raise BodyModelError(f"{path}: face {k + 1} does not match a face of the body model")
        face_chart[i] = chart[k]
        for corner, vertex in enumerate(template.faces[i]):
            j = split[np.flatnonzero(model_vertices == vertex)[0]]
            corner_uv[i, corner] = (u[j], v[j])
    if (face_chart == 0).any():
        raise BodyModelError(f"{path} gives no chart to {int((face_chart == 0).sum())} faces of the body model")
    return measure_charts(template, face_chart, corner_uv, method="densepose")


def write_uv_processed(path: Path, template: BodyTemplate, charts: ChartSet) -> None:
    """Charts in DensePose's UV_Processed.mat layout: every face gets its own three split vertices."""
    from scipy.io import savemat

    n = len(template.faces)
    savemat(
        path,
        {
            "All_FaceIndices": charts.face_chart.astype(np.float64).reshape(-1, 1),
            "All_Faces": (np.arange(3 * n).reshape(n, 3) + 1).astype(np.float64),
            "All_U_norm": charts.corner_uv[:, :, 0].reshape(-1, 1).astype(np.float64),
            "All_V_norm": charts.corner_uv[:, :, 1].reshape(-1, 1).astype(np.float64),
            "All_vertices": (template.faces.reshape(-1, 1) + 1).astype(np.float64),
        },
    )
