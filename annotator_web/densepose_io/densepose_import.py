"""Import DensePose-COCO annotations into a project: people with their part masks and points, as accepted
work or as tasks waiting for review, with the exporter's validation.

Invalid annotations are reported with their reason and skipped; the valid ones go in one transaction. Each
point becomes a sampled point with its correspondence (chart, U, V and the surface point they name); the view
and pixel where the point is seen are found too, so reviewers see imported work like annotated work. Points
keep their file order within each part, which is the order the exporter writes: export → import → export
gives the same annotations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from django.db import transaction

from annotator_web.data.images import ingest
from annotator_web.data.models import Image, Person, Project
from annotator_web.densepose_io.coco_import import ImportReport, objects_only, read_coco, stage_images, valid_keypoints
from annotator_web.work.models import Correspondence, Origin, PartMasks, SampledPoint, Submission, Task
from pipeline import parts
from pipeline.body import BODY_MODELS
from pipeline.coco.densepose import decode_rle, encode_rle, validate_dataset
from pipeline.coco.record import DensePosePerson
from pipeline.preannotate import MASKS_ORIGIN_FIELD, ORIGIN_FIELD

IMPORT_KEY = "import"


def import_densepose(
    project_name: str, annotations: Path, images_dir: Path, accepted: bool = False, actor=None, split: str = ""
) -> ImportReport:
    from django.conf import settings

    from annotator_web.core import body_assets
    from annotator_web.work.services import audit

    report = ImportReport()
    data = objects_only(read_coco(annotations), report)
    warnings: list = []
    problems = validate_dataset(data, warnings)
    if any(p.annotation_id == "-" for p in problems):
        raise ValueError(f"{annotations}: " + "; ".join(p.reason for p in problems if p.annotation_id == "-"))
    report.problems += [str(p) for p in problems]
    report.warnings += [str(w) for w in warnings]
    bad = {p.annotation_id for p in problems}
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    body = info.get("body_model") or settings.BODY_MODEL
    if body not in BODY_MODELS:
        raise ValueError(
            f"{annotations}: unknown body model {body!r} in info.body_model; known: {', '.join(BODY_MODELS)}"
        )

    by_image: dict = {}
    for ann in data["annotations"]:
        if ann.get("id") in bad or ann.get("category_id", 1) != 1:
            continue
        if ann.get("iscrowd"):
            report.problems.append(f"annotation {ann.get('id')}: a crowd region, not a person; skipped")
            continue
        if "dp_x" in ann and "dp_masks" not in ann:
            report.problems.append(f"annotation {ann.get('id')}: points without dp_masks; skipped")
            continue
        if ann.get("keypoints") is not None and not valid_keypoints(ann["keypoints"]):
            report.problems.append(f"annotation {ann.get('id')}: keypoints must be 17 x (x, y, v) finite numbers, "
                                   "v 0, 1 or 2; imported without them")  # fmt: skip
            ann = {**ann, "keypoints": None}
        by_image.setdefault(ann.get("image_id"), []).append(ann)

    has_points = any(a.get("dp_x") for anns in by_image.values() for a in anns)
    state = Task.State.DONE if accepted else Task.State.REVIEW
    saved = []
    try:
        with transaction.atomic():  # the project too: a failed import leaves nothing behind
            defaults = {"created_by": actor, "body_model": body}
            project, _ = Project.objects.get_or_create(name=project_name, defaults=defaults)
            if project.body_model != body:
                raise ValueError(f"the file's points are on {body} charts but project {project_name} uses "
                                 f"{project.body_model}: import it into a {body} project")  # fmt: skip
            mapper, lookup = body_assets.click_mapper(body), body_assets.chart_lookup(body)
            if has_points and lookup is None:
                raise ValueError(
                    f"the {body} body assets are not built yet; run `manage.py build_assets --body {body}`"
                )
            staged = stage_images(data, by_image, project, Path(images_dir), report)
            for img, raw, people in staged:
                image, _ = ingest(project, raw, str(img.get("file_name")), Image.Source.COCO, str(img.get("id")), split)
                saved.append(image.file)
                for ann in people:
                    _import_person(project, image, ann, state, mapper, lookup, report)
                report.images += 1
            audit(actor, "import_densepose", project=project, people=report.people, accepted=accepted)
    except BaseException:
        for f in saved:
            f.storage.delete(f.name)
        raise
    return report


def _import_person(project, image, ann, state, mapper, lookup, report: ImportReport) -> None:
    record = DensePosePerson.from_json(ann)
    x, y, w, h = record.bbox
    person = Person.objects.create(image=image, x=x, y=y, w=w, h=h, keypoints=ann.get("keypoints"),
                                   source_id=str(ann.get("id", "")))  # fmt: skip
    report.people += 1
    masks = record.dp_masks
    if masks is None:  # a person without DensePose annotation: queued for stage 1
        Task.objects.create(project=project, person=person, stage=Task.Stage.MASKS)
        report.tasks += 1
        return
    masks = [encode_rle(decode_rle(m)) if m else [] for m in masks]
    task = Task.objects.create(project=project, person=person, stage=Task.Stage.MASKS, state=state)
    submission = Submission.objects.create(task=task, annotator=None, key=IMPORT_KEY, data={"dp_masks": masks})
    masks_origin = ann.get(MASKS_ORIGIN_FIELD, Origin.CLICK)
    if masks_origin not in Origin.values:
        report.problems.append(f"annotation {ann.get('id')}: {MASKS_ORIGIN_FIELD} is one of "
                               f"{', '.join(Origin.values)}; read as {Origin.CLICK}")  # fmt: skip
        masks_origin = Origin.CLICK
    stored = PartMasks.objects.create(person=person, dp_masks=masks, submission=submission, origin=masks_origin)
    if not record.has_points:
        return
    chart, u, v, box_x, box_y = record.chart, record.u, record.v, record.box_x, record.box_y
    face, bary, surface = lookup.to_surface(chart, u, v)
    task2 = Task.objects.create(project=project, person=person, stage=Task.Stage.POINTS, state=state)
    submission2 = Submission.objects.create(task=task2, annotator=None, key=IMPORT_KEY, data={"answers": []})
    order: dict[int, int] = {}
    answers = []
    origins = ann.get(ORIGIN_FIELD, [Origin.CLICK] * len(chart))  # an export with provenance says where from
    if not (isinstance(origins, list) and len(origins) == len(chart) and all(o in Origin.values for o in origins)):
        report.problems.append(f"annotation {ann.get('id')}: {ORIGIN_FIELD} lists one of {', '.join(Origin.values)} "
                               f"for each point; read as {Origin.CLICK}")  # fmt: skip
        origins = [Origin.CLICK] * len(chart)
    for k in range(len(chart)):
        part = parts.CHART_TO_MASK_PART[int(chart[k])]
        order[part] = order.get(part, -1) + 1
        point = SampledPoint.objects.create(
            person=person, masks=stored, part=part, order=order[part], box_x=float(box_x[k]), box_y=float(box_y[k])
        )
        view, click = None, (None, None)
        if mapper is not None:  # where the point is seen, for the review page
            xy, visible = mapper.project_to_views(part, surface[k])
            seen = np.flatnonzero(visible[:, 0])
            if len(seen):
                view, click = int(seen[0]), (float(xy[seen[0], 0, 0]), float(xy[seen[0], 0, 1]))
        Correspondence.objects.create(
            point=point, status=Correspondence.Status.OK, view=view, click_x=click[0], click_y=click[1],
            face=int(face[k]), bary=bary[k].tolist(), chart=int(chart[k]), u=float(u[k]), v=float(v[k]),
            surface=surface[k].tolist(), submission=submission2, origin=origins[k],
        )  # fmt: skip
        answer = {"point": point.pk, "status": "ok"}
        if view is not None:
            answer.update(view=view, x=click[0], y=click[1])
        answers.append(answer)
    submission2.data = {"answers": answers}
    submission2.save(update_fields=["data"])
    report.points += len(chart)
