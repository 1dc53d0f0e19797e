"""Synthetic projects: rendered people with exact ground truth, as images and person boxes to annotate.

``make_synthetic(project, count, seed)`` is resumable and idempotent: image i of seed s is stored once
(source id "s:i"), so a job that is re-run after its worker died continues where it stopped.
"""

from __future__ import annotations

import json

from django.conf import settings

from annotator_web.core.body_assets import body_model
from annotator_web.core.jobs import JobContext, JobError, JobParam, job_kind
from annotator_web.core.models import Job
from annotator_web.data.models import Image, Person, Project
from annotator_web.data.synthetic import store_synthetic_image
from annotator_web.work.services import create_tasks

KIND = "make_synthetic"


def make_synthetic(project_name: str, count: int, seed: int, *, user=None, progress=None) -> dict:
    from pipeline.assets import ensure_assets, load_assets
    from pipeline.synthetic.scene import SceneGenerator

    report = progress or (lambda p, m: None)
    if count < 1 or count > 100_000:
        raise JobError(f"count must be between 1 and 100000, not {count}")
    project, _ = Project.objects.get_or_create(
        name=project_name,
        defaults={"title": f"Synthetic people ({project_name})", "synthetic": True, "created_by": user},
    )
    if not project.synthetic:
        raise JobError(f"project {project_name!r} holds real images; put synthetic ones in a project of their own")
    if project.body_model != "anny":
        raise JobError(f"synthetic people are posed with anny; project {project_name!r} uses {project.body_model}")
    body = body_model(project.body_model)
    report(1, "preparing the body model and its assets")
    folder = ensure_assets(body, settings.ASSET_CACHE_DIR, progress=lambda p, m: report(1 + 0.09 * p, m))
    assets = load_assets(folder)
    generator = SceneGenerator(body, assets)
    done = set(
        Image.objects.filter(
            project=project, source=Image.Source.SYNTHETIC, source_id__startswith=f"{seed}:"
        ).values_list("source_id", flat=True)
    )
    info = {"seed": seed, "body": body.name, "asset_key": assets.key}
    made = 0
    for i in range(count):
        source_id = f"{seed}:{i}"
        if source_id not in done:
            store_synthetic_image(project, generator.generate(seed, i), source_id, {**info, "index": i})
            made += 1
        report(10 + 90 * (i + 1) / count, f"image {i + 1} of {count}")
    tasks = create_tasks(project, actor=user)
    people = Person.objects.filter(image__project=project).count()
    return {
        "tasks_created": tasks,
        "project": project.name,
        "images_made": made,
        "images_in_project": project.images.count(),
        "people_in_project": people,
        "seed": seed,
        "message": f"{made} new synthetic images in {project.name} ({project.images.count()} images, {people} people, "
        f"{tasks} new stage-1 tasks)",
    }


@job_kind(
    KIND,
    title="Make synthetic people",
    queue="render",
    roles=("admin",),
    params=(
        JobParam("project", "project", "text", "synthetic"),
        JobParam("count", "images", "number", 20),
        JobParam("seed", "seed", "number", 0),
    ),
)
def make_synthetic_job(job: Job, ctx: JobContext) -> dict:
    params = job.params
    try:
        name, count, seed = str(params["project"]), int(params["count"]), int(params.get("seed", 0))
    except (KeyError, TypeError, ValueError):
        raise JobError(
            f"parameters must be project (name), count (number) and seed (number), got {json.dumps(params)}"
        ) from None
    return make_synthetic(name, count, seed, user=job.created_by, progress=lambda p, m: ctx.progress(p, m))
