"""Worker side of submissions: stage 1 masks -> k-means points -> a stage-2 task."""

from __future__ import annotations

from django.db import transaction

from annotator_web.core.jobs import JobContext, JobError, job_kind
from annotator_web.core.models import Job
from annotator_web.work import services, versions
from annotator_web.work.models import Correspondence, SampledPoint, Submission, Task
from annotator_web.work.services import PROCESS_KIND
from pipeline import preannotate
from pipeline.coco.densepose import labels_from_dp_masks
from pipeline.sampling import person_seed, sample_points


def process_stage1(submission: Submission) -> dict:
    """The masks become the person's current part-masks version (the earlier ones stay) and their k-means points
    the current points; an answer to a point sampled again at the same place is carried over (see versions)."""
    task = submission.task
    person = task.person
    labels = labels_from_dp_masks(submission.data["dp_masks"])
    points = sample_points(labels, seed=person_seed(person.image.sha256, person.bbox), cap=task.project.points_per_part)
    proposed = (task.proposal or {}).get("dp_masks")
    origin, changed = preannotate.origin_of_masks(labels, labels_from_dp_masks(proposed) if proposed else None)
    with transaction.atomic():
        masks = versions.add_masks(
            person,
            submission.data["dp_masks"],
            submission=submission,
            origin=origin,
            changed_pixels=changed if proposed else None,
        )
        # new points: a stage-2 proposal made for the old ones no longer applies
        Task.objects.filter(person=person, stage=Task.Stage.POINTS).update(proposal=None)
        carried = versions.resample(person, masks, points)
        state = services.processed(task, submission)
    count = sum(len(v) for v in points.values())
    return {
        "person": person.pk,
        "points": count,
        "parts": len(points),
        "carried": carried,
        "state": state,
        "message": f"{count} points sampled ({carried} answers carried over); {state}",
    }


def process_stage2(submission: Submission) -> dict:
    """Map the clicks authoritatively and store one answer per sampled point (not visible / unsure kept)."""
    from annotator_web.core.body_assets import click_mapper

    task = submission.task
    answers = submission.data["answers"]
    # any version's points: an answer to a point that new masks replaced meanwhile is kept, not current
    points = {p.pk: p for p in SampledPoint.objects.filter(person=task.person)}
    clicks = [a for a in answers if a.get("status", "ok") == "ok"]
    mapped = None
    if clicks:
        mapper = click_mapper(task.project.body_model)
        if mapper is None:
            raise JobError(f"the {task.project.body_model} body assets are not built")
        mapped = mapper.map_clicks(
            [points[a["point"]].part for a in clicks], [a["view"] for a in clicks], [a["x"] for a in clicks],
            [a["y"] for a in clicks],
        )  # fmt: skip
        if not mapped.ok.all():
            raise JobError("a click no longer maps onto its part (were the assets rebuilt?)")
    per_point = submission.seconds_spent / max(len(answers), 1)
    proposed = (task.proposal or {}).get("points") or {}
    rows, c = [], 0
    for answer in answers:
        origin = preannotate.origin_of_answer(answer, proposed.get(str(answer["point"])))
        point = points[answer["point"]]
        row = Correspondence(point=point, status=answer.get("status", "ok"), origin=origin, current=point.current,
                             seconds_spent=per_point, submission=submission)  # fmt: skip
        if row.status == "ok":
            row.view, row.click_x, row.click_y = int(answer["view"]), float(answer["x"]), float(answer["y"])
            row.face, row.bary = int(mapped.face[c]), mapped.bary[c].tolist()
            row.chart, row.u, row.v = int(mapped.chart[c]), float(mapped.uv[c, 0]), float(mapped.uv[c, 1])
            row.surface = mapped.point[c].tolist()
            c += 1
        rows.append(row)
    with transaction.atomic():
        versions.add_answers(task.person, rows)
        state = services.processed(task, submission)
    counts = {s: sum(r.status == s for r in rows) for s in ("ok", "not_visible", "unsure")}
    if proposed:
        counts["origins"] = {o: sum(r.origin == o for r in rows) for o in preannotate.ORIGINS}
    return {"person": task.person_id, **counts, "state": state,
            "message": f"{counts['ok']} correspondences mapped; {state}"}  # fmt: skip


def processing_stopped(job: Job) -> None:
    """The job ended without a result: its task goes back to its author with the reason (see services)."""
    reason = job.error if job.state == Job.State.FAILED else "its processing was cancelled"
    services.processing_stopped(job.params.get("submission"), reason or "its processing failed")


@job_kind(PROCESS_KIND, title="Process a submission", queue="default", roles=(), on_stop=processing_stopped)
def process_submission(job: Job, ctx: JobContext) -> dict:
    submission = (
        Submission.objects.select_related("task__person__image", "task__project")
        .filter(pk=job.params.get("submission"))
        .first()
    )
    if submission is None:
        raise JobError(f"submission {job.params.get('submission')} does not exist")
    if submission.task.stage == Task.Stage.MASKS:
        return process_stage1(submission)
    return process_stage2(submission)
