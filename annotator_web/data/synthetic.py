"""Synthetic images stored: the rendered image, its people's boxes and the hidden ground truth, all or nothing.
(Making a synthetic project, the job: :mod:`annotator_web.studies.synthetic`.)"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from annotator_web.data.models import Image, ImageTruth, Person, Project

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
