"""The whole annotation flow over HTTP with a real worker: synthetic people in, accepted correspondences out."""

import numpy as np
import pytest

from annotator_web.work.models import Correspondence, PartMasks
from pipeline.correspond import ClickMapper
from tests.conftest import PASSWORD
from tests.helpers import wait_task_state
from tests.perfect import true_answers, true_masks

pytestmark = [pytest.mark.stack]
FINISHED = ("succeeded", "failed", "cancelled")


def test_synthetic_person_from_masks_to_accepted_correspondences(stack, assets, make_user):
    make_user("anna", "annotator")
    make_user("rita", "reviewer")
    job = stack.post("/api/jobs", {"kind": "make_synthetic", "params": {"project": "e2e", "count": 1, "seed": 3}})
    done = stack.wait_job(job.json()["id"], lambda j: j["state"] in FINISHED, timeout=120)
    assert done["state"] == "succeeded" and done["result"]["tasks_created"] >= 1, done
    anna, rita = stack.as_user("anna", PASSWORD), stack.as_user("rita", PASSWORD)

    task = anna.post("/api/tasks/next", {"project": "e2e", "stage": 1}).json()
    assert anna.get(task["person"]["image"]["url"]).headers["Content-Type"] == "image/jpeg"
    masks = true_masks(task)
    assert anna.put(f"/api/tasks/{task['id']}/draft", {"draft": {"half": True}}).status_code == 200
    resp = anna.post(f"/api/tasks/{task['id']}/submit", {"key": "m1", "data": {"dp_masks": masks}})
    assert resp.status_code == 201
    wait_task_state(task["id"], ("review",))
    assert PartMasks.objects.get(person_id=task["person"]["id"]).dp_masks == masks

    queued = rita.get("/api/reviews/next?project=e2e&stage=1").json()
    assert queued["id"] == task["id"]
    assert rita.post(f"/api/tasks/{task['id']}/review", {"decision": "accept"}).json()["state"] == "done"

    task2 = anna.post("/api/tasks/next", {"project": "e2e", "stage": 2}).json()
    assert task2["person"]["id"] == task["person"]["id"] and task2["points"]
    answers, truth_under = true_answers(task2, ClickMapper(assets), stack.media)
    resp = anna.post(f"/api/tasks/{task2['id']}/submit", {"key": "c1", "data": {"answers": answers}})
    assert resp.status_code == 201, resp.text
    wait_task_state(task2["id"], ("review",))
    assert rita.post(f"/api/tasks/{task2['id']}/review", {"decision": "accept"}).json()["state"] == "done"

    rows = Correspondence.objects.filter(point__person_id=task["person"]["id"])
    assert rows.count() == len(answers)
    ok = rows.filter(status="ok")
    assert ok.count() >= 0.8 * len(answers)
    errors = []
    for row in ok.select_related("point"):
        true = truth_under(row.point.box_x, row.point.box_y)
        errors.append(np.linalg.norm(np.asarray(row.surface) - true.surface[0]))
    assert np.median(errors) < 0.005, "the worker maps the clicks back onto the true surface points"
