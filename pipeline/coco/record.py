"""The typed record of a DensePose-COCO person, its JSON form, and a streaming writer for whole files.

Every DensePose-COCO file this project writes (the exporter, synthetic data, benchmarks, tests) builds its
people as :class:`DensePosePerson` and writes them with :class:`DatasetWriter` (or :func:`dataset` in memory);
training and import read them back with :meth:`DensePosePerson.from_json`. Points are kept in the box frame
(``box_x``, ``box_y``: 0..256, the frame of the masks) and written in the file's dp frame (``dp_x = box_x * 255 /
256``, :mod:`pipeline.coco.densepose`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline import parts
from pipeline.coco.densepose import DP_FIELDS, box_to_dp, dp_to_box

# the one category record of the files this project writes (COCO's person, with its keypoints)
CATEGORY = {
    "id": 1,
    "name": "person",
    "supercategory": "person",
    "keypoints": list(parts.COCO_KEYPOINT_NAMES),
    "skeleton": [list(pair) for pair in parts.COCO_SKELETON],
}


def _array(values, dtype) -> np.ndarray:
    return np.asarray(values if values is not None else [], dtype=dtype)


@dataclass(frozen=True)
class DensePosePerson:
    """One person annotation. ``box_x`` is None for a person without DensePose points (no ``dp_*`` fields are
    written); an empty array writes empty ``dp_*`` lists. ``dp_masks``: 14 entries (COCO RLE or ``[]``) or None."""

    id: int
    image_id: int
    bbox: tuple[float, float, float, float]
    area: float = 0.0
    iscrowd: int = 0
    segmentation: object = None
    keypoints: list | None = None  # 17 x (x, y, visibility), flat, image pixels
    dp_masks: list | None = None
    box_x: np.ndarray | None = None
    box_y: np.ndarray | None = None
    chart: np.ndarray | None = None  # dp_I, 1..24
    u: np.ndarray | None = None
    v: np.ndarray | None = None
    extra: dict = field(default_factory=dict)  # any other fields of the file's record, written back as they are

    @classmethod
    def with_points(cls, *, box_x, box_y, chart, u, v, **fields) -> DensePosePerson:
        """A person with points given in the box frame (any sequences; stored as arrays)."""
        return cls(**fields, box_x=_array(box_x, np.float64), box_y=_array(box_y, np.float64),
                   chart=_array(chart, np.int64), u=_array(u, np.float64), v=_array(v, np.float64))  # fmt: skip

    @property
    def has_points(self) -> bool:
        return self.box_x is not None and len(self.box_x) > 0

    def to_json(self) -> dict:
        ann = {"id": self.id, "image_id": self.image_id, "category_id": CATEGORY["id"], "iscrowd": int(self.iscrowd),
               "bbox": [float(v) for v in self.bbox], "area": float(self.area)}  # fmt: skip
        if self.segmentation is not None:
            ann["segmentation"] = self.segmentation
        if self.dp_masks is not None:
            ann["dp_masks"] = self.dp_masks
        if self.box_x is not None:
            ann["dp_x"] = box_to_dp(self.box_x).tolist()
            ann["dp_y"] = box_to_dp(self.box_y).tolist()
            ann["dp_I"] = [float(c) for c in self.chart]
            ann["dp_U"] = [float(c) for c in self.u]
            ann["dp_V"] = [float(c) for c in self.v]
        if self.keypoints:
            ann["keypoints"] = list(self.keypoints)
            ann["num_keypoints"] = int(sum(1 for v in self.keypoints[2::3] if v > 0))
        return {**self.extra, **ann}

    @classmethod
    def from_json(cls, ann: dict) -> DensePosePerson:
        """A file's record (checked for its shape elsewhere: :func:`pipeline.coco.densepose.check_annotation`).
        Points are read only when all five ``dp_*`` fields are there."""
        known = {"id", "image_id", "category_id", "iscrowd", "bbox", "area", "segmentation", "dp_masks", "keypoints",
                 "num_keypoints", *DP_FIELDS}  # fmt: skip
        bbox = tuple(float(v) for v in (ann.get("bbox") or (0, 0, 0, 0)))
        fields = dict(id=ann.get("id", 0), image_id=ann.get("image_id", 0), bbox=bbox,
                      area=float(ann.get("area", bbox[2] * bbox[3])), iscrowd=int(ann.get("iscrowd") or 0),
                      segmentation=ann.get("segmentation"), keypoints=ann.get("keypoints") or None,
                      dp_masks=ann.get("dp_masks"), extra={k: v for k, v in ann.items() if k not in known})  # fmt: skip
        if not all(f in ann for f in DP_FIELDS):
            return cls(**fields)
        return cls.with_points(box_x=dp_to_box(_array(ann["dp_x"], np.float64)),
                               box_y=dp_to_box(_array(ann["dp_y"], np.float64)), chart=ann["dp_I"], u=ann["dp_U"],
                               v=ann["dp_V"], **fields)  # fmt: skip


def image_record(image_id: int, file_name: str, width: int, height: int) -> dict:
    return {"id": int(image_id), "file_name": str(file_name), "width": int(width), "height": int(height)}


def dataset(images: list[dict], people: list[DensePosePerson], info: dict | None = None) -> dict:
    """A whole DensePose-COCO file in memory (small files: tests, benchmarks, synthetic sets)."""
    data = {"images": list(images), "annotations": [p.to_json() for p in people], "categories": [CATEGORY]}
    return {"info": info, **data} if info is not None else data


class DatasetWriter:
    """Writes a DensePose-COCO file as it goes (memory does not grow with it): images first, then annotations.
    The file appears, complete, only when the ``with`` block ends without an error; otherwise nothing is left.

    >>> with DatasetWriter(path, info) as out:
    ...     out.add_image(image_record(1, "a.jpg", 640, 480))
    ...     out.add_person(person)
    """

    def __init__(self, path: Path, info: dict | None = None):
        self.path = Path(path)
        self.info = info
        self._tmp = self.path.with_name(self.path.name + f".{os.getpid()}.part")
        self._f = None
        self._section = None  # "images", then "annotations"
        self._first = True

    def __enter__(self) -> DatasetWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self._tmp, "w")
        head = {"info": self.info} if self.info is not None else {}
        self._f.write(json.dumps({**head, "categories": [CATEGORY]})[:-1] + ', "images": [')
        self._section = "images"
        return self

    def _next(self, section: str) -> None:
        if self._section == "images" and section == "annotations":
            self._f.write('], "annotations": [')
            self._section, self._first = "annotations", True
        elif self._section != section:
            raise ValueError("a DensePose-COCO file is written images first, then annotations")
        if not self._first:
            self._f.write(", ")
        self._first = False

    def add_image(self, image: dict) -> None:
        self._next("images")
        self._f.write(json.dumps(image))

    def add_person(self, person: DensePosePerson | dict) -> None:
        self._next("annotations")
        self._f.write(annotation_json(person))

    def add_annotations_json(self, text_file) -> None:
        """Annotations already written by :func:`annotation_json`, comma-separated (e.g. by parallel workers)."""
        import shutil

        first = text_file.read(1)
        if not first:
            return
        self._next("annotations")
        self._f.write(first)
        shutil.copyfileobj(text_file, self._f)

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if kind is None:
                if self._section == "images":
                    self._f.write('], "annotations": [')
                self._f.write("]}")
                self._f.close()
                os.replace(self._tmp, self.path)
        finally:
            if not self._f.closed:
                self._f.close()
            self._tmp.unlink(missing_ok=True)


def annotation_json(person: DensePosePerson | dict) -> str:
    """One annotation's JSON text, as :class:`DatasetWriter` writes it."""
    return json.dumps(person.to_json() if isinstance(person, DensePosePerson) else person)
