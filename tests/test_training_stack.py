"""Training launched as a job on the real stack: accepted synthetic people, the train queue, a real worker,
progress as it goes, the loss curve as a picture on the job, the evaluation in the result."""

import pytest
from django.core.management import call_command

from pipeline.synthetic import coco
from pipeline.synthetic.scene import SceneGenerator
from tests.stack import ASSET_CACHE

pytestmark = [pytest.mark.stack]
FINISHED = ("succeeded", "failed", "cancelled")


def test_training_job_on_the_train_queue(stack, anny, assets, settings, tmp_path):
    settings.MEDIA_ROOT, settings.ASSET_CACHE_DIR = stack.media, ASSET_CACHE
    generator = SceneGenerator(anny, assets)
    path = coco.write([generator.generate(seed=3, index=i, size=(320, 240)) for i in range(3)], tmp_path / "set")
    call_command("import_densepose", project="learn", annotations=str(path), images=str(tmp_path / "set"),
                 accepted=True)  # fmt: skip
    # one more person, not annotated yet: the new model pre-annotates it when the run is done
    from annotator_web.data.models import Person, Project
    from annotator_web.work.models import Task

    learn = Project.objects.get(name="learn")
    image = learn.images.first()
    waiting = Person.objects.create(image=image, x=20, y=20, w=120, h=200)
    Task.objects.create(project=learn, person=waiting, stage=Task.Stage.MASKS)
    pending = Task.objects.filter(project=learn, stage=1, state="pending").count()

    bad = stack.post("/api/jobs", {"kind": "train", "params": {"project": "learn", "config": "huge"}})
    assert bad.status_code == 400 and "config: one of tiny, r50_fpn, not 'huge'" in bad.json()["params"][0]

    job = stack.post("/api/jobs", {"kind": "train", "params": {"project": "learn", "config": "tiny", "iterations": 20,
                                                               "then_preannotate": "stage 1"}}).json()  # fmt: skip
    seen, pictures_while_running = [], []

    def watch(j):
        seen.append(j["message"])
        if j["state"] == "running" and (j["message"] or "").startswith("iteration") and not pictures_while_running:
            resp = stack.get(f"/api/jobs/{job['id']}/result", params={"file": "loss.png"})
            pictures_while_running.append(resp.status_code == 200 and resp.content[:4] == b"\x89PNG")
        return j["state"] in FINISHED

    done = stack.wait_job(job["id"], watch, timeout=300)
    assert done["state"] == "succeeded", done
    assert any(m and m.startswith("iteration ") and "loss" in m for m in seen), "iteration and loss as it goes"
    assert pictures_while_running == [True], "the loss curve is there while the run goes on"
    result = done["result"]
    assert result["iterations"] == 20 and result["final_loss"] < result["first_loss"]
    assert result["evaluation"]["pointwise"]["points"] > 0
    # the figures the job reports are those of the checkpoint it kept, on the data it exported
    from annotator_web.data.models import images_folder
    from pipeline.charts import interchange
    from training.evaluate import Evaluator, load_run

    checkpoint = stack.media / result["checkpoint"]
    run_folder = checkpoint.parent.parent
    images = stack.media / images_folder(Project.objects.get(name="learn").pk)
    again = Evaluator(interchange.ensure(assets, "anny"), run_folder / "train.json", images)(load_run(checkpoint))
    for metric in ("gps", "gpsm"):
        assert again[metric]["AP"] == pytest.approx(result["evaluation"][metric]["AP"], abs=1e-9), metric
    assert again["pointwise"]["points"] == result["evaluation"]["pointwise"]["points"]
    picture = stack.get(f"/api/jobs/{job['id']}/result", params={"file": "loss.png"})
    assert picture.status_code == 200 and picture.content[:4] == b"\x89PNG"
    assert (stack.media / result["checkpoint"]).exists()
    # the chain: the new model's proposal waits in the pending task
    assert result["preannotated"] == {"1": pending} and f"pre-annotated {pending} stage-1 tasks" in done["message"]
    proposal = Task.objects.get(person=waiting, stage=1).proposal
    assert proposal["source"] == f"model {result['checkpoint']} (iteration 20)" and len(proposal["dp_masks"]) == 14
