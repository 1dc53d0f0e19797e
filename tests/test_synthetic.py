"""Synthetic people: the ground truth is exact, occlusion is right, and the generator is deterministic."""

import numpy as np
import pytest
import trimesh

from pipeline import parts
from pipeline.charts.lookup import ChartLookup
from pipeline.render.raster import pixel_centres
from pipeline.synthetic.scene import SceneGenerator


@pytest.fixture(scope="module")
def generator(anny, assets):
    return SceneGenerator(anny, assets)


@pytest.fixture(scope="module")
def images(generator):
    return [generator.generate(seed=11, index=i) for i in range(6)]


def person_pixels(img, rng, n=400):
    rows, cols = np.nonzero(img.instance > 0)
    pick = rng.choice(len(rows), min(n, len(rows)), replace=False)
    return rows[pick], cols[pick]


def test_ground_truth_points_project_back_to_their_pixels(images, assets):
    rng = np.random.default_rng(0)
    for img in images:
        rows, cols = person_pixels(img, rng)
        person = img.instance[rows, cols] - 1
        face, bary = img.face[rows, cols], img.bary[rows, cols].astype(np.float64)
        world = np.stack(
            [
                bary[i] @ img.posed[p][assets.faces[f]].astype(np.float64)
                for i, (p, f) in enumerate(zip(person, face, strict=True))
            ]
        )
        xy, depth = img.camera.project(world)
        assert np.abs(xy - np.stack([cols + 0.5, rows + 0.5], 1)).max() < 0.02
        assert np.allclose(depth, img.depth[rows, cols], rtol=1e-4)


def test_iuv_maps_back_to_the_same_surface_point(images, assets):
    lookup = ChartLookup(assets.vertices, assets.faces, assets.face_chart, assets.corner_uv)
    rng = np.random.default_rng(1)
    for img in images:
        rows, cols = person_pixels(img, rng)
        _, _, point = lookup.to_surface(img.chart[rows, cols], img.uv[rows, cols, 0], img.uv[rows, cols, 1])
        error = np.linalg.norm(point - img.surface[rows, cols], axis=1)
        assert np.percentile(error, 99) < 0.001, np.percentile(error, [50, 99, 100])
        part_of_chart = np.array([0, *[parts.CHART_TO_MASK_PART[c] for c in parts.CHARTS]])
        assert np.array_equal(part_of_chart[img.chart[rows, cols]], img.part[rows, cols])


def test_person_masks_are_the_union_of_their_parts_and_keypoints_sit_in_boxes(images):
    for img in images:
        assert np.array_equal(img.instance > 0, img.part > 0)
        assert np.array_equal(img.part > 0, img.chart > 0)
        for person in img.people:
            x, y, w, h = person.bbox
            kp = np.array(person.keypoints).reshape(17, 3)
            seen = kp[:, 2] == 2
            assert ((kp[seen, 0] >= x - 3) & (kp[seen, 0] <= x + w + 3)).all()
            assert ((kp[seen, 1] >= y - 3) & (kp[seen, 1] <= y + h + 3)).all()
            assert person.area == int((img.instance == person.index).sum())


def test_each_pixel_belongs_to_the_nearest_person(images, assets):
    rng = np.random.default_rng(2)
    for img in images:
        if len(img.posed) < 2:
            continue
        verts = np.concatenate(img.posed).astype(np.float64)
        faces = np.concatenate([assets.faces + i * len(img.posed[0]) for i in range(len(img.posed))])
        mesh = trimesh.Trimesh(verts, faces, process=False)
        h, w = img.instance.shape
        idx = rng.choice(h * w, 4000, replace=False)
        origin, dirs = img.camera.rays(pixel_centres(img.camera)[idx])
        truth = np.zeros(len(idx), dtype=np.int64)
        _, ray, tri = mesh.ray.intersects_location(np.repeat(origin[None], len(dirs), 0), dirs, multiple_hits=False)
        truth[ray] = tri // len(assets.faces) + 1
        assert np.mean(truth == img.instance.ravel()[idx]) > 0.998


def test_perfect_annotations_agree_with_the_pixels(images):
    for img in images:
        for person in img.people:
            if person.ignore:
                continue
            assert person.points, "every annotated person gets stage-2 points"
            per_part = {}
            for p in person.points:
                per_part[p["part"]] = per_part.get(p["part"], 0) + 1
                col, row = int(p["image_xy"][0]), int(p["image_xy"][1])
                assert img.instance[row, col] == person.index
                assert parts.CHART_TO_MASK_PART[p["I"]] == p["part"] == img.part[row, col]
                assert 0 <= p["U"] <= 1 and 0 <= p["V"] <= 1
            assert max(per_part.values()) <= parts.MAX_POINTS_PER_PART


def test_same_seed_same_image_and_different_seeds_differ(generator, images):
    again = generator.generate(seed=11, index=2)
    assert np.array_equal(again.image, images[2].image)
    assert np.array_equal(again.uv, images[2].uv)
    assert again.people[0].keypoints == images[2].people[0].keypoints
    other = generator.generate(seed=12, index=2)
    assert other.image.shape != images[2].image.shape or not np.array_equal(other.image, images[2].image)


def test_segmentation_and_part_masks_are_coco_rle(images):
    from pycocotools import mask as mask_utils

    for img in images:
        for person in img.people:
            seg = person.segmentation
            decoded = mask_utils.decode({"size": seg["size"], "counts": seg["counts"].encode()})
            assert np.array_equal(decoded.astype(bool), img.instance == person.index)
            if person.ignore:
                continue
            labels = img.part_masks_in_box(person)
            assert len(person.dp_masks) == 14
            for part, rle in enumerate(person.dp_masks, start=1):
                assert rle["size"] == [256, 256]
                assert np.array_equal(mask_utils.decode({**rle, "counts": rle["counts"].encode()}), labels == part)


def test_the_truth_under_a_point_is_the_perfect_annotators_answer_and_only_its_persons(images, tmp_path):
    """One lookup (pipeline.synthetic.truth) finds what the generator's perfect annotator recorded, and has no
    truth where the pixel shows someone else or nothing."""
    from pipeline.synthetic.truth import SyntheticTruth

    img = next(i for i in images if sum(not p.ignore for p in i.people) >= 1 and len(i.people) >= 2)
    np.savez(tmp_path / "truth.npz", instance=img.instance, face=img.face, bary=img.bary, surface=img.surface)
    truth = SyntheticTruth.load(tmp_path / "truth.npz", [{"index": p.index} for p in img.people])
    person = next(p for p in img.people if not p.ignore)
    pts = person.points
    found = truth.under(person.index, person.bbox, [p["box_xy"][0] for p in pts], [p["box_xy"][1] for p in pts])
    assert found.shown.all()
    assert found.face.tolist() == [p["face"] for p in pts]
    assert np.allclose(found.surface, [p["surface"] for p in pts]) and np.allclose(found.bary, [p["bary"] for p in pts])
    # the same points asked as another person's: no truth there
    other = next(p.index for p in img.people if p.index != person.index)
    assert not truth.under(other, person.bbox, pts[0]["box_xy"][0], pts[0]["box_xy"][1]).shown.any()
    with pytest.raises(KeyError):
        truth.person(999)
