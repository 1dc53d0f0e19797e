"""Numbers for the queue dashboard: task counts per project and stage, and each annotator's pace and quality.

An annotator's error against the truth of a synthetic project is measured in one place, the accuracy study
(:mod:`annotator_web.studies.study`: geodesic on the template, as the paper): the dashboard shows its latest
figures, never a second measure of its own."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count

from annotator_web.data.models import Project
from annotator_web.work import services
from annotator_web.work.models import Correspondence, Review, Submission, Task

STATES = [s.value for s in Task.State]


def queue_counts(project: Project) -> list[dict]:
    rows = []
    counts = Task.objects.filter(project=project).values("stage", "state").annotate(n=Count("id"))
    by_stage = defaultdict(dict)
    for row in counts:
        by_stage[row["stage"]][row["state"]] = row["n"]
    for stage in (1, 2):
        states = by_stage.get(stage, {})
        rejected = Review.objects.filter(task__project=project, task__stage=stage, decision="reject").count()
        rows.append({"stage": stage, **{s: states.get(s, 0) for s in STATES}, "rejected": rejected,
                     "counts": [states.get(s, 0) for s in STATES]})  # fmt: skip
    return rows


OPEN_TASKS_SHOWN = 30
NEXT_TASKS_SHOWN = 5  # per stage: the pending tasks the queue hands out next


def tasks_in_hand(project: Project) -> list[Task]:
    """The tasks an admin acts on one by one: first those whose processing stopped (back with their author, or
    left submitted with nothing processing them: ``stopped`` is set on those), then those held by an annotator,
    being processed, waiting for review or skipped by an annotator (oldest first), then each stage's next pending
    ones in the order the queue hands them out (to change their priority)."""
    tasks = Task.objects.filter(project=project).select_related("assignee", "person", "reserved_for")
    stopped = tasks.exclude(processing_error="").exclude(state=Task.State.SUBMITTED)
    failed = list(stopped.order_by("updated_at", "id")[:OPEN_TASKS_SHOWN])
    open_states = (Task.State.LEASED, Task.State.SUBMITTED, Task.State.REVIEW, Task.State.SKIPPED)
    held = list(tasks.filter(state__in=open_states).order_by("state", "updated_at", "id")[:OPEN_TASKS_SHOWN])
    for task in failed:
        task.stopped = True
    for task in held:
        task.stopped = services.stuck(task)
    held = failed + sorted(held, key=lambda t: not t.stopped)
    shown = {t.pk for t in held}
    pending = tasks.filter(state=Task.State.PENDING)
    for stage in (1, 2):
        held += [
            t for t in pending.filter(stage=stage).order_by("-priority", "id")[:NEXT_TASKS_SHOWN] if t.pk not in shown
        ]
    return held


def annotator_stats(project: Project) -> list[dict]:
    from annotator_web.studies.study import latest_study

    job = latest_study(project)
    study = (job.result or {}).get("annotators", {}) if job else {}
    rows = []
    submissions = Submission.objects.filter(task__project=project).select_related("annotator", "task")
    by_user = defaultdict(list)
    for s in submissions:
        if s.annotator_id:
            by_user[s.annotator].append(s)
    for user, subs in sorted(by_user.items(), key=lambda kv: kv[0].username):
        times = sorted(s.created_at for s in subs)
        hours = max((times[-1] - times[0]).total_seconds() / 3600, 1 / 60) if len(times) > 1 else None
        n_points = Correspondence.objects.filter(submission__in=[s for s in subs if s.task.stage == 2]).count()
        stage2_seconds = sum(s.seconds_spent for s in subs if s.task.stage == 2)
        reviews = Review.objects.filter(submission__in=subs)
        rows.append(
            {
                "annotator": user.username,
                "submissions": len(subs),
                "tasks_per_hour": round(len(subs) / hours, 1) if hours else None,
                "seconds_per_point": round(stage2_seconds / n_points, 1) if n_points else None,
                "rejection_rate": round(reviews.filter(decision="reject").count() / reviews.count(), 3)
                if reviews.exists()
                else None,
                "study": study.get(user.username),  # the latest accuracy study's figures (geodesic error)
            }
        )
    return rows
