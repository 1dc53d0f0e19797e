"""The loss curve of a run as a picture (PIL only): total loss and its parts against the iteration."""

from __future__ import annotations

import math
from pathlib import Path

W, H = 720, 440
LEFT, RIGHT, TOP, BOTTOM = 70, 170, 40, 50
COLORS = [(20, 20, 30), (47, 111, 222), (192, 57, 43), (30, 132, 73), (142, 68, 173), (211, 84, 0), (22, 160, 133),
          (127, 140, 141), (241, 196, 15)]  # fmt: skip


def plot_losses(records: list[dict], out: Path, title: str = "Training loss") -> Path:
    """``records``: a run's ``metrics.jsonl`` lines; the losses on a log scale, the total in black."""
    from PIL import Image, ImageDraw

    rows = [r for r in records if "loss" in r]
    names = ["loss", *sorted({k for r in rows for k in r if k.startswith("loss_")})]
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.text((LEFT, 12), title, fill=(20, 20, 30))
    if not rows:
        d.text((LEFT, H // 2), "no iteration logged yet", fill=(90, 90, 100))
        _save(img, out)
        return Path(out)
    values = [max(r[k], 1e-4) for r in rows for k in names if k in r]
    lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    hi = max(hi, lo + 1)
    x_max = max(r["iteration"] for r in rows)

    def px(it, value):
        y = (math.log10(max(value, 1e-4)) - lo) / (hi - lo)
        return LEFT + (W - LEFT - RIGHT) * it / max(x_max, 1), H - BOTTOM - (H - TOP - BOTTOM) * y

    for e in range(lo, hi + 1):
        _, y = px(0, 10.0**e)
        d.line([(LEFT, y), (W - RIGHT, y)], fill=(232, 234, 240))
        d.text((LEFT - 45, y - 6), f"1e{e}", fill=(60, 60, 70))
    for k in range(6):
        x, _ = px(x_max * k / 5, 10.0**lo)
        d.line([(x, TOP), (x, H - BOTTOM)], fill=(232, 234, 240))
        d.text((x - 10, H - BOTTOM + 6), str(round(x_max * k / 5)), fill=(60, 60, 70))
    d.text((W // 2 - 60, H - 22), "iteration", fill=(60, 60, 70))
    for n, name in enumerate(names):
        color = COLORS[n % len(COLORS)]
        pts = [px(r["iteration"], r[name]) for r in rows if name in r]
        if len(pts) > 1:
            d.line(pts, fill=color, width=3 if name == "loss" else 1)
        elif pts:
            d.ellipse([pts[0][0] - 2, pts[0][1] - 2, pts[0][0] + 2, pts[0][1] + 2], fill=color)
        last = rows[-1].get(name)
        label = f"{name} {last:.3f}" if last is not None else name
        d.line([(W - RIGHT + 12, TOP + 8 + 18 * n), (W - RIGHT + 30, TOP + 8 + 18 * n)], fill=color, width=3)
        d.text((W - RIGHT + 36, TOP + 2 + 18 * n), label, fill=(20, 20, 30))
    _save(img, out)
    return Path(out)


def _save(img, out: Path) -> None:
    """Whole or not at all: a page may show the picture while the run redraws it."""
    import os

    tmp = Path(out).with_name(f".{Path(out).name}.tmp")
    img.save(tmp, format="PNG")
    os.replace(tmp, out)
