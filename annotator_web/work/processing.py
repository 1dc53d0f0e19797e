"""Worker side of submissions: stage 1 masks -> k-means points -> a stage-2 task."""

from __future__ import annotations

from django.db import transaction

from annotator_web.core.jobs import JobContext, JobError, job_kind
from annotator_web.core.models import Job
from annotator_web.work.models import PartMasks, SampledPoint, Submission, Task
from annotator_web.work.services import PROCESS_KIND
from pipeline.coco.densepose import labels_from_dp_masks
from pipeline.sampling import sample_points


def process_stage1(submission: Submission) -> dict:
    task = submission.task
    person = task.person
    labels = labels_from_dp_masks(submission.data["dp_masks"])
    points = sample_points(labels, seed=person.pk, cap=task.project.points_per_part)
    with transaction.atomic():
        PartMasks.objects.update_or_create(
            person=person, defaults={"dp_masks": submission.data["dp_masks"], "submission": submission}
        )
        SampledPoint.objects.filter(person=person).delete()
        SampledPoint.objects.bulk_create(
            SampledPoint(person=person, part=part, order=k, box_x=float(x), box_y=float(y))
            for part, xy in points.items()
            for k, (x, y) in enumerate(xy)
        )
        Task.objects.get_or_create(
            person=person, stage=Task.Stage.POINTS, defaults={"project": task.project, "priority": task.priority}
        )
        Task.objects.filter(pk=task.pk).update(state=Task.State.DONE)
    count = sum(len(v) for v in points.values())
    return {"person": person.pk, "points": count, "parts": len(points), "message": f"{count} points sampled"}


@job_kind(PROCESS_KIND, title="Process a submission", queue="default", roles=())
def process_submission(job: Job, ctx: JobContext) -> dict:
    submission = (
        Submission.objects.select_related("task__person", "task__project")
        .filter(pk=job.params.get("submission"))
        .first()
    )
    if submission is None:
        raise JobError(f"submission {job.params.get('submission')} does not exist")
    if submission.task.stage == Task.Stage.MASKS:
        return process_stage1(submission)
    raise JobError(f"stage {submission.task.stage} submissions are not processed yet")
