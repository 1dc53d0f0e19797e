"""Pre-annotation in the queue: the command and job write proposals on pending tasks only, annotators get them
through the API, what they submit is stored with its origin (confirmed, corrected, click), pre-annotated work
follows its own review fraction, and a bad checkpoint is refused before anything is written."""

import json

import numpy as np
import pytest
import torch
from django.core.management import CommandError, call_command

from annotator_web.core.body_assets import click_mapper
from annotator_web.data.models import Person, Project, images_folder
from annotator_web.work.models import Correspondence, PartMasks, Task
from pipeline.coco.densepose import labels_from_dp_masks
from tests.perfect import run_processing_jobs, true_answers, true_masks
from tests.stack import ASSET_CACHE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def synth(settings, tmp_path, assets):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ASSET_CACHE_DIR = ASSET_CACHE
    call_command("make_synthetic", project="pre", count=2, seed=5)
    return Project.objects.get(name="pre")


def checkpoint(path, charts):
    """A checkpoint of the training module's tiny model (untrained) that says it learned ``charts``."""
    from training import config as configs
    from training.model import build_model

    config = configs.get("tiny")
    torch.save({"model": build_model(config).state_dict(), "config": config.to_dict(), "iteration": 0,
                "charts": charts}, path)  # fmt: skip
    return path


def proposals():
    return {t.pk: t.proposal for t in Task.objects.all()}


def test_a_bad_checkpoint_is_refused_before_anything_is_written(synth, tmp_path):
    key = click_mapper("anny").assets.key
    cases = {
        tmp_path / "missing.pth": "no such checkpoint",
        tmp_path / "empty": "no checkpoint in this run folder",
        checkpoint(tmp_path / "nocharts.pth", None): "does not say which chart set",
        checkpoint(tmp_path / "smpl.pth", {"body": "smpl", "asset_key": key}): "learned the smpl body's charts",
        checkpoint(tmp_path / "other.pth", {"body": "anny", "asset_key": "0123"}): "another anny chart set",
    }
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    cases[tmp_path / "junk.pth"] = "not a readable checkpoint"
    for path, reason in cases.items():
        with pytest.raises(CommandError, match=reason):
            call_command("preannotate", project="pre", checkpoint=str(path))
    with pytest.raises(CommandError, match="need its checkpoint"):
        call_command("preannotate", project="pre")
    assert all(p is None for p in proposals().values())


def test_proposals_reach_the_annotator_and_answers_keep_their_origin(synth, users, client_for, tmp_path, settings):
    api = client_for(users["annotator"])
    synth.review_fraction, synth.preannotated_review_fraction = 1.0, 0.0
    synth.save()
    # a task someone is working on keeps their work: it gets no proposal
    held = api.post("/api/tasks/next", {"project": "pre", "stage": 1}, format="json").json()
    call_command("preannotate", project="pre", stage=1, known_quality=0)
    assert Task.objects.get(pk=held["id"]).proposal is None
    stage1 = Task.objects.filter(stage=1).exclude(pk=held["id"])
    assert stage1.count() >= 2 and all(t.proposal and t.proposal["dp_masks"] for t in stage1)

    # the held task: submitted by hand, no proposal -> origin "click", goes to review (fraction 1)
    assert api.post(f"/api/tasks/{held['id']}/submit", {"key": "h", "data": {"dp_masks": true_masks(held)}},
                    format="json").status_code == 201  # fmt: skip
    api.post(f"/api/tasks/{held['id']}/leave")
    # the next ones carry the proposal: confirm one as it is, correct another
    first = api.post("/api/tasks/next", {"project": "pre", "stage": 1}, format="json").json()
    assert first["proposal"]["source"].startswith("truth + 0 mm") and len(first["proposal"]["dp_masks"]) == 14
    submit = lambda task, key, data: api.post(f"/api/tasks/{task['id']}/submit", {"key": key, "data": data},  # noqa: E731
                                              format="json").status_code  # fmt: skip
    assert submit(first, "a", {"dp_masks": first["proposal"]["dp_masks"]}) == 201
    second = api.post("/api/tasks/next", {"project": "pre", "stage": 1}, format="json").json()
    labels = labels_from_dp_masks(second["proposal"]["dp_masks"])
    from pipeline.coco.densepose import dp_masks_from_labels

    labels[:, :8] = 0  # the annotator rubs out a strip
    changed = int((labels_from_dp_masks(second["proposal"]["dp_masks"])[:, :8] > 0).sum())
    assert changed > 0
    assert submit(second, "b", {"dp_masks": dp_masks_from_labels(labels)}) == 201
    run_processing_jobs()
    masks = {m.person_id: (m.origin, m.changed_pixels) for m in PartMasks.objects.all()}
    assert masks[held["person"]["id"]] == ("click", None)
    assert masks[first["person"]["id"]] == ("confirmed", 0)
    assert masks[second["person"]["id"]] == ("corrected", changed)
    # review: hand-made work waits for a reviewer, pre-annotated work was accepted (its fraction is 0)
    states = {t.pk: t.state for t in Task.objects.filter(stage=1)}
    assert states[held["id"]] == "review" and states[first["id"]] == states[second["id"]] == "done"

    # stage 2: proposals from a perfect model, one confirmed, one corrected, one replaced by "unsure"
    call_command("preannotate", project="pre", stage=2, known_quality=0)
    task = api.post("/api/tasks/next", {"project": "pre", "stage": 2}, format="json").json()
    proposed = {p["point"]: p for p in task["proposal"]["points"]}
    assert len(proposed) >= 0.8 * len(task["points"]), "a perfect model proposes every point the views show"
    answers, _ = true_answers(task, click_mapper("anny"))
    given = [a for a in answers if a["point"] in proposed]
    confirm, move, unsure = given[0], given[1], given[2]
    out = []
    for a in answers:
        p = proposed.get(a["point"])
        if a is confirm:
            out.append({"point": a["point"], "status": "ok", "view": p["view"], "x": p["x"], "y": p["y"]})
        elif a is move:
            out.append({**a, "x": a["x"] + 1.5} if a["view"] == p["view"] else a)
        elif a is unsure:
            out.append({"point": a["point"], "status": "unsure"})
        else:
            out.append(a)
    Project.objects.filter(pk=synth.pk).update(preannotated_review_fraction=1.0)  # this one is reviewed
    resp = api.post(f"/api/tasks/{task['id']}/submit", {"key": "c", "data": {"answers": out}}, format="json")
    assert resp.status_code == 201, resp.content
    run_processing_jobs()
    origin = dict(Correspondence.objects.values_list("point_id", "origin"))
    # the reviewer is told how much of it is the model's
    review = client_for(users["reviewer"]).get("/api/reviews/next", {"project": "pre", "stage": 2}).json()
    assert review["id"] == task["id"] and review["proposal"]["points"]
    assert review["origins"] == {o: list(origin.values()).count(o) for o in ("click", "confirmed", "corrected")}
    assert {o["point"]: o["origin"] for o in review["overview"]["points"]} == origin  # which ones, point by point
    assert origin[confirm["point"]] == "confirmed"
    assert origin[move["point"]] == origin[unsure["point"]] == "corrected"
    unproposed = [a["point"] for a in answers if a["point"] not in proposed]
    assert all(origin[p] == "click" for p in unproposed)

    # the export says where each point comes from when asked, and can leave the confirmed proposals out
    def exported(**options):
        out = tmp_path / "export.json"
        call_command("export_densepose", project="pre", out=str(out), **options)
        return {a["id"]: a for a in json.loads(out.read_text())["annotations"]}[task["person"]["id"]]

    plain, full = exported(), exported(provenance=True)
    assert "dp_origin" not in plain and "dp_masks_origin" not in plain
    clicked = [a for a in out if a["status"] == "ok"]
    assert full["dp_origin"] == [origin[a["point"]] for a in clicked] and len(full["dp_x"]) == len(clicked)
    assert full["dp_masks_origin"] == PartMasks.objects.get(person_id=task["person"]["id"]).origin
    lean = exported(provenance=True, drop_confirmed=True)
    # a true click on the proposal's view lands on the perfect model's proposal: confirmed too
    confirmed = full["dp_origin"].count("confirmed")
    assert confirmed >= 1 and len(lean["dp_x"]) == len(full["dp_x"]) - confirmed
    assert "confirmed" not in lean["dp_origin"]
    kept = [k for k, o in enumerate(full["dp_origin"]) if o != "confirmed"]
    assert lean["dp_U"] == [full["dp_U"][k] for k in kept]
    # the accuracy study tells the confirmed proposals (of a perfect model here) from the corrected ones
    from annotator_web.studies.study import run_study

    study = run_study(synth, tmp_path / "study")
    assert {"confirmed", "corrected"} <= set(study["origins"])
    assert study["origins"]["confirmed"]["points"] >= 1 and study["origins"]["confirmed"]["median_cm"] < 1.0
    assert sum(o["points"] for o in study["origins"].values()) == study["overall"]["points"]
    assert "a model's proposal, confirmed as it was" in (tmp_path / "study" / "table.md").read_text()
    # read back, the origins come with the points
    call_command("export_densepose", project="pre", out=str(tmp_path / "full.json"), provenance=True)
    call_command("import_densepose", project="back", annotations=str(tmp_path / "full.json"),
                 images=str(settings.MEDIA_ROOT / images_folder(synth.pk)))  # fmt: skip
    person = Person.objects.get(image__project__name="back", source_id=str(task["person"]["id"]))
    back = Correspondence.objects.filter(point__person=person).order_by("point__part", "point__order")
    assert sorted(back.values_list("origin", flat=True)) == sorted(full["dp_origin"])
    assert PartMasks.objects.get(person=person).origin == full["dp_masks_origin"]


def test_a_model_checkpoint_proposes_with_its_confidence_and_orders_the_queue(synth, tmp_path):
    key = click_mapper("anny").assets.key
    path = checkpoint(tmp_path / "run.pth", {"body": "anny", "asset_key": key})
    call_command("preannotate", project="pre", checkpoint=str(path), stage=1, uncertain_first=True)
    tasks = list(Task.objects.filter(stage=1))
    assert all(t.proposal["source"].startswith(f"model {path}") for t in tasks)
    for t in tasks:
        c = t.proposal["confidence"]
        assert all(0 < v <= 1 for v in c.values()) and len(c) == sum(1 for m in t.proposal["dp_masks"] if m)
        assert t.priority == round(t.proposal["uncertainty"] * 1000) > 0
    # a threshold no untrained model reaches: no part proposed
    call_command("preannotate", project="pre", checkpoint=str(path), stage=1, min_score=0.999)
    assert all(not any(t.proposal["dp_masks"]) for t in Task.objects.filter(stage=1))
    assert np.isfinite([t.proposal["uncertainty"] for t in Task.objects.filter(stage=1)]).all()
    # the model's disagreement with itself on the mirror image: a share of the person's pixels
    call_command("preannotate", project="pre", checkpoint=str(path), stage=1, uncertainty="mirror")
    for t in Task.objects.filter(stage=1):
        assert t.proposal["uncertainty_measure"] == "mirror" and 0 <= t.proposal["uncertainty"] <= 1
