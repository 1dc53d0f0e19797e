"""DensePose-COCO export of a project's annotations, written as a stream and validated before it is kept."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from annotator_web.core.jobs import JobContext, JobError, JobParam, job_kind
from annotator_web.core.models import Job
from annotator_web.data.models import Person, Project, project_names
from annotator_web.work.models import Correspondence, Origin, PartMasks, SampledPoint, Task
from pipeline.coco import densepose as dp
from pipeline.coco.record import DatasetWriter, DensePosePerson, annotation_json, image_record
from pipeline.preannotate import MASKS_ORIGIN_FIELD, ORIGIN_FIELD

KIND = "export_densepose"


class ExportError(Exception):
    pass


# Who is exported unless asked otherwise (the command, the job and the function): everyone with part masks;
# "only accepted" keeps the people whose masks and points were both accepted.
ONLY_ACCEPTED = False

CHUNK_IMAGES = 500  # images whose people, masks, task states and points are read in one query each


@dataclass(frozen=True)
class Selection:
    """What goes into an export: everyone with part masks or only the accepted; with each answer's origin
    (``dp_origin``, ``dp_masks_origin``); without the points that are a model's proposal confirmed as it was."""

    only_accepted: bool = ONLY_ACCEPTED
    provenance: bool = False
    drop_confirmed: bool = False


def _points_by_person(person_ids: list[int], drop_confirmed: bool = False) -> dict[int, list[tuple]]:
    """The "ok" correspondences of these people: person -> [(box_x, box_y, chart, u, v, origin)], in the order the
    points were sampled (part, then order). Two indexed queries (points of the people, then their
    correspondences by point id): as one join, PostgreSQL's planner scans the whole correspondence table."""
    from django.db import connection

    if not person_ids:
        return {}
    points = list(
        SampledPoint.objects.filter(person_id__in=person_ids, current=True)
        .order_by("person_id", "part", "order")
        .values_list("id", "person_id", "box_x", "box_y")
    )
    q = connection.ops.quote_name
    table = q(Correspondence._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT point_id, chart, u, v, origin FROM {table} WHERE point_id = ANY(%s) AND status = %s "
                "AND current",
                [[p[0] for p in points], Correspondence.Status.OK],
            )
        else:
            marks = ", ".join(["%s"] * len(person_ids))
            cursor.execute(
                f"SELECT c.point_id, c.chart, c.u, c.v, c.origin FROM {table} c "
                f"JOIN {q(SampledPoint._meta.db_table)} p ON c.point_id = p.id "
                f"WHERE p.person_id IN ({marks}) AND c.status = %s AND c.current AND p.current",
                [*person_ids, Correspondence.Status.OK],
            )
        answers = {row[0]: row[1:] for row in cursor.fetchall()}
    out: dict[int, list[tuple]] = {}
    for point_id, person_id, x, y in points:
        answer = answers.get(point_id)
        if answer is not None and not (drop_confirmed and answer[-1] == Origin.CONFIRMED):
            out.setdefault(person_id, []).append((x, y, *answer))
    return out


def _annotations(image_rows: list[tuple], selection: Selection):
    """(annotation, image size) for each exportable person of these images, in image then person order."""
    ids = [row[0] for row in image_rows]
    sizes = {row[0]: (row[2], row[3]) for row in image_rows}
    people = list(
        Person.objects.filter(image_id__in=ids)
        .order_by("image_id", "id")
        .values_list("id", "image_id", "x", "y", "w", "h", "keypoints")
    )
    found = PartMasks.objects.filter(person__image_id__in=ids, current=True).values_list(
        "person_id", "dp_masks", "origin"
    )
    masks, masks_origin = {}, {}
    for person_id, dp_masks, origin in found:
        masks[person_id], masks_origin[person_id] = dp_masks, origin
    done = {
        (pid, stage)
        for pid, stage in Task.objects.filter(person__image_id__in=ids, state=Task.State.DONE).values_list(
            "person_id", "stage"
        )
    }
    accepted = {pid for pid, stage in done if stage == Task.Stage.MASKS} & {
        pid for pid, stage in done if stage == Task.Stage.POINTS
    }
    keep = [p for p in people if p[0] in masks and (not selection.only_accepted or p[0] in accepted)]
    points = _points_by_person([p[0] for p in keep], selection.drop_confirmed)
    for person_id, image_id, x, y, w, h, keypoints in keep:
        width, height = sizes[image_id]
        segmentation, area = dp.person_segmentation(dp.union_mask(masks[person_id]), (x, y, w, h), width, height)
        rows = points.get(person_id, [])
        person = DensePosePerson.with_points(
            id=person_id, image_id=image_id, bbox=(x, y, w, h), area=float(area) or float(w * h),
            segmentation=segmentation, dp_masks=masks[person_id], keypoints=keypoints or None,
            box_x=[r[0] for r in rows], box_y=[r[1] for r in rows], chart=[r[2] for r in rows],
            u=[r[3] for r in rows], v=[r[4] for r in rows],
            extra={ORIGIN_FIELD: [r[5] for r in rows], MASKS_ORIGIN_FIELD: masks_origin[person_id]}
            if selection.provenance else {},
        )  # fmt: skip
        yield person.to_json(), (width, height)


def _images(project: Project, split: str | None):
    images = project.images.all()
    return images if split is None else images.filter(split=split)


def _image_chunks(project: Project, split: str | None = None):
    """The project's image rows (id, file, width, height) in id order, ``CHUNK_IMAGES`` at a time."""
    chunk = []
    rows = _images(project, split).order_by("id").values_list("id", "file", "width", "height")
    for row in rows.iterator(chunk_size=5000):
        chunk.append(row)
        if len(chunk) == CHUNK_IMAGES:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _write_chunk(chunk: list, selection: Selection, path: Path) -> dict:
    """One chunk's annotations, comma-separated, into ``path``; each checked as it is written."""
    stats = {"people": 0, "points": 0, "images": 0, "problems": [], "problem_count": 0}
    images = set()
    with open(path, "w") as f:
        first = True
        for ann, size in _annotations(chunk, selection):
            reasons = dp.check_annotation(ann, size)
            if reasons:
                stats["problem_count"] += len(reasons)
                stats["problems"] += [f"annotation {ann['id']}: {r}" for r in reasons][:5]
            f.write(("" if first else ", ") + annotation_json(ann))
            first = False
            images.add(ann["image_id"])
            stats["people"] += 1
            stats["points"] += len(ann["dp_I"])
    stats["images"] = len(images)
    return stats


def _add(total: dict, stats: dict) -> None:
    for key in ("people", "points", "images", "problem_count"):
        total[key] += stats[key]
    total["problems"] += stats["problems"][: max(0, 5 - len(total["problems"]))]


def _chunks_in_processes(project: Project, selection: Selection, split, work: Path, workers: int, report) -> dict:
    """Write every chunk file with ``workers`` forked processes (chunk c goes to worker c mod workers).
    os.fork, not multiprocessing: it also works inside a Celery pool process, which may not have children
    through multiprocessing. Database connections are closed first; each process opens its own."""
    import time
    import traceback

    from django.db import connections

    connections.close_all()
    pids = []
    for k in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker process: never returns
            code = 0
            try:
                total = {"people": 0, "points": 0, "images": 0, "problems": [], "problem_count": 0}
                for c, chunk in enumerate(_image_chunks(project, split)):
                    if c % workers == k:
                        _add(total, _write_chunk(chunk, selection, work / f"chunk-{c:07d}.json"))
                (work / f"worker-{k}.stats").write_text(json.dumps(total))
            except BaseException:
                (work / f"worker-{k}.error").write_text(traceback.format_exc())
                code = 1
            finally:
                try:
                    connections.close_all()
                finally:
                    os._exit(code)
        pids.append(pid)
    total_images = _images(project, split).count()
    running = set(pids)
    failed = False
    while running:
        for pid in list(running):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                running.discard(pid)
                failed |= status != 0
        written = len(list(work.glob("chunk-*.json")))
        report(min(99, 100 * written * CHUNK_IMAGES / max(total_images, 1)), f"about {written * CHUNK_IMAGES} images")
        time.sleep(0.2)
    errors = sorted(work.glob("worker-*.error"))
    if failed or errors:
        detail = errors[0].read_text().strip().splitlines()[-1] if errors else "a worker process died"
        raise ExportError(f"the export failed in a worker process: {detail}")
    total = {"people": 0, "points": 0, "images": 0, "problems": [], "problem_count": 0}
    for path in sorted(work.glob("worker-*.stats")):
        _add(total, json.loads(path.read_text()))
    return total


def split_problem(project: Project, split: str | None) -> str | None:
    """Why exporting this split would give no image (None when it has some, or no split is asked for)."""
    if not split or project.images.filter(split=split).exists():
        return None
    known = sorted(s for s in project.images.values_list("split", flat=True).distinct() if s)
    return (f"no image of project {project.name} is in split {split!r}; its splits: {', '.join(known) or 'none'} "
            "(no split: every image)")  # fmt: skip


def export_project(
    project: Project,
    out: Path,
    only_accepted: bool = ONLY_ACCEPTED,
    progress=None,
    workers: int | None = None,
    split: str | None = None,
    provenance: bool = False,
    drop_confirmed: bool = False,
) -> dict:
    """Write DensePose-COCO JSON for the project to ``out``; returns counts.

    Images are read and written in chunks of ``CHUNK_IMAGES`` (memory does not grow with the project), by
    ``workers`` processes (default ``settings.EXPORT_WORKERS``) when there is more than one chunk; the chunk
    files are then joined in image order. ``split``: only the images of that split. ``provenance``: each
    point's origin in ``dp_origin`` (click, confirmed, corrected) and the part masks' in ``dp_masks_origin``;
    ``drop_confirmed``: without the points that are a model's proposal confirmed as it was. Nothing is left
    behind when the export fails."""
    import shutil
    import tempfile

    from annotator_web.core.body_assets import built_asset_folder

    report = progress or (lambda p, m: None)
    folder = built_asset_folder(project.body_model)  # names the chart set; its arrays are not needed
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    info = {
        "description": f"DensePose annotations of project {project.name}",
        "body_model": project.body_model,
        "chart_set": folder.name if folder else project.body_model,
        "dp_xy": "box-relative, as DensePose-COCO defines it: x = x0 + dp_x * w / 255",
        "only_accepted": only_accepted,
        "split": split,
        "provenance": provenance,
        "confirmed_proposals": "left out" if drop_confirmed else "included",
    }
    selection = Selection(only_accepted, provenance, drop_confirmed)
    workers = settings.EXPORT_WORKERS if workers is None else workers
    chunks = -(-_images(project, split).count() // CHUNK_IMAGES)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        if workers > 1 and chunks > 1 and hasattr(os, "fork"):
            total = _chunks_in_processes(project, selection, split, work, min(workers, chunks), report)
        else:
            total = {"people": 0, "points": 0, "images": 0, "problems": [], "problem_count": 0}
            for c, chunk in enumerate(_image_chunks(project, split)):
                _add(total, _write_chunk(chunk, selection, work / f"chunk-{c:07d}.json"))
                report(
                    min(99, 100 * (c + 1) / max(chunks, 1)),
                    f"image {min((c + 1) * CHUNK_IMAGES, chunks * CHUNK_IMAGES)}",
                )
        if total["problem_count"]:  # ids are database keys, unique; everything else was checked per annotation
            raise ExportError(f"the export would not be valid, so it was not written: {total['problems'][0]} "
                              f"({total['problem_count']} problems)")  # fmt: skip
        with DatasetWriter(out, info) as writer:
            for chunk in _image_chunks(project, split):
                for image_id, name, width, height in chunk:
                    writer.add_image(image_record(image_id, Path(name).name, width, height))
            for path in sorted(work.glob("chunk-*.json")):
                with open(path) as part:
                    writer.add_annotations_json(part)
                path.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(100, "written")
    return {"images_with_people": total["images"], "people": total["people"], "points": total["points"],
            "file": out.name}  # fmt: skip


@job_kind(
    KIND,
    title="Export DensePose-COCO",
    queue="export",
    roles=("admin",),
    params=(
        JobParam("project", "project", "choice", "", choices=project_names),
        JobParam("split", "split (empty: every image)", "text", "", required=False),
        JobParam("only_accepted", "only accepted people", "boolean", ONLY_ACCEPTED),
        JobParam("provenance", "with each point's origin", "boolean", False),
        JobParam("drop_confirmed", "without confirmed proposals", "boolean", False),
    ),
)
def export_job(job: Job, ctx: JobContext) -> dict:
    project = Project.objects.filter(name=job.params.get("project")).first()
    if project is None:
        raise JobError(f"no project named {job.params.get('project')!r}")
    problem = split_problem(project, job.params.get("split") or None)
    if problem:
        raise JobError(problem)
    out = ctx.output_dir / f"{project.name}-densepose.json"
    try:
        result = export_project(
            project,
            out,
            bool(job.params.get("only_accepted", ONLY_ACCEPTED)),
            ctx.progress,
            split=job.params.get("split") or None,
            provenance=bool(job.params.get("provenance")),
            drop_confirmed=bool(job.params.get("drop_confirmed")),
        )
    except ExportError as exc:
        raise JobError(str(exc)) from None
    result["result_path"] = out.relative_to(settings.MEDIA_ROOT).as_posix()
    result["message"] = f"{result['people']} people, {result['points']} points"
    return result
