"""Exported DensePose-COCO as training data: people with their part masks and points, and the augmentations
(resize, horizontal flip).

The flip swaps left and right the way the body does: the mirrored image shows a mirrored person, whose left
hand is where the right hand was. Mask labels and charts swap through ``pipeline.parts``' flip tables, and U, V
go through the chart set's own mirror map, ``UV_symmetry_transforms.mat`` (:mod:`pipeline.charts.interchange`,
the file detectron2 is given too), so a point keeps naming the same spot of the mirrored body.
Points are read from DensePose-COCO's dp frame (``x = x0 + dp_x * w / 255``) into the box frame of the masks
(``x = x0 + box_x * w / 256``), in which the model's targets and the flip work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pipeline import parts
from pipeline.charts.interchange import load_symmetry, mirror_iuv
from pipeline.coco.densepose import DP_FIELDS, labels_from_dp_masks
from pipeline.coco.record import DensePosePerson


@dataclass(frozen=True)
class PersonAnnotation:
    box: np.ndarray  # (4,) x, y, w, h in image pixels
    labels: np.ndarray  # (256, 256) part labels in the box frame, 0 = background
    x: np.ndarray  # (N,) box frame, 0..256
    y: np.ndarray
    chart: np.ndarray  # (N,) 1..24
    u: np.ndarray
    v: np.ndarray
    keypoints: np.ndarray | None = None  # (17, 3) x, y, visibility in image pixels
    weight: np.ndarray | None = None  # (N,) per point: 1 annotated; the teacher's weight for its dense targets
    ann_id: int = 0
    has_masks: bool = True  # False: no dp_masks (``labels`` is all background and says nothing)

    @property
    def has_points(self) -> bool:
        return len(self.x) > 0


@dataclass(frozen=True)
class Sample:
    image: np.ndarray  # (H, W, 3) uint8
    people: list[PersonAnnotation]
    image_id: int


class Symmetry:
    """The chart set's mirror maps, read from its chart-asset folder."""

    def __init__(self, chart_assets: Path):
        self.u, self.v = load_symmetry(chart_assets)

    def mirror(self, chart, u, v):
        return mirror_iuv(self.u, self.v, chart, u, v)


def flip_person(person: PersonAnnotation, image_width: int, symmetry: Symmetry) -> PersonAnnotation:
    """The person as the horizontally mirrored image shows them."""
    x0, y0, w, h = person.box
    labels = np.asarray(parts.MASK_FLIP)[person.labels[:, ::-1]].astype(person.labels.dtype)
    chart, u, v = symmetry.mirror(person.chart, person.u, person.v)
    keypoints = None
    if person.keypoints is not None:
        keypoints = person.keypoints[list(parts.COCO_KEYPOINT_FLIP)].copy()
        seen = keypoints[:, 2] > 0
        keypoints[seen, 0] = image_width - keypoints[seen, 0]
    return replace(
        person,
        box=np.array([image_width - x0 - w, y0, w, h], dtype=np.float64),
        labels=labels,
        x=parts.BOX_SCALE - person.x,
        chart=chart,
        u=u,
        v=v,
        keypoints=keypoints,
    )


def flip_sample(sample: Sample, symmetry: Symmetry) -> Sample:
    width = sample.image.shape[1]
    return replace(sample, image=sample.image[:, ::-1].copy(),
                   people=[flip_person(p, width, symmetry) for p in sample.people])  # fmt: skip


def resize_sample(sample: Sample, scale: float) -> Sample:
    """Scale the image; boxes and keypoints follow (box-frame masks and points need nothing)."""
    from PIL import Image

    h, w = sample.image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = np.asarray(Image.fromarray(sample.image).resize(size, Image.BILINEAR))
    sx, sy = size[0] / w, size[1] / h
    people = []
    for p in sample.people:
        keypoints = None
        if p.keypoints is not None:
            keypoints = p.keypoints.copy()
            keypoints[:, 0] *= sx
            keypoints[:, 1] *= sy
        people.append(replace(p, box=p.box * [sx, sy, sx, sy], keypoints=keypoints))
    return replace(sample, image=image, people=people)


class DensePoseCoco:
    """An exported DensePose-COCO file and its images with at least one person with DensePose points; the
    other people of those images (no points, no masks) are kept too, as boxes for the detector.

    With ``augment``, each sample is resized so its shorter side is one of ``sizes`` (none: kept) and flipped
    with probability ``flip``, deterministic per ``seed``, epoch (``set_epoch``) and index. ``extra_points``
    (annotation id -> x, y, I, U, V, weight arrays in the box frame), e.g. the teacher's dense targets, are
    added to that person's points."""

    def __init__(self, annotations: Path, images: Path, chart_assets: Path | None = None, augment: bool = False,
                 sizes=(320, 352, 384, 416), flip: float = 0.5, seed: int = 0,
                 extra_points: dict | None = None):  # fmt: skip
        data = json.loads(Path(annotations).read_text()) if not isinstance(annotations, dict) else annotations
        self.images_dir = Path(images)
        self.files = {img["id"]: img["file_name"] for img in data["images"]}
        self.anns: dict[int, list[dict]] = {}  # decoded per access: masks of many people do not fit in memory
        for ann in data["annotations"]:
            box = ann.get("bbox") or [0, 0, 0, 0]
            if ann.get("iscrowd") or ann.get("category_id", 1) != 1 or min(box[2], box[3]) < 1:
                continue
            self.anns.setdefault(ann["image_id"], []).append(ann)
        self.ids = sorted(i for i, anns in self.anns.items() if any(_has_points(a) for a in anns))
        self.augment, self.sizes, self.flip, self.seed = augment, tuple(sizes or ()), flip, seed
        self.epoch = 0
        self.extra_points = extra_points or {}
        self.symmetry = Symmetry(chart_assets) if chart_assets is not None else None
        if augment and flip > 0 and self.symmetry is None:
            raise ValueError("flip augmentation needs the chart set's mirror map: pass chart_assets")

    def __len__(self) -> int:
        return len(self.ids)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def people(self, image_id: int) -> list[PersonAnnotation]:
        return [_with_extra(_person(a), self.extra_points.get(int(a.get("id", 0)))) for a in self.anns[image_id]]

    def __getitem__(self, index: int) -> Sample:
        from PIL import Image

        image_id = self.ids[index]
        path = self.images_dir / self.files[image_id]
        try:
            image = np.asarray(Image.open(path).convert("RGB"))
        except OSError as exc:
            raise OSError(f"image {image_id}: cannot read {path}: {exc}") from None
        sample = Sample(image, self.people(image_id), image_id)
        if self.augment:
            rng = np.random.default_rng((self.seed, self.epoch, index))
            if self.sizes:
                sample = resize_sample(sample, float(rng.choice(self.sizes)) / min(image.shape[:2]))
            if rng.random() < self.flip:
                sample = flip_sample(sample, self.symmetry)
        return sample


def _has_points(ann: dict) -> bool:
    return all(f in ann for f in DP_FIELDS) and len(ann["dp_x"]) > 0


def _person(ann: dict) -> PersonAnnotation:
    """A file's person (:class:`pipeline.coco.record.DensePosePerson`) as the model's targets take it."""
    record = DensePosePerson.from_json(ann)
    keypoints = np.asarray(record.keypoints, dtype=np.float64).reshape(17, 3) if record.keypoints else None
    points = record.has_points
    empty = np.zeros(0)
    return PersonAnnotation(
        box=np.asarray(record.bbox, dtype=np.float64),
        labels=labels_from_dp_masks(record.dp_masks) if record.dp_masks else np.zeros((256, 256), np.uint8),
        x=record.box_x if points else empty,  # the box frame of the masks, 0..256
        y=record.box_y if points else empty,
        chart=record.chart if points else empty.astype(np.int64),
        u=record.u if points else empty,
        v=record.v if points else empty,
        keypoints=keypoints,
        ann_id=int(record.id),
        has_masks=bool(record.dp_masks),
    )


def _with_extra(person: PersonAnnotation, extra) -> PersonAnnotation:
    weight = np.ones(len(person.x)) if person.weight is None else person.weight
    if extra is None:
        return replace(person, weight=weight)
    x, y, chart, u, v, w = (np.asarray(a) for a in extra)
    return replace(person, x=np.concatenate([person.x, x]), y=np.concatenate([person.y, y]),
                   chart=np.concatenate([person.chart, chart.astype(np.int64)]), u=np.concatenate([person.u, u]),
                   v=np.concatenate([person.v, v]), weight=np.concatenate([weight, w]))  # fmt: skip


def image_tensor(image: np.ndarray):
    """An (H, W, 3) uint8 image as the float (3, H, W) tensor in 0..1 the models take."""
    import torch

    return torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255


def to_tensors(sample: Sample, keypoints: bool = False):
    """A sample as torchvision detection input: a float image (3, H, W) in 0..1 and its target (boxes x0 y0 x1
    y1, labels, DensePose ``dp_labels`` (N, 256, 256), ``dp_points`` (P, 7: person, x, y, I, U, V, weight) and
    which people have points (``dp_has_points``) and part masks (``dp_has_masks``))."""
    import torch

    image = image_tensor(sample.image)
    boxes = np.array([[p.box[0], p.box[1], p.box[0] + p.box[2], p.box[1] + p.box[3]] for p in sample.people])
    points = [np.stack([np.full(len(p.x), i), p.x, p.y, p.chart, p.u, p.v,
                        np.ones(len(p.x)) if p.weight is None else p.weight], axis=1)
              for i, p in enumerate(sample.people)]  # fmt: skip
    target = {
        "boxes": torch.as_tensor(boxes.reshape(-1, 4), dtype=torch.float32),
        "labels": torch.ones(len(sample.people), dtype=torch.int64),
        "dp_labels": torch.from_numpy(np.stack([p.labels for p in sample.people]).astype(np.uint8)),
        "dp_points": torch.as_tensor(np.concatenate(points).reshape(-1, 7), dtype=torch.float32),
        "dp_has_points": torch.tensor([p.has_points for p in sample.people], dtype=torch.bool),
        "dp_has_masks": torch.tensor([p.has_masks for p in sample.people], dtype=torch.bool),
        "image_id": torch.tensor(sample.image_id),
    }
    if keypoints:
        kp = [p.keypoints if p.keypoints is not None else np.zeros((17, 3)) for p in sample.people]
        target["keypoints"] = torch.as_tensor(np.stack(kp), dtype=torch.float32)
    return image, target
