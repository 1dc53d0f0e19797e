"""The task queue: leasing, drafts, submissions. Views call these; the rules live here.

- ``next_task`` gives an annotator the next task of a project and stage under a lease. Rows are locked
  with ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL (on SQLite the IMMEDIATE transaction serialises
  writers), so two annotators never hold the same task; an expired lease returns a task to the queue.
- ``save_draft`` keeps work server-side and renews the lease.
- ``submit`` stores one submission per client key (submitting twice stores one) and hands it to a worker.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotator_web.core import jobs
from annotator_web.data.models import Person, Project
from annotator_web.work.models import Submission, Task
from pipeline.coco.densepose import check_annotation

PROCESS_KIND = "process_submission"


class WorkError(Exception):
    """A request the queue refuses; ``status`` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 400, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.field = field


def create_tasks(project: Project, stage: int = Task.Stage.MASKS, priority: int = 0) -> int:
    """Queue a task of ``stage`` for every person of the project that has none; returns how many."""
    people = Person.objects.filter(image__project=project).exclude(tasks__stage=stage)
    created = Task.objects.bulk_create(
        [Task(project=project, person=p, stage=stage, priority=priority) for p in people], ignore_conflicts=True
    )
    return len(created)


def _lease_until(project: Project):
    return timezone.now() + timedelta(minutes=project.lease_minutes)


def next_task(user, project: Project, stage: int) -> Task | None:
    if project.paused:
        raise WorkError(f"project {project.name} is paused", status=409)
    now = timezone.now()
    with transaction.atomic():
        held = (
            Task.objects.select_for_update()
            .filter(project=project, stage=stage, assignee=user, state=Task.State.LEASED, lease_expires_at__gt=now)
            .first()
        )
        if held is not None:  # the annotator comes back (reload, new tab): same task, lease renewed
            held.lease_expires_at = _lease_until(project)
            held.save(update_fields=["lease_expires_at", "updated_at"])
            return held
        task = (
            Task.objects.select_for_update(skip_locked=True)
            .filter(project=project, stage=stage)
            .filter(Q(state=Task.State.PENDING) | Q(state=Task.State.LEASED, lease_expires_at__lte=now))
            .order_by("-priority", "id")
            .first()
        )
        if task is None:
            return None
        if task.assignee_id and task.assignee_id != user.pk:
            task.draft = None  # another annotator's expired lease: their draft is not yours
        task.state, task.assignee, task.lease_expires_at = Task.State.LEASED, user, _lease_until(project)
        task.save()
        return task


def _locked_lease(user, task_id: int) -> Task:
    task = Task.objects.select_for_update().select_related("project").filter(pk=task_id).first()
    if task is None:
        raise WorkError(f"task {task_id} does not exist", status=404)
    if task.assignee_id != user.pk or task.state != Task.State.LEASED:
        raise WorkError(f"task {task_id} is not leased to you", status=409)
    if task.lease_expires_at <= timezone.now():
        raise WorkError(f"your lease on task {task_id} expired; ask for the next task", status=409)
    return task


def save_draft(user, task_id: int, draft: dict) -> Task:
    if not isinstance(draft, dict):
        raise WorkError("a draft is a JSON object", field="draft")
    with transaction.atomic():
        task = _locked_lease(user, task_id)
        task.draft, task.draft_saved_at = draft, timezone.now()
        task.lease_expires_at = _lease_until(task.project)
        task.save(update_fields=["draft", "draft_saved_at", "lease_expires_at", "updated_at"])
        return task


def validate_stage1(data: dict) -> dict:
    masks = data.get("dp_masks") if isinstance(data, dict) else None
    if masks is None:
        raise WorkError("stage 1 submits {'dp_masks': [14 RLE masks or []]}", field="dp_masks")
    reasons = check_annotation({"bbox": [0, 0, 1, 1], "dp_masks": masks})
    if reasons:
        raise WorkError("; ".join(reasons), field="dp_masks")
    if not any(masks):
        raise WorkError("all 14 part masks are empty: mark at least one visible part", field="dp_masks")
    return {"dp_masks": masks}


ANSWER_STATUSES = ("ok", "not_visible", "unsure")


def validate_stage2(data: dict, task: Task) -> dict:
    """Every sampled point answered once: a click (view, x, y) on the point's part, or not visible / unsure."""
    from annotator_web.core.body_assets import click_mapper
    from annotator_web.work.models import SampledPoint

    answers = data.get("answers") if isinstance(data, dict) else None
    if not isinstance(answers, list):
        raise WorkError("stage 2 submits {'answers': [{point, status, view, x, y}, ...]}", field="answers")
    points = {p.pk: p for p in SampledPoint.objects.filter(person=task.person)}
    seen, clicks = set(), []
    for k, answer in enumerate(answers):
        where = f"answers[{k}]"
        if not isinstance(answer, dict) or answer.get("point") not in points:
            raise WorkError(f"{where}: 'point' must be one of this person's sampled points", field=where)
        if answer["point"] in seen:
            raise WorkError(f"{where}: point {answer['point']} is answered twice", field=where)
        seen.add(answer["point"])
        status = answer.get("status", "ok")
        if status not in ANSWER_STATUSES:
            raise WorkError(f"{where}: status must be one of {ANSWER_STATUSES}", field=where)
        if status == "ok":
            try:
                view, x, y = int(answer["view"]), float(answer["x"]), float(answer["y"])
            except (KeyError, TypeError, ValueError):
                raise WorkError(f"{where}: a click needs view (0..5), x and y numbers", field=where) from None
            clicks.append((k, points[answer["point"]].part, view, x, y))
    missing = sorted(set(points) - seen)
    if missing:
        raise WorkError(f"{len(missing)} sampled points have no answer (first: point {missing[0]})", field="answers")
    if clicks:
        mapper = click_mapper(task.project.body_model)
        if mapper is None:
            raise WorkError(f"the {task.project.body_model} body assets are not built yet", status=503)
        k, part, view, x, y = (list(c) for c in zip(*clicks, strict=True))
        mapped = mapper.map_clicks(part, view, x, y)
        bad = [i for i, ok in enumerate(mapped.ok) if not ok]
        if bad:
            from pipeline.correspond import REASONS

            i = bad[0]
            raise WorkError(
                f"answers[{k[i]}]: {REASONS[int(mapped.reason[i])]} (part {part[i]}, view {view[i]}, "
                f"x={x[i]}, y={y[i]}); {len(bad)} clicks in all",
                field=f"answers[{k[i]}]",
            )
    return {"answers": answers}


VALIDATORS = {Task.Stage.MASKS: lambda data, task: validate_stage1(data), Task.Stage.POINTS: validate_stage2}


def submit(user, task_id: int, key: str, data: dict, seconds_spent: float = 0.0) -> tuple[Submission, bool]:
    """Store a submission; returns (submission, created). The same key again returns the first one."""
    if not key or len(key) > 64:
        raise WorkError("a submission needs a key (1..64 characters) chosen by the client", field="key")
    existing = Submission.objects.filter(task_id=task_id, key=key).first()
    if existing is not None:
        return existing, False
    with transaction.atomic():
        task = Task.objects.select_for_update().filter(pk=task_id).first()
        if task is not None:
            again = Submission.objects.filter(task=task, key=key).first()
            if again is not None:  # a double submit that raced the first one
                return again, False
        task = _locked_lease(user, task_id)
        validator = VALIDATORS.get(task.stage)
        if validator is None:
            raise WorkError(f"stage {task.stage} submissions are not accepted yet", status=409)
        clean = validator(data, task)
        submission = Submission.objects.create(
            task=task, annotator=user, key=key, data=clean, seconds_spent=max(0.0, float(seconds_spent))
        )
        task.state, task.draft, task.lease_expires_at = Task.State.SUBMITTED, None, None
        task.save(update_fields=["state", "draft", "lease_expires_at", "updated_at"])
        jobs.start_job(PROCESS_KIND, params={"submission": submission.pk}, user=user)
    return submission, True
