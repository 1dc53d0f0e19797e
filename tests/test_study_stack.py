"""End to end on the real stack: a synthetic project, three simulated annotators of different click noise
through both stages over HTTP, a simulated reviewer, then the accuracy study as a job."""

import json

import pytest
from django.core.management import call_command

from annotator_web.work.models import Task
from tests.conftest import PASSWORD
from tests.stack import ASSET_CACHE

pytestmark = [pytest.mark.stack]
FINISHED = ("succeeded", "failed", "cancelled")


def test_simulated_annotators_and_the_accuracy_study(stack, assets, settings, capsys):
    settings.MEDIA_ROOT, settings.ASSET_CACHE_DIR = stack.media, ASSET_CACHE  # the oracle reads the truth
    job = stack.post("/api/jobs", {"kind": "make_synthetic", "params": {"project": "acc", "count": 3, "seed": 4}})
    assert stack.wait_job(job.json()["id"], lambda j: j["state"] in FINISHED, timeout=180)["state"] == "succeeded"
    people = Task.objects.filter(project__name="acc", stage=1).count()
    assert people >= 5

    call_command("simulate_annotators", project="acc", annotators=3, click_noise_px="0,3,8", review=True,
                 url=stack.url, idle_seconds=8, max_points_tasks=max(1, people // 3), seed=1)  # fmt: skip
    out = capsys.readouterr().out
    assert "sim-annotator-3 (click noise 8.0 px)" in out and "tasks accepted" in out
    assert Task.objects.filter(project__name="acc", stage=2, state="done").count() >= 3

    job = stack.post("/api/jobs", {"kind": "accuracy_study", "params": {"project": "acc"}}).json()
    done = stack.wait_job(job["id"], lambda j: j["state"] in FINISHED, timeout=240)
    assert done["state"] == "succeeded", done
    result = done["result"]
    means = {name: figures["mean_cm"] for name, figures in result["annotators"].items()}
    assert set(means) == {"sim-annotator-1", "sim-annotator-2", "sim-annotator-3"}, means
    assert means["sim-annotator-1"] < means["sim-annotator-2"] < means["sim-annotator-3"], "noisier, larger error"
    assert result["annotators"]["sim-annotator-1"]["auc10"] > result["annotators"]["sim-annotator-3"]["auc10"]
    assert result["overall"]["points"] == sum(a["points"] for a in result["annotators"].values())
    assert "Torso" in result["parts"] and result["parts"]["Torso"]["points"] > 0

    # the pictures and the table are there, and the job page and the dashboard show them
    for name in ("error_map.png", "pointwise.png", "study.json", "table.md"):
        resp = stack.get(f"/api/jobs/{job['id']}/result", params={"file": name})
        assert resp.status_code == 200, (name, resp.status_code)
    assert stack.get(f"/api/jobs/{job['id']}/result", params={"file": "error_map.png"}).content[:4] == b"\x89PNG"
    assert json.loads(stack.get(f"/api/jobs/{job['id']}/result", params={"file": "study.json"}).text)["points"] > 0
    assert stack.get(f"/api/jobs/{job['id']}/result", params={"file": "../../secret"}).status_code == 404
    page = stack.signed_in_browser("root", PASSWORD).get(stack.url + f"/jobs/{job['id']}/", timeout=10)
    assert page.status_code == 200 and "Accuracy study" in page.text, page.text[:500]
    for name in ("error_map.png", "pointwise.png"):
        assert f"?file={name}" in page.text, f"the job page shows {name}"
    from annotator_web.data.models import Project
    from annotator_web.studies.stats import annotator_stats

    rows = {r["annotator"]: r for r in annotator_stats(Project.objects.get(name="acc"))}
    assert rows["sim-annotator-3"]["study"]["mean_cm"] == means["sim-annotator-3"], "the dashboard shows the study"
