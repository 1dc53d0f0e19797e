"""python -m training {train, teacher, predict, evaluate, summary}: learn DensePose-RCNN (and its teacher) from an
exported DensePose-COCO file, predict into the results format, evaluate with GPS, and summarise a run.

Multi-GPU (or multi-process on the CPU): ``torchrun --nproc_per_node N -m training train ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.evaluation.gps import DEFAULT_KAPPA, KAPPAS
from pipeline.parts import POINT_SCALE


def _count(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is less than {minimum}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    from .config import CONFIGS, TEACHER_POINTS

    p = argparse.ArgumentParser(prog="python -m training", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train DensePose-RCNN")
    t.add_argument("--config", required=True, choices=sorted(CONFIGS))
    t.add_argument("--data", required=True, type=Path, help="exported DensePose-COCO JSON")
    t.add_argument("--images", required=True, type=Path, help="the folder of its images")
    t.add_argument("--out", required=True, type=Path, help="the run folder (checkpoints, logs)")
    t.add_argument("--chart-assets", type=Path, help="chart-asset folder (manage.py export_chart_assets): "
                   "the flip's mirror map and the evaluation mesh")  # fmt: skip
    t.add_argument("--resume", action="store_true", help="continue from the run folder's newest checkpoint")
    t.add_argument("--iterations", type=_count(1), help="default: the config's")
    t.add_argument("--batch-size", type=_count(1), help="images per process and iteration")
    t.add_argument("--lr", type=float)
    t.add_argument("--workers", type=_count(0), help="data-loading processes")
    t.add_argument("--weights", help="initial weights by path: a run's checkpoint or a ResNet-50 state dict")
    t.add_argument("--teacher", type=Path, help="a teacher folder (python -m training teacher): add its dense targets")
    t.add_argument("--teacher-points", type=_count(1), default=TEACHER_POINTS, help="dense teacher targets per person")
    t.add_argument("--eval-period", type=_count(1), help="evaluate (GPS) every N iterations and at the end")
    t.add_argument("--eval-data", type=Path, help="evaluate on this file (default: --data), at the end at least")
    t.add_argument("--eval-images", type=Path, help="the folder of --eval-data's images (default: --images)")
    t.add_argument("--no-eval", action="store_true", help="skip the evaluation at the end of the run")
    t.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed precision (float16 on a GPU, bfloat16 on the CPU); default: the config's")  # fmt: skip
    t.add_argument("--compile", action="store_true", help="torch.compile the model (optional; needs a C compiler)")
    t.add_argument("--no-progress", action="store_true")

    te = sub.add_parser("teacher", help="train the teacher inpainting network")
    te.add_argument("--data", required=True, type=Path)
    te.add_argument("--images", required=True, type=Path)
    te.add_argument("--out", required=True, type=Path)
    te.add_argument("--iterations", type=_count(1))
    te.add_argument("--no-progress", action="store_true")

    pr = sub.add_parser("predict", help="detections in DensePose's results format (uv_data)")
    pr.add_argument("--checkpoint", required=True, type=Path, help="a checkpoint file or a run folder")
    pr.add_argument("--data", required=True, type=Path, help="a COCO file listing the images (their ids)")
    pr.add_argument("--images", required=True, type=Path)
    pr.add_argument("--out", required=True, type=Path, help="results JSON to write")

    ev = sub.add_parser("evaluate", help="GPS / GPSm AP and the pointwise curve")
    ev.add_argument("--checkpoint", type=Path, help="a checkpoint file or a run folder")
    ev.add_argument("--results", type=Path, help="evaluate these results instead of running a model")
    ev.add_argument("--data", required=True, type=Path, help="DensePose-COCO ground truth")
    ev.add_argument("--images", type=Path)
    ev.add_argument("--chart-assets", required=True, type=Path)
    ev.add_argument("--kappa", choices=KAPPAS, default=DEFAULT_KAPPA,
                    help="per-part: the reference's (published numbers); paper: 0.255 m")  # fmt: skip
    ev.add_argument("--point-scale", type=int, choices=(255, 256), default=POINT_SCALE,
                    help="x = x0 + dp_x * w / S: 255 DensePose-COCO's, 256 detectron2's training")  # fmt: skip
    ev.add_argument("--json", dest="json_out", type=Path, help="write the numbers here")

    su = sub.add_parser("summary", help="summary.html in a run folder: losses, evaluation, predictions")
    su.add_argument("--run", required=True, type=Path, help="the run folder")
    su.add_argument("--data", required=True, type=Path, help="the images to show (a DensePose-COCO file)")
    su.add_argument("--images", required=True, type=Path)
    su.add_argument("--count", type=_count(1), default=4, help="images in the grid")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        commands = {"train": _train, "teacher": _teacher, "predict": _predict, "evaluate": _evaluate,
                    "summary": _summary}  # fmt: skip
        return commands[args.command](args)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        from .train import TrainingError

        if isinstance(exc, TrainingError):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


def _check_inputs(args) -> None:
    for name in ("data", "images", "chart_assets", "teacher", "eval_data", "eval_images"):
        path = getattr(args, name, None)
        if path is not None and not Path(path).exists():
            raise FileNotFoundError(f"--{name.replace('_', '-')} {path}: no such file or folder")


def _train(args) -> int:
    from . import config as configs
    from .teacher import Teacher, dense_targets
    from .train import train

    _check_inputs(args)
    if args.weights and not Path(args.weights).exists():
        raise FileNotFoundError(f"--weights {args.weights}: no such file")
    config = configs.get(args.config, iterations=args.iterations, batch_size=args.batch_size, lr=args.lr,
                         workers=args.workers, pretrained=args.weights, amp=args.amp, compile=args.compile or None,
                         teacher_points_per_person=args.teacher_points if args.teacher else None)  # fmt: skip
    extra = None
    if args.teacher:
        extra = dense_targets(Teacher.load(args.teacher / "teacher.pth"), args.data, args.images,
                              config.teacher_points_per_person, config.teacher_weight)  # fmt: skip
    last = train(config, args.data, args.images, args.out, chart_assets=args.chart_assets, resume=args.resume,
                 progress=not args.no_progress, extra_points=extra, evaluate_every=args.eval_period,
                 eval_data=args.eval_data, evaluate_at_end=not args.no_eval,
                 eval_images=args.eval_images)  # fmt: skip
    if last:
        print(json.dumps(last))
    if args.chart_assets is not None and not args.no_eval:  # a page to look at: losses, evaluation, predictions
        from .summary import write_summary

        shown = (args.eval_data, args.eval_images or args.images) if args.eval_data else (args.data, args.images)
        print(f"summary: {write_summary(args.out, *shown)}")
    return 0


def _teacher(args) -> int:
    from dataclasses import replace

    from .teacher import TeacherConfig, train_teacher

    _check_inputs(args)
    config = TeacherConfig()
    if args.iterations:
        config = replace(config, iterations=args.iterations)
    _, log = train_teacher(args.data, args.images, args.out, config, progress=not args.no_progress)
    print(json.dumps(log[-1] if log else {}))
    return 0


def _predict(args) -> int:
    from .evaluate import iter_images, load_run, predict_images, read_json

    _check_inputs(args)
    model = load_run(args.checkpoint)
    results = predict_images(model, iter_images(read_json(args.data), args.images))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results))
    print(f"{len(results)} detections -> {args.out}")
    return 0


def _evaluate(args) -> int:
    from .evaluate import Evaluator, load_run, read_json

    _check_inputs(args)
    if (args.checkpoint is None) == (args.results is None):
        raise ValueError("give --checkpoint (to run a model) or --results (a results file), one of them")
    if args.checkpoint is not None and args.images is None:
        raise ValueError("--checkpoint needs --images")
    evaluator = Evaluator(args.chart_assets, args.data, args.images or Path("."), kappa=args.kappa,
                          point_scale=args.point_scale)  # fmt: skip
    if args.results is not None:
        results = read_json(args.results)
        if not isinstance(results, list):
            raise ValueError(f"{args.results}: results are a JSON list of records (image_id, bbox, score, uv_data)")
        numbers = evaluator(None, results)
    else:
        numbers = evaluator(load_run(args.checkpoint))
    for name in ("gps", "gpsm"):
        print(f"{name.upper():5} " + "  ".join(f"{k} {v:.3f}" for k, v in numbers[name].items()))
    pw = numbers["pointwise"]
    print(f"pointwise: AUC10 {pw['auc10']:.3f}  AUC30 {pw['auc30']:.3f}  ({pw['points']} points)")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(
            json.dumps({**numbers, "kappa": args.kappa, "point_scale": args.point_scale}, indent=1)
        )
    return 0


def _summary(args) -> int:
    from .summary import write_summary

    _check_inputs(args)
    if not (args.run / "config.json").exists():
        raise FileNotFoundError(f"--run {args.run}: not a run folder (no config.json)")
    print(write_summary(args.run, args.data, args.images, args.count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
