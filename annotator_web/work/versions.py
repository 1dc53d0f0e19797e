"""Answers are versions: stage 1's part masks, the points sampled from them and stage 2's answers to those points
are added, never rewritten or deleted by the workflow. Each person has at most one ``current`` part-masks version,
its points are the current points, and each current point at most one current answer; what came before stays,
marked not current. The rules of moving "current" live here.

- New part masks (:func:`add_masks`) become current; the earlier version stays.
- Their k-means points (:func:`resample`) become the current points. A new point at the same place as a current
  one (same part, same box position: the same masks give the same points) carries that point's answer over: a copy
  marked ``carried_from``, current; the old answer stays as it was, not current. The other old points and their
  answers stay, not current.
- A stage-2 submission's answers (:func:`add_answers`) become the current answers of their points.
- Only an admin's explicit purge (:func:`purge_earlier`, ``manage.py purge_earlier_versions``) deletes versions:
  the earlier (not current) ones of a project, counted in the audit trail.
- Once new part masks are accepted, the person's stage-2 work (:func:`reopen_points`), if it was finished, is
  asked again for the current points that have no current answer, and only for those; so is a stage-2
  submission processed after new masks replaced the points it answered.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef

from annotator_web.work.models import Correspondence, PartMasks, SampledPoint, Task


def add_masks(person, dp_masks: list, **fields) -> PartMasks:
    """A new part-masks version of the person, current from now on."""
    PartMasks.objects.filter(person=person, current=True).update(current=False)
    return PartMasks.objects.create(person=person, dp_masks=dp_masks, current=True, **fields)


def resample(person, masks: PartMasks, points: dict) -> int:
    """The points sampled from ``masks`` (part -> [(x, y), ...]) become the person's current points; returns how
    many answers were carried over to them."""
    old = {(p.part, p.box_x, p.box_y): p.pk for p in SampledPoint.objects.filter(person=person, current=True)}
    SampledPoint.objects.filter(person=person, current=True).update(current=False)
    new = SampledPoint.objects.bulk_create(
        SampledPoint(person=person, masks=masks, part=part, order=k, box_x=float(x), box_y=float(y), current=True)
        for part, xy in points.items()
        for k, (x, y) in enumerate(xy)
    )
    if not old:
        return 0
    same = {old[(p.part, p.box_x, p.box_y)]: p for p in new if (p.part, p.box_x, p.box_y) in old}
    answers = list(Correspondence.objects.filter(point_id__in=list(old.values()), current=True))
    Correspondence.objects.filter(point_id__in=list(old.values()), current=True).update(current=False)
    copies = []
    for answer in answers:
        point = same.get(answer.point_id)
        if point is None:
            continue  # the point is not asked any more: its answer stays, not current
        carried_from = answer.pk
        answer.pk, answer.id, answer.point, answer.current, answer.carried_from_id = (
            None,
            None,
            point,
            True,
            carried_from,
        )
        copies.append(answer)
    Correspondence.objects.bulk_create(copies)
    return len(copies)


def add_answers(person, rows: list[Correspondence]) -> None:
    """A stage-2 submission's answers (unsaved rows): those to current points become their current answers."""
    points = [r.point_id for r in rows if r.current]
    Correspondence.objects.filter(point_id__in=points, current=True).update(current=False)
    Correspondence.objects.bulk_create(rows)


def current_points(person_id: int):
    return SampledPoint.objects.filter(person_id=person_id, current=True)


def unanswered_points(person_id: int) -> list[int]:
    """The person's current points with no current answer."""
    answered = Correspondence.objects.filter(point=OuterRef("pk"), current=True)
    return list(current_points(person_id).filter(~Exists(answered)).values_list("pk", flat=True))


def answer_draft(person_id: int) -> dict:
    """The person's current answers as a stage-2 draft (what the editor restores)."""
    out = []
    for c in Correspondence.objects.filter(point__person_id=person_id, point__current=True, current=True):
        answer = {"point": c.point_id, "status": c.status}
        if c.status == Correspondence.Status.OK and c.view is not None:
            answer.update(view=c.view, x=c.click_x, y=c.click_y)
        out.append(answer)
    return {"answers": out, "current": 0}


def reopen_points(task: Task) -> list[int]:
    """A finished stage-2 task (done, waiting for review, or just processed) whose person has current points
    without an answer goes back to the queue for those points only (flagged; the carried answers are its draft).
    Returns the points to answer ([] when nothing was reopened)."""
    if task.state not in (Task.State.DONE, Task.State.REVIEW, Task.State.SUBMITTED):
        return []
    missing = unanswered_points(task.person_id)
    if not missing:
        return []
    task.state, task.assignee, task.lease_expires_at, task.reserved_for = Task.State.PENDING, None, None, None
    task.flagged_points = missing
    task.draft = answer_draft(task.person_id)
    task.review_comment = (
        f"The part masks were redone: {len(missing)} new point{'s' if len(missing) > 1 else ''} "
        "to answer; the answers to the points that stayed were carried over."
    )
    task.save()
    return missing


def earlier_versions(project) -> dict:
    """The project's versions that are not current, by kind (what a purge would delete)."""
    people = {"person__image__project": project}
    return {  # in the order a purge deletes them: an answer before its point, a point before its masks
        "answers": Correspondence.objects.filter(current=False, point__person__image__project=project),
        "points": SampledPoint.objects.filter(current=False, **people),
        "part_masks": PartMasks.objects.filter(current=False, **people),
    }


def purge_earlier(project, actor=None) -> dict:
    """Delete the project's earlier versions (the current ones, and every submission, stay); the counts go to
    the audit trail. An admin's explicit act: nothing in the workflow calls it."""
    from django.db import transaction

    from annotator_web.work.services import audit

    with transaction.atomic():
        counts = {kind: rows.count() for kind, rows in earlier_versions(project).items()}
        for rows in earlier_versions(project).values():
            rows.delete()
        audit(actor, "purge_earlier_versions", project=project, **counts)
    return counts
