"""Training data from exported DensePose-COCO: reading it, and the horizontal flip through the chart set's own
mirror map (the file detectron2 is given)."""

import json

import numpy as np
import pytest
import torch

from pipeline import parts
from pipeline.charts import interchange
from pipeline.charts.lookup import ChartLookup
from pipeline.coco.densepose import check_annotation, dp_masks_from_labels
from pipeline.coco.record import DensePosePerson
from pipeline.synthetic import coco
from pipeline.synthetic.scene import SceneGenerator
from training.data import DensePoseCoco, Symmetry, flip_sample


@pytest.fixture(scope="module")
def exported(anny, assets, tmp_path_factory):
    """A DensePose-COCO file and its images, from two synthetic renders (as the exporter writes them)."""
    root = tmp_path_factory.mktemp("export")
    generator = SceneGenerator(anny, assets)
    path = coco.write([generator.generate(seed=41, index=index) for index in range(2)], root, "data.json")
    return path.parent, interchange.ensure(assets, "anny")


def test_flipping_twice_gives_the_annotation_back(exported):
    root, chart_assets = exported
    data = DensePoseCoco(root / "data.json", root)
    symmetry = Symmetry(chart_assets)
    sample = data[0]
    twice = flip_sample(flip_sample(sample, symmetry), symmetry)
    assert np.array_equal(twice.image, sample.image)
    for a, b in zip(sample.people, twice.people, strict=True):
        assert np.allclose(a.box, b.box) and np.array_equal(a.labels, b.labels) and np.allclose(a.x, b.x)
        assert np.array_equal(a.chart, b.chart)
        assert np.abs(a.u - b.u).max() <= 1.5 / 255 and np.abs(a.v - b.v).max() <= 1.5 / 255
        assert np.allclose(a.keypoints, b.keypoints)


def test_flip_keeps_the_left_hand_the_left_hand(exported, assets):
    """The mirrored image shows a mirrored person: what was the right hand is now their left hand, and every
    point still names the same spot of the (mirrored) body."""
    root, chart_assets = exported
    data = DensePoseCoco(root / "data.json", root)
    symmetry = Symmetry(chart_assets)
    lookup = ChartLookup(assets.vertices, assets.faces, assets.face_chart, assets.corner_uv)
    left_hand, right_hand = parts.MASK_PART_NAMES.index("Left Hand") + 1, parts.MASK_PART_NAMES.index("Right Hand") + 1
    checked = 0
    for index in range(len(data)):
        sample = data[index]
        flipped = flip_sample(sample, symmetry)
        width = sample.image.shape[1]
        for before, after in zip(sample.people, flipped.people, strict=True):
            # the masks: the mirrored person's left hand is the mirror of the original right hand
            assert np.array_equal(after.labels == left_hand, (before.labels == right_hand)[:, ::-1])
            # the points: still inside the mask part of their (new) chart, and at the mirrored body point
            ann = DensePosePerson.with_points(id=1, image_id=1, bbox=after.box, box_x=after.x, box_y=after.y,
                                              chart=after.chart, u=after.u, v=after.v,
                                              dp_masks=dp_masks_from_labels(after.labels)).to_json()  # fmt: skip
            assert check_annotation(ann, (width, sample.image.shape[0])) == []
            _, _, p0 = lookup.to_surface(before.chart, before.u, before.v)
            _, _, p1 = lookup.to_surface(after.chart, after.u, after.v)
            assert np.median(np.linalg.norm(p1 - p0 * [-1, 1, 1], axis=1)) < 0.005
            # the keypoints: the person's left wrist (by name, after the swap) is where the right one was
            lw = parts.COCO_KEYPOINT_NAMES.index("left_wrist")
            rw = parts.COCO_KEYPOINT_NAMES.index("right_wrist")
            if before.keypoints[rw, 2] > 0:
                assert after.keypoints[lw, 0] == pytest.approx(width - before.keypoints[rw, 0])
            checked += 1
    assert checked >= 2


def test_augmentation_resizes_and_flips_reproducibly(exported):
    root, chart_assets = exported
    data = DensePoseCoco(root / "data.json", root, chart_assets, augment=True, sizes=(240,), flip=1.0, seed=3)
    plain = DensePoseCoco(root / "data.json", root)
    sample, original = data[1], plain[1]
    assert min(sample.image.shape[:2]) == 240
    scale = 240 / min(original.image.shape[:2])
    assert np.allclose(sample.people[0].box[2:], original.people[0].box[2:] * scale, rtol=0.01)
    assert np.array_equal(data[1].image, sample.image), "the same index gives the same sample"
    with pytest.raises(ValueError, match="mirror map"):
        DensePoseCoco(root / "data.json", root, augment=True)


def test_people_without_densepose_are_boxes_for_the_detector_only(exported, tmp_path):
    """A person with no points and no masks stays in the image's targets (not background for the detector),
    flagged so the DensePose losses leave them alone; an image with no DensePose person is left out."""
    from training.data import to_tensors

    root, chart_assets = exported
    data = json.loads((root / "data.json").read_text())
    first = data["images"][0]["id"]
    data["annotations"].append({"id": 900, "image_id": first, "category_id": 1, "iscrowd": 0,
                                "bbox": [5, 5, 30, 60], "area": 1800})  # fmt: skip
    data["images"].append({"id": 77, "file_name": data["images"][0]["file_name"], "width": 1, "height": 1})
    data["annotations"].append({"id": 901, "image_id": 77, "category_id": 1, "iscrowd": 0, "bbox": [1, 1, 9, 9]})
    dataset = DensePoseCoco(data, root, chart_assets, augment=True, sizes=None, flip=1.0)
    assert 77 not in dataset.ids
    sample = dataset[dataset.ids.index(first)]
    plain = [p for p in sample.people if p.ann_id == 900]
    assert len(plain) == 1 and not plain[0].has_points and not plain[0].has_masks
    _, target = to_tensors(sample)
    assert len(target["boxes"]) == len(sample.people) == len(target["dp_has_points"])
    assert target["dp_has_points"].sum() == len(sample.people) - 1 and not target["dp_has_masks"].all()
    assert set(target["dp_points"][:, 0].long().tolist()) <= set(torch.where(target["dp_has_points"])[0].tolist())
