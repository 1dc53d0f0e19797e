"""Evaluate DensePose results against DensePose-COCO ground truth: GPS and GPSm AP, and the pointwise curve."""

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--gt", required=True, type=Path, help="DensePose-COCO ground truth JSON")
        parser.add_argument("--dt", required=True, type=Path, help="results: a JSON list of uv_data records")
        parser.add_argument("--kappa", choices=("paper", "per-part"), default="paper")
        parser.add_argument("--plot", type=Path, help="write the pointwise curve to this PNG")
        parser.add_argument("--json", dest="json_out", type=Path, help="write the numbers to this JSON file")

    def handle(self, *args, gt, dt, kappa, plot, json_out, **options):
        from annotator_web.core.body_assets import built_asset_folder
        from pipeline.assets import load_assets
        from pipeline.coco.densepose import validate_dataset
        from pipeline.evaluation.gps import evaluate
        from pipeline.evaluation.mesh import EvalMesh
        from pipeline.evaluation.plot import plot_curves

        gt, dt = Path(gt), Path(dt)  # call_command passes its keyword arguments as given
        plot, json_out = plot and Path(plot), json_out and Path(json_out)
        truth, results = _read(gt), _read(dt)
        if not isinstance(results, list):
            raise CommandError(f"{dt}: results are a JSON list of records (image_id, bbox, score, uv_data)")
        problems = validate_dataset(truth)
        if problems:
            raise CommandError(f"{gt} is not valid DensePose-COCO: {problems[0]} ({len(problems)} problems)")
        missing = [k for k in ("image_id", "bbox", "score", "uv_data") if results and k not in results[0]]
        if missing:
            raise CommandError(f"{dt}: the first record has no {', '.join(missing)}")
        info = truth.get("info") or {}
        body = info.get("body_model") or settings.BODY_MODEL
        folder = built_asset_folder(body)
        if folder is None:
            raise CommandError(f"the {body} body assets are not built; run `manage.py build_assets --body {body}`")
        if info.get("chart_set") and info["chart_set"] != folder.name:
            raise CommandError(f"{gt} was made with chart set {info['chart_set']}, but the built one is "
                               f"{folder.name}: distances would be measured on other charts")  # fmt: skip
        self.stderr.write(f"evaluation mesh of {folder.name} (the first time builds its distance table)")
        mesh = EvalMesh.from_assets(load_assets(folder))
        numbers = evaluate(truth, results, mesh, kappa=kappa)
        for name in ("gps", "gpsm"):
            row = numbers[name]
            self.stdout.write(f"{name.upper():5} " + "  ".join(f"{k} {v:.3f}" for k, v in row.items()))
        pw = numbers["pointwise"]
        self.stdout.write(f"pointwise: AUC10 {pw['auc10']:.3f}  AUC30 {pw['auc30']:.3f}  ({pw['points']} points)")
        if json_out:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps({**numbers, "kappa": kappa, "chart_set": folder.name}, indent=1))
        if plot:
            plot_curves({dt.stem: pw}, plot)


def _read(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None
