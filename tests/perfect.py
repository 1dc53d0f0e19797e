"""A perfect annotator for tests: answers stage 1 and 2 from the synthetic ground truth."""

from pathlib import Path

import numpy as np

from annotator_web.data.models import ImageTruth
from pipeline.coco.densepose import decode_rle


def _truth(task: dict) -> tuple[ImageTruth, dict]:
    truth = ImageTruth.objects.get(image_id=task["person"]["image"]["id"])
    return truth, next(p for p in truth.people if task["person"]["bbox"] == p["bbox"])


def true_masks(task: dict) -> list:
    """The 14 dp_masks of a stage-1 task's person, [] for the parts it does not show."""
    _, person = _truth(task)
    return [m if decode_rle(m).any() else [] for m in person["dp_masks"]]


def true_answers(task: dict, mapper, media_root) -> tuple[list, np.ndarray]:
    """Stage-2 answers clicking every sampled point where it truly is (on a view that shows it; "unsure" when
    none does), and the image's true surface points (H, W, 3) to check against."""
    truth, person = _truth(task)
    with np.load(Path(media_root) / truth.file.name) as data:
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
    return answers, surface


def perfect_masks(api, project: str) -> dict:
    """Lease the next stage-1 task and submit the person's true part masks; returns the task."""
    task = api.post("/api/tasks/next", {"project": project, "stage": 1}, format="json").json()
    body = {"key": "m", "data": {"dp_masks": true_masks(task)}}
    resp = api.post(f"/api/tasks/{task['id']}/submit", body, format="json")
    assert resp.status_code == 201, resp.content
    return task


def perfect_clicks(api, project: str, mapper, media_root) -> tuple[dict, list]:
    """Lease the next stage-2 task and submit the true clicks; returns the task and the answers."""
    task = api.post("/api/tasks/next", {"project": project, "stage": 2}, format="json").json()
    answers, _ = true_answers(task, mapper, media_root)
    body = {"key": "c", "data": {"answers": answers}, "seconds_spent": 3.0 * len(answers)}
    resp = api.post(f"/api/tasks/{task['id']}/submit", body, format="json")
    assert resp.status_code == 201, resp.content
    return task, answers


def run_processing_jobs() -> None:
    """Run the queued submission-processing jobs here, as a worker would."""
    from annotator_web.core import jobs
    from annotator_web.core.models import Job
    from annotator_web.work.services import PROCESS_KIND

    for job in Job.objects.filter(state="queued", kind=PROCESS_KIND):
        assert jobs.execute(job.pk, worker="test").state == "succeeded"
