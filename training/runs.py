"""A run folder's layout: its checkpoints (``model_0000100.pth``, ..., ``model_final.pth``). Training writes
them (:mod:`training.train`), evaluation and inference read them (:mod:`training.evaluate`).

A checkpoint names the chart set its U and V belong to (``charts``: the body model and the asset key of the
chart-asset folder it was trained with, :func:`chart_set_of`), so that its predictions are never read on
another body's charts."""

from __future__ import annotations

import json
import re
from pathlib import Path

CHECKPOINT = re.compile(r"model_(\d{7})\.pth$")
FINAL = "model_final.pth"


def checkpoint_name(iteration: int) -> str:
    return f"model_{iteration:07d}.pth"


def checkpoints(run: Path) -> list[tuple[int, Path]]:
    """(iteration, path) of a run folder's numbered checkpoints, oldest first."""
    found = [(int(m.group(1)), p) for p in Path(run).glob("model_*.pth") if (m := CHECKPOINT.search(p.name))]
    return sorted(found)


def chart_set_of(chart_assets: Path | None) -> dict | None:
    """{"body", "asset_key"} of a chart-asset folder (from its ``info.json``); None without a folder, or for a
    folder of DensePose's own files, which say nothing of where they come from."""
    if chart_assets is None:
        return None
    info = Path(chart_assets) / "info.json"
    if not info.exists():
        return None
    data = json.loads(info.read_text())
    return {"body": data.get("body"), "asset_key": data.get("asset_key")}
