"""The accuracy study checked against what click noise implies, computed independently of the click mapping;
the error map and the summary."""

import numpy as np
import pytest

from pipeline.correspond import ClickMapper
from pipeline.evaluation.study import (
    error_map,
    expected_click_error,
    render_error_map,
    summarise,
    surface_distance,
)
from pipeline.synthetic.annotator import Behaviour, simulated_click
from pipeline.synthetic.scene import SceneGenerator, perfect_annotations


@pytest.fixture(scope="module")
def truth_points(anny, assets):
    """True surface points (part, face, barycentric, 3-D point) of the people in three synthetic images."""
    generator = SceneGenerator(anny, assets)
    points = []
    for index in range(3):
        img = generator.generate(seed=31, index=index)
        for person in img.people:
            if not person.ignore:
                points += perfect_annotations(img, person)
    assert len(points) > 120
    return points


def part_meshes(assets):
    """Each part's outside faces as a trimesh mesh (what its six views show), for ray casting."""
    import trimesh

    meshes = {}
    for part in range(1, 15):
        faces = assets.faces[(assets.face_part == part) & assets.exterior]
        meshes[part] = trimesh.Trimesh(assets.vertices, faces, process=False)
    return meshes


def simulate(points, mapper, assets, eval_mesh, sigma, seed=0, meshes=None):
    """Click every point with noise ``sigma``; (measured errors, expected errors) in metres."""
    rng = np.random.default_rng(seed)
    measured, expected = [], []
    for p in points:
        click = simulated_click(rng, mapper, p["part"], p["surface"], Behaviour(click_noise_px=sigma), p["face"])
        if click is None:
            continue
        view, x, y = click
        hit = mapper.map_click(p["part"], view, x, y)
        measured.append(surface_distance(eval_mesh, assets.vertices, assets.faces, [p["face"]], [p["bary"]],
                                         hit.face, hit.bary)[0])  # fmt: skip
        if meshes is not None:
            camera = assets.cameras[p["part"] - 1][view]
            expected.append(expected_click_error(camera, np.asarray(p["surface"]), sigma, meshes[p["part"]]))
    return np.array(measured), np.array(expected)


def test_measured_error_matches_what_the_click_noise_implies(truth_points, assets, eval_mesh):
    mapper = ClickMapper(assets)
    measured, expected = simulate(truth_points, mapper, assets, eval_mesh, 5.0, meshes=part_meshes(assets))
    assert len(measured) > 90 and np.isfinite(expected).all()
    ratio = measured.mean() / expected.mean()
    assert 0.85 < ratio < 1.15, f"measured {measured.mean() * 100:.2f} cm, expected {expected.mean() * 100:.2f} cm"


def test_without_noise_the_error_is_the_pixel_quantisation(truth_points, assets, eval_mesh):
    mapper = ClickMapper(assets)
    measured, _ = simulate(truth_points, mapper, assets, eval_mesh, sigma=0.0)
    # one pixel of a view, on the surface: depth / focal length (about 2-4 mm here)
    pixel = []
    for p in truth_points:
        view = mapper.project_to_views(p["part"], np.asarray(p["surface"]))[1][:, 0].argmax()
        camera = assets.cameras[p["part"] - 1][view]
        pixel.append(camera.to_camera(np.asarray(p["surface"])[None])[0, 2] / camera.fx)
    assert np.median(measured) < 0.71 * np.median(pixel), "within half a pixel's diagonal"
    assert np.percentile(measured, 95) < 3 * np.median(pixel)


def test_noisier_clicks_score_worse_and_the_summary_says_so(truth_points, assets, eval_mesh):
    mapper = ClickMapper(assets)
    sample = truth_points[:120]
    errors, who, part = [], [], []
    for name, sigma in (("calm", 1.0), ("shaky", 8.0)):
        measured, _ = simulate(sample, mapper, assets, eval_mesh, sigma, seed=3)
        errors += measured.tolist()
        who += [name] * len(measured)
        part += [p["part"] for p in sample][: len(measured)]
    summary = summarise(np.array(errors), np.array(part), who)
    calm, shaky = summary["annotators"]["calm"], summary["annotators"]["shaky"]
    assert calm["mean_cm"] < shaky["mean_cm"] and calm["auc10"] > shaky["auc10"]
    assert sum(s["points"] for s in summary["parts"].values()) == len(errors)


def test_error_map_spreads_errors_over_nearby_vertices(assets, eval_mesh, anny, tmp_path):
    head = int(np.argmax(assets.vertices[:, 2]))  # top of the head
    foot = int(np.argmin(assets.vertices[:, 2]))
    per_vertex = error_map(eval_mesh, [(np.array([head, foot]), np.array([0.01, 0.05]))])
    near_head = eval_mesh.distance(np.full(eval_mesh.n, head), np.arange(eval_mesh.n)) < 0.02
    assert np.allclose(per_vertex[near_head], 0.01, atol=1e-3)
    assert np.isnan(per_vertex[assets.vertices[:, 2].argsort()[len(assets.vertices) // 2]]), "the waist: no data"
    picture = render_error_map(anny.template(), per_vertex, tmp_path / "map.png")
    assert picture.read_bytes()[:4] == b"\x89PNG"
