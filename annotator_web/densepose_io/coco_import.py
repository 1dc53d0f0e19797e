"""Import people from a COCO person-annotation file: each valid person becomes a stage-1 task.

Invalid entries are reported with their reason and skipped; the valid ones go in one transaction (files
written for a failed import are removed again). Importing the same file twice adds nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from annotator_web.data.images import ImageRejected, check_image, ingest
from annotator_web.data.models import Image, Person, Project
from pipeline.coco.densepose import finite_number


@dataclass
class ImportReport:
    images: int = 0
    people: int = 0
    points: int = 0
    tasks: int = 0
    skipped_existing: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # imported as they are


def valid_keypoints(kp) -> bool:
    """COCO keypoints: 17 x (x, y, v), finite numbers, v 0 (absent), 1 (hidden) or 2 (visible)."""
    return (isinstance(kp, list) and len(kp) == 51 and all(finite_number(v) for v in kp)
            and all(v in (0, 1, 2) for v in kp[2::3]))  # fmt: skip


def objects_only(data: dict, report: ImportReport) -> dict:
    """The file with its image and annotation entries that are not objects left out, each reported."""
    out = dict(data)
    for what in ("images", "annotations"):
        entries = data.get(what) or []
        bad = [k for k, entry in enumerate(entries) if not isinstance(entry, dict)]
        report.problems += [f"{what}[{k}] is not an object; skipped" for k in bad]
        out[what] = [entry for entry in entries if isinstance(entry, dict)]
    return out


def read_coco(annotations: Path) -> dict:
    try:
        data = json.loads(Path(annotations).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {annotations}: {exc}") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("images"), list)
        or not isinstance(data.get("annotations"), list)
    ):
        raise ValueError(f"{annotations} is not a COCO annotation file (needs 'images' and 'annotations' lists)")
    return data


def stage_images(data: dict, by_image: dict, project: Project, images_dir: Path, report: ImportReport) -> list:
    """The images that have people to import, read and checked: [(image entry, bytes, [annotations])].
    Images already imported into the project are counted and left out; problems are reported."""
    staged = []
    for img in data["images"]:
        anns = by_image.get(img.get("id"))
        if not anns:
            continue
        where = f"image {img.get('id')} ({img.get('file_name')})"
        if Image.objects.filter(project=project, source=Image.Source.COCO, source_id=str(img.get("id"))).exists():
            report.skipped_existing += 1
            continue
        root = Path(images_dir).resolve()
        path = (root / str(img.get("file_name", ""))).resolve()
        if not path.is_relative_to(root):  # an absolute name or ../ would read any file on the server
            report.problems.append(f"{where}: the file is not inside the images folder {images_dir}")
            continue
        if not path.is_file():
            report.problems.append(f"{where}: no such file in {images_dir}")
            continue
        raw = path.read_bytes()
        try:
            _, width, height = check_image(raw, where)
        except ImageRejected as exc:
            report.problems.append(str(exc))
            continue
        if img.get("width") not in (None, width) or img.get("height") not in (None, height):
            report.problems.append(f"{where}: the file is {width}x{height}, the annotations say "
                                   f"{img.get('width')}x{img.get('height')}")  # fmt: skip
            continue
        people = []
        for ann in anns:
            x, y, w, h = ann["bbox"]
            if x < -1 or y < -1 or x + w > width + 1 or y + h > height + 1:
                report.problems.append(f"annotation {ann.get('id')}: bbox {ann['bbox']} is outside {where}")
                continue
            people.append(ann)
        if people:
            staged.append((img, raw, people))
    return staged


def import_coco(project_name: str, annotations: Path, images_dir: Path, actor=None, split: str = "") -> ImportReport:
    from annotator_web.work.services import create_tasks

    report = ImportReport()
    data = objects_only(read_coco(annotations), report)
    person_ids = {c.get("id") for c in data.get("categories", []) if isinstance(c, dict) and c.get("name") == "person"}
    person_ids = person_ids or {1}

    by_image: dict = {}
    for ann in data["annotations"]:
        where = f"annotation {ann.get('id', '?')}"
        if ann.get("category_id") not in person_ids:
            continue
        if ann.get("iscrowd"):
            report.problems.append(f"{where}: a crowd region, not a person; skipped")
            continue
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(finite_number(v) for v in bbox)):
            report.problems.append(f"{where}: bbox must be [x, y, w, h] finite numbers, got {bbox!r}")
            continue
        if bbox[2] < 1 or bbox[3] < 1:
            report.problems.append(f"{where}: bbox is smaller than a pixel ({bbox[2]} x {bbox[3]})")
            continue
        kp = ann.get("keypoints")
        if kp is not None and not valid_keypoints(kp):
            report.problems.append(f"{where}: keypoints must be 17 x (x, y, v) finite numbers, v 0, 1 or 2; "
                                   "imported without them")  # fmt: skip
            ann = {**ann, "keypoints": None}
        by_image.setdefault(ann.get("image_id"), []).append(ann)

    saved = []
    try:
        with transaction.atomic():  # the project too: a failed import leaves nothing behind
            project, _ = Project.objects.get_or_create(name=project_name, defaults={"created_by": actor})
            if project.synthetic:
                raise ValueError(f"project {project_name!r} holds synthetic people; import real images into another")
            staged = stage_images(data, by_image, project, Path(images_dir), report)
            for img, raw, people in staged:
                image, _ = ingest(project, raw, str(img.get("file_name")), Image.Source.COCO, str(img.get("id")), split)
                saved.append(image.file)
                Person.objects.bulk_create(
                    Person(
                        image=image,
                        x=a["bbox"][0],
                        y=a["bbox"][1],
                        w=a["bbox"][2],
                        h=a["bbox"][3],
                        keypoints=a.get("keypoints"),
                        source_id=str(a.get("id", "")),
                    )
                    for a in people
                )
                report.images += 1
                report.people += len(people)
            report.tasks = create_tasks(project, actor=actor)
    except BaseException:
        for f in saved:
            f.storage.delete(f.name)
        raise
    return report
