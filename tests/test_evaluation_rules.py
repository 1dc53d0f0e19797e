"""DensePose's reference evaluation (detectron2's DensePoseCocoEval, the 2019 COCO DensePose challenge's
densepose_cocoeval.py), one rule a test, on a three-vertex mesh with values worked out by hand.

The mesh: chart 2 holds three vertices at U = 0.1, 0.5, 0.9 (V = 0.5), 0.1 m apart in a row. A prediction's
U byte picks one of them; the ground-truth points name them by U. Torso's per-part kappa is 0.351 m.
"""

import numpy as np
import pytest

from pipeline.coco.densepose import dp_masks_from_labels, encode_uv_png
from pipeline.evaluation import gps as G
from pipeline.evaluation.mesh import EvalMesh

FULL = dp_masks_from_labels(np.ones((256, 256), dtype=np.uint8))  # the whole box is torso


@pytest.fixture
def mesh():
    pdist = np.array([0.1, 0.2, 0.1], dtype=np.float32)  # (0,1), (0,2), (1,2) at k = b(b-1)/2 + a
    return EvalMesh(np.array([2, 2, 2]), np.array([[0.1, 0.5], [0.5, 0.5], [0.9, 0.5]]), np.arange(3), pdist, 3)


def person(ann_id, box, image_id=1, points=True, x=(64.0, 192.0), u=(0.1, 0.9), charts=None, **extra):
    ann = {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "bbox": box,
           "area": box[2] * box[3], **extra}  # fmt: skip
    if points:
        ann.update(dp_x=list(x), dp_y=[128.0] * len(x), dp_I=list(charts or [2.0] * len(x)), dp_U=list(u),
                   dp_V=[0.5] * len(x), dp_masks=FULL)  # fmt: skip
    return ann


def det(box, score, u=0.1, image_id=1, chart=2, size=None, u_map=None):
    """A prediction over the box: ``chart`` everywhere, U = ``u`` (or ``u_map``), raster of the box's size."""
    h, w = size or G.raster_size(box)
    u_map = np.full((h, w), u) if u_map is None else u_map
    return {"image_id": image_id, "category_id": 1, "bbox": box, "score": score, "uv_shape": [3, h, w],
            "uv_data": encode_uv_png(np.full((h, w), chart), u_map, np.full((h, w), 0.5))}  # fmt: skip


def halves(box, score, left, right, **kw):
    """U = ``left`` on the box's left half, ``right`` on its right half (the two points of :func:`person`)."""
    h, w = G.raster_size(box)
    u_map = np.where(np.arange(w)[None, :] < w // 2, left, right) * np.ones((h, 1))
    return det(box, score, u_map=u_map, **kw)


def dataset(*annotations, images=((1, 800, 300),)):
    return {"images": [{"id": i, "width": w, "height": h} for i, w, h in images], "annotations": list(annotations),
            "categories": [{"id": 1, "name": "person"}]}  # fmt: skip


A = [0, 0, 100, 200]
U = [300, 0, 100, 200]  # a person without DensePose annotation


@pytest.mark.parametrize(("height", "ignored"), [(162, True), (158, False)])
def test_a_detection_on_a_person_without_densepose_is_ignored_from_box_iou_0_8(mesh, height, ignored):
    """Reference: a detection unmatched at the last threshold takes the ignore flag of the person it overlaps
    with box IoU >= 0.8. Box [300, 0, 100, h] on U: IoU = 100 h / 20000, 0.81 for h = 162, 0.79 for 158."""
    gt = dataset(person(1, A), person(2, U, points=False))
    dets = [halves(A, 0.9, 0.1, 0.9), det([300, 0, 100, height], 0.95)]
    ap = G.evaluate(gt, dets, mesh)["gps"]["AP"]
    # ignored: one TP, AP 1. Not ignored: a FP scored above the TP: precision 1/2 at every recall, AP 0.5
    assert ap == pytest.approx(1.0 if ignored else 0.5)


def test_detections_in_an_image_without_annotated_people_are_ignored(mesh):
    """Reference: in an image where every person is ignored (or that has none), every detection is ignored."""
    gt = dataset(person(1, A), person(2, U, image_id=2, points=False),
                 images=((1, 800, 300), (2, 800, 300), (3, 800, 300)))  # fmt: skip
    stray = [det([600, 0, 50, 50], 0.99, image_id=2), det([10, 10, 50, 50], 0.98, image_id=3)]
    numbers = G.evaluate(gt, [halves(A, 0.5, 0.1, 0.9), *stray], mesh)["gps"]
    assert numbers["AP"] == pytest.approx(1.0), "neither stray detection is a false positive"
    # the same strays in the image that has an annotated person are false positives above the TP
    moved = [{**d, "image_id": 1} for d in stray]
    assert G.evaluate(gt, [halves(A, 0.5, 0.1, 0.9), *moved], mesh)["gps"]["AP"] == pytest.approx(1 / 3)


def test_area_ranges_ignore_people_and_unmatched_detections_outside_them(mesh):
    """Reference: A is large (20,000 px): in the medium range no person counts (APm -1); a medium-sized
    detection (3,000 px) that matches nobody is a false positive over all sizes but ignored in the large
    range, being outside it itself."""
    numbers = G.evaluate(dataset(person(1, A)), [halves(A, 0.9, 0.1, 0.9), det([500, 0, 50, 60], 0.95)], mesh)
    assert numbers["gps"]["APm"] == -1 and numbers["gps"]["APl"] == pytest.approx(1.0)
    assert numbers["gps"]["AP"] == pytest.approx(0.5)


def test_a_crowd_region_takes_every_detection_inside_it(mesh):
    """Reference: a crowd region is ignored and can be matched any number of times; its box IoU with a
    detection is the intersection over the detection's own area (here 1.0 for boxes inside it)."""
    crowd = {"id": 9, "image_id": 1, "category_id": 1, "iscrowd": 1, "bbox": [300, 0, 300, 300], "area": 9e4}
    inside = [det([350, 50, 50, 50], 0.99), det([450, 100, 60, 40], 0.98)]
    dets = [halves(A, 0.5, 0.1, 0.9), *inside]
    assert G.evaluate(dataset(person(1, A), crowd), dets, mesh)["gps"]["AP"] == pytest.approx(1.0)
    assert G.evaluate(dataset(person(1, A)), dets, mesh)["gps"]["AP"] == pytest.approx(1 / 3), (
        "without the crowd region they are false positives"
    )


def test_ground_truth_points_sit_at_dp_x_times_w_over_255(mesh):
    """Reference: x = x0 + dp_x * w / 255. Box [0, 0, 100, 100], dp_x = 127.5: x = 50.0, raster column 50
    (column 49 with / 256: 49.80). The prediction has U = 0.1 (vertex 0) in columns < 50, 0.5 (vertex 1) from
    50: the point (U = 0.5) is exact with / 255 and 0.1 m off with / 256."""
    gt = dataset(person(1, [0, 0, 100, 100], x=(127.5,), u=(0.5,)))
    result = halves([0, 0, 100, 100], 1.0, 0.1, 0.5)
    d = G.Detection(result, np.array([0.0, 0, 100, 100]), 1.0)
    assert G.point_distances(mesh, d, G._truths(gt, mesh, "per-part", 255)[1][0])[0] == 0
    assert G.point_distances(mesh, d, G._truths(gt, mesh, "per-part", 256)[1][0])[0] == pytest.approx(0.1)
    assert G.evaluate(gt, [result], mesh)["gps"]["AP"] == pytest.approx(1.0)
    assert G.evaluate(gt, [result], mesh, point_scale=256, kappa="paper")["gps"]["AP"] == pytest.approx(0.9), (
        "GPS exp(-0.01 / (2 * 0.255^2)) = 0.926 passes 9 of the 10 thresholds"
    )


def test_a_point_at_dp_x_255_is_on_the_box_edge_and_outside_the_raster(mesh):
    """x = x0 + 255 * w / 255 = x0 + w: column int(w), one past the raster: predicted as background."""
    gt = dataset(person(1, [0, 0, 100, 100], x=(255.0,), u=(0.1,)))
    assert G.evaluate(gt, [det([0, 0, 100, 100], 1.0)], mesh)["gps"]["AP"] == 0
    assert G.evaluate(gt, [det([0, 0, 100, 100], 1.0)], mesh, point_scale=256)["gps"]["AP"] == pytest.approx(1.0)


def test_a_point_just_left_of_the_box_reads_its_first_column(mesh):
    """Reference: the column is int(x - dx0), truncated toward zero: x - dx0 = -0.5 reads column 0."""
    gt = dataset(person(1, [0, 0, 255, 100], x=(9.5,), u=(0.1,)))  # x = 9.5 * 255 / 255 = 9.5
    assert G.evaluate(gt, [det([10, 0, 245, 100], 1.0)], mesh)["gps"]["AP"] == pytest.approx(1.0)
    assert G.evaluate(gt, [det([10.6, 0, 245, 100], 1.0)], mesh)["gps"]["AP"] == 0, "-1.1 is outside"


B = [0, 0, 100.7, 50.2]  # a box whose raster is int(h) x int(w) = 50 x 100


def bigger(box, score, rows=1, cols=1, **kw):
    """:func:`halves` over ``box`` with ``rows`` more rows and ``cols`` more columns, which hold U = 0.5 (a
    vertex 0.1 m from both of :func:`person`'s points): no point reads them."""
    h, w = G.raster_size(box)
    u_map = np.full((h + rows, w + cols), 0.5)
    u_map[:h, :w] = np.where(np.arange(w)[None, :] < w // 2, 0.1, 0.9)
    return det(box, score, size=(h + rows, w + cols), u_map=u_map, **kw)


def without_warnings(numbers):
    return {k: v for k, v in numbers.items() if k != "warnings"}


def test_a_raster_one_pixel_larger_is_read_at_its_top_left(mesh):
    """Reference: the points' pixels are int(y - dy0) < int(h), int(x - dx0) < int(w), read from the decoded
    array without a size check: a raster a pixel taller and wider than int(h) x int(w) reads as its top-left.
    The person's points are each 0.2 m from the prediction (U 0.9 and 0.1 swapped): GPS (paper kappa)
    exp(-0.04 / (2 * 0.255^2)) = 0.735, 5 of the 10 thresholds: AP 0.5 for the box-sized raster and the
    larger one alike; the evaluation warns of the one larger raster."""
    gt = dataset(person(1, B, u=(0.9, 0.1)))
    exact = G.evaluate(gt, [halves(B, 1.0, 0.1, 0.9)], mesh, kappa="paper")
    assert exact["gps"]["AP"] == pytest.approx(0.5) and exact["warnings"] == []
    larger = G.evaluate(gt, [bigger(B, 1.0)], mesh, kappa="paper")
    assert without_warnings(larger) == without_warnings(exact), "GPS, GPSm and the pointwise curve alike"
    assert len(larger["warnings"]) == 1
    assert larger["warnings"][0].startswith("1 result had a uv_data raster one pixel larger than the box's")
    # the same with only the PNG that size (no uv_shape), and a pixel more in one direction only
    undeclared = {k: v for k, v in bigger(B, 1.0).items() if k != "uv_shape"}
    for more in (undeclared, bigger(B, 1.0, rows=0), bigger(B, 1.0, cols=0)):
        assert G.evaluate(gt, [more], mesh, kappa="paper") == larger
    both = G.evaluate(gt, [bigger(B, 1.0), undeclared], mesh, kappa="paper")["warnings"]
    assert both[0].startswith("2 results had")


def test_a_one_pixel_larger_raster_reaches_the_masks_bounds_as_detectron2s(mesh):
    """Reference (detectron2): the detection's foreground is placed from int(x0) up to int(x0 + w), no wider than
    the raster. Box [0.5, 0, 100.7, 50.2]: int(0.5 + 100.7) = 101 columns, the person's resized mask's width
    (round(100.7)); a 50 x 100 raster covers 100 of them (IoU 100 / 101), a 51 x 101 one all 101 (IoU 1)."""
    box, size = [0.5, 0, 100.7, 50.2], (800, 300)
    t = G._truths(dataset(person(1, box), images=((1, *size),)), mesh, "per-part", 255)[1][0]
    assert t.mask_on(size)[2].shape == (50, 101) and t.mask_on(size)[2].all()
    exact = G.Detection(det(box, 1.0), np.array(box), 1.0)
    larger = G.Detection(bigger(box, 1.0), np.array(box), 1.0)
    assert G._mask_iou(exact.mask_on(size), t.mask_on(size), False) == pytest.approx(100 / 101)
    assert G._mask_iou(larger.mask_on(size), t.mask_on(size), False) == 1.0


@pytest.mark.parametrize(
    ("size", "declared"),
    [((50, 99), True), ((50, 99), False), ((49, 100), True), ((52, 102), True), ((50, 102), False), ((52, 100), True)],
)
def test_a_raster_smaller_or_more_than_a_pixel_larger_is_refused(mesh, size, declared):
    """Reference: a smaller raster cannot be read at the box's integer offsets (the reference fails, index out
    of range); only one pixel more in each direction is taken. Refused with the record named, whether
    ``uv_shape`` declares the size or only the PNG has it."""
    wrong = det(B, 1.0, size=size)
    if not declared:
        del wrong["uv_shape"]
    reason = (
        rf"result 1: uv_data is a {size[0]}x{size[1]} raster; its box \[0, 0, 100.7, 50.2\] needs 50x100 "
        r"\(int\(h\) x int\(w\), at least 1x1\); up to one pixel more in each direction \(51x101\) is accepted"
    )
    assert G.check_results([det(B, 1.0), wrong])[0].startswith(f"result 1: uv_data is a {size[0]}x{size[1]}")
    with pytest.raises(ValueError, match=reason):
        G.evaluate(dataset(person(1, B)), [det(B, 1.0), wrong], mesh)


@pytest.mark.parametrize(("png", "shape"), [((50, 100), (51, 101)), ((51, 101), (50, 100)), ((50, 101), (51, 100))])
def test_uv_shape_must_be_the_pngs_size(mesh, png, shape):
    """Reference: the PNG's pixels are reshaped to uv_shape; a declared size that is not the PNG's is refused,
    also when both would fit the box."""
    record = {**det(B, 1.0, size=png), "uv_shape": [3, *shape]}
    reason = rf"result 0: uv_shape \[3, {shape[0]}, {shape[1]}\] is not the size of its uv_data PNG, {png[0]}x{png[1]}"
    with pytest.raises(ValueError, match=reason):
        G.evaluate(dataset(person(1, B)), [record], mesh)


def test_a_uv_shape_that_does_not_fit_the_box_is_refused(mesh):
    record = {**det(B, 1.0), "uv_shape": [3, 48, 100]}
    with pytest.raises(ValueError, match=r"result 0: uv_shape \[3, 48, 100\] does not fit its box: its box"):
        G.evaluate(dataset(person(1, B)), [record], mesh)
    for shape in ([50, 100], [1, 50, 100], "3x50x100"):
        assert G.check_results([{**det(B, 1.0), "uv_shape": shape}]) == [
            f"result 0: uv_shape must be [3, H, W], got {shape!r}"
        ]
    assert G.check_results([{**det(B, 1.0), "uv_data": "bm90IGEgcGljdHVyZQ=="}]) == [
        "result 0: uv_data is not a base64 PNG"
    ]


def test_the_raster_size_keeps_at_least_one_pixel(mesh):
    """A box under a pixel wide or tall has a 1-pixel raster (2 pixels accepted, 3 refused)."""
    box = [0, 0, 0.4, 10]
    assert G.raster_size(box) == (10, 1)
    assert G.raster_fit((10, 1), box) == "exact" and G.raster_fit((11, 2), box) == "larger"
    assert G.raster_fit((10, 0), box) is None and G.raster_fit((10, 3), box) is None
    assert G.check_results([det(box, 1.0, size=(10, 2))]) == []
    assert G.check_results([det(box, 1.0, size=(10, 3))])[0].startswith("result 0: uv_data is a 10x3 raster")


def test_a_detection_built_directly_checks_its_raster_too():
    d = G.Detection(det(B, 1.0, size=(50, 98)), np.array(B), 1.0)
    with pytest.raises(ValueError, match=r"image 1 has a 50x98 uv_data raster; its box \[0.0, 0.0, 100.7, 50.2\]"):
        d.raw  # noqa: B018
    assert G.Detection(bigger(B, 1.0), np.array(B), 1.0).raw.shape == (51, 101, 3)


def test_equal_scores_are_ordered_by_image_id(mesh):
    """Reference: images are taken in sorted id order and scores sorted stably, so between equal scores the
    detection of the lower image id comes first. Image 1: a TP; image 2: a FP (a second person is missed).
    TP first: precision 1 up to recall 1/2, AP = 51/101; FP first it would be half that."""
    gt = dataset(person(2, A, image_id=2), person(1, A, image_id=1), images=((2, 800, 300), (1, 800, 300)))
    dets = [det(A, 0.5, chart=0, image_id=2), halves(A, 0.5, 0.1, 0.9, image_id=1)]  # image 2's: background
    assert G.evaluate(gt, dets, mesh)["gps"]["AP"] == pytest.approx(51 / 101)


def test_a_chart_byte_above_24_names_no_surface_point(mesh):
    """Reference: an I outside 1..24 finds no chart vertex: the point is infinitely far (GPS 0)."""
    gt = dataset(person(1, A))
    assert G.evaluate(gt, [det(A, 1.0, chart=30)], mesh)["gps"]["AP"] == 0


def test_ground_truth_points_without_a_chart_do_not_count(mesh):
    """Reference: a ground-truth point whose dp_I is not 1..24 has no vertex and is left out of the mean."""
    gt = dataset(person(1, A, x=(64.0, 192.0, 100.0), u=(0.1, 0.9, 0.5), charts=(2.0, 2.0, 0.0)))
    numbers = G.evaluate(gt, [halves(A, 1.0, 0.1, 0.9)], mesh)
    assert numbers["gps"]["AP"] == pytest.approx(1.0) and numbers["pointwise"]["points"] == 2


def test_gpsm_mask_iou_is_measured_at_image_resolution(mesh):
    """Reference: the person's mask is the part-mask union resized to the box, placed at (int(x0), int(y0));
    the detection's is its raster's foreground placed the same way; both clipped to the image. A 52 x 86 box
    (zoom factors 255/51 = 5 and 255/85 = 3, exact): the whole-box mask stays whole."""
    box = [10, 20, 52, 86]
    size = (200, 120)
    t = G._truths(dataset(person(1, box), images=((1, *size),)), mesh, "per-part", 255)[1][0]
    perfect = G.Detection(det(box, 1.0), np.array(box, dtype=float), 1.0)
    shifted = G.Detection(det([11, 20, 52, 86], 1.0), np.array([11.0, 20, 52, 86]), 1.0)
    assert t.mask_on(size)[2].all() and t.mask_on(size)[2].shape == (86, 52)
    assert G._mask_iou(perfect.mask_on(size), t.mask_on(size), False) == 1.0
    assert G._mask_iou(shifted.mask_on(size), t.mask_on(size), False) == pytest.approx(51 * 86 / (53 * 86))
    # a box past the image's right edge: both masks are cut at the edge and still agree
    edge = [180, 20, 52, 86]
    t_edge = G._truths(dataset(person(1, edge), images=((1, *size),)), mesh, "per-part", 255)[1][0]
    d_edge = G.Detection(det(edge, 1.0), np.array(edge, dtype=float), 1.0)
    assert t_edge.mask_on(size)[2].shape == (86, 20)
    assert G._mask_iou(d_edge.mask_on(size), t_edge.mask_on(size), False) == 1.0


def test_the_resized_mask_loses_its_last_row_where_the_reference_does():
    """Reference (scipy's zoom, corner to corner): for h = 53 the last output row samples 52 * (255 / 52) =
    255.00000000000003, past the last input row, and is empty; a perfect prediction copies that."""
    mask = G.box_mask(FULL, [0, 0, 37, 53])
    assert mask.shape == (53, 37) and mask[:52].all() and not mask[52].any()


def test_perfect_results_score_gpsm_one(mesh):
    gt = dataset(person(1, A), person(2, U))
    numbers = G.evaluate(gt, G.perfect_results(gt), mesh)
    assert numbers["gpsm"]["AP"] == pytest.approx(1.0) and numbers["gps"]["AP"] == pytest.approx(1.0)


def test_results_on_images_the_ground_truth_lacks_are_refused(mesh):
    """Reference: pycocotools' loadRes refuses results that do not correspond to the ground truth's images."""
    with pytest.raises(ValueError, match="results name 1 images that the ground truth does not have"):
        G.evaluate(dataset(person(1, A)), [det(A, 1.0, image_id=7)], mesh)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"image_id": 1}, "has no bbox, score, uv_data"),
        ({"image_id": 1, "bbox": [0, 0, 10], "score": 1, "uv_data": ""}, "bbox must be 4 finite numbers"),
        ({"image_id": 1, "bbox": [0, 0, 10, 10], "score": float("nan"), "uv_data": ""}, "score must be a finite"),
        ("x", "is not an object"),
    ],
)
def test_unreadable_results_are_refused_with_the_record_named(mesh, record, reason):
    with pytest.raises(ValueError, match=f"result 0: {reason}"):
        G.evaluate(dataset(person(1, A)), [record], mesh)


def test_the_box_pass_can_take_back_a_detection_matched_to_an_out_of_range_person(mesh):
    """Reference quirk, kept: a detection matched at low thresholds to a person outside the area range (so
    ignored there), unmatched at the last threshold, and with box IoU >= 0.8 to a person that counts, takes
    *that* person's flag (counted) at every threshold: a true positive where it matched.

    S (area 1,000: not large) is 0.2 m off at both points: GPS exp(-0.04 / (2 * 0.351^2)) = 0.850, matched
    at thresholds 0.5 .. 0.85. L (area 10,000: large) has its points outside the detection (GPS 0) and box IoU
    8100 / 8280 = 0.978 with it; S's box IoU is 8100 / 10800 = 0.75. In the large range the detection is a TP
    at 8 thresholds and ignored at the other 2 (unmatched and itself below the range): APl = 0.8."""
    small = person(1, [0, 0, 90, 120], u=(0.9, 0.9), area=1000.0)
    large = person(2, [0, 0, 92, 90], x=(250.0, 250.0), area=10000.0)
    numbers = G.evaluate(dataset(small, large), [det([0, 0, 90, 90], 0.9, u=0.1)], mesh)["gps"]
    assert numbers["APl"] == pytest.approx(0.8)
    assert numbers["AP"] == pytest.approx(0.8 * 51 / 101), "all sizes: a TP at 8 thresholds, 1 of 2 people"


def test_a_detection_box_outside_the_image_has_an_empty_mask(mesh):
    """The reference cannot place a mask whose box ends above or left of the image (it slices with negative
    indices); here such a detection simply has no foreground on the image: GPSm 0, GPS as usual."""
    gt = dataset(person(1, A), images=((1, 800, 300),))
    outside = G.Detection(det([-300, -300, 100, 200], 1.0), np.array([-300.0, -300, 100, 200]), 1.0)
    assert outside.mask_on((800, 300))[2].size == 0
    assert G.evaluate(gt, [det([-300, -300, 100, 200], 1.0)], mesh)["gpsm"]["AP"] == 0


def test_the_evaluate_densepose_command_prints_the_warnings(mesh, tmp_path, monkeypatch):
    import io
    import json

    from django.core.management import call_command

    from annotator_web.densepose_io.management.commands.evaluate_densepose import Command

    monkeypatch.setattr(Command, "_mesh", lambda self, truth, gt, chart_assets: (mesh, "three vertices"))
    (tmp_path / "gt.json").write_text(json.dumps(dataset(person(1, B))))
    (tmp_path / "dt.json").write_text(json.dumps([bigger(B, 1.0)]))
    err = io.StringIO()
    call_command(
        "evaluate_densepose",
        gt=str(tmp_path / "gt.json"),
        dt=str(tmp_path / "dt.json"),
        json_out=tmp_path / "numbers.json",
        stdout=io.StringIO(),
        stderr=err,
    )
    assert "dt.json: warning: 1 result had a uv_data raster one pixel larger" in err.getvalue()
    assert json.loads((tmp_path / "numbers.json").read_text())["warnings"][0].startswith("1 result had")
