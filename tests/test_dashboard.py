"""The queue dashboard, after a perfect annotator has worked through a synthetic person end to end."""

import numpy as np
import pytest
from django.core.management import call_command

from annotator_web.core import jobs
from annotator_web.core.models import Job
from annotator_web.data.models import ImageTruth, Project
from annotator_web.work import services, stats
from annotator_web.work.models import Task
from pipeline.coco.densepose import decode_rle
from pipeline.correspond import ClickMapper
from tests.conftest import PASSWORD
from tests.stack import ASSET_CACHE


def run_pending_jobs():
    for job in Job.objects.filter(state="queued", kind=services.PROCESS_KIND):
        assert jobs.execute(job.pk, worker="test").state == "succeeded"


@pytest.mark.django_db(transaction=True)
def test_a_perfect_annotator_shows_up_on_the_dashboard(settings, tmp_path, assets, users, client_for, client):
    settings.MEDIA_ROOT, settings.ASSET_CACHE_DIR = tmp_path / "media", ASSET_CACHE
    call_command("make_synthetic", project="dash", count=1, seed=4)
    project = Project.objects.get(name="dash")
    project.review_fraction = 0.0
    project.save()
    anna = client_for(users["annotator"])
    mapper = ClickMapper(assets)

    task = anna.post("/api/tasks/next", {"project": "dash", "stage": 1}, format="json").json()
    truth = ImageTruth.objects.get(image_id=task["person"]["image"]["id"])
    person_truth = next(p for p in truth.people if task["person"]["bbox"] == p["bbox"])
    masks = {"dp_masks": [m if decode_rle(m).any() else [] for m in person_truth["dp_masks"]]}  # absent: []
    assert anna.post(f"/api/tasks/{task['id']}/submit", {"key": "m", "data": masks}, format="json").status_code == 201
    run_pending_jobs()

    task2 = anna.post("/api/tasks/next", {"project": "dash", "stage": 2}, format="json").json()
    with np.load(truth.file.path) as data:
        surface, instance = data["surface"], data["instance"]
    x0, y0, w, h = task2["person"]["bbox"]
    answers = []
    for p in task2["points"]:
        row, col = int(y0 + p["box_y"] * h / 256), int(x0 + p["box_x"] * w / 256)
        if instance[row, col] != person_truth["index"]:
            answers.append({"point": p["id"], "status": "not_visible"})
            continue
        xy, visible = mapper.project_to_views(p["part"], surface[row, col].astype(np.float64))
        views = np.flatnonzero(visible[:, 0])
        if not len(views):
            answers.append({"point": p["id"], "status": "unsure"})
            continue
        v = int(views[0])
        answers.append({"point": p["id"], "status": "ok", "view": v, "x": float(xy[v, 0, 0]), "y": float(xy[v, 0, 1])})
    body = {"key": "c", "data": {"answers": answers}, "seconds_spent": 3.0 * len(answers)}
    assert anna.post(f"/api/tasks/{task2['id']}/submit", body, format="json").status_code == 201
    run_pending_jobs()
    assert Task.objects.get(pk=task2["id"]).state == "done"

    queues = {q["stage"]: q for q in stats.queue_counts(project)}
    people = project.tasks.filter(stage=1).count()
    assert queues[1]["done"] == 1 and queues[1]["pending"] == people - 1 and queues[2]["done"] == 1
    (anna_stats,) = stats.annotator_stats(project)
    assert anna_stats["annotator"] == "anna" and anna_stats["submissions"] == 2
    assert anna_stats["seconds_per_point"] == 3.0
    assert anna_stats["points_checked"] > 10 and anna_stats["median_error_cm"] < 1.0, anna_stats

    client.login(username="alice", password=PASSWORD)
    page = client.get("/queues/")
    assert page.status_code == 200 and b"dash" in page.content and b"error vs truth" in page.content
    client.login(username="anna", password=PASSWORD)
    assert client.get("/queues/").status_code == 403
