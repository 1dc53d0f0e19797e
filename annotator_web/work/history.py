"""A task's history: every submission of it, oldest first, with its author, its review and what changed from the
one before (stage 1: pixels per part; stage 2: which answers changed and how far their surface point moved). The
reviewer of a resubmission is shown the same: that it is one, the earlier review, and the changes."""

from __future__ import annotations

import numpy as np

from annotator_web.work.models import Correspondence, Review, SampledPoint, Submission, Task
from annotator_web.work.services import same_answer
from pipeline import parts
from pipeline.coco.densepose import decode_rle


def review_json(review: Review | None) -> dict | None:
    if review is None:
        return None
    return {
        "decision": review.decision,
        "comment": review.comment,
        "points": list(review.points or []),
        "reviewer": review.reviewer.username if review.reviewer_id else None,
        "at": review.created_at,
    }


def mask_changes(before: dict, after: dict) -> dict:
    """Stage 1: the pixels of the 256 x 256 box frame whose label changed, per part (parts that changed only)."""
    rows, total = [], 0
    for part, a, b in zip(parts.MASK_PARTS, before.get("dp_masks") or [], after.get("dp_masks") or [], strict=False):
        old = decode_rle(a) if a else None
        new = decode_rle(b) if b else None
        if old is None and new is None:
            continue
        if old is None or new is None:
            changed = int((old if new is None else new).sum())
        else:
            changed = int(np.count_nonzero(old != new))
        if changed:
            rows.append({"part": part, "name": parts.mask_part_name(part), "pixels": changed})
            total += changed
    return {"pixels": total, "parts": rows}


def answer_changes(before: Submission, after: Submission) -> dict:
    """Stage 2: the answers that differ (status, view or click) between two submissions, matched by the point
    (its part and box position, so points sampled again from new masks match too), with how far the surface point
    moved where both are clicks (metres, straight line between the two points on the template)."""
    old = {a["point"]: a for a in before.data.get("answers", [])}
    new = {a["point"]: a for a in after.data.get("answers", [])}
    where = {p.pk: (p.part, p.box_x, p.box_y) for p in SampledPoint.objects.filter(pk__in=[*old, *new])}
    old_at = {where[k]: a for k, a in old.items() if k in where}
    surfaces = {
        (c.submission_id, c.point_id): c.surface
        for c in Correspondence.objects.filter(submission__in=[before, after], surface__isnull=False)
    }
    old_surface = {where[k]: surfaces.get((before.pk, k)) for k in old if k in where}
    changed, same = [], 0
    for point, answer in new.items():
        was = old_at.get(where.get(point))
        if was is None:
            changed.append({"point": point, "before": None, "after": answer["status"], "moved_m": None})
            continue
        if same_answer(answer, was):
            same += 1
            continue
        a, b = old_surface.get(where[point]), surfaces.get((after.pk, point))
        moved = round(float(np.linalg.norm(np.subtract(a, b))), 4) if a and b else None
        changed.append({"point": point, "before": was["status"], "after": answer["status"], "moved_m": moved})
    return {"unchanged": same, "changed": changed}


def changes(task: Task, before: Submission, after: Submission) -> dict:
    if task.stage == Task.Stage.MASKS:
        return mask_changes(before.data, after.data)
    return answer_changes(before, after)


def task_history(task: Task) -> list[dict]:
    """Every submission of the task, oldest first (see the module)."""
    submissions = list(task.submissions.select_related("annotator").order_by("created_at", "id"))
    reviews: dict[int, Review] = {}
    for review in Review.objects.filter(task=task).select_related("reviewer").order_by("created_at", "id"):
        reviews[review.submission_id] = review  # the last review of each submission
    out, previous = [], None
    for submission in submissions:
        out.append(
            {
                "submission": submission.pk,
                "author": submission.annotator.username if submission.annotator_id else None,
                "submitted_at": submission.created_at,
                "seconds_spent": round(submission.seconds_spent, 1),
                "review": review_json(reviews.get(submission.pk)),
                "data": submission.data,
                "changes": changes(task, previous, submission) if previous is not None else None,
            }
        )
        previous = submission
    return out


def resubmission(task: Task) -> dict | None:
    """For the reviewer: when the submission under review is not the task's first, which one it is, the review
    of the one before, and what changed since."""
    submissions = list(task.submissions.order_by("created_at", "id"))
    if len(submissions) < 2:
        return None
    before, after = submissions[-2], submissions[-1]
    earlier = Review.objects.filter(task=task, submission=before).select_related("reviewer").order_by("-id").first()
    return {"number": len(submissions), "earlier_review": review_json(earlier), "changes": changes(task, before, after)}
