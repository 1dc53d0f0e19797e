"""A run folder's layout: its checkpoints (``model_0000100.pth``, ..., ``model_final.pth``). Training writes
them (:mod:`training.train`), evaluation and inference read them (:mod:`training.evaluate`)."""

from __future__ import annotations

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
