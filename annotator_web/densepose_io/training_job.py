"""Training as a job on the ``train`` queue (GPU workers in production; the embedded worker on the CPU): the
project's accepted people exported to DensePose-COCO, optionally the teacher's dense targets, then
DensePose-RCNN with the ``training`` module. The job reports iteration and loss as progress, keeps the loss
curve as a picture (``loss.png``, redrawn as it goes) and the evaluation results on the training images at
each checkpoint. A job taken over after a worker died resumes from its newest checkpoint."""

from __future__ import annotations

import json

from django.conf import settings

from annotator_web.core.jobs import JobContext, JobError, JobParam, job_kind
from annotator_web.core.models import Job
from annotator_web.data.models import Project, images_folder, project_names
from training.config import CONFIGS
from training.runs import FINAL

KIND = "train"
CHAIN = ("no", "stage 1", "stage 2", "stages 1 and 2")  # what the job pre-annotates once trained


@job_kind(
    KIND,
    title="Train DensePose-RCNN",
    queue="train",
    roles=("admin",),
    params=(
        JobParam("project", "project", "choice", "", choices=project_names),
        JobParam("config", "config", "choice", "tiny", choices=tuple(CONFIGS)),
        JobParam("iterations", "iterations (0: the config's)", "number", 0),
        JobParam("teacher", "teacher targets", "boolean", False),
        JobParam("then_preannotate", "then pre-annotate", "choice", "no", choices=CHAIN),
    ),
)
def train_job(job: Job, ctx: JobContext) -> dict:
    from annotator_web.core.body_assets import chart_assets_folder
    from annotator_web.densepose_io.export import ExportError, export_project
    from training import config as configs
    from training.plot import plot_losses
    from training.train import TrainingError, read_metrics, train

    project = Project.objects.filter(name=job.params.get("project")).first()
    if project is None:
        raise JobError(f"no project named {job.params.get('project')!r}")
    name = str(job.params.get("config") or "tiny")
    if name not in configs.CONFIGS:
        raise JobError(f"unknown config {name!r}: choose one of {', '.join(configs.CONFIGS)}")
    try:
        iterations = int(job.params.get("iterations") or 0)
    except (TypeError, ValueError):
        raise JobError(f"iterations: {job.params.get('iterations')!r} is not a whole number") from None
    if iterations < 0:
        raise JobError("iterations: must be 0 (the config's) or more")
    ctx.progress(1, "chart assets (the flip's mirror map, the evaluation mesh)")
    chart_assets = chart_assets_folder(project.body_model)
    if chart_assets is None:
        raise JobError(f"the {project.body_model} body assets are not built yet")
    out = ctx.output_dir
    data = out / "train.json"
    if not data.exists():  # a resumed job trains on the data it started with
        try:
            counts = export_project(project, data, True, lambda p, m: ctx.progress(2 + 0.03 * p, f"export: {m}"))
        except ExportError as exc:
            raise JobError(str(exc)) from None
        if not counts["people"]:
            data.unlink()
            raise JobError(f"project {project.name} has no accepted person with DensePose points to train on")
    images = settings.MEDIA_ROOT / images_folder(project.id)
    overrides = {"iterations": iterations or None, "workers": 0}  # a Celery pool process may not fork loaders
    extra = None
    if int(job.params.get("teacher") or 0):
        from training.teacher import Teacher, dense_targets, train_teacher

        overrides["teacher_points_per_person"] = configs.TEACHER_POINTS
        saved = out / "teacher" / "teacher.pth"
        if saved.exists():  # a resumed job keeps its teacher
            teacher = Teacher.load(saved)
        else:
            ctx.progress(5, "training the teacher")
            teacher, _ = train_teacher(data, images, out / "teacher", progress=False)
        extra = dense_targets(teacher, data, images, configs.TEACHER_POINTS, configs.get(name).teacher_weight)
    config = configs.get(name, **overrides)
    run = out / "run"
    picture = out / "loss.png"
    state = {"eval": None}

    def on_log(record: dict) -> None:
        if "eval" in record:
            state["eval"] = record["eval"]
        if "loss" in record:
            total = json.loads((run / "config.json").read_text())["iterations"]
            plot_losses(read_metrics(run), picture, title=f"Training loss: {project.name}, {name}")
            ap = f"; GPS AP {state['eval']['gps']['AP']:.3f}" if state["eval"] else ""
            ctx.progress(10 + 89 * record["iteration"] / total,
                         f"iteration {record['iteration']}/{total}: loss {record['loss']:.3f}{ap}")  # fmt: skip

    try:
        train(config, data, images, run, chart_assets=chart_assets, resume=True, progress=False,
              extra_points=extra, on_log=on_log, evaluate_every=config.checkpoint_period)  # fmt: skip
    except TrainingError as exc:
        raise JobError(str(exc)) from None
    records = read_metrics(run)
    plot_losses(records, picture, title=f"Training loss: {project.name}, {name}")
    losses = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval" in r]
    result = {
        "project": project.name,
        "config": name,
        "iterations": losses[-1]["iteration"] if losses else 0,
        "first_loss": losses[0]["loss"] if losses else None,
        "final_loss": losses[-1]["loss"] if losses else None,
        "s_per_iter": losses[-1]["s_per_iter"] if losses else None,
        "evaluation": evals[-1]["eval"] if evals else None,
        "checkpoint": (run / FINAL).relative_to(settings.MEDIA_ROOT).as_posix(),
        "result_path": picture.relative_to(settings.MEDIA_ROOT).as_posix(),
    }
    ap = f", GPS AP {evals[-1]['eval']['gps']['AP']:.3f} on the training images" if evals else ""
    loss = f", loss {result['first_loss']:.3f} → {result['final_loss']:.3f}" if losses else ""
    result["message"] = f"{result['iterations']} iterations{loss}{ap}"
    chain = job.params.get("then_preannotate") or "no"
    if chain != "no":  # the loop closed: the new model proposes the next round's work
        from annotator_web.densepose_io.preannotate import MODEL, PreannotateError, preannotate_project

        result["preannotated"] = {}
        for stage in (1, 2):
            if str(stage) not in chain:
                continue
            say = lambda p, m, s=stage: ctx.progress(99, f"pre-annotating stage {s}: {m}")  # noqa: E731
            try:
                done = preannotate_project(project, stage, MODEL, str(run / FINAL), progress=say)
            except PreannotateError as exc:
                raise JobError(f"trained, but pre-annotation failed: {exc}") from None
            result["preannotated"][str(stage)] = done["tasks"]
        counts = ", ".join(f"{n} stage-{s} tasks" for s, n in result["preannotated"].items())
        result["message"] += f"; pre-annotated {counts}"
    return result
