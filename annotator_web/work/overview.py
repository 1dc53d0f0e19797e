"""The stage-2 reviewer's overview of a task: every sampled point with its answer, where its surface point shows
on the whole body from the front and from the back, and how far it lies from where its neighbours' answers put
it (:mod:`pipeline.review`; the largest first are the points to look at)."""

from __future__ import annotations

import numpy as np

from annotator_web.core import body_assets
from annotator_web.work.models import Correspondence, Task
from pipeline import review
from pipeline.render import overview as ov


def stage2_overview(task: Task) -> dict | None:
    """None when the body assets are not built (the review still works point by point)."""
    body = task.project.body_model
    built = body_assets.body_overview(body)
    if built is None:
        return None
    points = list(task.person.sampled_points.filter(current=True))
    answers = {c.point_id: c for c in Correspondence.objects.filter(point__in=points, current=True)}
    surface = np.full((len(points), 3), np.nan)
    for k, p in enumerate(points):
        c = answers.get(p.pk)
        if c is not None and c.status == Correspondence.Status.OK and c.surface:
            surface[k] = c.surface
    residuals = review.neighbour_residuals([(p.box_x, p.box_y) for p in points], [p.part for p in points], surface)
    suspect = set(review.suspects(residuals).tolist())
    answered = np.isfinite(surface).all(axis=1)
    xy, visible, side = ov.project(built, np.nan_to_num(surface))

    def spots(k: int) -> list[dict] | None:
        if not answered[k]:
            return None
        return [{"x": round(float(xy[s, k, 0]), 1), "y": round(float(xy[s, k, 1]), 1), "visible": bool(visible[s, k])}
                for s in range(len(ov.SIDES))]  # fmt: skip

    out = []
    for k, p in enumerate(points):
        c = answers.get(p.pk)
        out.append({
            "point": p.pk,
            "status": c.status if c else None,
            "chart": c.chart if c else None,
            "origin": c.origin if c else None,
            "residual_m": None if np.isnan(residuals[k]) else round(float(residuals[k]), 4),
            "suspect": k in suspect,
            "at": spots(k),
            "side": int(side[k]) if answered[k] else None,
        })  # fmt: skip
    return {
        "sides": [name for name, _ in ov.SIDES],
        "pictures": [body_assets.overview_picture_url(body, name) for name, _ in ov.SIDES],
        "size": ov.OVERVIEW_SIZE,
        "suspect_m": review.SUSPECT_M,
        "points": out,
    }
