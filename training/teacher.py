"""The teacher inpainting network: DensePose's "distillation-based ground-truth interpolation".

A small fully-convolutional net on person crops (the box resized to ``size`` x ``size``). Its input is the
crop, the annotated part masks (one-hot) and the given points spread over the crop by nearest-point fill
(chart one-hot, U, V, distance to the point, and where the points are). It outputs a chart (1..24) per cell
and U, V as a weighted mean of the fill's neighbours (:class:`TeacherNet`): untrained, it *is* the
nearest-point fill, and training teaches it to interpolate between points. It learns to inpaint:
each step hides a random share of a person's points from the input and is scored on them. Its dense I, U, V
inside the annotated foreground (all points given) then become extra, down-weighted supervision points for
the student (``DensePoseCoco(extra_points=...)``).

The baseline it must beat is the nearest-annotated-point fill (``nearest_fill``), measured on held-out
pixels of synthetic people whose truth is exact (``benchmarks/training.py``, ``tests/test_training.py``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipeline import boxframe, parts

from .data import DensePoseCoco, PersonAnnotation, image_tensor

MASK_CLASSES = len(parts.MASK_PART_NAMES) + 1  # background and the 14 parts
FILL = 3 + MASK_CLASSES  # first plane of the nearest-point fill: chart one-hot (24), U, V, distance, point here
IN_CHANNELS = FILL + parts.NUM_CHARTS + 4


@dataclass(frozen=True)
class TeacherConfig:
    size: int = 64  # crop side
    width: int = 32
    iterations: int = 150
    batch_size: int = 16
    lr: float = 2e-3
    hide: tuple[float, float] = (0.2, 0.6)  # share of points hidden from the input each step
    seed: int = 0


class TeacherNet(nn.Module):
    """A kernel-predicting interpolator. Dilated 3x3 convs at the crop's resolution see the part masks, the
    image, where the points are and the fill's charts, never the fill's U, V values (so they cannot memorise the
    few people they learn from). Per cell they give chart logits and weights over a 7 x 7 (dilation 2)
    neighbourhood of the fill; U and V are the weighted mean of the neighbours of the cell's chart. Untrained,
    the centre weight dominates: the nearest-point fill."""

    KERNEL, DILATION = 7, 2

    def __init__(self, width: int = 32, dilations=(1, 2, 4, 8, 1)):
        super().__init__()
        layers, cin = [], IN_CHANNELS - 2  # all planes but the fill's U and V
        for d in dilations:
            layers += [nn.Conv2d(cin, width, 3, padding=d, dilation=d), nn.GroupNorm(8, width), nn.ReLU(inplace=True)]
            cin = width
        self.body = nn.Sequential(*layers)
        k = self.KERNEL**2
        self.out = nn.Conv2d(width, parts.NUM_CHARTS + k, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        centre = torch.zeros(k)
        centre[k // 2] = 6.0  # untrained: (almost) only the centre, the nearest-point fill
        self.centre = nn.Parameter(centre)
        self.keep_chart = nn.Parameter(torch.tensor(4.0))  # the fill's chart, as a logit bonus

    def forward(self, planes, chart=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Chart logits (B, 24, H, W) and U, V (B, H, W) of ``chart`` (B, H, W; 0-based; default the argmax)."""
        n, k = parts.NUM_CHARTS, self.KERNEL**2
        b, _, h, w = planes.shape
        fill_chart = planes[:, FILL : FILL + n]
        fill_uv = planes[:, FILL + n : FILL + n + 2]
        features = torch.cat([planes[:, : FILL + n], planes[:, FILL + n + 2 :]], 1)
        out = self.out(self.body(features))
        logits = out[:, :n] + self.keep_chart * fill_chart
        if chart is None:
            chart = logits.argmax(1)
        pad = self.DILATION * (self.KERNEL // 2)
        unfold = lambda t: F.unfold(t, self.KERNEL, dilation=self.DILATION, padding=pad).view(b, -1, k, h * w)  # noqa: E731
        near_chart = unfold(fill_chart.argmax(1, keepdim=True).float() + 1)[:, 0]  # (B, K, HW); 0 = off the crop
        near_uv = unfold(fill_uv)  # (B, 2, K, HW)
        same = near_chart == (chart.view(b, 1, h * w) + 1)
        weights = (out[:, n:].view(b, k, h * w) + self.centre[None, :, None]).masked_fill(~same, -1e4)
        weights = torch.softmax(weights, 1) * same  # no neighbour of that chart: all zero
        total = weights.sum(1)
        uv = (near_uv * weights[:, None]).sum(2) / total.clamp(min=1e-6)[:, None]
        uv = torch.where(total[:, None] > 0, uv, fill_uv.view(b, 2, h * w))
        uv = uv.view(b, 2, h, w)
        return logits, uv[:, 0], uv[:, 1]


def crop(image: np.ndarray, box, size: int) -> np.ndarray:
    """The box (x, y, w, h) of the image resampled to size x size (bilinear), float 0..1, (3, size, size)."""
    x0, y0, w, h = box
    t = image_tensor(image)[None]
    H, W = image.shape[:2]
    steps = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    gx = (x0 + steps * w) / W * 2 - 1
    gy = (y0 + steps * h) / H * 2 - 1
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None]
    return F.grid_sample(t, grid, mode="bilinear", align_corners=False)[0].numpy()


def cells(x, y, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Box-frame points (0..256) -> crop cell (column, row)."""
    col = np.clip(np.floor(np.asarray(x) * size / parts.BOX_SCALE).astype(np.int64), 0, size - 1)
    row = np.clip(np.floor(np.asarray(y) * size / parts.BOX_SCALE).astype(np.int64), 0, size - 1)
    return col, row


def labels_at_cells(person: PersonAnnotation, size: int) -> np.ndarray:
    """The person's part labels (box frame, 256 x 256) at the centres of the crop's size x size cells."""
    idx = ((np.arange(size) + 0.5) * parts.MASK_SIZE / size).astype(np.int64)
    return person.labels[np.ix_(idx, idx)]


def inputs(crop_rgb: np.ndarray, person: PersonAnnotation, given: np.ndarray, size: int) -> np.ndarray:
    """The teacher's input planes for a person with the points ``given`` (a boolean mask over its points)."""
    from scipy.spatial import cKDTree

    labels = labels_at_cells(person, size)
    grid_r, grid_c = np.arange(size)[:, None], np.arange(size)[None, :]
    planes = np.zeros((IN_CHANNELS, size, size), dtype=np.float32)
    planes[:3] = crop_rgb
    planes[3 + labels, grid_r, grid_c] = 1
    scale = size / parts.BOX_SCALE
    centres = np.stack(np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5), -1).reshape(-1, 2)
    dist, k = cKDTree(np.stack([person.x[given], person.y[given]], 1) * scale).query(centres)
    k, dist = k.reshape(size, size), dist.reshape(size, size)
    n = parts.NUM_CHARTS
    planes[FILL + person.chart[given][k] - 1, grid_r, grid_c] = 1
    planes[FILL + n] = person.u[given][k]
    planes[FILL + n + 1] = person.v[given][k]
    planes[FILL + n + 2] = dist / size * 4
    col, row = cells(person.x[given], person.y[given], size)
    planes[FILL + n + 3, row, col] = 1
    return planes


class Teacher:
    def __init__(self, net: TeacherNet, config: TeacherConfig):
        self.net, self.config = net, config

    def fill(self, crop_rgb: np.ndarray, person: PersonAnnotation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Dense (chart, U, V) over the crop (size x size), from all of the person's points."""
        size = self.config.size
        x = torch.from_numpy(inputs(crop_rgb, person, np.ones(len(person.x), bool), size))[None]
        self.net.eval()
        with torch.no_grad():
            logits, u, v = self.net(x)
        return (logits[0].argmax(0) + 1).numpy(), u[0].clamp(0, 1).numpy(), v[0].clamp(0, 1).numpy()

    def dense_points(self, crop_rgb, person: PersonAnnotation, count: int, weight: float, seed: int = 0):
        """Up to ``count`` cells of the annotated foreground, spread evenly, with the teacher's I, U, V there:
        (x, y, I, U, V, weight) arrays in the box frame."""
        size = self.config.size
        chart, u, v = self.fill(crop_rgb, person)
        fg = labels_at_cells(person, size) > 0
        rows, cols = np.nonzero(fg)
        if len(rows) > count:
            keep = np.random.default_rng(seed).choice(len(rows), count, replace=False)
            rows, cols = rows[keep], cols[keep]
        scale = parts.BOX_SCALE / size
        return ((cols + 0.5) * scale, (rows + 0.5) * scale, chart[rows, cols].astype(np.int64), u[rows, cols],
                v[rows, cols], np.full(len(rows), weight))  # fmt: skip

    def save(self, path: Path) -> None:
        torch.save({"teacher": self.net.state_dict(), "config": asdict(self.config)}, path)

    @classmethod
    def load(cls, path: Path) -> Teacher:
        state = torch.load(path, map_location="cpu", weights_only=False)
        if "teacher" not in state:
            raise ValueError(f"{path}: not a teacher checkpoint")
        cfg = state["config"]
        config = TeacherConfig(**{**cfg, "hide": tuple(cfg["hide"])})
        net = TeacherNet(config.width)
        net.load_state_dict(state["teacher"])
        return cls(net, config)


def _people(dataset: DensePoseCoco, size: int):
    """(crop, person) for every person with DensePose points (no augmentation)."""
    out = []
    for index in range(len(dataset)):
        sample = dataset[index]
        for person in sample.people:
            if person.has_points:
                out.append((crop(sample.image, person.box, size), person))
    return out


def train_teacher(data: Path, images: Path, out: Path | None = None, config: TeacherConfig | None = None,
                  progress: bool = True) -> tuple[Teacher, list[dict]]:  # fmt: skip
    """Train the teacher on an exported DensePose-COCO file; writes ``teacher.pth`` and ``teacher.jsonl``."""
    config = config or TeacherConfig()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    people = _people(DensePoseCoco(data, images), config.size)
    if not people:
        raise ValueError(f"{data}: no person with DensePose points")
    net = TeacherNet(config.width)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=1e-4)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=config.iterations, unit="it", desc="teacher")
    log, t0 = [], time.monotonic()
    for it in range(config.iterations):
        lr = config.lr * (0.1 if it >= 0.8 * config.iterations else 1.0)
        for g in optimizer.param_groups:
            g["lr"] = lr
        batch = rng.choice(len(people), min(config.batch_size, len(people)), replace=False)
        planes, hidden = [], []
        for b, k in enumerate(batch):
            crop_rgb, person = people[k]
            hide = rng.random(len(person.x)) < rng.uniform(*config.hide)
            if hide.all():
                hide[rng.integers(len(hide))] = False
            planes.append(inputs(crop_rgb, person, ~hide, config.size))
            col, row = cells(person.x[hide], person.y[hide], config.size)
            hidden.append(np.stack([np.full(len(col), b), row, col, person.chart[hide] - 1, person.u[hide],
                                    person.v[hide]], axis=1))  # fmt: skip
        pts = torch.from_numpy(np.concatenate(hidden))
        if not len(pts):
            continue
        net.train()
        x = torch.from_numpy(np.stack(planes))
        b, r, c, ch = (pts[:, i].long() for i in range(4))
        chart = x[:, FILL : FILL + parts.NUM_CHARTS].argmax(1)  # the fill's chart, the truth at hidden points
        chart[b, r, c] = ch
        logits, u, v = net(x, chart)
        loss_i = F.cross_entropy(logits[b, :, r, c], ch)
        loss_uv = F.smooth_l1_loss(u[b, r, c], pts[:, 4].float(), beta=0.1) + F.smooth_l1_loss(
            v[b, r, c], pts[:, 5].float(), beta=0.1
        )
        loss = loss_i + 2 * loss_uv
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if bar is not None:
            bar.update(1)
        if (it + 1) % 20 == 0 or it + 1 == config.iterations:
            log.append({"iteration": it + 1, "loss": loss.item(), "loss_I": loss_i.item(),
                        "loss_UV": loss_uv.item(), "s": round(time.monotonic() - t0, 2)})  # fmt: skip
    if bar is not None:
        bar.close()
    teacher = Teacher(net, config)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        teacher.save(out / "teacher.pth")
        (out / "teacher.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    return teacher, log


def dense_targets(teacher: Teacher, data: Path, images: Path, count: int, weight: float) -> dict:
    """annotation id -> the teacher's dense points for that person (``DensePoseCoco(extra_points=...)``)."""
    dataset = DensePoseCoco(data, images)
    out = {}
    for index in range(len(dataset)):
        sample = dataset[index]
        for person in sample.people:
            if not person.has_points:
                continue
            out[person.ann_id] = teacher.dense_points(crop(sample.image, person.box, teacher.config.size), person,
                                                      count, weight, seed=person.ann_id)  # fmt: skip
    return out


def nearest_fill(person: PersonAnnotation, x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The baseline: I, U, V of the nearest annotated point (box frame) at each query point."""
    from scipy.spatial import cKDTree

    _, k = cKDTree(np.stack([person.x, person.y], 1)).query(np.stack([np.asarray(x), np.asarray(y)], 1))
    return person.chart[k], person.u[k], person.v[k]


def teacher_fill_at(teacher: Teacher, crop_rgb, person: PersonAnnotation, x, y):
    """The teacher's I, U, V at box-frame query points."""
    chart, u, v = teacher.fill(crop_rgb, person)
    col, row = cells(x, y, teacher.config.size)
    return chart[row, col], u[row, col], v[row, col]


def fill_errors(teacher: Teacher, dataset: DensePoseCoco, truth: dict, mesh, per_person: int = 200, seed: int = 1):
    """Geodesic errors (metres) of the teacher's fill and of the nearest-point fill against exact truth, at up
    to ``per_person`` random pixels of each person (pixels nobody annotated). ``truth``: annotation id ->
    (SyntheticImage, PersonTruth), from :func:`pipeline.synthetic.coco.people_by_annotation`."""
    rng = np.random.default_rng(seed)
    errors = {"teacher": [], "nearest": []}
    for index in range(len(dataset)):
        sample = dataset[index]
        for person in sample.people:
            if not person.has_points:
                continue
            img, true = truth[person.ann_id]
            rows, cols = np.nonzero(img.instance == true.index)
            pick = rng.choice(len(rows), min(per_person, len(rows)), replace=False)
            rows, cols = rows[pick], cols[pick]
            bx, by = boxframe.from_image(person.box, cols + 0.5, rows + 0.5)
            gt = (img.chart[rows, cols], img.uv[rows, cols, 0], img.uv[rows, cols, 1])
            errors["nearest"].append(mesh.distance_iuv(gt, nearest_fill(person, bx, by)))
            filled = teacher_fill_at(teacher, crop(sample.image, person.box, teacher.config.size), person, bx, by)
            errors["teacher"].append(mesh.distance_iuv(gt, filled))
    return {k: np.concatenate(v) for k, v in errors.items()}
