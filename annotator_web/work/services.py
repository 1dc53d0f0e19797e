"""The task queue: leasing, drafts, submissions. Views call these; the rules live here.

- ``next_task`` gives an annotator the next task of a project and stage under a lease. Rows are locked
  with ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL (on SQLite the IMMEDIATE transaction serialises
  writers), so two annotators never hold the same task; the annotator's own row is locked first, so one
  annotator holds at most one task per project and stage however many requests they send at once; an
  expired lease returns a task to the queue. Rejected work waits for its author and comes to them first.
- ``review``: nobody reviews their own submission unless the project allows it (and the audit says so).
- ``save_draft`` keeps work server-side and renews the lease.
- ``submit`` stores one submission per client key (submitting twice stores one) and hands it to a worker.
"""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta
from functools import cache

import numpy as np
from django.db import transaction
from django.db.models import Case, Q, When
from django.utils import timezone

from annotator_web.core import jobs
from annotator_web.core.errors import DomainError
from annotator_web.data.models import Person, Project
from annotator_web.work import versions
from annotator_web.work.models import AuditEvent, Review, Submission, Task
from pipeline import parts
from pipeline.coco.densepose import check_annotation, decode_rle, encode_rle, finite_number

PROCESS_KIND = "process_submission"
PRIORITY_LIMIT = 2**31 - 1  # Task.priority is a database integer
LEASE_LOST = "lease_lost"  # the error code of a draft or submission on a task that is no longer the caller's


COMMENT_MAX = 5000


def text(value, field: str, max_length: int = COMMENT_MAX) -> str:
    """A text field of a request: a string (not a list, an object, a number) of at most ``max_length``."""
    if not isinstance(value, str):
        raise WorkError(f"{field} is text, not {type(value).__name__}", field=field)
    if len(value) > max_length:
        raise WorkError(f"{field} is at most {max_length} characters", field=field)
    return value


def stage_number(value, stages=(1, 2)) -> int:
    """A stage as a request gives it: the whole number itself (not true, 1.0 or "1")."""
    if type(value) is not int or value not in stages:
        raise WorkError("stage is 1 (part masks) or 2 (correspondences), a whole number", field="stage")
    return value


def _priority(value) -> int:
    if type(value) is not int or abs(value) > PRIORITY_LIMIT:
        raise WorkError(f"priority is a whole number within ±{PRIORITY_LIMIT}, got {value!r}", field="priority")
    return value


class WorkError(DomainError):
    """A request the queue refuses (answered by :func:`annotator_web.core.errors.api_exception_handler`)."""


def audit(actor, action: str, task: Task | None = None, project: Project | None = None, **detail) -> None:
    AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        task=task,
        project=project or (task.project if task else None),
        detail=detail,
    )


def create_tasks(project: Project, stage: int = Task.Stage.MASKS, priority: int = 0, actor=None) -> int:
    """Queue a stage-1 task for every person of the project that has none; returns how many.

    Stage-2 tasks are made by the queue itself when a person's part masks are accepted."""
    if stage != Task.Stage.MASKS:
        raise WorkError("only stage-1 tasks are created in bulk; stage 2 follows accepted part masks", field="stage")
    priority = _priority(priority)
    people = Person.objects.filter(image__project=project).exclude(tasks__stage=stage)
    created = Task.objects.bulk_create(
        [Task(project=project, person=p, stage=stage, priority=priority) for p in people], ignore_conflicts=True
    )
    audit(actor, "create_tasks", project=project, stage=stage, count=len(created))
    return len(created)


def _lease_until(project: Project):
    return timezone.now() + timedelta(minutes=project.lease_minutes)


def _hand_over(task: Task, user) -> None:
    """The task passes to ``user``: work and comments meant for someone else do not go with it."""
    owner = task.assignee_id or task.reserved_for_id
    if owner and owner != user.pk:
        task.draft, task.review_comment = None, ""
    task.reserved_for = None


def next_task(user, project: Project, stage: int) -> Task | None:
    from django.contrib.auth import get_user_model

    if project.paused:
        raise WorkError(f"project {project.name} is paused", status=409)
    now = timezone.now()
    tasks = Task.objects.select_related("person__image")  # what the answer shows; rows locked: tasks only
    with transaction.atomic():
        # one request of this annotator at a time: ten at once must not lease ten tasks
        list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
        # theirs first (one query, on the assignee and reservation indexes): the task they hold, when they come
        # back (reload, new tab), with its lease renewed; else their own rejected work, waiting for them
        held = Q(assignee=user, state=Task.State.LEASED, lease_expires_at__gt=now)
        task = (
            tasks.select_for_update(of=("self",))
            .filter(project=project, stage=stage)
            .filter(held | Q(reserved_for=user, state=Task.State.PENDING))
            .order_by(Case(When(held, then=0), default=1), "-priority", "id")
            .first()
        )
        if task is not None and task.state == Task.State.LEASED:
            task.project, task.assignee = project, user
            task.lease_expires_at = _lease_until(project)
            task.save(update_fields=["lease_expires_at", "updated_at"])
            return task
        if task is None:  # the queue's next; nobody else's reserved work ever
            task = (
                tasks.select_for_update(skip_locked=True, of=("self",))
                .filter(project=project, stage=stage, reserved_for__isnull=True)
                .filter(Q(state=Task.State.PENDING) | Q(state=Task.State.LEASED, lease_expires_at__lte=now))
                .order_by("-priority", "id")
                .first()
            )
        if task is None:
            return None
        task.project = project
        _hand_over(task, user)  # another annotator's expired lease: their draft is not yours
        task.state, task.assignee, task.lease_expires_at = Task.State.LEASED, user, _lease_until(project)
        task.save(update_fields=["state", "assignee", "lease_expires_at", "draft", "review_comment", "reserved_for",
                                 "updated_at"])  # fmt: skip
        audit(user, "lease", task, project=project)
        return task


def _locked_task(task_id: int) -> Task:
    task = Task.objects.select_for_update(of=("self",)).select_related("project").filter(pk=task_id).first()
    if task is None:
        raise WorkError(f"task {task_id} does not exist", status=404)
    return task


def _check_lease(user, task: Task) -> Task:
    if task.assignee_id != user.pk or task.state != Task.State.LEASED:
        raise WorkError(f"task {task.pk} is not leased to you", status=409, code=LEASE_LOST)
    if task.lease_expires_at <= timezone.now():
        raise WorkError(f"your lease on task {task.pk} expired; ask for the next task", status=409, code=LEASE_LOST)
    return task


def leave(user, task_id: int) -> None:
    """The annotator puts their task down (they switch to another queue): the lease ends now, so the next
    annotator who asks may take it (starting afresh: a draft is its author's); if nobody has, the author finds
    it again with their draft."""
    now = timezone.now()
    live = Task.objects.filter(pk=task_id, assignee=user, state=Task.State.LEASED, lease_expires_at__gt=now)
    if not live.update(lease_expires_at=now, updated_at=now):
        task = Task.objects.filter(pk=task_id).first()
        if task is None:
            raise WorkError(f"task {task_id} does not exist", status=404)
        _check_lease(user, task)
    audit(user, "leave", Task.objects.select_related("project").get(pk=task_id))


SKIP_NOTE_MAX = 500


def skip(user, task_id: int, reason, note="") -> Task:
    """The annotator cannot annotate this person (hidden, too small, not a person...): the task leaves the queue
    with the reason and waits for an admin, who requeues it, gives it to someone or leaves it skipped. Their
    next request gets another task. Skipping again with the same reason (a double click) changes nothing."""
    reasons = [r.value for r in Task.SkipReason]
    if reason not in reasons:
        raise WorkError(f"reason is one of {', '.join(reasons)}; got {reason!r}", field="reason")
    note = text(note, "note", SKIP_NOTE_MAX).strip()
    if reason == Task.SkipReason.OTHER and not note:
        raise WorkError("say in the note why this person cannot be annotated (reason: other)", field="note")
    with transaction.atomic():
        task = _locked_task(task_id)
        if task.state == Task.State.SKIPPED and task.assignee_id == user.pk and task.skip_reason == reason:
            return task
        _check_lease(user, task)
        task.state, task.lease_expires_at = Task.State.SKIPPED, None
        task.skip_reason, task.skip_note = reason, note
        task.save(update_fields=["state", "lease_expires_at", "skip_reason", "skip_note", "updated_at"])
        audit(user, "skip", task, reason=reason, note=note)
        return task


def save_draft(user, task_id: int, draft: dict):
    """Keep ``draft`` on the task and renew the lease; (saved at, lease expires at). The draft's update is one
    statement that holds the rule itself (only on the annotator's live lease), so no lock is taken. Drafts are most
    of the calls the annotators make (the UI saves one every few seconds), so both statements are written out once
    (:func:`_draft_statements`) rather than built by the ORM on every call (about 1 ms of a 3 ms call)."""
    from django.db import connection

    _check_draft_shape(draft)
    lookup, update = _draft_statements()
    adapt, now = connection.ops.adapt_datetimefield_value, timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(lookup, [task_id])
        row = cursor.fetchone()
        if row is None:
            raise WorkError(f"task {task_id} does not exist", status=404)
        until = now + timedelta(minutes=row[0])
        draft_value = Task._meta.get_field("draft").get_db_prep_save(draft, connection)
        cursor.execute(update, [draft_value, adapt(now), adapt(until), adapt(now),
                                task_id, user.pk, Task.State.LEASED.value, adapt(now)])  # fmt: skip
        saved = cursor.rowcount == 1
    if not saved:
        task = Task.objects.filter(pk=task_id).first()
        if task is None:
            raise WorkError(f"task {task_id} does not exist", status=404)
        _check_lease(user, task)  # why not: someone else's, submitted, or expired
        raise WorkError(f"task {task_id} changed while the draft was saved; try again", status=409, code=LEASE_LOST)
    return now, until


@cache
def _draft_statements() -> tuple[str, str]:
    """(the task's lease length in minutes, for a task id; the draft's update on the caller's live lease)."""
    from django.db import connection

    q = connection.ops.quote_name

    def col(model, name: str) -> str:
        return q(model._meta.get_field(name).column)

    tasks, projects = q(Task._meta.db_table), q(Project._meta.db_table)
    lookup = (f"SELECT p.{col(Project, 'lease_minutes')} FROM {tasks} t INNER JOIN {projects} p "
              f"ON p.{col(Project, 'id')} = t.{col(Task, 'project')} WHERE t.{col(Task, 'id')} = %s")  # fmt: skip
    sets = ", ".join(f"{col(Task, f)} = %s" for f in ("draft", "draft_saved_at", "lease_expires_at", "updated_at"))
    update = (f"UPDATE {tasks} SET {sets} WHERE {col(Task, 'id')} = %s AND {col(Task, 'assignee')} = %s "
              f"AND {col(Task, 'state')} = %s AND {col(Task, 'lease_expires_at')} > %s")  # fmt: skip
    return lookup, update


DRAFT_SHAPE = "a draft is {'dp_masks': [RLE or []]} or {'answers': [{point, status, ...}], 'current': n}"


def _check_draft_shape(draft) -> None:
    """A draft is work in progress, checked for its shape only (what the editors save and read back)."""
    if not isinstance(draft, dict):
        raise WorkError("a draft is a JSON object", field="draft")
    from pipeline.render.views import VIEWS_PER_PART

    masks, answers, current = draft.get("dp_masks", []), draft.get("answers", []), draft.get("current", 0)
    ints = lambda v: isinstance(v, list) and all(type(x) is int for x in v)  # noqa: E731

    def rle(m) -> bool:
        return m == [] or (isinstance(m, dict) and ints(m.get("size")) and len(m["size"]) == 2
                           and (isinstance(m.get("counts"), str) or ints(m.get("counts"))))  # fmt: skip

    def answer(a) -> bool:
        return (isinstance(a, dict) and type(a.get("point")) is int and a.get("status") in ANSWER_STATUSES
                and ("view" not in a or (type(a["view"]) is int and 0 <= a["view"] < VIEWS_PER_PART))
                and all(k not in a or type(a[k]) in (int, float) for k in ("x", "y")))  # fmt: skip

    bad = not (isinstance(masks, list) and all(rle(m) for m in masks) and isinstance(answers, list)
               and all(answer(a) for a in answers) and type(current) is int)  # fmt: skip
    if bad:
        raise WorkError(DRAFT_SHAPE, field="draft")


def validate_stage1(data: dict) -> dict:
    masks = data.get("dp_masks") if isinstance(data, dict) else None
    if masks is None:
        raise WorkError("stage 1 submits {'dp_masks': [14 RLE masks or []]}", field="dp_masks")
    reasons = check_annotation({"bbox": [0, 0, 1, 1], "dp_masks": masks})
    if reasons:
        raise WorkError("; ".join(reasons), field="dp_masks")
    decoded = {part: decode_rle(rle) for part, rle in zip(parts.MASK_PARTS, masks, strict=True) if rle}
    decoded = {part: mask for part, mask in decoded.items() if mask.any()}  # a mask of no pixel: no part
    if not decoded:
        raise WorkError("all 14 part masks are empty: mark at least one visible part", field="dp_masks")
    claimed = np.zeros((parts.MASK_SIZE, parts.MASK_SIZE), dtype=np.int64)
    for part, mask in decoded.items():
        clash = claimed[mask]
        if clash.any():
            other, count = parts.mask_part_name(int(clash[clash > 0][0])), int((clash > 0).sum())
            raise WorkError(f"parts overlap: {other} and {parts.mask_part_name(part)} both claim {count} pixels; "
                            "one label per pixel", field="dp_masks")  # fmt: skip
        claimed[mask] = part
    # stored in pycocotools' compressed form whatever the client sent (list counts too), as exports need it
    return {"dp_masks": [encode_rle(decoded[part]) if part in decoded else [] for part in parts.MASK_PARTS]}


ANSWER_STATUSES = ("ok", "not_visible", "unsure")


def validate_stage2(data: dict, task: Task) -> dict:
    """Every sampled point answered once: a click (view, x, y) on the point's part, or not visible / unsure."""
    from annotator_web.core.body_assets import click_checker
    from pipeline.render.views import VIEWS_PER_PART

    answers = data.get("answers") if isinstance(data, dict) else None
    if not isinstance(answers, list):
        raise WorkError("stage 2 submits {'answers': [{point, status, view, x, y}, ...]}", field="answers")
    points = dict(versions.current_points(task.person_id).values_list("pk", "part"))  # id -> part
    seen, clicks, clean = set(), [], []
    for k, answer in enumerate(answers):
        where = f"answers[{k}]"
        if not isinstance(answer, dict) or type(answer.get("point")) is not int or answer["point"] not in points:
            raise WorkError(f"{where}: 'point' must be one of this person's sampled points", field=where)
        if answer["point"] in seen:
            raise WorkError(f"{where}: point {answer['point']} is answered twice", field=where)
        seen.add(answer["point"])
        status = answer.get("status", "ok")
        if status not in ANSWER_STATUSES:
            raise WorkError(f"{where}: status must be one of {ANSWER_STATUSES}", field=where)
        if status == "ok":
            view, x, y = answer.get("view"), answer.get("x"), answer.get("y")
            if not (isinstance(view, int) and not isinstance(view, bool) and 0 <= view < VIEWS_PER_PART):
                raise WorkError(f"{where}: view must be an integer 0..{VIEWS_PER_PART - 1}, got {view!r}", field=where)
            if not (finite_number(x) and finite_number(y)):
                raise WorkError(f"{where}: a click needs x and y as finite numbers", field=where)
            x, y = float(x), float(y)
            clicks.append((k, points[answer["point"]], view, x, y))
            clean.append({"point": answer["point"], "status": status, "view": view, "x": x, "y": y})
        else:
            clean.append({"point": answer["point"], "status": status})
        confirmed = answer.get("confirmed", False)
        if type(confirmed) is not bool:
            raise WorkError(f"{where}: confirmed is true or false", field=where)
        if confirmed:
            clean[-1]["confirmed"] = True
    missing = sorted(set(points) - seen)
    if missing:
        raise WorkError(f"{len(missing)} sampled points have no answer (first: point {missing[0]})", field="answers")
    _check_flagged_redone(task, clean)
    if clicks:  # each click on its part in its view (the worker maps them; see work.processing)
        checker = click_checker(task.project.body_model)
        if checker is None:
            raise WorkError(f"the {task.project.body_model} body assets are not built yet", status=503)
        k, part, view, x, y = (list(c) for c in zip(*clicks, strict=True))
        reason = checker.locate(part, view, x, y)[0]
        bad = np.flatnonzero(reason)
        if len(bad):
            from pipeline.correspond import REASONS

            i = bad[0]
            raise WorkError(
                f"answers[{k[i]}]: {REASONS[int(reason[i])]} (part {part[i]}, view {view[i]}, "
                f"x={x[i]}, y={y[i]}); {len(bad)} clicks in all",
                field=f"answers[{k[i]}]",
            )
    return {"answers": clean}


def same_answer(a: dict | None, b: dict | None) -> bool:
    """Whether two stage-2 answers say the same (status, and for a click its view and position)."""
    if a is None or b is None:
        return False
    return all(a.get(k) == b.get(k) for k in ("status", "view", "x", "y"))


def returned_answers(task: Task) -> list[dict]:
    """A returned stage-2 task: the answers the reviewer sent back for its flagged points (from its last
    submission; none for points that new masks added)."""
    flagged = set(task.flagged_points or [])
    if not flagged:
        return []
    returned = task.submissions.order_by("-created_at", "-id").values_list("data", flat=True).first() or {}
    return [a for a in returned.get("answers", []) if isinstance(a, dict) and a.get("point") in flagged]


def _check_flagged_redone(task: Task, answers: list[dict]) -> None:
    """A returned task's flagged points are each answered again: an answer that differs from the one the
    reviewer sent back, or the same one confirmed unchanged (``"confirmed": true``), never the old one as it was."""
    flagged = set(task.flagged_points or [])
    if not flagged:
        return
    before = {a["point"]: a for a in returned_answers(task)}
    for k, answer in enumerate(answers):
        unchanged = same_answer(answer, before.get(answer["point"])) and not answer.get("confirmed")
        if answer["point"] in flagged and unchanged:
            raise WorkError(
                f"answers[{k}]: point {answer['point']} was flagged by the reviewer: answer it again, or confirm "
                'the same answer explicitly ("confirmed": true)',
                field=f"answers[{k}]",
            )


VALIDATORS = {Task.Stage.MASKS: lambda data, task: validate_stage1(data), Task.Stage.POINTS: validate_stage2}


def submit(user, task_id: int, key: str, data: dict, seconds_spent: float = 0.0) -> tuple[Submission, bool]:
    """Store a submission; returns (submission, created). The same key again returns the first one."""
    if not isinstance(key, str) or not key or len(key) > 64:
        raise WorkError("a submission needs a key (1..64 characters) chosen by the client", field="key")
    try:
        seconds = float("nan") if isinstance(seconds_spent, bool) else float(seconds_spent)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not math.isfinite(seconds):  # NaN, Infinity, "1e999", true, "ten"
        raise WorkError("seconds_spent must be a finite number", field="seconds_spent")
    seconds_spent = max(0.0, seconds)
    with transaction.atomic():
        task = _locked_task(task_id)
        existing = Submission.objects.filter(task=task, key=key).first()
        if existing is not None:  # submitted twice (a double click, a retry after a lost answer): the first stands
            if existing.annotator_id != user.pk:
                raise WorkError(f"task {task_id} was submitted by someone else", status=409)
            return existing, False
        _check_lease(user, task)
        validator = VALIDATORS.get(task.stage)
        if validator is None:
            raise WorkError(f"stage {task.stage} submissions are not accepted yet", status=409)
        clean = validator(data, task)
        submission = Submission.objects.create(
            task=task, annotator=user, key=key, data=clean, seconds_spent=seconds_spent
        )
        task.state, task.draft, task.lease_expires_at = Task.State.SUBMITTED, None, None
        task.processing_error = ""
        task.save(update_fields=["state", "draft", "lease_expires_at", "processing_error", "updated_at"])
        audit(user, "submit", task, submission=submission.pk)
        jobs.start_job(PROCESS_KIND, params={"submission": submission.pk}, user=user)
    return submission, True


# --- when processing stops without a result --------------------------------------------------------------


def processing_job(submission_id: int):
    """The queued or running job processing this submission, if any."""
    from annotator_web.core.models import Job

    live = (Job.State.QUEUED, Job.State.RUNNING)
    return Job.objects.filter(kind=PROCESS_KIND, params__submission=submission_id, state__in=live).first()


def stuck(task: Task) -> bool:
    """Submitted, and nothing is processing its submission any more (a job that ended without telling the task,
    e.g. before processing failures sent work back): an admin may retry, requeue, release or assign it."""
    if task.state != Task.State.SUBMITTED:
        return False
    latest = task.submissions.order_by("-created_at", "-id").values_list("pk", flat=True).first()
    return latest is None or processing_job(latest) is None


def processing_stopped(submission_id, reason: str) -> Task | None:
    """The job processing a submission failed or was cancelled: the task goes back to its author, first in their
    queue, with their work as the draft and the reason (as a rejection does), and the admin sees it on the Queues
    page to retry it or hand it on. Nothing happens when the task has moved on (a newer submission, an admin)."""
    submission = Submission.objects.filter(pk=submission_id).first() if type(submission_id) is int else None
    if submission is None:
        return None
    with transaction.atomic():
        task = _locked_task(submission.task_id)
        latest = task.submissions.order_by("-created_at", "-id").values_list("pk", flat=True).first()
        if task.state != Task.State.SUBMITTED or latest != submission.pk:
            return None
        task.state, task.assignee, task.lease_expires_at = Task.State.PENDING, None, None
        task.reserved_for_id = submission.annotator_id
        task.draft = submission.data
        task.processing_error = reason[:2000]
        task.review_comment = (
            f"Your submission could not be processed ({reason[:500]}). Your work is back as the "
            "draft: check it and submit it again."
        )
        task.save()
        audit(None, "processing_stopped", task, submission=submission.pk, reason=reason[:2000])
        return task


def retry_processing(actor, task_id: int) -> Task:
    """Process the task's last submission again (an admin, after a failure that was not the annotator's doing):
    for a task whose processing stopped and that its author has not taken up again, or one left submitted with
    nothing processing it."""
    with transaction.atomic():
        task = _locked_task(task_id)
        waiting = task.state == Task.State.PENDING and task.processing_error
        if not (waiting or stuck(task)):
            raise WorkError(
                f"task {task_id} is {task.state}; only a task whose processing stopped is retried", status=409
            )
        submission = task.submissions.order_by("-created_at", "-id").first()
        if submission is None:
            raise WorkError(f"task {task_id} has no submission to process", status=409)
        task.state, task.assignee, task.lease_expires_at, task.reserved_for = Task.State.SUBMITTED, None, None, None
        task.draft, task.processing_error, task.review_comment = None, "", ""
        task.save()
        audit(actor, "retry_processing", task, submission=submission.pk)
        jobs.start_job(PROCESS_KIND, params={"submission": submission.pk}, user=actor)
        return task


# --- after processing: review, acceptance -----------------------------------------------------------------


def needs_review(task: Task, submission: Submission) -> bool:
    """A reproducible sample of ``review_fraction`` of the submissions goes to review (of
    ``preannotated_review_fraction`` when a model proposed the work)."""
    fraction = task.project.preannotated_review_fraction if task.proposal else task.project.review_fraction
    if fraction >= 1:
        return True
    if fraction <= 0:
        return False
    digest = hashlib.sha256(f"{task.pk}:{submission.pk}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def processed(task: Task, submission: Submission) -> str:
    """Called by the worker once a submission is stored: to review, or accepted straight away. A stage-2
    submission made for points that new part masks replaced meanwhile goes back to the queue for the points it
    did not answer (:func:`versions.reopen_points`), not to review."""
    if task.stage == Task.Stage.POINTS:
        fresh = Task.objects.select_for_update().get(pk=task.pk)
        if reopened := versions.reopen_points(fresh):
            audit(None, "reopen", fresh, points=reopened, submission=submission.pk)
            return Task.State.PENDING
    if needs_review(task, submission):
        Task.objects.filter(pk=task.pk).update(state=Task.State.REVIEW, updated_at=timezone.now())
        audit(None, "to_review", task, submission=submission.pk)
        return Task.State.REVIEW
    _accept(task)
    return Task.State.DONE


def _accept(task: Task) -> None:
    """The task's work is accepted. Accepted part masks queue the person's stage 2, or, when it was finished
    before, ask it again for the points the new masks added (:func:`versions.reopen_points`)."""
    Task.objects.filter(pk=task.pk).update(state=Task.State.DONE, review_comment="", updated_at=timezone.now())
    if task.stage == Task.Stage.MASKS:
        stage2, created = Task.objects.select_for_update().get_or_create(
            person=task.person, stage=Task.Stage.POINTS, defaults={"project": task.project, "priority": task.priority}
        )
        if not created and (reopened := versions.reopen_points(stage2)):
            audit(None, "reopen", stage2, points=reopened, masks_task=task.pk)


def origins(task: Task) -> dict[str, int]:
    """How many of a processed task's stored answers are a model's proposal confirmed, corrected, or plain clicks
    (stage 1: the part masks, one)."""
    from django.db.models import Count

    from annotator_web.work.models import Correspondence, Origin, PartMasks

    if task.stage == Task.Stage.MASKS:
        rows = PartMasks.objects.filter(person_id=task.person_id, current=True).values("origin").annotate(n=Count("id"))
    else:
        answers = Correspondence.objects.filter(point__person_id=task.person_id, point__current=True, current=True)
        rows = answers.values("origin").annotate(n=Count("id"))
    counts = {o: 0 for o in Origin.values}
    counts.update({r["origin"]: r["n"] for r in rows})
    return counts


def next_review(project: Project, stage: int, reviewer=None) -> Task | None:
    """The oldest task waiting for review; never the reviewer's own work unless the project allows it."""
    waiting = Task.objects.filter(project=project, stage=stage, state=Task.State.REVIEW).order_by("updated_at", "id")
    if reviewer is not None and not project.allow_self_review:
        from django.db.models import OuterRef, Subquery

        latest = Submission.objects.filter(task=OuterRef("pk")).order_by("-created_at", "-id").values("annotator")[:1]
        waiting = waiting.annotate(author=Subquery(latest)).filter(Q(author__isnull=True) | ~Q(author=reviewer.pk))
    return waiting.first()


def _flagged_points(task: Task, points) -> list[int]:
    """A rejection's flagged points: ids of the task's own sampled points (stage 2 only), each once."""
    if points is None or points == []:
        return []
    if task.stage != Task.Stage.POINTS:
        raise WorkError("only a stage-2 rejection flags points", field="points")
    if not isinstance(points, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in points):
        raise WorkError("points is a list of sampled point ids", field="points")
    own = set(versions.current_points(task.person_id).values_list("pk", flat=True))
    stray = [p for p in points if p not in own]
    if stray:
        raise WorkError(f"points {stray} are not this task's sampled points", field="points")
    return sorted(set(points))


def review(reviewer, task_id: int, decision: str, comment: str = "", points=None) -> Task:
    """Accept, or reject with a comment; a stage-2 rejection may flag ``points`` (sampled point ids): its author
    then redoes only those."""
    if not isinstance(decision, str) or decision not in (Review.Decision.ACCEPT, Review.Decision.REJECT):
        raise WorkError("decision is 'accept' or 'reject'", field="decision")
    comment = text(comment, "comment")
    if decision == Review.Decision.REJECT and not comment.strip():
        raise WorkError("a rejection needs a comment for the annotator", field="comment")
    with transaction.atomic():
        task = Task.objects.select_for_update().select_related("project", "person").filter(pk=task_id).first()
        if task is None:
            raise WorkError(f"task {task_id} does not exist", status=404)
        if task.state != Task.State.REVIEW:
            raise WorkError(f"task {task_id} is not waiting for review (it is {task.state})", status=409)
        submission = task.submissions.order_by("-created_at", "-id").first()
        own = submission is not None and submission.annotator_id == reviewer.pk
        if own and not task.project.allow_self_review:
            raise WorkError(f"task {task_id} is your own work: someone else reviews it", status=403)
        flagged = _flagged_points(task, points) if decision == Review.Decision.REJECT else []
        Review.objects.create(task=task, submission=submission, reviewer=reviewer, decision=decision, comment=comment,
                              points=flagged)  # fmt: skip
        if decision == Review.Decision.ACCEPT:
            if task.flagged_points:
                Task.objects.filter(pk=task.pk).update(flagged_points=[])
            _accept(task)
        else:
            # back to its author first, a little ahead of fresh work, with the reason
            task.state, task.assignee, task.lease_expires_at = Task.State.PENDING, None, None
            task.reserved_for = submission.annotator if submission else None
            task.review_comment, task.rejections, task.priority = comment, task.rejections + 1, task.priority + 1
            task.flagged_points = flagged  # none: the whole task is to be looked at again
            # the rejected work comes back as the draft, to be fixed rather than redone (same shape as a draft)
            task.draft = submission.data if submission else None
            task.save()
        extra = {"self_review": True} if own else {}
        if flagged:
            extra["points"] = flagged
        audit(reviewer, decision, task, comment=comment, **extra)
        task.refresh_from_db()
        return task


# --- admin actions ---------------------------------------------------------------------------------------


def release(actor, task_id: int) -> Task:
    """Take a task back from whoever holds it, or from the author its rejection waits for: it returns to the
    queue (the draft stays with the task, for its holder; another annotator starts afresh)."""
    with transaction.atomic():
        task = Task.objects.select_for_update().filter(pk=task_id).first()
        if task is None:
            raise WorkError(f"task {task_id} does not exist", status=404)
        reserved = task.state == Task.State.PENDING and task.reserved_for_id is not None
        if task.state != Task.State.LEASED and not reserved and not stuck(task):
            raise WorkError(f"task {task_id} is not leased (it is {task.state})", status=409)
        was = task.assignee_id or task.reserved_for_id
        if reserved:
            task.assignee_id = task.reserved_for_id  # so the next annotator, not them, starts afresh
        task.state, task.lease_expires_at, task.reserved_for = Task.State.PENDING, None, None
        task.processing_error = ""
        task.save()
        audit(actor, "release", task, was=was)
        return task


def assign(actor, task_id: int, user, with_draft: bool = False) -> Task:
    """Lease a task to a given annotator (reassigning it if someone else holds it or it waits for its author).
    The draft and the review comment go with it only when ``with_draft``."""
    with transaction.atomic():
        task = Task.objects.select_for_update().select_related("project").filter(pk=task_id).first()
        if task is None:
            raise WorkError(f"task {task_id} does not exist", status=404)
        if task.state not in (Task.State.PENDING, Task.State.LEASED, Task.State.SKIPPED) and not stuck(task):
            raise WorkError(f"task {task_id} cannot be assigned: it is {task.state}", status=409)
        previous = task.assignee_id or task.reserved_for_id
        if with_draft:
            task.reserved_for = None
        else:
            _hand_over(task, user)
        task.state, task.assignee, task.lease_expires_at = Task.State.LEASED, user, _lease_until(task.project)
        task.skip_reason = task.skip_note = task.processing_error = ""
        task.save()
        audit(actor, "assign", task, to=user.pk, was=previous, with_draft=bool(with_draft))
        return task


def requeue(actor, task_id: int, comment: str = "") -> Task:
    """Send finished, reviewed or skipped work back to the queue to be done again."""
    comment = text(comment, "comment")
    with transaction.atomic():
        task = Task.objects.select_for_update().filter(pk=task_id).first()
        if task is None:
            raise WorkError(f"task {task_id} does not exist", status=404)
        if task.state == Task.State.SUBMITTED and not stuck(task):
            raise WorkError(f"task {task_id} is being processed; there is nothing to requeue yet", status=409)
        if task.state == Task.State.PENDING and not task.processing_error:
            raise WorkError(f"task {task_id} is pending; there is nothing to requeue", status=409)
        failed = bool(task.processing_error) or task.state == Task.State.SUBMITTED
        if task.state == Task.State.SKIPPED or failed:
            task.draft = None  # the skipper's (the failed submission's author's) work: the next one starts afresh
        task.state, task.assignee, task.lease_expires_at = Task.State.PENDING, None, None
        task.reserved_for = None  # redone by whoever comes next
        task.review_comment = comment if failed else comment or task.review_comment
        task.skip_reason = task.skip_note = task.processing_error = ""
        task.flagged_points = []  # redone as a whole
        task.save()
        audit(actor, "requeue", task, comment=comment)
        return task


def set_priority(actor, task_ids, priority: int) -> int:
    if not isinstance(task_ids, list) or not all(type(i) is int for i in task_ids):
        raise WorkError("tasks is a list of task ids", field="tasks")
    priority = _priority(priority)
    count = Task.objects.filter(pk__in=list(task_ids)).update(priority=int(priority), updated_at=timezone.now())
    audit(actor, "set_priority", None, None, tasks=list(task_ids), priority=int(priority))
    return count


def set_paused(actor, project: Project, paused: bool) -> Project:
    project.paused = paused
    project.save(update_fields=["paused"])
    audit(actor, "pause" if paused else "resume", project=project)
    return project
