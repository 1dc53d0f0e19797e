"""The training module on the CPU: the tiny DensePose-RCNN learns a small synthetic set (its loss falls and its
GPS AP on the training images rises well above an untrained model's), predict and evaluate from the command
line, a resumed run ends where an uninterrupted one does, two processes under torchrun (gloo) stay in step,
and the teacher's dense fill beats the nearest-annotated-point fill on pixels nobody annotated."""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.charts import interchange
from pipeline.synthetic import coco
from pipeline.synthetic.scene import SceneGenerator
from tests.conftest import budget
from training import config as configs
from training.data import DensePoseCoco
from training.evaluate import Evaluator
from training.model import build_model
from training.teacher import TeacherConfig, fill_errors, train_teacher
from training.train import TrainingError, read_metrics, train

ROOT = Path(__file__).resolve().parent.parent
IMAGES = 8
SIZE = (320, 240)


@pytest.fixture(scope="module")
def synthetic_set(anny, assets, tmp_path_factory):
    """Eight synthetic renders (320 x 240) exported as DensePose-COCO, their exact truth, the chart assets."""
    folder = tmp_path_factory.mktemp("train-set")
    generator = SceneGenerator(anny, assets)
    with budget(900, "rendering the training set"):  # ~10 s here; the chart assets once, ~1 min
        images = [generator.generate(seed=7, index=i, size=SIZE) for i in range(IMAGES)]
        path = coco.write(images, folder)
        return path, folder, images, interchange.ensure(assets, "anny")


@pytest.fixture(scope="module")
def trained(synthetic_set, tmp_path_factory):
    data, folder, _, chart_assets = synthetic_set
    out = tmp_path_factory.mktemp("run") / "tiny"
    config = configs.get("tiny")
    with budget(1800, f"training the tiny config for {config.iterations} iterations"):  # ~30 s here
        train(config, data, folder, out, chart_assets=chart_assets, progress=False, evaluate_every=config.iterations)
    return out, read_metrics(out)


def test_tiny_config_learns_the_training_images(trained, synthetic_set):
    out, records = trained
    losses = [r["loss"] for r in records if "loss" in r]
    assert records[-1].get("done") and (out / "model_final.pth").exists() and any((out / "tb").iterdir())
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3]), losses
    trained_ap = [r["eval"] for r in records if "eval" in r][-1]["gps"]["AP"]
    data, folder, _, chart_assets = synthetic_set
    torch.manual_seed(0)
    untrained_ap = Evaluator(chart_assets, data, folder)(build_model(configs.get("tiny")))["gps"]["AP"]
    print(f"GPS AP on the training images: untrained {untrained_ap:.3f}, trained {trained_ap:.3f}")
    assert trained_ap > untrained_ap + 0.15


def _cli(*args, env=None, check=True):
    run = subprocess.run([sys.executable, "-m", "training", *map(str, args)], cwd=ROOT, capture_output=True,
                         text=True, env=env, timeout=600)  # fmt: skip
    if check and run.returncode:
        raise AssertionError(f"exit {run.returncode}: {run.stderr[-2000:]}")
    return run


def test_predict_writes_the_results_format_and_evaluate_reads_it(trained, synthetic_set, tmp_path):
    from pipeline.coco.densepose import decode_uv_bytes

    out, records = trained
    data, folder, _, chart_assets = synthetic_set
    results = tmp_path / "results.json"
    _cli("predict", "--checkpoint", out, "--data", data, "--images", folder, "--out", results)
    dets = json.loads(results.read_text())
    assert dets and {d["image_id"] for d in dets} <= set(range(1, IMAGES + 1))
    for d in dets[:10]:
        raw = decode_uv_bytes(d["uv_data"])
        assert list(raw.shape) == [d["uv_shape"][1], d["uv_shape"][2], 3] and raw[..., 0].max() <= 24
        assert abs(d["bbox"][2] - d["uv_shape"][2]) <= 1 and abs(d["bbox"][3] - d["uv_shape"][1]) <= 1
    numbers = tmp_path / "eval.json"
    _cli("evaluate", "--results", results, "--data", data, "--chart-assets", chart_assets, "--json", numbers)
    during_training = [r["eval"] for r in records if "eval" in r][-1]["gps"]["AP"]
    assert json.loads(numbers.read_text())["gps"]["AP"] == pytest.approx(during_training, abs=1e-9)


def test_command_line_errors_say_what_is_wrong(synthetic_set, tmp_path, capsys):
    from training.__main__ import main

    def run(*args) -> tuple[int, str]:
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's own errors
            code = exc.code
        return code, capsys.readouterr().err

    data, folder, _, _ = synthetic_set
    code, err = run("train", "--config", "tiny", "--data", data, "--images", folder, "--out", tmp_path / "r")
    assert code == 2 and "--chart-assets" in err
    code, err = run("train", "--config", "tiny", "--data", tmp_path / "none.json", "--images", folder, "--out",
                    tmp_path / "r")  # fmt: skip
    assert code == 2 and "none.json" in err and "no such file" in err
    code, err = run("predict", "--checkpoint", tmp_path, "--data", data, "--images", folder, "--out", tmp_path / "x")
    assert code == 2 and "no checkpoint" in err
    code, err = run("train", "--config", "tiny", "--data", data, "--images", folder, "--out", tmp_path / "r",
                    "--batch-size", "0")  # fmt: skip
    assert code == 2 and "--batch-size" in err and "less than 1" in err
    code, err = run("evaluate", "--data", data, "--chart-assets", tmp_path)
    assert code == 2 and "--checkpoint" in err and "--results" in err


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(synthetic_set, tmp_path):
    data, folder, _, chart_assets = synthetic_set
    config = configs.get("tiny", iterations=6, checkpoint_period=3, log_period=1)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    train(config, data, folder, whole, chart_assets=chart_assets, progress=False, evaluate_every=10**9)
    cut.mkdir()
    shutil.copy(whole / "model_0000003.pth", cut)  # as if the run had stopped after its first checkpoint
    with pytest.raises(TrainingError, match="--resume"):
        train(config, data, folder, cut, chart_assets=chart_assets, progress=False)
    with pytest.raises(TrainingError, match=r"another config .* differs in lr"):
        train(replace(config, lr=0.1), data, folder, cut, chart_assets=chart_assets, resume=True, progress=False)
    train(config, data, folder, cut, chart_assets=chart_assets, resume=True, progress=False, evaluate_every=10**9)
    a = torch.load(whole / "model_final.pth", weights_only=False)["model"]
    b = torch.load(cut / "model_final.pth", weights_only=False)["model"]
    assert a.keys() == b.keys()
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert worst <= 1e-6, worst
    resumed = [r for r in read_metrics(cut) if "loss" in r]
    assert resumed[0]["iteration"] == 4  # it went on from the checkpoint, it did not start over


def test_two_processes_under_torchrun_train_in_step(synthetic_set, tmp_path):
    data, folder, _, chart_assets = synthetic_set
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "training",
         "train", "--config", "tiny", "--iterations", "4", "--batch-size", "1", "--data", str(data), "--images",
         str(folder), "--out", str(out), "--chart-assets", str(chart_assets), "--no-progress", "--no-eval"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    records = read_metrics(out)
    losses = [r for r in records if "loss" in r]
    assert losses and all(r["world_size"] == 2 for r in losses)
    assert records[-1].get("done") and records[-1].get("ranks_in_sync") is True
    assert not any("eval" in r for r in records), "--no-eval: no evaluation at the end"
    assert (out / "model_final.pth").exists() and not list(out.glob("*.tmp"))


def test_teacher_fill_beats_the_nearest_annotated_point(synthetic_set, eval_mesh, tmp_path):
    """On pixels nobody annotated, the teacher's I, U, V are geodesically closer to the exact truth than the
    nearest annotated point's."""
    data, folder, images, _ = synthetic_set
    teacher, log = train_teacher(data, folder, tmp_path / "teacher", TeacherConfig(), progress=False)
    assert (tmp_path / "teacher" / "teacher.pth").exists() and log[-1]["loss"] < log[0]["loss"]
    errors = fill_errors(teacher, DensePoseCoco(data, folder), coco.people_by_annotation(images), eval_mesh)
    t, n = errors["teacher"] * 100, errors["nearest"] * 100
    print(
        f"held-out pixels {len(t)}: teacher mean {t.mean():.2f} cm (median {np.median(t):.2f}), "
        f"nearest point mean {n.mean():.2f} cm (median {np.median(n):.2f})"
    )
    assert t.mean() < n.mean() and np.median(t) < np.median(n)


def test_training_with_the_teachers_targets(synthetic_set, tmp_path):
    """From the command line: a teacher, then a student that takes the teacher's dense points as extra,
    down-weighted supervision (flipped with the rest)."""
    from training.teacher import Teacher, dense_targets

    data, folder, _, chart_assets = synthetic_set
    _cli("teacher", "--data", data, "--images", folder, "--out", tmp_path / "t", "--iterations", 20, "--no-progress")
    extra = dense_targets(Teacher.load(tmp_path / "t" / "teacher.pth"), data, folder, 32, 0.5)
    dataset = DensePoseCoco(data, folder, chart_assets, augment=True, sizes=None, flip=1.0, extra_points=extra)
    person = dataset[0].people[0]
    assert (person.weight == 0.5).sum() == len(extra[person.ann_id][0]) > 0 and (person.weight == 1).sum() > 0
    _cli("train", "--config", "tiny", "--data", data, "--images", folder, "--out", tmp_path / "run",
         "--iterations", 4, "--teacher", tmp_path / "t", "--teacher-points", 32, "--chart-assets", chart_assets,
         "--no-progress")  # fmt: skip
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["teacher_points_per_person"] == 32 and config["iterations"] == 4
    records = read_metrics(tmp_path / "run")
    assert all(np.isfinite(r["loss_dp_U"]) for r in records if "loss" in r)
    evals = [r for r in records if "eval" in r]
    assert len(evals) == 1 and evals[0]["iteration"] == 4, "with chart assets a run evaluates at its end"
    assert set(evals[0]["eval"]["gps"]) >= {"AP", "AP50", "AR"}


def test_the_keypoint_branch_trains_beside_densepose(synthetic_set, tmp_path):
    data, folder, _, chart_assets = synthetic_set
    config = configs.get("tiny", iterations=2, log_period=1, keypoints=True)
    train(config, data, folder, tmp_path / "kp", chart_assets=chart_assets, progress=False, evaluate_every=10**9)
    losses = [r for r in read_metrics(tmp_path / "kp") if "loss" in r]
    assert all(np.isfinite(r["loss_keypoint"]) and np.isfinite(r["loss_dp_I"]) for r in losses)


def test_weights_come_by_path_and_a_wrong_file_is_named(tmp_path):
    """ResNet-50 weights for r50_fpn's backbone, a run's checkpoint for any model; never a download."""
    import torchvision

    from training.model import load_weights

    resnet = tmp_path / "resnet50.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), resnet)
    model = build_model(configs.get("r50_fpn", pretrained=str(resnet)))  # --weights
    body, state = model.detector.backbone.body, torch.load(resnet, weights_only=True)
    assert torch.equal(body.conv1.weight, state["conv1.weight"])
    assert torch.equal(body.layer4[2].bn3.running_var, state["layer4.2.bn3.running_var"])  # frozen BN, as trained
    with pytest.raises(ValueError, match="tiny"):
        build_model(configs.get("tiny", pretrained=str(resnet)))
    stray = tmp_path / "stray.pth"
    torch.save({"something": torch.zeros(3)}, stray)
    with pytest.raises(ValueError, match=r"stray\.pth: no tensor fits"):
        load_weights(model, str(stray))


def test_a_run_gets_a_summary_page_a_person_looks_at(trained, synthetic_set):
    from PIL import Image

    out, _ = trained
    data, folder, _, _ = synthetic_set
    _cli("summary", "--run", out, "--data", data, "--images", folder, "--count", 3)
    page = (out / "summary.html").read_text()
    for picture in ("loss.png", "evaluation.png", "predictions.png"):
        assert f'src="{picture}"' in page and (out / picture).read_bytes()[:4] == b"\x89PNG", picture
    assert "GPS AP" in page and "no evaluation" not in page, "the run's last evaluation is on the page"
    grid = Image.open(out / "predictions.png")
    assert grid.height == 3 * (240 + 4), "one row of four tiles for each of the three images"
    refused = _cli("summary", "--run", out.parent, "--data", data, "--images", folder, check=False)
    assert refused.returncode == 2 and "not a run folder" in refused.stderr


def test_mixed_precision_trains_on_the_cpu_with_bfloat16(synthetic_set, tmp_path):
    """The mixed-precision path (float16 and a gradient scaler on a GPU) runs here in bfloat16: finite losses,
    a checkpoint that loads, the setting kept with the run."""
    data, folder, _, chart_assets = synthetic_set
    _cli("train", "--config", "tiny", "--iterations", "3", "--data", data, "--images", folder, "--out",
         tmp_path / "amp", "--chart-assets", chart_assets, "--amp", "--no-eval", "--no-progress")  # fmt: skip
    records = read_metrics(tmp_path / "amp")
    assert all(np.isfinite(r["loss"]) for r in records if "loss" in r) and records[-1].get("done")
    assert json.loads((tmp_path / "amp" / "config.json").read_text())["amp"] is True
    assert configs.get("r50_fpn").amp and not configs.get("tiny").amp, "GPU runs of r50_fpn use it by default"


def test_held_out_data_is_read_from_its_own_folder(synthetic_set, tmp_path):
    """--eval-data's images may live elsewhere (--eval-images): a held-out split is not mistaken for the
    training images of the same names."""
    data, folder, _, chart_assets = synthetic_set
    held = tmp_path / "held-out"
    held.mkdir()
    gt = json.loads(Path(data).read_text())
    gt["images"] = gt["images"][:2]
    for img in gt["images"]:
        shutil.copy(Path(folder) / img["file_name"], held / f"h{img['file_name']}")
        img["file_name"] = f"h{img['file_name']}"
    (held / "gt.json").write_text(json.dumps(gt))
    _cli("train", "--config", "tiny", "--iterations", "2", "--data", data, "--images", folder, "--out",
         tmp_path / "r", "--chart-assets", chart_assets, "--eval-data", held / "gt.json", "--eval-images", held,
         "--no-progress")  # fmt: skip
    evaluated = [r for r in read_metrics(tmp_path / "r") if "eval" in r]
    assert evaluated and evaluated[-1]["eval"]["pointwise"]["points"] > 0
    assert (tmp_path / "r" / "summary.html").exists(), "train writes the summary when it evaluates"
