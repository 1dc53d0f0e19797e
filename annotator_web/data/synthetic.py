"""Synthetic projects: rendered people with exact ground truth, as images and person boxes to annotate.

``make_synthetic(project, count, seed)`` is resumable and idempotent: image i of seed s is stored once
(source id "s:i"), so a job that is re-run after its worker died continues where it stopped.
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from annotator_web.core.body_assets import body_model
from annotator_web.core.jobs import JobContext, JobError, JobParam, job_kind
from annotator_web.core.models import Job
from annotator_web.data.models import Image, ImageTruth, Person, Project

KIND = "make_synthetic"
JPEG_QUALITY = 92


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _truth_people(img) -> list[dict]:
    return [
        _jsonable(
            {
                "index": t.index,
                "bbox": t.bbox,
                "area": t.area,
                "keypoints": t.keypoints,
                "ignore": t.ignore,
                "family": t.person.family,
                "phenotype": t.person.phenotype,
                "pose": t.person.pose,
                "yaw": t.person.yaw,
                "position": t.person.position,
                "segmentation": t.segmentation,
                "dp_masks": t.dp_masks,
                "points": t.points,
            }
        )
        for t in img.people
    ]


def store_synthetic_image(project: Project, img, source_id: str, generator_info: dict) -> Image:
    """Image file, person boxes and hidden ground truth, all or nothing."""
    from PIL import Image as PILImage

    jpeg = io.BytesIO()
    PILImage.fromarray(img.image).save(jpeg, format="JPEG", quality=JPEG_QUALITY)
    truth = io.BytesIO()
    np.savez_compressed(
        truth, instance=img.instance, part=img.part, chart=img.chart, uv=img.uv, face=img.face, bary=img.bary,
        surface=img.surface, depth=img.depth,
    )  # fmt: skip
    stem = f"synthetic-{source_id.replace(':', '-')}"
    saved = []
    try:
        with transaction.atomic():
            image = Image(
                project=project,
                width=img.image.shape[1],
                height=img.image.shape[0],
                sha256=hashlib.sha256(jpeg.getvalue()).hexdigest(),
                source=Image.Source.SYNTHETIC,
                source_id=source_id,
            )
            image.file.save(f"{stem}.jpg", ContentFile(jpeg.getvalue()), save=False)
            saved.append(image.file)
            image.save()
            record = ImageTruth(image=image, people=_truth_people(img), generator=generator_info)
            record.file.save(f"{stem}.npz", ContentFile(truth.getvalue()), save=False)
            saved.append(record.file)
            record.save()
            Person.objects.bulk_create(
                Person(image=image, x=t.bbox[0], y=t.bbox[1], w=t.bbox[2], h=t.bbox[3], keypoints=t.keypoints,
                       source_id=f"{source_id}:{t.index}")  # fmt: skip
                for t in img.people
                if not t.ignore
            )
    except BaseException:
        for f in saved:  # nothing half-written: no file without its rows
            f.storage.delete(f.name)
        raise
    return image


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
        Image.objects.filter(project=project, source=Image.Source.SYNTHETIC, source_id__startswith=f"{seed}:")
        .values_list("source_id", flat=True)
    )
    info = {"seed": seed, "body": body.name, "asset_key": assets.key}
    made = 0
    for i in range(count):
        source_id = f"{seed}:{i}"
        if source_id not in done:
            store_synthetic_image(project, generator.generate(seed, i), source_id, {**info, "index": i})
            made += 1
        report(10 + 90 * (i + 1) / count, f"image {i + 1} of {count}")
    from annotator_web.work.services import create_tasks

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
        raise JobError(f"parameters must be project (name), count (number) and seed (number), got {json.dumps(params)}")
    return make_synthetic(name, count, seed, user=job.created_by, progress=lambda p, m: ctx.progress(p, m))
