"""The anny body model and the 24 DensePose charts built on it."""

import hashlib

import numpy as np
import pytest
import trimesh

from pipeline import parts
from pipeline.body import BodyModelError, load_body_model
from pipeline.body.anny_backend import AnnyBody
from pipeline.charts import build_charts
from pipeline.charts.build import assign_charts
from tests.stack import ASSET_CACHE as CACHE


@pytest.fixture(scope="session")
def charts(anny):
    return build_charts(anny.template())


def centroid(template, mask):
    return template.vertices[template.faces[mask]].mean(axis=(0, 1))


def part_mask(template, name):
    return template.face_parts == parts.MASK_PART_NAMES.index(name) + 1


def test_template_is_the_closed_body_surface_only(anny):
    t = anny.template()
    mesh = trimesh.Trimesh(t.vertices, t.faces, process=False)
    assert (len(t.vertices), len(t.faces)) == (13348, 26692)  # eyes and tongue dropped
    assert mesh.is_watertight and mesh.euler_number == 2
    assert mesh.volume > 0  # faces wind outwards
    assert set(np.unique(t.face_parts)) == set(parts.MASK_PARTS)


def test_template_is_t_posed_facing_minus_y_with_the_left_side_at_plus_x(anny):
    t = anny.template()
    height = np.ptp(t.vertices[:, 2])
    assert 1.5 < height < 1.9
    for side in ("Left", "Right"):
        hand, arm = centroid(t, part_mask(t, f"{side} Hand")), centroid(t, part_mask(t, f"Upper Arm {side}"))
        assert abs(hand[2] - arm[2]) < 0.05, "arms are horizontal"
        assert np.sign(hand[0]) == (1 if side == "Left" else -1), f"the {side.lower()} hand is on the body's {side}"
        foot, shin = centroid(t, part_mask(t, f"{side} Foot")), centroid(t, part_mask(t, f"Lower Leg {side}"))
        assert foot[1] < shin[1], "toes point to the front (-Y)"
    head = t.vertices[t.faces[part_mask(t, "Head")]].reshape(-1, 3)
    nose = head[np.argmin(head[:, 1])]
    assert abs(nose[0]) < 0.02 and nose[2] > centroid(t, part_mask(t, "Head"))[2] - 0.1


def test_template_comes_from_the_cache_without_loading_anny(anny):
    again = AnnyBody(CACHE)
    t = again.template()
    assert again._model is None
    assert np.array_equal(t.vertices, anny.template().vertices)


def test_posed_bodies(anny):
    t = anny.template()
    assert np.allclose(anny.posed(anny.tpose()), t.vertices, atol=1e-9)
    tall, short = anny.posed(anny.tpose(), {"height": 1.0}), anny.posed(anny.tpose(), {"height": 0.0})
    assert tall.shape == t.vertices.shape
    assert np.ptp(tall[:, 2]) > np.ptp(t.vertices[:, 2]) + 0.2 > np.ptp(short[:, 2]) + 0.4
    child = anny.posed(None, {"age": 0.0})
    assert np.ptp(child[:, 2]) < 1.0
    bent = anny.posed({"lowerarm01.L": [0.0, 0.0, 1.2]})
    moved = np.linalg.norm(bent - anny.posed(None), axis=1)
    left_hand = np.unique(t.faces[part_mask(t, "Left Hand")])
    right_hand = np.unique(t.faces[part_mask(t, "Right Hand")])
    assert moved[left_hand].min() > 0.05 and moved[right_hand].max() < 1e-9


def test_bad_pose_or_shape_is_a_clear_error(anny):
    with pytest.raises(BodyModelError, match="unknown anny bones \\['elbow'\\]"):
        anny.posed({"elbow": [0, 0, 1]})
    with pytest.raises(BodyModelError, match="unknown anny phenotypes \\['wingspan'\\]"):
        anny.posed(None, {"wingspan": 0.5})
    with pytest.raises(BodyModelError, match="unknown body model 'smurf'"):
        load_body_model("smurf", cache_dir=CACHE)


def test_every_face_is_in_exactly_one_chart_of_its_part(anny, charts):
    t = anny.template()
    assert charts.face_chart.shape == (len(t.faces),)
    assert set(np.unique(charts.face_chart)) == set(parts.CHARTS)
    part_of_chart = np.array([0, *[parts.CHART_TO_MASK_PART[c] for c in parts.CHARTS]])[charts.face_chart]
    assert np.mean(part_of_chart == t.face_parts) > 0.99


def test_charts_are_disks_without_fold_overs_and_uv_in_the_unit_square(charts):
    assert [m.chart for m in charts.metrics] == list(parts.CHARTS)
    for m in charts.metrics:
        assert m.is_disk, m
        assert m.folds == 0, m
    assert charts.corner_uv.min() >= 0 and charts.corner_uv.max() <= 1
    for chart in parts.CHARTS:
        uv = charts.corner_uv[charts.face_chart == chart].reshape(-1, 2)
        assert np.allclose(uv.min(axis=0), 0) and np.allclose(uv.max(axis=0), 1)


def test_torso_and_limb_charts_keep_geodesic_distances(charts):
    for m in charts.metrics:
        if m.method == "mds":
            assert m.geodesic_uv_correlation > 0.99, m
    mds = {m.name for m in charts.metrics if m.method == "mds"}
    assert "Torso Front" in mds and sum("Lower" in name for name in mds) == 8


def test_sides_and_halves_are_where_their_names_say(anny, charts):
    t = anny.template()
    for chart in parts.CHARTS:
        name = parts.chart_name(chart)
        c = centroid(t, charts.face_chart == chart)
        if "Left" in name:
            assert c[0] > 0, name
        if "Right" in name:
            assert c[0] < 0, name
        if name.endswith("Front"):
            back = centroid(t, charts.face_chart == parts.CHART_NAMES.index(name.replace("Front", "Back")) + 1)
            assert c[1] < back[1], name


def test_charts_are_mirror_images_and_deterministic(anny, charts):
    for m in charts.metrics:
        twin = charts.metrics[parts.CHART_FLIP[m.chart] - 1]
        if "Head" not in m.name:
            assert (m.faces, m.vertices, m.geodesic_uv_correlation) == (
                twin.faces,
                twin.vertices,
                twin.geodesic_uv_correlation,
            )
    again = build_charts(anny.template())

    def digest(c):
        return hashlib.sha256(c.face_chart.tobytes() + c.corner_uv.tobytes()).hexdigest()

    assert digest(again) == digest(charts)
    assert np.array_equal(assign_charts(anny.template()), charts.face_chart)
