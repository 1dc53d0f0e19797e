"""Synthetic images as DensePose-COCO: each person's box, area, keypoints and, unless ignored, the part masks
and the perfect annotator's points (``PersonTruth.points``), in the exporter's conventions."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.coco.densepose import box_to_dp
from pipeline.synthetic.scene import PersonTruth, SyntheticImage

CATEGORIES = [{"id": 1, "name": "person", "supercategory": "person"}]


def annotation(person: PersonTruth, image_id: int, ann_id: int) -> dict:
    ann = {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "bbox": list(person.bbox),
           "area": float(person.area), "keypoints": list(person.keypoints),
           "segmentation": person.segmentation}  # fmt: skip
    if not person.ignore and person.points:
        pts = person.points
        ann.update(dp_masks=person.dp_masks, dp_x=box_to_dp([p["box_xy"][0] for p in pts]).tolist(),
                   dp_y=box_to_dp([p["box_xy"][1] for p in pts]).tolist(), dp_I=[float(p["I"]) for p in pts],
                   dp_U=[p["U"] for p in pts], dp_V=[p["V"] for p in pts])  # fmt: skip
    return ann


def dataset(images: list[SyntheticImage], file_names: list[str] | None = None) -> dict:
    """The DensePose-COCO dict of these images (ids 1.., file names ``{index}.png`` unless given)."""
    out_images, image_id = [], {}
    for k, img in enumerate(images):
        h, w = img.instance.shape
        name = file_names[k] if file_names else f"{img.index}.png"
        out_images.append({"id": k + 1, "file_name": name, "width": w, "height": h})
        image_id[id(img)] = k + 1
    annotations = [annotation(person, image_id[id(img)], ann_id)
                   for ann_id, (img, person) in people_by_annotation(images).items()]  # fmt: skip
    return {"images": out_images, "annotations": annotations, "categories": CATEGORIES}


def people_by_annotation(images: list[SyntheticImage]) -> dict[int, tuple[SyntheticImage, PersonTruth]]:
    """annotation id (as :func:`dataset` numbers them) -> the image and the person's truth."""
    out, ann_id = {}, 0
    for img in images:
        for person in img.people:
            ann_id += 1
            out[ann_id] = (img, person)
    return out


def write(images: list[SyntheticImage], folder: Path, name: str = "densepose.json") -> Path:
    """The images as PNG files and their DensePose-COCO file in ``folder``; returns the file's path."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = dataset(images)
    for img, entry in zip(images, data["images"], strict=True):
        Image.fromarray(img.image).save(folder / entry["file_name"])
    path = folder / name
    path.write_text(json.dumps(data))
    return path
