"""Every benchmark runs once at a tiny size, so that none breaks unseen (their figures
are measured by hand, at full size, and reported in the README)."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.stack import ASSET_CACHE, ROOT, unavailable

pytestmark = pytest.mark.stack


def postgres_server() -> str:
    """The PostgreSQL server of the tests' database (the benchmarks make databases of their own on it)."""
    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        unavailable("the benchmarks need PostgreSQL (DATABASE_URL)")
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"


def run(script: str, *args: str) -> str:
    env = {**os.environ, "ASSET_CACHE_DIR": str(ASSET_CACHE)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run([sys.executable, f"benchmarks/{script}", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_api_load_runs_the_real_mix_at_a_tiny_size(assets):
    out = run("api_load.py", "--clients", "2", "--rounds", "2", "--think", "0", "--warmup", "0", "--queued", "300",
              "--database", f"{postgres_server()}/densepose_bench_smoke")  # fmt: skip
    assert "POST /api/tasks/{id}/submit" in out and "PUT /api/tasks/{id}/draft" in out, out
    assert "0 errors; 4 submissions acknowledged, 4 stored, 4 processed by the worker, 0 lost" in out, out


def test_export_scale_exports_at_a_tiny_size():
    out = run("export_scale.py", "--people", "40", "--points-per-person", "10",
              "--database", f"{postgres_server()}/densepose_bench_export_smoke")  # fmt: skip
    assert "40 people, 400 points" in out and "export_densepose" in out, out


def test_evaluation_benchmark_runs_at_a_tiny_size():
    out = run("evaluation.py", "--people", "4", "--base-images", "2", "--cache", str(ASSET_CACHE))
    assert "annotated people" in out and "GPS " in out and "pointwise AUC10" in out, out


def test_synthetic_benchmark_runs_at_a_tiny_size(tmp_path):
    out = run("synthetic.py", "--count", "2", "--workers", "1", "--cache", str(ASSET_CACHE),
              "--grid", str(tmp_path / "grid.png"))  # fmt: skip
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG", out


def test_body_assets_benchmark_runs_without_the_cold_build():
    out = run("body_assets.py", "--no-cold", "--clicks", "2000", "--cache", str(ASSET_CACHE))
    assert "batch click mapping (2,000 clicks on the parts)" in out and "asset load" in out, out


def test_training_benchmark_runs_at_a_tiny_size():
    out = run("training.py", "--images", "2", "--iterations", "2", "--teacher-iterations", "2",
              "--r50-cpu-iterations", "0", "--cache", str(ASSET_CACHE))  # fmt: skip
    assert "tiny" in out and "cpu" in out, out


def test_ui_latency_benchmark_runs_at_a_tiny_size(chromium):
    out = run("ui_latency.py", "--clicks", "3", "--points", "3", "--asset-cache", str(ASSET_CACHE))
    assert "latency (ms), within a part" in out and "one click a point (after)" in out, out


def test_learning_benchmark_runs_at_a_tiny_size(tmp_path):
    out = run("learning.py", "--sizes", "4,8", "--seeds", "0", "--test-people", "4", "--iterations", "2",
              "--study-size", "4", "--out", str(tmp_path), "--cache", str(ASSET_CACHE))  # fmt: skip
    assert "| 8 images, sparse points |" in out and "sparse + teacher" in out and "dense (every truth point)" in out
    assert (tmp_path / "learning.png").read_bytes()[:4] == b"\x89PNG", out


def test_the_teacher_study_runs_at_a_tiny_size(tmp_path):
    out = run("learning.py", "--sizes", "8", "--seeds", "0", "--test-people", "4", "--iterations", "2",
              "--study-size", "8", "--few", "2", "--teacher-study", "--teacher-iterations", "2", "--out", str(tmp_path),
              "--cache", str(ASSET_CACHE))  # fmt: skip
    assert "| at most 2 a part + teacher, weight 0.5 |" in out and "nearest fill: chart right" in out, out
    study = json.loads((tmp_path / "teacher_study.json").read_text())
    few = next(r for r in study if r["label"] == "at most 2 a part")
    full = next(r for r in study if r["label"].startswith("sparse points"))
    assert few["points_a_person"] < full["points_a_person"], "the sparser protocol has fewer points a person"
    assert all(0 <= r["targets"]["teacher"]["chart_right"] <= 1 for r in study if "teacher" in r["label"])


def test_the_preannotation_benchmark_runs_at_a_tiny_size(assets, tmp_path):
    from tests.test_preannotate_queue import checkpoint

    tiny = checkpoint(tmp_path / "tiny.pth", None)  # untrained: the mechanics, not the figures
    out = run("preannotate.py", "--images", "1", "--sizes", "5", "--tolerances", "5", "--checkpoint", str(tiny),
              "--cache", str(ASSET_CACHE))  # fmt: skip
    assert "| no pre-annotation | - | - | 0 % |" in out and "| truth + 5 cm | 5 |" in out, out
    assert "| tiny (" in out and "| none (paint from scratch) |" in out and "| truth, boundary 2 px |" in out, out
    assert "| disagreement with the mirror image |" in out, out
