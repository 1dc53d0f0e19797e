"""DensePose-COCO export of a project's annotations, written as a stream and validated before it is kept."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from django.conf import settings

from annotator_web.core.jobs import JobContext, JobError, JobParam, job_kind
from annotator_web.core.models import Job
from annotator_web.data.models import Person, Project
from annotator_web.work.models import Correspondence, Task
from pipeline import parts
from pipeline.coco import densepose as dp

KIND = "export_densepose"


class ExportError(Exception):
    pass


def _person_annotation(person: Person, only_accepted: bool) -> dict | None:
    masks = getattr(person, "part_masks", None)
    if masks is None:
        return None
    stage2 = next((t for t in person.tasks.all() if t.stage == Task.Stage.POINTS), None)
    stage1 = next((t for t in person.tasks.all() if t.stage == Task.Stage.MASKS), None)
    if only_accepted and not (
        stage1 and stage1.state == Task.State.DONE and stage2 and stage2.state == Task.State.DONE
    ):
        return None
    ok = list(
        Correspondence.objects.filter(point__person=person, status="ok")
        .select_related("point")
        .order_by("point__part", "point__order")  # the order the points were sampled (and imported) in
    )
    labels = dp.labels_from_dp_masks(masks.dp_masks)
    x, y, w, h = person.bbox
    image = person.image
    # the person's mask in the image: the union of the parts, from the 256 x 256 box frame
    full = np.zeros((image.height, image.width), dtype=bool)
    x0, y0 = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
    x1, y1 = min(int(np.ceil(x + w)), image.width), min(int(np.ceil(y + h)), image.height)
    if x1 > x0 and y1 > y0:
        cols = np.clip(((np.arange(x0, x1) + 0.5 - x) * parts.BOX_SCALE / w).astype(int), 0, parts.MASK_SIZE - 1)
        rows = np.clip(((np.arange(y0, y1) + 0.5 - y) * parts.BOX_SCALE / h).astype(int), 0, parts.MASK_SIZE - 1)
        full[y0:y1, x0:x1] = labels[rows[:, None], cols[None, :]] > 0
    ann = {
        "id": person.pk,
        "image_id": image.pk,
        "category_id": 1,
        "iscrowd": 0,
        "bbox": [float(v) for v in person.bbox],
        "area": float(full.sum()) or float(w * h),
        "segmentation": dp.encode_rle(full),
        "dp_masks": masks.dp_masks,
        "dp_x": [c.point.box_x for c in ok],
        "dp_y": [c.point.box_y for c in ok],
        "dp_I": [float(c.chart) for c in ok],
        "dp_U": [c.u for c in ok],
        "dp_V": [c.v for c in ok],
    }
    if person.keypoints:
        ann["keypoints"] = person.keypoints
        ann["num_keypoints"] = int(sum(1 for v in person.keypoints[2::3] if v > 0))
    return ann


def export_project(project: Project, out: Path, only_accepted: bool = True, progress=None) -> dict:
    """Write DensePose-COCO JSON for the project to ``out``; returns counts. Memory does not grow with the
    project: images and people are read and written one at a time."""
    from annotator_web.core.body_assets import built_asset_folder

    report = progress or (lambda p, m: None)
    folder = built_asset_folder(project.body_model)  # names the chart set; its arrays are not needed
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    info = {
        "description": f"DensePose annotations of project {project.name}",
        "body_model": project.body_model,
        "chart_set": folder.name if folder else project.body_model,
        "dp_xy": "box-relative, 256 wide and tall: x = x0 + dp_x * w / 256",
        "only_accepted": only_accepted,
    }
    category = {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(parts.COCO_KEYPOINT_NAMES),
        "skeleton": [list(pair) for pair in parts.COCO_SKELETON],
    }
    images = project.images.order_by("id")
    total = images.count()
    n_images = n_people = n_points = 0
    problems: list[str] = []
    with open(tmp, "w") as f:
        f.write('{"info": ' + json.dumps(info) + ', "categories": [' + json.dumps(category) + '], "images": [')
        first = True
        for image in images.iterator():
            f.write(("" if first else ", ") + json.dumps({"id": image.pk, "file_name": Path(image.file.name).name,
                                                          "width": image.width, "height": image.height}))  # fmt: skip
            first = False
        f.write('], "annotations": [')
        first = True
        for i, image in enumerate(images.iterator()):
            wrote = False
            for person in image.people.select_related("part_masks").prefetch_related("tasks"):
                ann = _person_annotation(person, only_accepted)
                if ann is None:
                    continue
                problems += [
                    f"annotation {ann['id']}: {r}" for r in dp.check_annotation(ann, (image.width, image.height))
                ]
                f.write(("" if first else ", ") + json.dumps(ann))
                first, wrote = False, True
                n_people += 1
                n_points += len(ann["dp_I"])
            n_images += wrote
            report(100 * (i + 1) / max(total, 1), f"image {i + 1} of {total}")
        f.write("]}")
    if problems:  # each annotation was checked as it was written; ids are database keys, unique
        tmp.unlink()
        raise ExportError(f"the export would not be valid, so it was not written: {problems[0]} "
                          f"({len(problems)} problems)")  # fmt: skip
    os.replace(tmp, out)
    return {"images_with_people": n_images, "people": n_people, "points": n_points, "file": str(out)}


@job_kind(
    KIND,
    title="Export DensePose-COCO",
    queue="export",
    roles=("admin",),
    params=(JobParam("project", "project", "text", "demo"),),
)
def export_job(job: Job, ctx: JobContext) -> dict:
    project = Project.objects.filter(name=job.params.get("project")).first()
    if project is None:
        raise JobError(f"no project named {job.params.get('project')!r}")
    out = ctx.output_dir / f"{project.name}-densepose.json"
    try:
        result = export_project(project, out, bool(job.params.get("only_accepted", True)), ctx.progress)
    except ExportError as exc:
        raise JobError(str(exc)) from None
    result["result_path"] = out.relative_to(settings.MEDIA_ROOT).as_posix()
    result["message"] = f"{result['people']} people, {result['points']} points"
    return result
