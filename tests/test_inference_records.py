"""Inference's results records: the maps resized to the box's integer size as detectron2 does (bilinear, then
the argmax), only the shown charts' U and V resized, and the same numbers as resizing everything."""

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.coco.densepose import decode_uv_png
from training.evaluate import first_argmax, records_of


def test_records_hold_what_resizing_every_map_gives_on_the_person():
    torch.manual_seed(3)
    n, s = 3, 14
    dp = {"segm": torch.randn(n, 2, s, s), "index": torch.randn(n, 25, s, s), "u": torch.rand(n, 25, s, s),
          "v": torch.rand(n, 25, s, s)}  # fmt: skip
    dp["segm"][:, 1] += 0.8  # mostly person
    boxes = torch.tensor([[10.0, 20.0, 47.9, 81.2], [0.0, 0.0, 9.0, 30.5], [5.5, 5.5, 60.0, 33.0]])
    records = records_of({"boxes": boxes, "scores": torch.tensor([0.9, 0.5, 0.2]), "densepose": dp}, image_id=4)
    assert [r["uv_shape"] for r in records] == [[3, 61, 37], [3, 30, 9], [3, 27, 54]], "int(h) x int(w)"
    for k, r in enumerate(records):
        h, w = r["uv_shape"][1:]
        full = {name: F.interpolate(m[k : k + 1], size=(h, w), mode="bilinear", align_corners=False)[0]
                for name, m in dp.items()}  # fmt: skip
        fg = full["segm"].argmax(0) > 0
        chart = ((full["index"][1:].argmax(0) + 1) * fg).numpy()
        u = full["u"].gather(0, torch.as_tensor(chart)[None])[0].clamp(0, 1).numpy()
        got_i, got_u, got_v = decode_uv_png(r["uv_data"])
        assert np.array_equal(got_i, chart) and fg.any() and (~fg).any()
        person = chart > 0
        assert np.abs(got_u[person] - np.round(u[person] * 255) / 255).max() <= 1 / 255 + 1e-9
        assert (got_u[~person] == 0).all() and (got_v[~person] == 0).all(), "no U, V off the person"
        assert r["bbox"] == [float(boxes[k, 0]), float(boxes[k, 1]), float(boxes[k, 2] - boxes[k, 0]),
                             float(boxes[k, 3] - boxes[k, 1])] and r["image_id"] == 4  # fmt: skip


def test_first_argmax_takes_the_first_of_equal_values():
    maps = torch.zeros(5, 2, 3)
    maps[2], maps[4] = 1.0, 1.0
    maps[1, 1, 2] = 3.0
    assert first_argmax(maps).tolist() == [[2, 2, 2], [2, 2, 1]]
