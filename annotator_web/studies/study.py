"""The synthetic-render accuracy study as a service and a job: annotated vs true surface points of a
synthetic project, per part and per annotator, the error map on the body and the pointwise curve."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from django.conf import settings

from annotator_web.core.jobs import JobContext, JobError, JobParam, job_kind
from annotator_web.core.models import Job
from annotator_web.data.models import Project, project_names
from annotator_web.data.truth import TruthCache
from annotator_web.work.models import Correspondence, Origin

KIND = "accuracy_study"


class StudyError(Exception):
    pass


def _true_points(project: Project):
    """(correspondence, true face, true barycentric) for every clicked point whose pixel shows its person
    (:meth:`pipeline.synthetic.truth.SyntheticTruth.under`: the pixel of someone else, or of nothing, has no
    true point to compare with)."""
    truths = TruthCache()
    rows = (
        Correspondence.objects.filter(
            point__person__image__project=project, status="ok", face__isnull=False, current=True, point__current=True
        )
        .select_related("point__person", "submission__annotator")
        .order_by("point__person_id", "point__part", "point__order")
    )
    for c in rows.iterator(chunk_size=2000):
        person = c.point.person
        found = truths.person(person)
        if found is None:
            continue
        truth, index = found
        true = truth.under(index, person.bbox, c.point.box_x, c.point.box_y)
        if true.shown[0]:
            yield c, int(true.face[0]), true.bary[0]


def run_study(project: Project, out: Path, progress=None) -> dict:
    from annotator_web.core.body_assets import body_model, click_mapper
    from pipeline.evaluation.mesh import EvalMesh
    from pipeline.evaluation.plot import plot_curves
    from pipeline.evaluation.study import error_map, render_error_map, summarise, surface_distance

    report = progress or (lambda p, m: None)
    if not project.synthetic:
        raise StudyError(f"project {project.name} is not synthetic: the study needs renders with known truth")
    mapper = click_mapper(project.body_model)
    if mapper is None:
        raise StudyError(f"the {project.body_model} body assets are not built yet")
    report(5, "loading the evaluation mesh (its distance table is built once, about a minute)")
    assets = mapper.assets
    mesh = EvalMesh.from_assets(assets)
    report(30, "collecting the annotated points and their true surface points")
    found = list(_true_points(project))
    if not found:
        raise StudyError(f"project {project.name} has no clicked points on its people yet")
    corr = [f[0] for f in found]
    true_face = np.array([f[1] for f in found])
    true_bary = np.stack([f[2] for f in found])
    errors = surface_distance(mesh, assets.vertices, assets.faces, true_face, true_bary,
                              [c.face for c in corr], [c.bary for c in corr])  # fmt: skip
    part = np.array([c.point.part for c in corr])
    who = [c.submission.annotator.username if c.submission and c.submission.annotator else "imported" for c in corr]
    report(55, "spreading the errors over the body")
    person = np.array([c.point.person_id for c in corr])
    vertex = assets.faces[true_face, np.argmax(true_bary, axis=1)]
    people = [(vertex[person == p], errors[person == p]) for p in np.unique(person)]
    per_vertex = error_map(mesh, people)
    summary = summarise(errors, part, who, [c.origin for c in corr])
    report(80, "drawing the pictures")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    render_error_map(body_model(project.body_model).template(), per_vertex, out / "error_map.png")
    curves = {"all annotators": summary["pointwise"]}
    for name in summary["annotators"]:
        mine = np.array([w == name for w in who])
        from pipeline.evaluation.gps import pointwise

        curves[name] = pointwise(errors[mine])
    plot_curves(curves, out / "pointwise.png", title=f"Annotators' pointwise accuracy, {project.name}")
    result = {
        "project": project.name,
        "points": len(errors),
        "people": len(people),
        **summary,
        "paper_humans": {
            "auc10": 0.563,
            "auc30": 0.835,
            "note": "DensePose paper: ~2 cm on face, hands and feet, ~7 cm on the torso",
        },
    }
    (out / "study.json").write_text(json.dumps(result, indent=1))
    (out / "table.md").write_text(table_markdown(summary))
    np.save(out / "vertex_error.npy", per_vertex.astype(np.float32))
    report(100, "done")
    return result


def table_markdown(summary: dict) -> str:
    lines = ["| part | points | mean cm | median cm | p90 cm |", "|---|---:|---:|---:|---:|"]
    for name, s in summary["parts"].items():
        lines.append(f"| {name} | {s['points']} | {s['mean_cm']} | {s['median_cm']} | {s['p90_cm']} |")
    o = summary["overall"]
    lines.append(f"| **all** | {o['points']} | {o['mean_cm']} | {o['median_cm']} | {o['p90_cm']} |")
    lines += [
        "",
        "| annotator | points | mean cm | median cm | p90 cm | AUC10 | AUC30 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in summary["annotators"].items():
        lines.append(f"| {name} | {s['points']} | {s['mean_cm']} | {s['median_cm']} | {s['p90_cm']} | "
                     f"{s['auc10']} | {s['auc30']} |")  # fmt: skip
    origins = summary.get("origins") or {}
    if set(origins) - {"click"}:  # a model proposed some of the points
        lines += ["", "| origin | points | mean cm | median cm | p90 cm |", "|---|---:|---:|---:|---:|"]
        names = dict(Origin.choices)
        for name, s in origins.items():
            lines.append(f"| {names.get(name, name)} | {s['points']} | {s['mean_cm']} | {s['median_cm']} | "
                         f"{s['p90_cm']} |")  # fmt: skip
    pw = summary["pointwise"]
    lines += ["", f"Pointwise, all annotators: AUC10 {pw['auc10']:.3f}, AUC30 {pw['auc30']:.3f} "
              "(the paper's human annotators: 0.563, 0.835)."]  # fmt: skip
    return "\n".join(lines) + "\n"


def latest_study(project: Project) -> Job | None:
    """The project's latest finished study job (for the dashboard)."""
    return (
        Job.objects.filter(kind=KIND, state=Job.State.SUCCEEDED, params__project=project.name)
        .order_by("-finished_at", "-id")
        .first()
    )


@job_kind(
    KIND,
    title="Accuracy study (synthetic projects)",
    queue="default",
    roles=("admin",),
    params=(JobParam("project", "project", "choice", "", choices=project_names),),
)
def study_job(job: Job, ctx: JobContext) -> dict:
    project = Project.objects.filter(name=job.params.get("project")).first()
    if project is None:
        raise JobError(f"no project named {job.params.get('project')!r}")
    try:
        result = run_study(project, ctx.output_dir, ctx.progress)
    except StudyError as exc:
        raise JobError(str(exc)) from None
    result["result_path"] = (ctx.output_dir / "error_map.png").relative_to(settings.MEDIA_ROOT).as_posix()
    o = result["overall"]
    result["message"] = (f"{o['points']} points: mean {o['mean_cm']} cm, median {o['median_cm']} cm; "
                         f"AUC10 {result['pointwise']['auc10']:.3f}")  # fmt: skip
    return result
