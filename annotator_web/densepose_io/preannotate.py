"""Pre-annotation: a model proposes part masks (stage 1) or surface points (stage 2) for a project's pending
tasks; annotators confirm or correct them (the proposals live on the task, never in the answers, until a
person submits). The model is a checkpoint of the training module (run on the people's own boxes,
:func:`training.evaluate.box_maps`) or, on synthetic projects, a model of known quality: the truth moved by
noise of a given size (:mod:`pipeline.preannotate`).

Everything is checked before anything is written: the project, the stage, the checkpoint (it exists, is this
module's, learned this body's chart set). Only pending tasks with no draft get a proposal (work in progress is
never overwritten); running it again replaces the earlier proposals. With ``uncertain_first`` the queue is
ordered by the model's uncertainty (the mean entropy of its chart or part distribution over the person)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from django.conf import settings
from django.utils import timezone

from annotator_web.core.jobs import JobContext, JobError, JobParam, job_kind
from annotator_web.core.models import Job
from annotator_web.data.models import Project, project_names
from annotator_web.work.models import Task
from pipeline import preannotate as P
from pipeline.sampling import person_seed

KIND = "preannotate"
MODEL, KNOWN = "model", "truth+noise"
ENTROPY, MIRROR = "entropy", "mirror"  # the model's uncertainty about a person: see preannotate_project
UNCERTAINTY_PRIORITY = 1000  # priority = round(uncertainty x this): the most uncertain person first


class PreannotateError(ValueError):
    """A pre-annotation refused before anything was written."""


def _checkpoint_path(checkpoint: str, inside_data: bool) -> Path:
    path = Path(checkpoint)
    if not path.is_absolute():
        path = Path(settings.MEDIA_ROOT) / path
    if inside_data:  # a job names checkpoints of the data folder only (a checkpoint file is a pickle)
        root = Path(settings.MEDIA_ROOT).resolve()
        if not path.resolve().is_relative_to(root):
            raise PreannotateError(f"checkpoint {checkpoint}: a job reads checkpoints inside the data folder only "
                                   "(a training job's run folder); use the preannotate command for others")  # fmt: skip
    return path


class ModelSource:
    """A training-module checkpoint, checked against the project's body and chart set."""

    def __init__(self, project: Project, checkpoint: str, mapper, inside_data: bool = True):
        from training.evaluate import load_checkpoint

        path = _checkpoint_path(checkpoint, inside_data)
        try:
            self.model, info = load_checkpoint(path)
        except (FileNotFoundError, ValueError) as exc:
            raise PreannotateError(f"checkpoint: {exc}") from None
        charts = info.get("charts")
        if not charts:
            raise PreannotateError(f"checkpoint {info['path']} does not say which chart set it learned (trained "
                                   "without a chart-asset folder): its U and V cannot be read; retrain it "
                                   "with --chart-assets, or with the training job")  # fmt: skip
        if charts.get("body") != project.body_model:
            raise PreannotateError(f"checkpoint {info['path']} learned the {charts.get('body')} body's charts; "
                                   f"project {project.name} uses {project.body_model}")  # fmt: skip
        if charts.get("asset_key") != mapper.assets.key:
            raise PreannotateError(f"checkpoint {info['path']} learned another {project.body_model} chart set "
                                   f"(assets {charts.get('asset_key')}; this server's are {mapper.assets.key}): "
                                   "its U and V would land elsewhere on the body")  # fmt: skip
        shown = Path(info["path"])
        root = Path(settings.MEDIA_ROOT).resolve()
        if shown.resolve().is_relative_to(root):  # a training job's run: named within the data folder
            shown = shown.resolve().relative_to(root)
        self.name = f"model {shown} (iteration {info.get('iteration')})"

    def maps(self, image: np.ndarray, boxes: list) -> list:
        from training.evaluate import box_maps

        return box_maps(self.model, image, boxes)

    def mirrored_maps(self, image: np.ndarray, boxes: list) -> list:
        from training.evaluate import mirrored_box_maps

        return mirrored_box_maps(self.model, image, boxes)


def _image_array(image) -> np.ndarray:
    from PIL import Image as PILImage

    with image.file.open("rb") as f:
        return np.asarray(PILImage.open(f).convert("RGB"))


def check_request(
    project: Project,
    stage: int,
    source: str,
    checkpoint: str,
    noise_mm: int,
    min_score: float,
    uncertainty: str,
    inside_data: bool = True,
) -> None:
    """What makes a pre-annotation fail before it starts, as a PreannotateError saying what (cheap: the job's
    start runs it, so a job that would fail at once is refused instead; the checkpoint's contents are read by
    the run)."""
    from annotator_web.core.body_assets import built_asset_folder

    if stage not in (Task.Stage.MASKS, Task.Stage.POINTS):
        raise PreannotateError(f"stage is 1 (part masks) or 2 (surface points), got {stage!r}")
    if uncertainty not in (ENTROPY, MIRROR):
        raise PreannotateError(f"uncertainty is {ENTROPY!r} or {MIRROR!r}, got {uncertainty!r}")
    if not 0 <= min_score <= 1:
        raise PreannotateError(f"min score is a probability 0..1, got {min_score}")
    if built_asset_folder(project.body_model) is None:
        raise PreannotateError(
            f"the {project.body_model} body assets are not built yet (the 'Build body-model assets' job builds them)"
        )
    if source == MODEL:
        if not checkpoint:
            raise PreannotateError(
                f"checkpoint: proposals from a {MODEL} need its checkpoint (a training run's "
                f"folder or a .pth file); or choose {KNOWN} on a synthetic project"
            )
        if not _checkpoint_path(checkpoint, inside_data).exists():
            raise PreannotateError(f"checkpoint: {checkpoint}: no such checkpoint")
    elif source == KNOWN:
        if not project.synthetic:
            raise PreannotateError(f"project {project.name} is not synthetic: a model of known quality needs the truth")
        if noise_mm < 0:
            raise PreannotateError(f"noise is a size in millimetres, 0 or more, got {noise_mm}")
    else:
        raise PreannotateError(f"source is {MODEL!r} or {KNOWN!r}, got {source!r}")


def preannotate_project(project: Project, stage: int, source: str = MODEL, checkpoint: str = "",
                        noise_mm: int = 50, min_score: float = 0.0, uncertain_first: bool = False,
                        progress=None, inside_data: bool = True, uncertainty: str = ENTROPY) -> dict:  # fmt: skip
    """Propose work for the project's pending tasks of ``stage``; returns counts and what was used.

    A task's uncertainty (which ``uncertain_first`` orders the queue by), with ``uncertainty``: ``entropy``, the
    mean entropy of the model's chart distribution at the sampled points (stage 2) or of its part distribution
    over the person (stage 1); ``mirror``, how much the model disagrees with itself on the mirror image: the
    mean distance between the surface points it gives a point and its mirror image (metres, stage 2), or the
    share of the person's pixels whose part differs (stage 1); twice the inference."""
    from annotator_web.core.body_assets import click_mapper
    from annotator_web.work.services import audit

    report = progress or (lambda p, m: None)
    check_request(project, stage, source, checkpoint, noise_mm, min_score, uncertainty, inside_data)
    mapper = click_mapper(project.body_model)
    if mapper is None:
        raise PreannotateError(f"the {project.body_model} body assets are not built yet")
    if source == MODEL:
        model = ModelSource(project, checkpoint, mapper, inside_data)
        name = model.name
    else:
        model, name = None, f"truth + {noise_mm} mm noise (a model of known quality)"

    tasks = list(
        Task.objects.filter(project=project, stage=stage, state=Task.State.PENDING, draft__isnull=True)
        .select_related("person__image")
        .order_by("person__image_id", "id")
    )
    by_image = defaultdict(list)
    for task in tasks:
        by_image[task.person.image_id].append(task)
    proposer = P.Proposer(mapper) if stage == Task.Stage.POINTS else None
    truths = None
    if model is None:
        from annotator_web.data.truth import TruthCache

        truths = TruthCache()
    made_at = timezone.now().isoformat()
    written = proposed = without = 0
    confidences, uncertainties, unreadable = [], {}, []
    for n, group in enumerate(by_image.values()):
        report(5 + 90 * n / max(len(by_image), 1), f"image {n + 1} of {len(by_image)}")
        if model is not None:
            try:
                pixels = _image_array(group[0].person.image)
            except (OSError, ValueError) as exc:  # a missing or broken file: its people get no proposal
                unreadable.append(f"image {group[0].person.image_id}: {exc}")
                continue
            maps = model.maps(pixels, [t.person.bbox for t in group])
            if uncertainty == MIRROR:
                mirrored = model.mirrored_maps(pixels, [t.person.bbox for t in group])
        for k, task in enumerate(group):
            person = task.person
            rng = np.random.default_rng(person_seed(person.image.sha256, person.bbox))  # the same each run
            record = {"format": P.PROPOSAL_FORMAT, "source": name, "made_at": made_at}
            if model is None:  # the truth, moved by noise
                found = truths.person(person)
                if found is None:
                    without += 1
                    continue
                truth, index = found
            if stage == Task.Stage.MASKS:
                if model is not None:
                    dp_masks, confidence, doubt = P.masks_from_maps(maps[k], min_score)
                    if uncertainty == MIRROR:
                        doubt = P.mask_mirror_disagreement(maps[k], mirrored[k])
                else:
                    dp_masks = P.masks_from_truth(truth.person(index)["dp_masks"], noise_mm / 10, rng)
                    confidence, doubt = {}, 0.0
                record.update(dp_masks=dp_masks, confidence={str(p): c for p, c in confidence.items()})
                confidences += list(confidence.values())
                proposed += sum(1 for m in dp_masks if m)
            else:
                points = list(person.sampled_points.filter(current=True))
                part = [p.part for p in points]
                if model is not None:
                    xs, ys = [p.box_x for p in points], [p.box_y for p in points]
                    clicks, doubt = proposer.from_maps(maps[k], part, xs, ys, min_score)
                    if uncertainty == MIRROR and points:
                        doubt = float(proposer.mirror_disagreement(maps[k], mirrored[k], part, xs, ys).mean())
                else:
                    true = truth.under(index, person.bbox, [p.box_x for p in points], [p.box_y for p in points])
                    clicks = proposer.from_truth(part, true.shown, true.surface, noise_mm / 1000, rng)
                    doubt = 0.0
                given = {str(p.pk): c for p, c in zip(points, clicks, strict=True) if c is not None}
                record["points"] = given
                proposed += len(given)
                confidences += [c["confidence"] for c in given.values() if c["confidence"] is not None]
            record["uncertainty"] = round(doubt, 4)
            record["uncertainty_measure"] = uncertainty if model is not None else None
            uncertainties[task.pk] = doubt
            # only if it is still untouched: an annotator may have taken it meanwhile
            changes = {"proposal": record, "updated_at": timezone.now()}
            if uncertain_first:
                changes["priority"] = round(record["uncertainty"] * UNCERTAINTY_PRIORITY)
            written += Task.objects.filter(pk=task.pk, state=Task.State.PENDING, draft__isnull=True).update(**changes)
        if truths is not None:
            truths.forget_images()
    result = {
        "project": project.name,
        "stage": stage,
        "source": name,
        "tasks": written,
        "without_truth": without,
        "unreadable_images": unreadable[:10],
        "proposed": proposed,
        "mean_confidence": round(float(np.mean(confidences)), 4) if confidences else None,
        "uncertain_first": bool(uncertain_first),
        "uncertainty": uncertainty,
        "mean_uncertainty": round(float(np.mean(list(uncertainties.values()))), 4) if uncertainties else None,
    }
    what = "part masks" if stage == Task.Stage.MASKS else "surface points"
    result["message"] = f"{written} tasks pre-annotated ({proposed} {what} proposed) by {name}"
    if unreadable:
        result["message"] += f"; {len(unreadable)} images could not be read (first: {unreadable[0]})"
    audit(None, "preannotate", project=project, **{k: v for k, v in result.items() if k not in ("message", "project")})
    report(100, result["message"])
    return result


def _job_request(params: dict) -> dict:
    """A job's parameters as :func:`preannotate_project` takes them (its keyword arguments)."""
    project = Project.objects.filter(name=params.get("project")).first()
    if project is None:
        raise PreannotateError(f"no project named {params.get('project')!r}")
    return {
        "project": project,
        "stage": int(params.get("stage") or 1),
        "source": str(params.get("source") or MODEL),
        "checkpoint": str(params.get("checkpoint") or ""),
        "noise_mm": int(params.get("noise_mm") or 0),
        "min_score": int(params.get("min_score_percent") or 0) / 100,
        "uncertain_first": bool(params.get("uncertain_first")),
        "uncertainty": str(params.get("uncertainty") or ENTROPY),
    }


def check_job(params: dict) -> None:
    """At the job's start: what would make it fail at once refuses it (ValueError)."""
    request = _job_request(params)
    del request["uncertain_first"]  # how the queue is ordered afterwards: nothing to check
    check_request(**request)


@job_kind(
    KIND,
    title="Pre-annotate with a model",
    queue="train",
    roles=("admin",),
    check=check_job,
    params=(
        JobParam("project", "project", "choice", "", choices=project_names),
        JobParam("stage", "stage", "choice", "1", choices=("1", "2")),
        JobParam("source", "proposals from", "choice", MODEL, choices=(MODEL, KNOWN)),
        JobParam("checkpoint", "checkpoint (a run in the data folder)", required=False),
        JobParam("noise_mm", "noise mm (truth+noise)", "number", 50),
        JobParam("min_score_percent", "min. score %", "number", 0),
        JobParam("uncertain_first", "uncertain first", "boolean", False),
        JobParam("uncertainty", "uncertainty", "choice", ENTROPY, choices=(ENTROPY, MIRROR)),
    ),
)
def preannotate_job(job: Job, ctx: JobContext) -> dict:
    try:
        return preannotate_project(**_job_request(job.params), progress=ctx.progress)
    except PreannotateError as exc:
        raise JobError(str(exc)) from None
