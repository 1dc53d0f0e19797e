"""Inference into DensePose's results format (``uv_data``), and the GPS evaluation of
:mod:`pipeline.evaluation.gps` on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pipeline import parts
from pipeline.coco.densepose import encode_uv_png
from pipeline.evaluation.gps import DEFAULT_KAPPA, raster_size

from .config import Config
from .data import image_tensor
from .model import DensePoseRCNN, build_model
from .runs import FINAL, checkpoints


def checkpoint_path(checkpoint: Path) -> Path:
    """A checkpoint file, or a run folder's (its final checkpoint, else its newest)."""
    path = Path(checkpoint)
    if path.is_dir():
        found = checkpoints(path)
        if (path / FINAL).exists():
            path = path / FINAL
        elif found:
            path = found[-1][1]
        else:
            raise FileNotFoundError(f"{checkpoint}: no checkpoint in this run folder")
    if not path.exists():
        raise FileNotFoundError(f"{checkpoint}: no such checkpoint")
    return path


def load_run(checkpoint: Path, device: str = "cpu") -> DensePoseRCNN:
    """The model of a checkpoint file, or of a run folder (its final checkpoint, else its newest)."""
    return load_checkpoint(checkpoint, device)[0]


def load_checkpoint(checkpoint: Path, device: str = "cpu") -> tuple[DensePoseRCNN, dict]:
    """(model, {"path", "iteration", "charts"}) of a checkpoint file or run folder; ``charts`` is the chart set
    it learned (body and asset key) or None when it does not say (trained without a chart-asset folder)."""
    path = checkpoint_path(checkpoint)
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as exc:  # a truncated or foreign file: pickle, zip and torch all raise their own errors
        raise ValueError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise ValueError(f"{path}: not a checkpoint of this training module (no model and config inside)")
    from dataclasses import replace

    config = Config.from_dict(state["config"])
    if config.norm == "auto":  # an older run: as it was built
        config = replace(config, norm="frozen_bn" if config.pretrained else "gn")
    model = build_model(replace(config, pretrained=""))
    model.load_state_dict(state["model"])
    info = {"path": str(path), "iteration": state.get("iteration"), "charts": state.get("charts")}
    return model.to(device).eval(), info


def box_maps(model: DensePoseRCNN, image: np.ndarray, boxes) -> list:
    """The DensePose head's output on given person boxes (x, y, w, h) of an (H, W, 3) uint8 image, as
    :class:`pipeline.preannotate.BoxMaps` in the 256 x 256 box frame (probabilities for the coarse segmentation
    and the charts): the boxes are the dataset's, so nothing needs matching to a detection."""
    from pipeline.preannotate import BoxMaps

    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
    if not len(boxes):
        return []
    device = next(model.parameters()).device
    detector, was_training = model.detector, model.training
    model.eval()
    try:
        with torch.no_grad():
            tensor = image_tensor(image).to(device)
            batch, _ = detector.transform([tensor])
            (h, w), (th, tw) = tensor.shape[-2:], batch.image_sizes[0]
            xyxy = torch.cat([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], 1)
            scaled = (xyxy * torch.tensor([tw / w, th / h, tw / w, th / h])).to(device)
            features = detector.backbone(batch.tensors)
            heads = detector.roi_heads
            out = heads.dp_head(heads.dp_pooler(features, [scaled], batch.image_sizes))
            size = (parts.MASK_SIZE, parts.MASK_SIZE)
            up = {k: F.interpolate(v.float(), size=size, mode="bilinear", align_corners=False).cpu()
                  for k, v in out.items()}  # fmt: skip
            segm, index = up["segm"].softmax(1).numpy(), up["index"].softmax(1).numpy()
            u, v = up["u"].numpy(), up["v"].numpy()
    finally:
        model.train(was_training)
    return [BoxMaps(segm[k], index[k], u[k], v[k]) for k in range(len(boxes))]


def records_of(output: dict, image_id: int) -> list[dict]:
    """One image's detections as results records: the box, its score and the I, U, V picture of the box's
    integer size (``int(h) x int(w)``, as DensePose's evaluators read it; the maps resized to it, as
    detectron2 does: bilinear, then the argmax). Only the charts a box shows have their U and V resized."""
    out = []
    dp = output.get("densepose")
    for k, (box, score) in enumerate(zip(output["boxes"].tolist(), output["scores"].tolist(), strict=True)):
        x0, y0, x1, y1 = box
        h, w = raster_size([x0, y0, x1 - x0, y1 - y0])
        if dp is None:
            continue
        fg = first_argmax(_resized(dp["segm"][k], h, w)) > 0
        chart = (first_argmax(_resized(dp["index"][k, 1:], h, w)) + 1) * fg
        shown = torch.unique(chart[fg]) if fg.any() else chart.new_zeros(0)
        u = torch.zeros((h, w), dtype=dp["u"].dtype)
        v = torch.zeros((h, w), dtype=dp["v"].dtype)
        if len(shown):
            u_maps, v_maps = _resized(dp["u"][k, shown], h, w), _resized(dp["v"][k, shown], h, w)
            slot_of = torch.zeros(dp["u"].shape[1], dtype=torch.long)  # chart -> its place among the shown ones
            slot_of[shown] = torch.arange(len(shown))
            slot = slot_of[chart][None]
            u = torch.where(fg, u_maps.gather(0, slot)[0], u).clamp(0, 1)
            v = torch.where(fg, v_maps.gather(0, slot)[0], v).clamp(0, 1)
        out.append({"image_id": int(image_id), "category_id": 1, "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "score": float(score), "uv_shape": [3, h, w],
                    "uv_data": encode_uv_png(chart.numpy(), u.numpy(), v.numpy(), fast=True)})  # fmt: skip
    return out


def _resized(maps: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(C, H, W) maps -> (C, h, w), bilinear (align_corners=False, as detectron2 resizes to the box); computed
    channels-last (2-3 times faster on the CPU), which also makes :func:`first_argmax`'s copy free."""
    maps = maps[None].contiguous(memory_format=torch.channels_last)
    return F.interpolate(maps, size=(h, w), mode="bilinear", align_corners=False)[0]


def first_argmax(maps: torch.Tensor) -> torch.Tensor:
    """The channel of the largest value at each pixel, the first of equal ones: ``argmax(0)``, taken along the
    innermost axis of a channels-last copy (about three times faster on the CPU)."""
    return maps.permute(1, 2, 0).contiguous().argmax(-1)


def predict_images(model: DensePoseRCNN, images: list[tuple[int, np.ndarray]]) -> list[dict]:
    """Results records for (image id, (H, W, 3) uint8 image) pairs."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results = []
    with torch.no_grad():
        for image_id, image in images:
            tensor = image_tensor(image).to(device)
            output = {k: (v if k == "densepose" else v.cpu()) for k, v in model([tensor])[0].items()}
            if output.get("densepose") is not None:
                output["densepose"] = {k: v.cpu() for k, v in output["densepose"].items()}
            results += records_of(output, image_id)
    model.train(was_training)
    return results


def mirrored_box_maps(model: DensePoseRCNN, image: np.ndarray, boxes) -> list:
    """:func:`box_maps` of the mirror image (``image[:, ::-1]``) on the mirrored boxes: each in its mirrored box's
    frame (column x there is column 256 - x of the box, and left and right are swapped)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    boxes[:, 0] = image.shape[1] - boxes[:, 0] - boxes[:, 2]
    return box_maps(model, np.ascontiguousarray(image[:, ::-1]), boxes)


def iter_images(data: dict, images: Path):
    from PIL import Image

    for img in data["images"]:
        path = Path(images) / img["file_name"]
        try:
            yield img["id"], np.asarray(Image.open(path).convert("RGB"))
        except OSError as exc:
            raise OSError(f"image {img['id']}: cannot read {path}: {exc}") from None


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None


class Evaluator:
    """GPS evaluation of a model on a DensePose-COCO file, the evaluation mesh read from the chart-asset
    folder (the files detectron2 reads; made by ``export_chart_assets``)."""

    def __init__(self, chart_assets: Path, data: Path | dict, images: Path, kappa: str = DEFAULT_KAPPA,
                 max_images: int | None = None, point_scale: int = parts.POINT_SCALE):  # fmt: skip
        from pipeline.evaluation.mesh import EvalMesh

        self.mesh = EvalMesh.from_folder(Path(chart_assets))  # any folder of the reference's evaluation files
        self.data = data if isinstance(data, dict) else read_json(data)
        if max_images is not None and len(self.data["images"]) > max_images:  # the first ones, always the same
            keep = {img["id"] for img in self.data["images"][:max_images]}
            self.data = {**self.data, "images": self.data["images"][:max_images],
                         "annotations": [a for a in self.data["annotations"] if a.get("image_id") in keep]}  # fmt: skip
        self.images, self.kappa, self.point_scale = Path(images), kappa, point_scale

    def results(self, model: DensePoseRCNN) -> list[dict]:
        return predict_images(model, iter_images(self.data, self.images))

    def __call__(self, model: DensePoseRCNN, results: list[dict] | None = None) -> dict:
        from pipeline.evaluation.gps import evaluate

        results = self.results(model) if results is None else results
        numbers = evaluate(self.data, results, self.mesh, kappa=self.kappa, workers=1, point_scale=self.point_scale)
        return {"gps": numbers["gps"], "gpsm": numbers["gpsm"],
                "pointwise": {k: numbers["pointwise"][k] for k in ("auc10", "auc30", "points")},
                "detections": len(results)}  # fmt: skip
