"""DensePose-COCO export of accepted work, validated; validate_densepose names every problem."""

import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from annotator_web.data.models import ImageTruth, Project
from annotator_web.work.models import Correspondence
from pipeline.charts.lookup import ChartLookup
from pipeline.coco import densepose as dp
from pipeline.correspond import ClickMapper
from tests.perfect import perfect_clicks, perfect_masks, run_processing_jobs
from tests.stack import ASSET_CACHE


@pytest.fixture
def annotated(settings, tmp_path, assets, users, client_for):
    settings.MEDIA_ROOT, settings.ASSET_CACHE_DIR = tmp_path / "media", ASSET_CACHE
    call_command("make_synthetic", project="exp", count=1, seed=8)
    project = Project.objects.get(name="exp")
    project.review_fraction = 0.0
    project.save()
    anna = client_for(users["annotator"])
    perfect_masks(anna, "exp")
    run_processing_jobs()
    task, answers = perfect_clicks(anna, "exp", ClickMapper(assets), settings.MEDIA_ROOT)
    run_processing_jobs()
    return project, task, answers


@pytest.mark.django_db(transaction=True)
def test_export_writes_valid_densepose_coco_of_accepted_people(annotated, tmp_path, assets, capsys):
    _, task, answers = annotated
    out = tmp_path / "export.json"
    call_command("export_densepose", project="exp", out=str(out), only_accepted=True)
    data = json.loads(out.read_text())
    assert data["info"]["body_model"] == "anny" and data["info"]["chart_set"] == f"anny-{assets.key}"
    assert data["categories"][0]["keypoints"][0] == "nose"
    (ann,) = data["annotations"]  # only the person whose work was accepted
    assert ann["id"] == task["person"]["id"] and len(ann["dp_masks"]) == 14
    ok = Correspondence.objects.filter(point__person_id=ann["id"], status="ok").select_related("point")
    assert len(ann["dp_I"]) == ok.count() == sum(a["status"] == "ok" for a in answers)
    assert np.allclose(sorted(ann["dp_x"]), sorted(c.point.box_x * 255 / 256 for c in ok)), "dp_x = box_x 255/256"

    # the exported (I, U, V) lead back to the true surface points at (dp_x, dp_y)
    truth = ImageTruth.objects.get(image_id=ann["image_id"])
    with np.load(truth.file.path) as t:
        surface = t["surface"]
    lookup = ChartLookup(assets.vertices, assets.faces, assets.face_chart, assets.corner_uv)
    _, _, points = lookup.to_surface(ann["dp_I"], ann["dp_U"], ann["dp_V"])
    xs, ys = dp.dp_to_image(ann["bbox"], ann["dp_x"], ann["dp_y"])
    true = surface[ys.astype(int), xs.astype(int)]
    assert np.median(np.linalg.norm(points - true, axis=1)) < 0.005

    call_command("validate_densepose", str(out))
    assert "valid (1 images, 1 people" in capsys.readouterr().out
    call_command("export_densepose", project="exp", out=str(tmp_path / "all.json"))
    assert len(json.loads((tmp_path / "all.json").read_text())["annotations"]) == 1, "others have no masks yet"


@pytest.mark.django_db(transaction=True)
def test_an_invalid_export_is_not_written(annotated, tmp_path, monkeypatch):
    monkeypatch.setattr(dp, "check_annotation", lambda ann, size=None, labels=None: ["dp_U must be in [0, 1]"])
    out = tmp_path / "bad.json"
    with pytest.raises(CommandError, match="would not be valid, so it was not written"):
        call_command("export_densepose", project="exp", out=str(out))
    assert not out.exists() and not list(tmp_path.glob("bad.json*"))


def test_validate_densepose_lists_problems(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": [{"id": 1, "width": 10, "height": 10}], "categories": [],
                               "annotations": [{"id": 5, "image_id": 1, "bbox": [0, 0, 50, 5]}]}))  # fmt: skip
    with pytest.raises(CommandError, match="1 problems"):
        call_command("validate_densepose", str(bad))
    assert "annotation 5: bbox [0.0, 0.0, 50.0, 5.0] is outside the 10x10 image" in capsys.readouterr().err


def _without_ids(data: dict) -> list:
    """The annotations without their database ids (a new project numbers them anew), with their image's size."""
    sizes = {img["id"]: (img["width"], img["height"]) for img in data["images"]}
    return [
        {**{k: v for k, v in ann.items() if k not in ("id", "image_id")}, "image_size": sizes[ann["image_id"]]}
        for ann in data["annotations"]
    ]


@pytest.mark.django_db(transaction=True)
def test_export_import_export_gives_the_same_annotations(annotated, tmp_path, settings, users, client_for, capsys):
    from annotator_web.work.models import Task

    project, _, _ = annotated
    first = tmp_path / "first.json"
    call_command("export_densepose", project="exp", out=str(first), only_accepted=True)
    images = settings.MEDIA_ROOT / "projects" / str(project.pk) / "images"

    call_command(
        "import_densepose", project="copy", annotations=str(first), images=str(images), accepted=True, split="val"
    )
    assert "imported 1 images, 1 people" in capsys.readouterr().out
    second = tmp_path / "second.json"
    call_command("export_densepose", project="copy", out=str(second), only_accepted=True)
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    assert _without_ids(a) == _without_ids(b) and len(a["annotations"][0]["dp_I"]) > 10
    assert a["info"]["chart_set"] == b["info"]["chart_set"]
    val, train = tmp_path / "val.json", tmp_path / "train.json"
    call_command("export_densepose", project="copy", out=str(val), only_accepted=True, split="val")
    call_command("export_densepose", project="copy", out=str(train), only_accepted=True, split="train")
    assert _without_ids(json.loads(val.read_text())) == _without_ids(a)
    assert json.loads(val.read_text())["info"]["split"] == "val"
    assert json.loads(train.read_text())["images"] == [] and "no image of project copy is in split 'train'" in (
        capsys.readouterr().err
    )

    # as review tasks: the reviewer sees the imported clicks on the views; nothing exports until accepted
    call_command("import_densepose", project="to-review", annotations=str(first), images=str(images))
    assert set(Task.objects.filter(project__name="to-review").values_list("state", flat=True)) == {"review"}
    rita = client_for(users["reviewer"])
    queued = rita.get("/api/reviews/next?project=to-review&stage=2").json()
    answers = queued["submission"]["answers"]
    assert len(answers) == len(queued["points"]) and all("view" in x for x in answers[:3])
    third = tmp_path / "third.json"
    call_command("export_densepose", project="to-review", out=str(third), only_accepted=True)
    assert json.loads(third.read_text())["annotations"] == []
    for stage in (1, 2):
        t = rita.get(f"/api/reviews/next?project=to-review&stage={stage}").json()
        assert rita.post(f"/api/tasks/{t['id']}/review", {"decision": "accept"}, format="json").status_code == 200
    call_command("export_densepose", project="to-review", out=str(third), only_accepted=True)
    assert _without_ids(json.loads(third.read_text())) == _without_ids(a)


@pytest.mark.django_db(transaction=True)
def test_import_skips_invalid_annotations_with_reasons_and_refuses_other_charts(annotated, tmp_path, settings):
    project, _, _ = annotated
    first = tmp_path / "first.json"
    call_command("export_densepose", project="exp", out=str(first), only_accepted=True)
    data = json.loads(first.read_text())
    good = data["annotations"][0]
    broken = {**good, "id": 999, "dp_U": [2.0, *good["dp_U"][1:]]}
    data["annotations"].append(broken)
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(data))
    images = settings.MEDIA_ROOT / "projects" / str(project.pk) / "images"
    from annotator_web.densepose_io.densepose_import import import_densepose

    report = import_densepose("mixed", path, images, accepted=True)
    assert report.people == 1 and report.points == len(good["dp_I"])
    assert any(p.startswith("annotation 999: dp_U must be in [0, 1]") for p in report.problems), report.problems

    data["info"]["body_model"] = "smpl"
    path.write_text(json.dumps(data))
    with pytest.raises(CommandError, match="on smpl charts but project mixed uses anny"):
        call_command("import_densepose", project="mixed", annotations=str(path), images=str(images))


@pytest.mark.django_db(transaction=True)
def test_export_in_worker_processes_writes_the_same_file(settings, tmp_path, monkeypatch):
    from annotator_web.densepose_io import export
    from annotator_web.work.models import PartMasks
    from tests.helpers import make_person

    settings.MEDIA_ROOT = tmp_path / "media"
    project = Project.objects.create(name="many")
    labels = np.zeros((256, 256), dtype=np.uint8)
    labels[20:120, 60:200] = 1
    for k in range(5):
        person = make_person(project)  # one image each
        labels[200:240, 10 * k : 10 * k + 30] = 14
        PartMasks.objects.create(person=person, dp_masks=dp.dp_masks_from_labels(labels))
    monkeypatch.setattr(export, "CHUNK_IMAGES", 2)  # three chunks
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    first = export.export_project(project, one, only_accepted=False, workers=1)
    second = export.export_project(project, two, only_accepted=False, workers=2)
    assert first["people"] == second["people"] == 5
    assert one.read_bytes() == two.read_bytes(), "the chunks are joined in image order"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["media", "one.json", "two.json"], "no work files left"


@pytest.mark.django_db(transaction=True)
def test_the_export_job_says_which_splits_there_are_and_exports_with_the_one_default(annotated, users):
    from annotator_web.core import jobs

    bad = jobs.start_job("export_densepose", params={"project": "exp", "split": "all"}, user=users["admin"])
    failed = jobs.execute(bad.pk, worker="test")
    assert failed.state == "failed" and "no image of project exp is in split 'all'" in failed.error
    assert "(no split: every image)" in failed.error
    job = jobs.start_job("export_densepose", params={"project": "exp"}, user=users["admin"])
    done = jobs.execute(job.pk, worker="test")
    assert done.state == "succeeded", done.error
    assert done.result["file"] == "exp-densepose.json", "no server path in what the job shows"
    assert done.result["people"] == 1 and done.params["only_accepted"] is False
