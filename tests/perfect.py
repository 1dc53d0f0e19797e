"""A perfect annotator for tests: answers stage 1 and 2 from the synthetic ground truth, through the API."""

import numpy as np

from annotator_web.data.models import ImageTruth
from pipeline.coco.densepose import decode_rle


def perfect_masks(api, project: str, media_root) -> dict:
    """Lease the next stage-1 task and submit the person's true part masks; returns the task."""
    task = api.post("/api/tasks/next", {"project": project, "stage": 1}, format="json").json()
    truth = ImageTruth.objects.get(image_id=task["person"]["image"]["id"])
    person = next(p for p in truth.people if task["person"]["bbox"] == p["bbox"])
    masks = {"dp_masks": [m if decode_rle(m).any() else [] for m in person["dp_masks"]]}  # absent parts: []
    resp = api.post(f"/api/tasks/{task['id']}/submit", {"key": "m", "data": masks}, format="json")
    assert resp.status_code == 201, resp.content
    return task


def perfect_clicks(api, project: str, mapper) -> tuple[dict, list]:
    """Lease the next stage-2 task and click every sampled point where it truly is (on a view that shows it)."""
    task = api.post("/api/tasks/next", {"project": project, "stage": 2}, format="json").json()
    truth = ImageTruth.objects.get(image_id=task["person"]["image"]["id"])
    person = next(p for p in truth.people if task["person"]["bbox"] == p["bbox"])
    with np.load(truth.file.path) as data:
        surface, instance = data["surface"], data["instance"]
    x0, y0, w, h = task["person"]["bbox"]
    answers = []
    for p in task["points"]:
        row, col = int(y0 + p["box_y"] * h / 256), int(x0 + p["box_x"] * w / 256)
        xy, visible = mapper.project_to_views(p["part"], surface[row, col].astype(np.float64))
        views = np.flatnonzero(visible[:, 0])
        if instance[row, col] != person["index"] or not len(views):
            answers.append({"point": p["id"], "status": "unsure"})
            continue
        v = int(views[0])
        answers.append({"point": p["id"], "status": "ok", "view": v, "x": float(xy[v, 0, 0]), "y": float(xy[v, 0, 1])})
    body = {"key": "c", "data": {"answers": answers}, "seconds_spent": 3.0 * len(answers)}
    resp = api.post(f"/api/tasks/{task['id']}/submit", body, format="json")
    assert resp.status_code == 201, resp.content
    return task, answers
