"""Synthetic images as DensePose-COCO: each person's box, area, keypoints and, unless ignored, the part masks
and the perfect annotator's points (``PersonTruth.points``), in the exporter's conventions."""

from __future__ import annotations

from pathlib import Path

from pipeline.coco.record import DatasetWriter, DensePosePerson, image_record
from pipeline.coco.record import dataset as coco_dataset
from pipeline.synthetic.scene import PersonTruth, SyntheticImage


def person_record(person: PersonTruth, image_id: int, ann_id: int) -> DensePosePerson:
    fields = dict(id=ann_id, image_id=image_id, bbox=tuple(person.bbox), area=float(person.area),
                  keypoints=list(person.keypoints), segmentation=person.segmentation)  # fmt: skip
    if person.ignore or not person.points:
        return DensePosePerson(**fields)
    pts = person.points
    return DensePosePerson.with_points(**fields, dp_masks=person.dp_masks, box_x=[p["box_xy"][0] for p in pts],
                                       box_y=[p["box_xy"][1] for p in pts], chart=[p["I"] for p in pts],
                                       u=[p["U"] for p in pts], v=[p["V"] for p in pts])  # fmt: skip


def _images_and_people(images: list[SyntheticImage], file_names: list[str] | None = None):
    records, image_id = [], {}
    for k, img in enumerate(images):
        h, w = img.instance.shape
        records.append(image_record(k + 1, file_names[k] if file_names else f"{img.index}.png", w, h))
        image_id[id(img)] = k + 1
    people = [person_record(person, image_id[id(img)], ann_id)
              for ann_id, (img, person) in people_by_annotation(images).items()]  # fmt: skip
    return records, people


def dataset(images: list[SyntheticImage], file_names: list[str] | None = None) -> dict:
    """The DensePose-COCO dict of these images (ids 1.., file names ``{index}.png`` unless given)."""
    return coco_dataset(*_images_and_people(images, file_names))


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
    records, people = _images_and_people(images)
    for img, entry in zip(images, records, strict=True):
        Image.fromarray(img.image).save(folder / entry["file_name"])
    path = folder / name
    with DatasetWriter(path) as out:
        for entry in records:
            out.add_image(entry)
        for person in people:
            out.add_person(person)
    return path
