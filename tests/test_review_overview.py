"""The stage-2 reviewer's overview (every answer on the whole body, the ones that disagree with their neighbours
first) and per-point flags that send only those points back, through the API on a synthetic person."""

import numpy as np
import pytest
from django.core.management import call_command

from annotator_web.data.models import Project
from annotator_web.work.models import Correspondence, Review, Task
from pipeline.correspond import ClickMapper
from pipeline.render.camera import Camera
from tests.perfect import perfect_masks, run_processing_jobs, true_answers
from tests.stack import ASSET_CACHE


def misplaced(answers, task, mapper):
    """An answered point that its neighbours judge well when every answer is true (the one they predict best, of
    the part with the most answers), and the answer of another point of that part whose surface point is farthest
    from it: answering the first with the second's click puts it far off."""
    from pipeline import review

    parts = np.array([p["part"] for p in task["points"]])
    surface = np.full((len(answers), 3), np.nan)
    for k, a in enumerate(answers):
        if a["status"] == "ok":
            surface[k] = mapper.map_click(int(parts[k]), a["view"], a["x"], a["y"]).point[0]
    xy = [(p["box_x"], p["box_y"]) for p in task["points"]]
    residuals = review.neighbour_residuals(xy, parts, surface)
    judged = np.flatnonzero(~np.isnan(residuals))
    part = max(set(parts[judged]), key=lambda q: int(np.sum(parts[judged] == q)))
    k = min((j for j in judged if parts[j] == part), key=lambda j: residuals[j])
    same = np.flatnonzero((parts == part) & ~np.isnan(surface[:, 0]))
    far = max(same, key=lambda j: np.linalg.norm(surface[j] - surface[k]))
    return int(k), int(far), float(np.linalg.norm(surface[far] - surface[k]))


@pytest.mark.django_db(transaction=True)
def test_the_review_overview_places_every_answer_and_puts_the_wrong_one_first(settings, tmp_path, assets, users,
                                                                              client_for):  # fmt: skip
    settings.MEDIA_ROOT, settings.ASSET_CACHE_DIR = tmp_path / "media", ASSET_CACHE
    call_command("make_synthetic", project="rev", count=1, seed=4)
    Project.objects.filter(name="rev").update(review_fraction=1.0)
    anna, rita = client_for(users["annotator"]), client_for(users["reviewer"])
    mapper = ClickMapper(assets)
    first = perfect_masks(anna, "rev")
    run_processing_jobs()
    assert rita.post(f"/api/tasks/{first['id']}/review", {"decision": "accept"}, format="json").status_code == 200

    task = anna.post("/api/tasks/next", {"project": "rev", "stage": 2}, format="json").json()
    answers, _ = true_answers(task, mapper, settings.MEDIA_ROOT)
    wrong, other, off_m = misplaced(answers, task, mapper)
    assert off_m > 0.2, "the misplaced answer lands well away on its part"
    answers[wrong] = {**answers[other], "point": answers[wrong]["point"]}
    body = {"key": "k", "data": {"answers": answers}, "seconds_spent": 30.0}
    assert anna.post(f"/api/tasks/{task['id']}/submit", body, format="json").status_code == 201
    run_processing_jobs()

    review = rita.get("/api/reviews/next", {"project": "rev", "stage": 2}).json()
    overview = review["overview"]
    assert overview["sides"] == ["front", "back"] and overview["size"] > 0
    by_point = {o["point"]: o for o in overview["points"]}
    assert [o["point"] for o in overview["points"]] == [p["id"] for p in task["points"]]
    cameras = [Camera.from_dict(c) for c in assets.report["overview_cameras"]]
    for p, a in zip(task["points"], answers, strict=True):
        o = by_point[p["id"]]
        assert o["status"] == a["status"]
        if a["status"] != "ok":
            assert o["at"] is None and o["residual_m"] is None
            continue
        # where the stored surface point projects on each picture, and at least one side shows it
        surface = Correspondence.objects.get(point_id=p["id"]).surface
        own = assets.vertices[np.unique(assets.faces[assets.face_part == p["part"]])]
        assert np.linalg.norm(own - surface, axis=1).min() < 0.02, "the surface point lies on the point's part"
        for camera, spot in zip(cameras, o["at"], strict=True):
            xy, _ = camera.project(np.array([surface]))
            assert (spot["x"], spot["y"]) == pytest.approx(tuple(xy[0]), abs=0.06)
        shown = [s for s, spot in enumerate(o["at"]) if spot["visible"]]
        assert o["side"] == (shown[0] if shown else o["side"]) and o["side"] in (0, 1)
    suspects = sorted((o for o in overview["points"] if o["suspect"]), key=lambda o: -o["residual_m"])
    ranked = [o["point"] for o in suspects]
    assert task["points"][wrong]["id"] in ranked[:2], "the misplaced answer is among the first to look at"
    judged = [o for o in overview["points"] if o["residual_m"] is not None]
    assert len(judged) >= len(answers) // 2, "most answers are judged"
    # most true answers are not suspected (how many are varies from person to person: the torso's silhouette)
    true = [o["residual_m"] for o in judged if o["point"] != task["points"][wrong]["id"]]
    assert len(suspects) - 1 <= len(judged) / 3 and np.median(true) < 0.05, sorted(true)
    picture = rita.get(overview["pictures"][1])
    assert picture.status_code == 200 and picture["Content-Type"] == "image/png"

    # the reviewer flags that point: only it goes back; the others stand
    flagged = [task["points"][wrong]["id"]]
    for bad in ([123456789], ["x"], [True]):
        resp = rita.post(f"/api/tasks/{task['id']}/review", {"decision": "reject", "comment": "c", "points": bad},
                         format="json")  # fmt: skip
        assert resp.status_code == 400 and resp.json()["field"] == "points", resp.content
    resp = rita.post(f"/api/tasks/{task['id']}/review",
                     {"decision": "reject", "comment": "one point is on the other side", "points": flagged},
                     format="json")  # fmt: skip
    assert resp.status_code == 200, resp.content
    assert Review.objects.get(task_id=task["id"], decision="reject").points == flagged
    back = anna.post("/api/tasks/next", {"project": "rev", "stage": 2}, format="json").json()
    assert back["id"] == task["id"] and back["flagged_points"] == flagged
    assert len(back["draft"]["answers"]) == len(answers), "the other answers come back as they were"
    # fixed and accepted: no flags remain
    answers[wrong] = {"point": answers[wrong]["point"], "status": "unsure"}
    body = {"key": "k2", "data": {"answers": answers}, "seconds_spent": 5.0}
    assert anna.post(f"/api/tasks/{task['id']}/submit", body, format="json").status_code == 201
    run_processing_jobs()
    assert rita.post(f"/api/tasks/{task['id']}/review", {"decision": "accept"}, format="json").status_code == 200
    assert Task.objects.get(pk=task["id"]).flagged_points == []


@pytest.mark.django_db
def test_only_a_stage_two_rejection_flags_points(settings, tmp_path, users, client_for):
    from tests.helpers import make_person

    settings.MEDIA_ROOT = tmp_path / "media"
    rita = client_for(users["reviewer"])
    project = Project.objects.create(name="flags", review_fraction=1.0)
    task = Task.objects.create(project=project, person=make_person(project), stage=1, state="review")
    resp = rita.post(f"/api/tasks/{task.pk}/review", {"decision": "reject", "comment": "c", "points": [1]},
                     format="json")  # fmt: skip
    assert resp.status_code == 400 and resp.json()["field"] == "points"
    assert Task.objects.get(pk=task.pk).state == "review", "nothing changed"
