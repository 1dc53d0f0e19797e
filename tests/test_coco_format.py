"""DensePose-COCO conventions, masks and validation, on synthetic people whose truth is exact."""

import numpy as np
import pytest

from pipeline import parts
from pipeline.coco import densepose as dp
from pipeline.coco.record import DensePosePerson
from pipeline.synthetic.scene import SceneGenerator


@pytest.fixture(scope="module")
def annotated(anny, assets):
    img = SceneGenerator(anny, assets).generate(seed=21, index=3, size=(640, 480))
    person = next(p for p in img.people if not p.ignore)
    labels = img.part_masks_in_box(person)
    ann = DensePosePerson.with_points(
        id=1, image_id=7, bbox=person.bbox, area=float(person.area), dp_masks=dp.dp_masks_from_labels(labels),
        box_x=[p["box_xy"][0] for p in person.points], box_y=[p["box_xy"][1] for p in person.points],
        chart=[p["I"] for p in person.points], u=[p["U"] for p in person.points], v=[p["V"] for p in person.points],
    ).to_json()  # fmt: skip
    return img, person, labels, ann


def test_box_coordinates_round_trip():
    """DensePose-COCO's rule: x = x0 + dp_x * w / 255 (dp_x 255 is the box's far edge)."""
    bbox = [12.5, 40.0, 97.0, 233.0]
    x, y = dp.dp_to_image(bbox, [0, 127.5, 255], [0, 51, 255])
    assert np.allclose(x, [12.5, 12.5 + 48.5, 109.5]) and np.allclose(y, [40.0, 86.6, 273.0])
    bx, by = dp.image_to_dp(bbox, x, y)
    assert np.allclose(bx, [0, 127.5, 255]) and np.allclose(by, [0, 51, 255])
    # the box frame of the masks (256 a side) names the same image points
    assert np.allclose(dp.dp_to_box([0, 127.5, 255]), [0, 128, 256])
    assert np.allclose(dp.box_to_dp(dp.dp_to_box([3.2, 200.0])), [3.2, 200.0])


def test_masks_round_trip_through_rle(annotated):
    _, _, labels, ann = annotated
    assert np.array_equal(dp.labels_from_dp_masks(ann["dp_masks"]), labels)
    absent = [part for part in parts.MASK_PARTS if not (labels == part).any()]
    assert all(ann["dp_masks"][part - 1] == [] for part in absent)
    assert isinstance(ann["dp_masks"][0]["counts"], str)


def test_a_perfect_annotation_is_valid(annotated):
    img, _, _, ann = annotated
    h, w = img.instance.shape
    assert dp.check_annotation(ann, (w, h)) == []
    data = {"images": [{"id": 7, "width": w, "height": h}], "annotations": [ann], "categories": [{"id": 1}]}
    warnings = []
    assert dp.validate_dataset(data, warnings) == [] and warnings == []


@pytest.mark.parametrize(
    "change,reason",
    [
        (lambda a: a.update(dp_U=a["dp_U"][:-1]), "must be lists of one length"),
        (lambda a: a["dp_I"].__setitem__(0, 25.0), "dp_I must be whole numbers 1..24"),
        (lambda a: a["dp_I"].__setitem__(0, 2.5), "dp_I must be whole numbers"),
        (lambda a: a["dp_V"].__setitem__(1, 1.2), "dp_V must be in [0, 1]"),
        (lambda a: a["dp_x"].__setitem__(2, -3.0), "dp_x must be in [0, 256]"),
        (lambda a: a["dp_x"].__setitem__(2, float("nan")), "dp_x must be in [0, 256]"),
        (lambda a: a.update(bbox=[600.0, 10.0, 100.0, 50.0]), "is outside the"),
        (lambda a: a.update(bbox=[1, 2, 3]), "bbox must be [x, y, w, h]"),
        (lambda a: a["dp_masks"].pop(), "dp_masks must be a list of 14"),
        (lambda a: a.pop("dp_V"), "but not ['dp_V']"),
    ],
)
def test_bad_annotations_get_reasons(annotated, change, reason):
    img, _, _, ann = annotated
    bad = {k: (list(v) if isinstance(v, list) else v) for k, v in ann.items()}
    change(bad)
    reasons = dp.check_annotation(bad, (img.instance.shape[1], img.instance.shape[0]))
    assert any(reason in r for r in reasons), reasons


def test_points_off_the_mask_of_their_chart_are_warnings_not_problems(annotated, tmp_path, capsys):
    """Data made by any other tool has points a pixel off their part at part borders; DensePose's loader and
    evaluator take them, and so does this project: a warning with a count, never a refused file."""
    img, _, _, ann = annotated
    bad = dict(ann, dp_I=list(ann["dp_I"]))
    first_part = parts.CHART_TO_MASK_PART[int(bad["dp_I"][0])]
    other = next(c for c in parts.CHARTS if parts.CHART_TO_MASK_PART[c] != first_part)
    bad["dp_I"][0] = float(other)
    warnings = []
    assert dp.check_annotation(bad, (img.instance.shape[1], img.instance.shape[0]), warnings) == []
    assert len(warnings) == 1 and "1 points lie outside the mask part of their chart; point 0" in warnings[0]
    data = {"images": [{"id": 7, "width": img.instance.shape[1], "height": img.instance.shape[0]}],
            "annotations": [bad], "categories": [{"id": 1, "name": "person"}]}  # fmt: skip
    found = []
    assert dp.validate_dataset(data, found) == [] and [p.annotation_id for p in found] == [1]


@pytest.mark.django_db
def test_validate_densepose_reports_warnings_and_passes(annotated, tmp_path, capsys):
    import json

    from django.core.management import call_command

    img, _, _, ann = annotated
    bad = dict(ann, dp_I=list(ann["dp_I"]))
    bad["dp_I"][0] = float(
        next(c for c in parts.CHARTS if parts.CHART_TO_MASK_PART[c] != parts.CHART_TO_MASK_PART[int(ann["dp_I"][0])])
    )
    data = {"images": [{"id": 7, "width": img.instance.shape[1], "height": img.instance.shape[0]}],
            "annotations": [bad], "categories": [{"id": 1, "name": "person"}]}  # fmt: skip
    (tmp_path / "d.json").write_text(json.dumps(data))
    call_command("validate_densepose", str(tmp_path / "d.json"))
    out = capsys.readouterr()
    assert "valid (1 images, 1 people" in out.out and "1 warnings" in out.out
    assert "warning: annotation 1: 1 points lie outside the mask part" in out.err


def test_dataset_problems_name_the_annotation(annotated):
    img, _, _, ann = annotated
    data = {
        "images": [{"id": 7, "width": img.instance.shape[1], "height": img.instance.shape[0]}],
        "annotations": [ann, dict(ann), dict(ann, id=2, image_id=99)],
        "categories": [],
    }
    problems = [str(p) for p in dp.validate_dataset(data)]
    assert "annotation 1: duplicate annotation id" in problems
    assert "annotation 2: refers to image 99, which is not in 'images'" in problems
    assert [str(p) for p in dp.validate_dataset({"images": []})] == [
        "annotation -: the file needs a list 'annotations'",
        "annotation -: the file needs a list 'categories'",
    ]
    entries = {"images": [], "annotations": [ann, "x", 3], "categories": []}
    assert [str(p) for p in dp.validate_dataset(entries)] == [
        "annotation -: 2 entries of 'annotations' are not objects (first: annotations[1])"
    ]
    assert str(dp.validate_dataset([])[0]).endswith("is not a JSON object with images, annotations and categories")


def test_uv_data_png_round_trip(annotated):
    img, person, _, _ = annotated
    x, y, w, h = (int(v) for v in person.bbox)
    chart = img.chart[y : y + h, x : x + w]
    u, v = img.uv[y : y + h, x : x + w, 0], img.uv[y : y + h, x : x + w, 1]
    i2, u2, v2 = dp.decode_uv_png(dp.encode_uv_png(chart, u, v))
    assert np.array_equal(i2, chart)
    assert np.abs(u2 - u).max() <= 0.5 / 255 + 1e-6 and np.abs(v2 - v).max() <= 0.5 / 255 + 1e-6


def test_run_lengths_parse_pycocotools_strings_exactly():
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(3)
    for density in (0.0, 0.02, 0.5, 0.97, 1.0):
        mask = np.asfortranarray((rng.random((256, 256)) < density).astype(np.uint8))
        mask[100:180, 30:200] = 1  # long runs too (numbers of several characters, negative differences)
        rle = dp.encode_rle(mask)
        counts = dp.rle_counts(rle)
        assert counts.sum() == 256 * 256 and (counts >= 0).all()
        again = mask_utils.frPyObjects({"size": [256, 256], "counts": counts.tolist()}, 256, 256)
        assert again["counts"].decode() == rle["counts"], "the runs encode back to the same string"
    with pytest.raises(ValueError, match="ends inside a number"):
        dp.rle_counts({"counts": "0`", "size": [256, 256]})


def test_labels_at_points_and_segmentation_agree_with_decoding(annotated):
    img, person, _, ann = annotated
    labels = dp.labels_from_dp_masks(ann["dp_masks"])
    rng = np.random.default_rng(4)
    row, col = rng.integers(0, 256, 2000), rng.integers(0, 256, 2000)
    assert np.array_equal(dp.mask_labels_at(ann["dp_masks"], row, col), labels[row, col])
    assert np.array_equal(dp.union_mask(ann["dp_masks"]) > 0, labels > 0)
    h, w = img.instance.shape
    rle, area = dp.person_segmentation(labels, person.bbox, w, h)
    # the same mask built the plain way: every image pixel inside the box takes the label at its centre
    x, y, bw, bh = person.bbox
    ys, xs = np.mgrid[0:h, 0:w]
    bx = np.floor((xs + 0.5 - x) * 256 / bw).astype(int)
    by = np.floor((ys + 0.5 - y) * 256 / bh).astype(int)
    inside = (xs >= np.floor(x)) & (xs < np.ceil(x + bw)) & (ys >= np.floor(y)) & (ys < np.ceil(y + bh))
    plain = np.zeros((h, w), dtype=bool)
    plain[inside] = labels[by[inside].clip(0, 255), bx[inside].clip(0, 255)] > 0
    assert np.array_equal(dp.decode_rle(rle), plain) and area == plain.sum()


def test_many_run_lengths_at_once_equal_one_at_a_time():
    rng = np.random.default_rng(5)
    rles = []
    for density in (0.0, 0.01, 0.3, 0.9, 1.0, 0.5):
        mask = (rng.random((256, 256)) < density).astype(np.uint8)
        mask[rng.integers(0, 200) :, rng.integers(0, 200) :] = 1
        rles.append(dp.encode_rle(mask))
    many = dp.rle_counts_many(rles)
    assert len(many) == len(rles)
    for rle, counts in zip(rles, many, strict=True):
        assert np.array_equal(counts, dp.rle_counts(rle))
    with pytest.raises(ValueError):
        dp.rle_counts_many([rles[0], {"counts": "0`", "size": [256, 256]}])


def test_box_frame_has_one_rule_for_numbers_arrays_and_tensors():
    """x = x0 + u * w / scale (256 the box frame, 255 DensePose-COCO's dp frame), and the pixel under a point is
    its floor, kept inside the image."""
    import torch

    from pipeline import boxframe

    bbox = (10.0, 20.0, 128.0, 64.0)
    x, y = boxframe.to_image(bbox, [0, 128, 256], [0, 128, 256])
    assert np.allclose(x, [10, 74, 138]) and np.allclose(y, [20, 52, 84])
    u, v = boxframe.from_image(bbox, x, y)
    assert np.allclose(u, [0, 128, 256]) and np.allclose(v, [0, 128, 256])
    assert np.allclose(boxframe.to_image(bbox, [255], [255], scale=parts.POINT_SCALE), ([138], [84]))
    row, col = boxframe.pixel(bbox, [0, 1.9, 255.9, 256], [0, 1.9, 255.9, 256], shape=(80, 130))
    # col: 10, 10 + 1.9 / 2 = 10.95 -> 10, 137.95 -> 129 (the image is 130 wide), 138 -> 129
    assert col.tolist() == [10, 10, 129, 129] and row.tolist() == [20, 20, 79, 79]
    tx, ty = boxframe.to_image(bbox, torch.tensor([128.0]), torch.tensor([64.0]))
    assert isinstance(tx, torch.Tensor) and float(tx) == 74 and float(ty) == 36
    # the cells under image pixels' centres (how a box-sized raster reads the masks): pixel 10 has its centre
    # at 10.5, half a pixel into the box = cell 1 (a pixel is two cells wide here)
    assert boxframe.pixel_centres_in_frame(bbox, 9, 13, axis=0).tolist() == [0, 1, 3, 5]


def test_rle_in_either_form_reads_the_same():
    """Compressed (string) and uncompressed (list) RLE: the same runs, the same mask, the same union."""
    mask = np.zeros((256, 256), dtype=np.uint8)
    mask[10:50, 20:30] = 1
    packed = dp.encode_rle(mask)
    listed = {"size": [256, 256], "counts": dp.rle_counts(packed).tolist()}
    assert listed["counts"][0] == 20 * 256 + 10 and listed["counts"][1] == 40
    assert np.array_equal(dp.decode_rle(listed), mask.astype(bool))
    many = dp.rle_counts_many([packed, listed, packed])
    assert all(np.array_equal(m, listed["counts"]) for m in many)
    masks = [packed, *([[]] * 12), listed]
    assert np.array_equal(dp.union_mask(masks) > 0, mask > 0)
    labels = dp.labels_from_dp_masks(masks)
    assert set(np.unique(labels)) == {0, 14}, "where two parts overlap the later one wins"


def test_a_person_record_round_trips_through_its_json_form(tmp_path):
    """The typed record writes the file's dp frame (dp_x = box_x * 255 / 256) and reads it back; a file written
    by the streaming writer is the same dataset, and a writer that fails leaves no file."""
    import json

    from pipeline.coco.record import CATEGORY, DatasetWriter, DensePosePerson, dataset, image_record

    mask = np.zeros((256, 256), dtype=np.uint8)
    mask[0:128, :] = 1
    person = DensePosePerson.with_points(id=5, image_id=2, bbox=(10, 20, 30, 40), area=600.0,
                                         dp_masks=[dp.encode_rle(mask)] + [[]] * 13, keypoints=[1, 2, 2] * 17,
                                         box_x=[0, 128, 256], box_y=[64, 64, 64], chart=[1, 2, 2], u=[0.1, 0.2, 0.3],
                                         v=[0.4, 0.5, 0.6])  # fmt: skip
    ann = person.to_json()
    assert ann["dp_x"] == [0.0, 127.5, 255.0] and ann["dp_y"] == [63.75] * 3 and ann["dp_I"] == [1.0, 2.0, 2.0]
    assert ann["category_id"] == 1 and ann["num_keypoints"] == 17 and ann["bbox"] == [10.0, 20.0, 30.0, 40.0]
    back = DensePosePerson.from_json({**ann, "note": "kept"})
    assert (
        np.allclose(back.box_x, [0, 128, 256]) and back.chart.tolist() == [1, 2, 2] and back.extra == {"note": "kept"}
    )
    assert back.to_json()["note"] == "kept" and check_ok(ann)
    bare = DensePosePerson(id=6, image_id=2, bbox=(0, 0, 5, 5))
    assert "dp_x" not in bare.to_json() and not DensePosePerson.from_json(bare.to_json()).has_points

    images = [image_record(2, "a.jpg", 100, 100)]
    path = tmp_path / "out.json"
    with DatasetWriter(path, {"description": "t"}) as out:
        out.add_image(images[0])
        out.add_person(person)
        out.add_person(bare)
        with pytest.raises(ValueError, match="images first"):
            out.add_image(images[0])
    written = json.loads(path.read_text())
    assert written == {"info": {"description": "t"}, **dataset(images, [person, bare])}
    assert written["categories"] == [CATEGORY]
    with pytest.raises(RuntimeError), DatasetWriter(tmp_path / "broken.json") as out:
        out.add_image(images[0])
        raise RuntimeError("the export failed halfway")
    assert list(tmp_path.iterdir()) == [path], "nothing half-written is left"


def check_ok(ann: dict) -> bool:
    return dp.check_annotation(ann, (100, 100)) == []
