"""Evaluate DensePose results against DensePose-COCO ground truth: GPS and GPSm AP as DensePose's reference
evaluator computes them, and the pointwise curve."""

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from pipeline import parts
from pipeline.evaluation.gps import DEFAULT_KAPPA, KAPPAS


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--gt", required=True, type=Path, help="DensePose-COCO ground truth JSON")
        parser.add_argument("--dt", required=True, type=Path, help="results: a JSON list of uv_data records")
        parser.add_argument("--kappa", choices=KAPPAS, default=DEFAULT_KAPPA,
                            help="per-part: the reference's (published numbers); paper: 0.255 m")  # fmt: skip
        parser.add_argument("--point-scale", type=int, choices=(255, 256), default=parts.POINT_SCALE,
                            help="x = x0 + dp_x * w / S; 255 is DensePose-COCO's definition and the reference's "
                                 "(default), 256 how detectron2's training code reads points")  # fmt: skip
        parser.add_argument("--chart-assets", type=Path,
                            help="a folder of evaluation files in the reference's format (<name>_subdiv.mat, "
                                 "<name>_SUBDIV_TRANSFORM.mat, Pdist_matrix.pkl): this project's export, or "
                                 "DensePose's own SMPL files; default: the built assets of the body model")  # fmt: skip
        parser.add_argument("--plot", type=Path, help="write the pointwise curve to this PNG")
        parser.add_argument("--json", dest="json_out", type=Path, help="write the numbers to this JSON file")

    def handle(self, *args, gt, dt, kappa, point_scale, chart_assets, plot, json_out, **options):
        from pipeline.coco.densepose import validate_dataset
        from pipeline.evaluation.gps import check_results, evaluate
        from pipeline.evaluation.plot import plot_curves

        gt, dt = Path(gt), Path(dt)  # call_command passes its keyword arguments as given
        plot, json_out = plot and Path(plot), json_out and Path(json_out)
        truth, results = _read(gt), _read(dt)
        warnings: list = []
        problems = validate_dataset(truth, warnings)
        if problems:
            raise CommandError(f"{gt} is not valid DensePose-COCO: {problems[0]} ({len(problems)} problems)")
        if warnings:
            self.stderr.write(f"{gt}: {len(warnings)} warnings, evaluated as they are (first: {warnings[0]})")
        reasons = check_results(results)
        if reasons:
            raise CommandError(f"{dt}: {reasons[0]}" + (f" ({len(reasons)} problems)" if len(reasons) > 1 else ""))
        mesh, chart_set = self._mesh(truth, gt, chart_assets)
        try:
            numbers = evaluate(truth, results, mesh, kappa=kappa, point_scale=point_scale)
        except ValueError as exc:
            raise CommandError(f"{dt}: {exc}") from None
        for warning in numbers.get("warnings", []):
            self.stderr.write(f"{dt}: warning: {warning}")
        for name in ("gps", "gpsm"):
            row = numbers[name]
            self.stdout.write(f"{name.upper():5} " + "  ".join(f"{k} {v:.3f}" for k, v in row.items()))
        pw = numbers["pointwise"]
        self.stdout.write(f"pointwise: AUC10 {pw['auc10']:.3f}  AUC30 {pw['auc30']:.3f}  ({pw['points']} points)")
        if json_out:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            settings_used = {"kappa": kappa, "point_scale": point_scale, "chart_set": chart_set}
            json_out.write_text(json.dumps({**numbers, **settings_used}, indent=1))
        if plot:
            plot_curves({dt.stem: pw}, plot)

    def _mesh(self, truth: dict, gt: Path, chart_assets: Path | None):
        from annotator_web.core.body_assets import built_asset_folder
        from pipeline.assets import load_assets
        from pipeline.evaluation.mesh import EvalMesh

        if chart_assets is not None:
            try:
                return EvalMesh.from_folder(Path(chart_assets)), str(chart_assets)
            except (OSError, KeyError, ValueError) as exc:
                raise CommandError(f"cannot read the evaluation files: {exc}") from None
        info = truth.get("info") or {}
        body = info.get("body_model") or settings.BODY_MODEL
        folder = built_asset_folder(body)
        if folder is None:
            raise CommandError(f"the {body} body assets are not built; run `manage.py build_assets --body {body}`")
        if info.get("chart_set") and info["chart_set"] != folder.name:
            raise CommandError(f"{gt} was made with chart set {info['chart_set']}, but the built one is "
                               f"{folder.name}: distances would be measured on other charts")  # fmt: skip
        self.stderr.write(f"evaluation mesh of {folder.name} (the first time builds its distance table)")
        return EvalMesh.from_assets(load_assets(folder)), folder.name


def _read(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None
