"""The queue dashboard, after a perfect annotator has worked through a synthetic person end to end."""

import pytest
from django.core.management import call_command

from annotator_web.core import jobs
from annotator_web.core.models import Job
from annotator_web.data.models import Project
from annotator_web.studies import stats
from annotator_web.work.models import Task
from pipeline.correspond import ClickMapper
from tests.conftest import PASSWORD
from tests.perfect import perfect_clicks, perfect_masks, run_processing_jobs
from tests.stack import ASSET_CACHE


@pytest.mark.django_db(transaction=True)
def test_a_perfect_annotator_shows_up_on_the_dashboard(settings, tmp_path, assets, users, client_for, client):
    settings.MEDIA_ROOT, settings.ASSET_CACHE_DIR = tmp_path / "media", ASSET_CACHE
    call_command("make_synthetic", project="dash", count=1, seed=4)
    project = Project.objects.get(name="dash")
    project.review_fraction = 0.0
    project.save()
    anna = client_for(users["annotator"])
    mapper = ClickMapper(assets)

    perfect_masks(anna, "dash")
    run_processing_jobs()
    task2, _ = perfect_clicks(anna, "dash", mapper, settings.MEDIA_ROOT)
    run_processing_jobs()
    assert Task.objects.get(pk=task2["id"]).state == "done"

    queues = {q["stage"]: q for q in stats.queue_counts(project)}
    people = project.tasks.filter(stage=1).count()
    assert queues[1]["done"] == 1 and queues[1]["pending"] == people - 1 and queues[2]["done"] == 1
    (anna_stats,) = stats.annotator_stats(project)
    assert anna_stats["annotator"] == "anna" and anna_stats["submissions"] == 2
    assert anna_stats["seconds_per_point"] == 3.0
    assert anna_stats["study"] is None, "no error against the truth before an accuracy study measured it"
    client.login(username="alice", password=PASSWORD)
    assert b"No accuracy study yet" in client.get("/queues/").content

    # the error shown is the accuracy study's (geodesic, the one measure); a perfect annotator is near 0 cm
    study = Job.objects.create(kind="accuracy_study", params={"project": "dash"}, queue="default")
    assert jobs.execute(study.pk, worker="test").state == "succeeded"
    (anna_stats,) = stats.annotator_stats(project)
    assert anna_stats["study"]["points"] > 10 and anna_stats["study"]["median_cm"] < 1.0, anna_stats
    page = client.get("/queues/")
    assert page.status_code == 200 and b"dash" in page.content and b"error vs truth" in page.content
    assert f"median {anna_stats['study']['median_cm']} cm".encode() in page.content
    client.login(username="anna", password=PASSWORD)
    assert client.get("/queues/").status_code == 403
