"""GPS evaluation: perfect and shifted predictions, background, no detections, the matching and ignore rules,
the pointwise curve, and the evaluate_densepose command."""

import json

import numpy as np
import pytest

from pipeline import parts
from pipeline.charts.interchange import chart_vertices
from pipeline.coco.densepose import decode_uv_png, encode_uv_png
from pipeline.evaluation import gps as G
from pipeline.evaluation.mesh import EvalMesh
from pipeline.synthetic import coco as synthetic_coco
from pipeline.synthetic.scene import SceneGenerator


@pytest.fixture(scope="module")
def ground_truth(anny, assets):
    """DensePose-COCO ground truth of three synthetic images (people too small or hidden have no points)."""
    generator = SceneGenerator(anny, assets)
    images = [generator.generate(seed=21, index=index) for index in range(3)]
    data = synthetic_coco.dataset(images, [f"{index}.jpg" for index in range(3)])
    annotations = data["annotations"]
    assert sum("dp_x" in a for a in annotations) >= 4
    return data


def annotated(gt):
    return [a for a in gt["annotations"] if "dp_x" in a]


def test_the_distance_table_is_indexed_as_detectron2_indexes_it(assets, eval_mesh):
    from pipeline.geodesic import Geodesics

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, eval_mesh.n, 40), rng.integers(0, eval_mesh.n, 40)
    geo = Geodesics(assets.vertices, assets.faces)
    for i, j in zip(a[:5], b[:5], strict=True):
        direct = geo.from_point(*_vertex_as_point(assets, i))[j]
        lo, hi = min(i, j), max(i, j)
        k = hi * (hi - 1) // 2 + lo
        assert float(eval_mesh.pdist[k]) == pytest.approx(direct, rel=0.05, abs=0.01)
    assert np.array_equal(eval_mesh.distance(a, b), eval_mesh.distance(b, a))
    assert eval_mesh.distance([5], [5])[0] == 0 and np.isinf(eval_mesh.distance([-1], [5])[0])


def _vertex_as_point(assets, vertex):
    face = int(np.flatnonzero((assets.faces == vertex).any(axis=1))[0])
    bary = (assets.faces[face] == vertex).astype(float)
    return face, bary


def test_iuv_maps_to_the_nearest_vertex_of_its_chart(assets, eval_mesh):
    chart, uv, vertex = chart_vertices(assets.faces, assets.face_chart, assets.corner_uv)
    pick = np.random.default_rng(1).choice(len(chart), 300, replace=False)
    assert np.array_equal(eval_mesh.nearest(chart[pick], uv[pick, 0], uv[pick, 1]), vertex[pick])
    assert eval_mesh.nearest([0], [0.5], [0.5])[0] == -1, "background"
    with pytest.raises(ValueError, match="chart 25"):
        eval_mesh.nearest([25], [0.5], [0.5])


def test_perfect_predictions_score_one(ground_truth, eval_mesh):
    results = G.perfect_results(ground_truth)
    assert len(results) == len(annotated(ground_truth))
    numbers = G.evaluate(ground_truth, results, eval_mesh)
    assert G.evaluate(ground_truth, results, eval_mesh, workers=2) == numbers, "worker processes change nothing"
    assert numbers["gps"]["AP"] == pytest.approx(1.0) and numbers["gps"]["AR"] == pytest.approx(1.0)
    assert numbers["gpsm"]["AP"] == pytest.approx(1.0), "a perfect prediction's mask IoU is 1 at image resolution"
    assert numbers["pointwise"]["auc10"] > 0.9 and numbers["pointwise"]["auc30"] > 0.96
    assert numbers["pointwise"]["points"] == sum(len(a["dp_x"]) for a in annotated(ground_truth))
    d = [G.point_distances(eval_mesh, G.Detection(r, np.asarray(r["bbox"]), 1.0), _truth(a, eval_mesh))
         for r, a in zip(results, annotated(ground_truth), strict=True)]  # fmt: skip
    assert np.median(np.concatenate(d)) < 0.01, "only the 1/255 quantisation of U and V is left"


def _truth(ann, mesh, kappa="paper"):
    truths = G._truths({"images": [{"id": ann["image_id"]}], "annotations": [ann]}, mesh, kappa, parts.POINT_SCALE)
    return truths[ann["image_id"]][0]


def _pixels(ann, raster_shape):
    """The raster (row, col) of each annotated point, by the reference's rule (x = x0 + dp_x w / 255,
    truncated offsets), for a raster over the person's own box."""
    x0, y0, w, h = ann["bbox"]
    col = (np.asarray(ann["dp_x"]) * w / parts.POINT_SCALE + x0 - x0).astype(int).clip(0, raster_shape[1] - 1)
    row = (np.asarray(ann["dp_y"]) * h / parts.POINT_SCALE + y0 - y0).astype(int).clip(0, raster_shape[0] - 1)
    return row, col


def _shift(result, ann, mesh, target_m, rng):
    """Move every annotated point's prediction to a chart vertex about ``target_m`` away (geodesic)."""
    chart_map, u_map, v_map = decode_uv_png(result["uv_data"])
    truth = _truth(ann, mesh)
    row, col = _pixels(ann, chart_map.shape)
    for k, r in enumerate(truth.rows):
        d = mesh.distance(np.full(len(mesh.row), r), mesh.row)
        near = np.flatnonzero(np.abs(d - target_m) < 0.01)
        pick = rng.choice(near)
        chart_map[row[k], col[k]], u_map[row[k], col[k]], v_map[row[k], col[k]] = (
            mesh.chart[pick], mesh.uv[pick, 0], mesh.uv[pick, 1])  # fmt: skip
    return {**result, "uv_data": encode_uv_png(chart_map, u_map, v_map)}


@pytest.mark.parametrize("kappa", ["paper", "per-part"])
def test_predictions_shifted_by_a_known_distance_give_the_formulas_gps(ground_truth, eval_mesh, kappa):
    rng = np.random.default_rng(2)
    ann = annotated(ground_truth)[0]
    result = _shift(G.perfect_results({"annotations": [ann]})[0], ann, eval_mesh, 0.30, rng)
    det = G.Detection(result, np.asarray(result["bbox"]), 1.0)
    truth = _truth(ann, eval_mesh, kappa)
    gps = G._similarities(eval_mesh, [det], [truth], None)[0]
    # independently: decode the PNG, brute-force nearest chart vertex, condensed index by hand
    chart_map, u_map, v_map = decode_uv_png(result["uv_data"])
    row, col = _pixels(ann, chart_map.shape)
    expected = []
    for k in range(len(col)):
        c, u, v = chart_map[row[k], col[k]], u_map[row[k], col[k]], v_map[row[k], col[k]]
        members = np.flatnonzero(eval_mesh.chart == c)
        best = members[np.argmin(np.sum((eval_mesh.uv[members] - [u, v]) ** 2, axis=1))]
        a, b = sorted((int(truth.rows[k]), int(eval_mesh.row[best])))
        dist = float(eval_mesh.pdist[b * (b - 1) // 2 + a]) if a != b else 0.0
        expected.append(dist)
    expected = np.asarray(expected)
    assert np.median(expected) == pytest.approx(0.30, abs=0.02)
    kappas = G.kappa_of_charts(np.asarray(ann["dp_I"], dtype=int), kappa)
    assert gps[0, 0] == pytest.approx(np.mean(np.exp(-(expected**2) / (2 * kappas**2))), rel=1e-6)
    if kappa == "paper":
        assert gps[0, 0] == pytest.approx(0.5, abs=0.05), "30 cm off scores 0.5 with the paper's kappa"


def test_background_predictions_are_infinitely_far(ground_truth, eval_mesh):
    ann = annotated(ground_truth)[0]
    result = G.perfect_results({"annotations": [ann]})[0]
    h, w = result["uv_shape"][1:]
    empty = {**result, "uv_data": encode_uv_png(np.zeros((h, w)), np.zeros((h, w)), np.zeros((h, w)))}
    d = G.point_distances(eval_mesh, G.Detection(empty, np.asarray(empty["bbox"]), 1.0), _truth(ann, eval_mesh))
    assert np.all(np.isinf(d))
    gt = {**ground_truth, "annotations": [ann], "images": ground_truth["images"]}
    numbers = G.evaluate(gt, [empty], eval_mesh)
    assert numbers["gps"]["AP"] == 0 and numbers["pointwise"]["auc30"] == 0


def test_no_detections_give_ap_zero(ground_truth, eval_mesh):
    numbers = G.evaluate(ground_truth, [], eval_mesh)
    assert numbers["gps"]["AP"] == 0 and numbers["gps"]["AR"] == 0 and numbers["gpsm"]["AP"] == 0
    assert numbers["pointwise"]["auc10"] == 0


def tiny_mesh():
    """Three vertices on one chart, 0.1 m apart in a row: 0 - 1 - 2."""
    pdist = np.array([0.1, 0.2, 0.1], dtype=np.float32)  # (0,1), (0,2), (1,2) at k = b(b-1)/2 + a
    return EvalMesh(np.array([2, 2, 2]), np.array([[0.1, 0.5], [0.5, 0.5], [0.9, 0.5]]), np.arange(3), pdist, 3)


def _person(ann_id, box, points=True):
    ann = {"id": ann_id, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": box, "area": box[2] * box[3]}
    if points:
        ann.update(dp_x=[64.0, 192.0], dp_y=[128.0, 128.0], dp_I=[2.0, 2.0], dp_U=[0.1, 0.9], dp_V=[0.5, 0.5],
                   dp_masks=[[] for _ in range(14)])  # fmt: skip
    return ann


def _det(box, score, u_left, u_right):
    """A prediction over the box (a raster of its size): chart 2 everywhere, U per half."""
    h, w = G.raster_size(box)
    u = np.where(np.arange(w)[None, :] < w // 2, u_left, u_right) * np.ones((h, 1))
    return {"image_id": 1, "category_id": 1, "bbox": box, "score": score, "uv_shape": [3, h, w],
            "uv_data": encode_uv_png(np.full((h, w), 2), u, np.full((h, w), 0.5))}  # fmt: skip


def test_matching_and_ignore_rules_worked_by_hand():
    mesh = tiny_mesh()
    a, b = [0, 0, 100, 200], [300, 0, 100, 200]
    crowd_free_unannotated = [600, 0, 100, 200]
    gt = {"images": [{"id": 1, "width": 800, "height": 300}],
          "annotations": [_person(1, a), _person(2, b), _person(3, crowd_free_unannotated, points=False)]}  # fmt: skip
    dets = [
        _det(crowd_free_unannotated, 0.95, 0.1, 0.9),  # on the person without DensePose: ignored, not a FP
        _det(a, 0.9, 0.1, 0.9),  # exact on A: GPS 1
        _det(a, 0.8, 0.5, 0.5),  # a duplicate on A, each point 0.1 m off: GPS exp(-0.01 / 2 k^2) = 0.926
    ]
    numbers = G.evaluate(gt, dets, mesh, kappa="paper")["gps"]
    # at every threshold: TP (A), then the duplicate is a FP (A is taken), B is never found: recall 1/2
    assert numbers["AR"] == pytest.approx(0.5) and numbers["AP50"] == pytest.approx(51 / 101)
    assert numbers["AP"] == pytest.approx(51 / 101)
    # without the exact detection the duplicate matches A up to GPS 0.926 (thresholds 0.5 .. 0.9: 9 of 10)
    numbers = G.evaluate(gt, [dets[0], dets[2]], mesh, kappa="paper")["gps"]
    assert numbers["AP"] == pytest.approx(0.9 * 51 / 101) and numbers["AP75"] == pytest.approx(51 / 101)
    # the unannotated person's box is large: no medium-sized person counts, so APm is -1 (undefined)
    assert G.evaluate(gt, dets, mesh)["gps"]["APm"] == -1


def test_pointwise_curve_and_auc():
    curve = G.pointwise(np.array([0.0, 0.05, 0.15, np.inf]))
    ratio = dict((t, r) for t, r in curve["curve"])
    assert ratio[0.0] == 0.25 and ratio[5.0] == 0.5 and ratio[15.0] == 0.75 and ratio[30.0] == 0.75
    assert curve["auc10"] == pytest.approx((0.25 * 5 + 0.5 * 5 + 0.25 * 0.5 / 2) / 10, abs=0.02)
    assert 0 < curve["auc10"] < curve["auc30"] < 0.75


@pytest.mark.django_db
def test_evaluate_densepose_command_writes_json_and_plot(ground_truth, assets, eval_mesh, tmp_path, settings):
    from django.core.management import CommandError, call_command

    from tests.stack import ASSET_CACHE

    settings.ASSET_CACHE_DIR = ASSET_CACHE
    gt = {**ground_truth, "info": {"body_model": "anny", "chart_set": f"anny-{assets.key}"}}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(G.perfect_results(gt)))
    call_command("evaluate_densepose", gt=str(tmp_path / "gt.json"), dt=str(tmp_path / "dt.json"),
                 json_out=tmp_path / "out" / "numbers.json", plot=tmp_path / "out" / "curve.png")  # fmt: skip
    numbers = json.loads((tmp_path / "out" / "numbers.json").read_text())
    assert set(numbers["gps"]) >= {"AP", "AP50", "AP75", "APm", "APl", "AR"} and numbers["gps"]["AP"] == 1.0
    assert 0 < numbers["pointwise"]["auc10"] <= 1 and len(numbers["pointwise"]["curve"]) == 61
    assert (tmp_path / "out" / "curve.png").read_bytes()[:4] == b"\x89PNG"

    gt["info"]["chart_set"] = "anny-0000000000000000"
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    with pytest.raises(CommandError, match="made with chart set anny-0000000000000000"):
        call_command("evaluate_densepose", gt=str(tmp_path / "gt.json"), dt=str(tmp_path / "dt.json"))

    # any folder of the reference's evaluation files, named as DensePose names its SMPL ones
    import os

    from pipeline.charts import interchange

    source = interchange.ensure(assets, "anny")
    smpl_like = tmp_path / "smpl_like"
    smpl_like.mkdir()
    for ours, theirs in (("anny_subdiv.mat", "SMPL_subdiv.mat"), ("anny_SUBDIV_TRANSFORM.mat",
                         "SMPL_SUBDIV_TRANSFORM.mat"), ("Pdist_matrix.pkl", "Pdist_matrix.pkl")):  # fmt: skip
        os.link(source / ours, smpl_like / theirs)
    call_command("evaluate_densepose", gt=str(tmp_path / "gt.json"), dt=str(tmp_path / "dt.json"),
                 chart_assets=str(smpl_like), point_scale=256, json_out=tmp_path / "smpl.json")  # fmt: skip
    numbers = json.loads((tmp_path / "smpl.json").read_text())
    assert numbers["point_scale"] == 256 and numbers["chart_set"] == str(smpl_like) and numbers["gps"]["AP"] > 0.9
    (smpl_like / "Pdist_matrix.pkl").unlink()
    with pytest.raises(CommandError, match=r"missing Pdist_matrix\.pkl"):
        call_command("evaluate_densepose", gt=str(tmp_path / "gt.json"), dt=str(tmp_path / "dt.json"),
                     chart_assets=str(smpl_like))  # fmt: skip
