"""The pointwise curve as a picture (PIL only): ratio of correct points against the geodesic threshold."""

from __future__ import annotations

from pathlib import Path

W, H = 640, 440
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 60
COLORS = [(47, 111, 222), (192, 57, 43), (30, 132, 73), (142, 68, 173)]


def plot_curves(curves: dict[str, dict], out: Path, title: str = "Pointwise evaluation") -> Path:
    """``curves``: label -> the ``pointwise`` dict of :func:`pipeline.evaluation.gps.evaluate`."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    x_max = 30.0

    def px(t_cm, ratio):
        return LEFT + (W - LEFT - RIGHT) * t_cm / x_max, H - BOTTOM - (H - TOP - BOTTOM) * ratio

    for k in range(0, 31, 5):  # grid and ticks
        x, _ = px(k, 0)
        d.line([(x, TOP), (x, H - BOTTOM)], fill=(232, 234, 240))
        d.text((x - 6, H - BOTTOM + 6), str(k), fill=(60, 60, 70))
    for k in range(0, 11, 2):
        _, y = px(0, k / 10)
        d.line([(LEFT, y), (W - RIGHT, y)], fill=(232, 234, 240))
        d.text((LEFT - 30, y - 6), f"{k / 10:.1f}", fill=(60, 60, 70))
    d.rectangle([LEFT, TOP, W - RIGHT, H - BOTTOM], outline=(60, 60, 70))
    d.text((W / 2 - 90, H - 30), "geodesic threshold (cm)", fill=(30, 30, 40))
    d.text((8, TOP - 28), "ratio of correct points", fill=(30, 30, 40))
    d.text((LEFT + 150, 10), title, fill=(30, 30, 40))
    for i, (label, pw) in enumerate(curves.items()):
        color = COLORS[i % len(COLORS)]
        points = [px(t, r) for t, r in pw["curve"]]
        d.line(points, fill=color, width=3)
        y = TOP + 10 + 18 * i
        d.line([(W - RIGHT - 230, y + 6), (W - RIGHT - 205, y + 6)], fill=color, width=3)
        d.text((W - RIGHT - 200, y), f"{label}: AUC10 {pw['auc10']:.3f}, AUC30 {pw['auc30']:.3f}", fill=color)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    return out
