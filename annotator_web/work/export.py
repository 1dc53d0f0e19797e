"""DensePose-COCO export of a project's annotations, written as a stream and validated before it is kept."""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.conf import settings

from annotator_web.core.jobs import JobContext, JobError, JobParam, job_kind
from annotator_web.core.models import Job
from annotator_web.data.models import Person, Project
from annotator_web.work.models import Correspondence, PartMasks, SampledPoint, Task
from pipeline import parts
from pipeline.coco import densepose as dp

KIND = "export_densepose"


class ExportError(Exception):
    pass


CHUNK_IMAGES = 500  # images whose people, masks, task states and points are read in one query each


def _points_by_person(person_ids: list[int]) -> dict[int, list[tuple]]:
    """Accepted-or-not "ok" correspondences of these people: person -> [(box_x, box_y, chart, u, v)], in the
    order the points were sampled (part, then order). One SQL query, rows read as plain tuples."""
    from django.db import connection

    if not person_ids:
        return {}
    q = connection.ops.quote_name
    point, corr = SampledPoint._meta.db_table, Correspondence._meta.db_table
    marks = ", ".join(["%s"] * len(person_ids))
    sql = (
        f"SELECT p.person_id, p.box_x, p.box_y, c.chart, c.u, c.v FROM {q(corr)} c "
        f"JOIN {q(point)} p ON c.point_id = p.id WHERE p.person_id IN ({marks}) AND c.status = %s "
        f"ORDER BY p.person_id, p.part, p.{q('order')}"
    )
    out: dict[int, list[tuple]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*person_ids, Correspondence.Status.OK])
        for person_id, *row in cursor.fetchall():
            out.setdefault(person_id, []).append(row)
    return out


def _annotations(image_rows: list[tuple], only_accepted: bool):
    """(annotation, image size) for each exportable person of these images, in image then person order."""
    ids = [row[0] for row in image_rows]
    sizes = {row[0]: (row[2], row[3]) for row in image_rows}
    people = list(
        Person.objects.filter(image_id__in=ids)
        .order_by("image_id", "id")
        .values_list("id", "image_id", "x", "y", "w", "h", "keypoints")
    )
    masks = dict(PartMasks.objects.filter(person__image_id__in=ids).values_list("person_id", "dp_masks"))
    done = {
        (pid, stage)
        for pid, stage in Task.objects.filter(person__image_id__in=ids, state=Task.State.DONE).values_list(
            "person_id", "stage"
        )
    }
    accepted = {pid for pid, stage in done if stage == Task.Stage.MASKS} & {
        pid for pid, stage in done if stage == Task.Stage.POINTS
    }
    keep = [p for p in people if p[0] in masks and (not only_accepted or p[0] in accepted)]
    points = _points_by_person([p[0] for p in keep])
    for person_id, image_id, x, y, w, h, keypoints in keep:
        width, height = sizes[image_id]
        segmentation, area = dp.person_segmentation(dp.union_mask(masks[person_id]), (x, y, w, h), width, height)
        rows = points.get(person_id, [])
        ann = {
            "id": person_id,
            "image_id": image_id,
            "category_id": 1,
            "iscrowd": 0,
            "bbox": [float(x), float(y), float(w), float(h)],
            "area": float(area) or float(w * h),
            "segmentation": segmentation,
            "dp_masks": masks[person_id],
            "dp_x": [r[0] for r in rows],
            "dp_y": [r[1] for r in rows],
            "dp_I": [float(r[2]) for r in rows],
            "dp_U": [r[3] for r in rows],
            "dp_V": [r[4] for r in rows],
        }
        if keypoints:
            ann["keypoints"] = keypoints
            ann["num_keypoints"] = int(sum(1 for v in keypoints[2::3] if v > 0))
        yield ann, (width, height)


def export_project(project: Project, out: Path, only_accepted: bool = True, progress=None) -> dict:
    """Write DensePose-COCO JSON for the project to ``out``; returns counts. Memory does not grow with the
    project: images are read and written in chunks of ``CHUNK_IMAGES``."""
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
    images = project.images.order_by("id").values_list("id", "file", "width", "height")
    total = images.count()
    n_images = n_people = n_points = 0
    problems: list[str] = []
    with open(tmp, "w") as f:
        f.write('{"info": ' + json.dumps(info) + ', "categories": [' + json.dumps(category) + '], "images": [')
        first = True
        for image_id, name, width, height in images.iterator(chunk_size=5000):
            f.write(("" if first else ", ") + json.dumps({"id": image_id, "file_name": Path(name).name,
                                                          "width": width, "height": height}))  # fmt: skip
            first = False
        f.write('], "annotations": [')
        first, done, chunk = True, 0, []
        with_people = set()

        def flush(chunk):
            nonlocal first, n_people, n_points
            for ann, size in _annotations(chunk, only_accepted):
                problems.extend(f"annotation {ann['id']}: {r}" for r in dp.check_annotation(ann, size))
                f.write(("" if first else ", ") + json.dumps(ann))
                first = False
                with_people.add(ann["image_id"])
                n_people += 1
                n_points += len(ann["dp_I"])

        for row in images.iterator(chunk_size=5000):
            chunk.append(row)
            if len(chunk) == CHUNK_IMAGES:
                flush(chunk)
                done += len(chunk)
                chunk = []
                report(100 * done / max(total, 1), f"image {done} of {total}")
        flush(chunk)
        n_images = len(with_people)
        report(100, f"image {total} of {total}")
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
