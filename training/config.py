"""Training configurations: ``tiny`` (CPU, minutes) and ``r50_fpn`` (GPU, detectron2's s1x schedule scaled to
the data). One place for every number a run uses; a run writes its config next to its checkpoints."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class Config:
    name: str
    # detector
    backbone: str  # "tiny" (a small from-scratch CNN with FPN) or "resnet50" (torchvision's, with FPN)
    fpn_channels: int
    min_size: tuple[int, ...]  # shorter image side; a random one each training image
    max_size: int
    test_size: int
    anchor_sizes: tuple[int, ...]
    anchor_ratios: tuple[float, ...]  # height / width
    rpn_pre_nms_train: int
    rpn_post_nms_train: int
    rpn_pre_nms_test: int
    rpn_post_nms_test: int
    rpn_batch_per_image: int
    box_batch_per_image: int
    box_head_dim: int
    detections_per_image: int
    score_threshold: float
    # the DensePose head (REFERENCE.md: convs, a stride-2 transposed conv, a x2 bilinear upsample)
    dp_pool: int  # RoIAlign output size
    dp_convs: int
    dp_channels: int
    dp_rois_per_image: int  # at most this many foreground RoIs get DensePose losses
    dp_fg_iou: float  # a RoI is DensePose foreground at this IoU with a ground-truth box
    coarse_classes: int  # 15: background and the 14 mask parts (dp_masks)
    loss_weight_i: float
    loss_weight_uv: float
    loss_weight_segm: float
    keypoints: bool  # the optional keypoint branch
    # the teacher's dense targets
    teacher_points_per_person: int  # 0 = off
    teacher_weight: float
    # optimisation
    optimizer: str  # "adamw" or "sgd"
    lr: float
    weight_decay: float
    batch_size: int  # images per process and iteration
    iterations: int
    warmup: int
    steps: tuple[float, ...]  # LR x 0.1 at these fractions of the run
    flip: float
    checkpoint_period: int
    log_period: int
    workers: int  # data-loading processes
    seed: int = 0
    pretrained: str = ""  # initial weights by path (never downloaded): a run's checkpoint or ResNet-50's
    norm: str = "auto"  # resnet50's norm layers: "frozen_bn" (ImageNet weights), "gn" (from scratch); auto: by weights
    amp: bool = False  # mixed precision: float16 with loss scaling on a GPU, bfloat16 on the CPU
    compile: bool = False  # torch.compile the model (needs a C compiler on the CPU; a warm-up on the first batches)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Config:
        """A config as a run folder or checkpoint keeps it; fields it predates take its named config's values."""
        known = {f.name for f in fields(cls)}
        base = CONFIGS[data["name"]].to_dict() if data.get("name") in CONFIGS else {}
        merged = {**base, **{k: v for k, v in data.items() if k in known}}
        missing = known - set(merged) - {"seed", "pretrained", "norm", "amp", "compile"}
        if missing:
            raise ValueError(f"the stored config lacks {', '.join(sorted(missing))}")
        for key in ("min_size", "anchor_sizes", "anchor_ratios", "steps"):
            merged[key] = tuple(merged[key])
        return cls(**merged)


TINY = Config(
    name="tiny",
    backbone="tiny",
    fpn_channels=64,
    min_size=(224, 256, 288),
    max_size=400,
    test_size=256,
    anchor_sizes=(32, 64, 128, 256),
    anchor_ratios=(1.0, 2.0, 3.0),
    rpn_pre_nms_train=600,
    rpn_post_nms_train=150,
    rpn_pre_nms_test=300,
    rpn_post_nms_test=100,
    rpn_batch_per_image=128,
    box_batch_per_image=64,
    box_head_dim=256,
    detections_per_image=20,
    score_threshold=0.05,
    dp_pool=14,
    dp_convs=4,
    dp_channels=64,
    dp_rois_per_image=16,
    dp_fg_iou=0.7,
    coarse_classes=15,
    loss_weight_i=1.0,
    loss_weight_uv=2.0,
    loss_weight_segm=1.0,
    keypoints=False,
    teacher_points_per_person=0,
    teacher_weight=0.5,
    optimizer="adamw",
    lr=2e-3,
    weight_decay=1e-4,
    batch_size=2,
    iterations=300,
    warmup=30,
    steps=(0.75, 0.92),
    flip=0.5,
    checkpoint_period=100,
    log_period=10,
    workers=0,
)

R50_FPN = Config(
    name="r50_fpn",
    backbone="resnet50",
    fpn_channels=256,
    min_size=(640, 672, 704, 736, 768, 800),
    max_size=1333,
    test_size=800,
    anchor_sizes=(32, 64, 128, 256, 512),
    anchor_ratios=(0.5, 1.0, 2.0),
    rpn_pre_nms_train=2000,
    rpn_post_nms_train=2000,
    rpn_pre_nms_test=1000,
    rpn_post_nms_test=1000,
    rpn_batch_per_image=256,
    box_batch_per_image=512,
    box_head_dim=1024,
    detections_per_image=100,
    score_threshold=0.05,
    dp_pool=28,
    dp_convs=8,
    dp_channels=512,
    dp_rois_per_image=64,
    dp_fg_iou=0.7,
    coarse_classes=15,
    loss_weight_i=1.0,
    loss_weight_uv=2.0,
    loss_weight_segm=2.0,
    keypoints=False,
    teacher_points_per_person=0,
    teacher_weight=0.5,
    optimizer="sgd",
    lr=0.01,
    weight_decay=1e-4,
    batch_size=4,  # per GPU: 4 GPUs give detectron2's 16 images a batch
    iterations=0,  # 0 = from the data: detectron2's s1x epochs (130k x 16 images over DensePose-COCO's 32k)
    warmup=1000,
    steps=(100 / 130, 120 / 130),
    flip=0.5,
    checkpoint_period=5000,
    log_period=20,
    workers=4,
    amp=True,  # its GPU runs; unmeasured here (no GPU)
)

CONFIGS = {c.name: c for c in (TINY, R50_FPN)}
TEACHER_POINTS = 64  # the teacher's dense targets per person, when the teacher is used
S1X_EPOCHS = 130_000 * 16 / 32_000


def get(name: str, **overrides) -> Config:
    if name not in CONFIGS:
        raise ValueError(f"unknown config {name!r}: choose one of {', '.join(CONFIGS)}")
    return replace(CONFIGS[name], **{k: v for k, v in overrides.items() if v is not None})


def scaled_iterations(config: Config, images: int, world_size: int = 1) -> int:
    """The run's length: the config's, or (when 0) detectron2's s1x epochs over ``images``."""
    if config.iterations:
        return config.iterations
    return max(1, math.ceil(S1X_EPOCHS * images / (config.batch_size * world_size)))
