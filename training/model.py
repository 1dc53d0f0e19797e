"""DensePose-RCNN: torchvision's Faster R-CNN (optionally with its keypoint branch) and a DensePose head on
RoIAlign features (REFERENCE.md, "The model").

The head: ``dp_convs`` 3x3 convs of ``dp_channels``, a stride-2 transposed conv, then per output a 1x1 conv
and a x2 bilinear upsample: a coarse segmentation (15 classes: background and the 14 mask parts of
``dp_masks``), a 25-way chart index (0 = background) and 25-channel U and V. Losses, on RoIs with IoU >=
``dp_fg_iou`` to a ground-truth person: cross-entropy on the chart index and smooth-L1 on U and V (the true
chart's channel) at the annotated points (each with a weight: 1, or the teacher's weight for its dense
targets), and cross-entropy on the coarse segmentation from ``dp_masks``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.keypoint_rcnn import KeypointRCNNHeads, KeypointRCNNPredictor
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign, box_iou
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from pipeline import boxframe, parts

from .config import Config

NUM_CHART_CLASSES = parts.NUM_CHARTS + 1  # background and the 24 charts
POINT_FIELDS = ("person", "x", "y", "I", "U", "V", "weight")  # columns of a target's "dp_points"


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.GroupNorm(8, cout), nn.ReLU(inplace=True))


class TinyBackbone(nn.Module):
    """A small CNN (strides 8, 16, 32) with an FPN and a max-pooled extra level; GroupNorm, so it trains from
    scratch on batches of two."""

    def __init__(self, out_channels: int):
        super().__init__()
        widths = (48, 96, 128)
        self.stem = nn.Sequential(_conv(3, 16, 2), _conv(16, 32, 2))
        self.stages = nn.ModuleList()
        cin = 32
        for w in widths:
            self.stages.append(nn.Sequential(_conv(cin, w, 2), _conv(w, w, 1)))
            cin = w
        self.fpn = FeaturePyramidNetwork(list(widths), out_channels, extra_blocks=LastLevelMaxPool())
        self.out_channels = out_channels

    def forward(self, x):
        x = self.stem(x)
        levels = OrderedDict()
        for i, stage in enumerate(self.stages):
            x = stage(x)
            levels[str(i)] = x
        return self.fpn(levels)


def _backbone(config: Config) -> tuple[nn.Module, list[str]]:
    if config.backbone == "tiny":
        return TinyBackbone(config.fpn_channels), ["0", "1", "2"]
    if config.backbone == "resnet50":
        from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
        from torchvision.ops.misc import FrozenBatchNorm2d

        # ImageNet weights come by path (load_weights); from scratch, GroupNorm trains where frozen BN cannot
        frozen = resolve_norm(config) == "frozen_bn"
        norm = FrozenBatchNorm2d if frozen else (lambda c: nn.GroupNorm(32, c))
        trainable = 3 if frozen else 5
        return resnet_fpn_backbone(backbone_name="resnet50", weights=None, trainable_layers=trainable,
                                   norm_layer=norm), ["0", "1", "2", "3"]  # fmt: skip
    raise ValueError(f"unknown backbone {config.backbone!r}")


class DensePoseHead(nn.Module):
    def __init__(self, in_channels: int, config: Config):
        super().__init__()
        layers = []
        for i in range(config.dp_convs):
            layers += [nn.Conv2d(in_channels if i == 0 else config.dp_channels, config.dp_channels, 3, padding=1),
                       nn.ReLU(inplace=True)]  # fmt: skip
        self.body = nn.Sequential(*layers)
        self.up = nn.ConvTranspose2d(config.dp_channels, config.dp_channels, 4, stride=2, padding=1)
        self.segm = nn.Conv2d(config.dp_channels, config.coarse_classes, 1)
        self.index = nn.Conv2d(config.dp_channels, NUM_CHART_CLASSES, 1)
        self.u = nn.Conv2d(config.dp_channels, NUM_CHART_CLASSES, 1)
        self.v = nn.Conv2d(config.dp_channels, NUM_CHART_CLASSES, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x) -> dict[str, torch.Tensor]:
        x = F.relu(self.up(self.body(x)))
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
        return {"segm": up(self.segm(x)), "index": up(self.index(x)), "u": up(self.u(x)), "v": up(self.v(x))}


class DensePoseRoIHeads(RoIHeads):
    """torchvision's box (and keypoint) heads, plus the DensePose head on the same sampled RoIs."""

    def __init__(self, *args, dp_pooler: MultiScaleRoIAlign, dp_head: DensePoseHead, config: Config, **kwargs):
        super().__init__(*args, **kwargs)
        self.dp_pooler, self.dp_head, self.config = dp_pooler, dp_head, config
        self._sampled = None

    def select_training_samples(self, proposals, targets):
        sampled = super().select_training_samples(proposals, targets)
        self._sampled = sampled
        return sampled

    def forward(self, features, proposals, image_shapes, targets=None):
        result, losses = super().forward(features, proposals, image_shapes, targets)
        if self.training:
            sampled, self._sampled = self._sampled, None
            losses.update(self._densepose_losses(features, sampled, image_shapes, targets))
            return result, losses
        boxes = [r["boxes"] for r in result]
        if sum(len(b) for b in boxes):
            maps = self.dp_head(self.dp_pooler(features, boxes, image_shapes))
            start = 0
            for r, b in zip(result, boxes, strict=True):
                r["densepose"] = {k: v[start : start + len(b)] for k, v in maps.items()}
                start += len(b)
        for r in result:
            r.setdefault("densepose", None)
        return result, losses

    def _densepose_losses(self, features, sampled, image_shapes, targets) -> dict[str, torch.Tensor]:
        proposals, matched, labels, _ = sampled
        rois, gt_index = [], []
        for props, match, lab, target in zip(proposals, matched, labels, targets, strict=True):
            pos = torch.where(lab > 0)[0]
            if len(pos):
                iou = box_iou(props[pos], target["boxes"]).gather(1, match[pos][:, None]).squeeze(1)
                annotated = target["dp_has_points"][match[pos]] | target["dp_has_masks"][match[pos]]
                pos = pos[(iou >= self.config.dp_fg_iou) & annotated]  # people without DensePose: boxes only
            if len(pos) > self.config.dp_rois_per_image:
                pos = pos[torch.randperm(len(pos), device=pos.device)[: self.config.dp_rois_per_image]]
            rois.append(props[pos])
            gt_index.append(match[pos])
        zero = sum(p.sum() for p in self.dp_head.parameters()) * 0.0  # every head parameter gets a gradient
        if not sum(len(r) for r in rois):
            return {"loss_dp_segm": zero, "loss_dp_I": zero, "loss_dp_U": zero, "loss_dp_V": zero}
        out = self.dp_head(self.dp_pooler(features, rois, image_shapes))
        segm_target, points = _roi_targets(rois, gt_index, targets, out["segm"].shape[-1])
        with_masks = torch.cat([t["dp_has_masks"][g] for t, g in zip(targets, gt_index, strict=True)])
        segm = F.cross_entropy(out["segm"][with_masks], segm_target[with_masks]) if with_masks.any() else zero
        losses = {"loss_dp_segm": segm * self.config.loss_weight_segm + zero}
        roi, px, py, chart, u, v, w = points
        if not len(roi):
            losses.update(loss_dp_I=zero, loss_dp_U=zero, loss_dp_V=zero)
            return losses
        index = _sample(out["index"], roi, px, py)  # (P, 25)
        at_chart = lambda m: _sample(m, roi, px, py).gather(1, chart[:, None]).squeeze(1)  # noqa: E731
        total = w.sum().clamp(min=1e-6)
        ce = (F.cross_entropy(index, chart, reduction="none") * w).sum() / total
        losses["loss_dp_I"] = ce * self.config.loss_weight_i + zero
        for name, pred, truth in (("U", at_chart(out["u"]), u), ("V", at_chart(out["v"]), v)):
            loss = F.smooth_l1_loss(pred, truth, reduction="none", beta=0.1)
            losses[f"loss_dp_{name}"] = (loss * w).sum() / total * self.config.loss_weight_uv + zero
        return losses


def _sample(maps: torch.Tensor, roi: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of (R, C, S, S) maps at points (RoI index, x, y in 0..1 of the RoI): (P, C), in float32
    (grid_sample runs in float32 under mixed precision; the losses are taken at full precision)."""
    out = torch.empty(len(roi), maps.shape[1], dtype=torch.float32, device=maps.device)
    for r in torch.unique(roi):
        sel = torch.where(roi == r)[0]
        grid = torch.stack([px[sel], py[sel]], dim=1)[None, None] * 2 - 1  # (1, 1, n, 2)
        out[sel] = F.grid_sample(maps[r : r + 1].float(), grid.float(), mode="bilinear", align_corners=False)[0, :, 0].T
    return out


def _roi_targets(rois, gt_index, targets, size: int):
    """Per RoI: the coarse segmentation target (the ground-truth part labels at the S x S cell centres) and the
    annotated points that fall inside it, as (RoI, x, y in 0..1 of the RoI, I, U, V, weight)."""
    segm, cols = [], [[] for _ in range(7)]
    base = 0
    for boxes, gts, target in zip(rois, gt_index, targets, strict=True):
        if not len(boxes):
            continue
        gt_boxes = target["boxes"][gts]
        labels = target["dp_labels"]  # (N, 256, 256) uint8
        steps = (torch.arange(size, device=boxes.device, dtype=boxes.dtype) + 0.5) / size
        gx0, gy0 = gt_boxes[:, 0:1], gt_boxes[:, 1:2]
        gw = (gt_boxes[:, 2:3] - gx0).clamp(min=1e-3)
        gh = (gt_boxes[:, 3:4] - gy0).clamp(min=1e-3)
        xs = boxes[:, 0:1] + steps[None] * (boxes[:, 2:3] - boxes[:, 0:1])  # (R, S) image x of the cell centres
        ys = boxes[:, 1:2] + steps[None] * (boxes[:, 3:4] - boxes[:, 1:2])
        bx, by = (torch.floor(c).long() for c in boxframe.from_image((gx0, gy0, gw, gh), xs, ys))
        inside = (bx >= 0) & (bx < parts.MASK_SIZE), (by >= 0) & (by < parts.MASK_SIZE)
        lab = labels[gts[:, None, None], by.clamp(0, 255)[:, :, None], bx.clamp(0, 255)[:, None, :]].long()
        segm.append(lab * (inside[1][:, :, None] & inside[0][:, None, :]))
        pts = target["dp_points"]  # (P, 7): person, x, y, I, U, V, weight
        for r in range(len(boxes)):
            mine = pts[pts[:, 0].long() == gts[r]]
            if not len(mine):
                continue
            g = gt_boxes[r]
            ix, iy = boxframe.to_image((g[0], g[1], g[2] - g[0], g[3] - g[1]), mine[:, 1], mine[:, 2])
            b = boxes[r]
            tx, ty = (ix - b[0]) / (b[2] - b[0]).clamp(min=1e-3), (iy - b[1]) / (b[3] - b[1]).clamp(min=1e-3)
            keep = (tx >= 0) & (tx <= 1) & (ty >= 0) & (ty <= 1)
            cols[0].append(torch.full((int(keep.sum()),), base + r, dtype=torch.long, device=boxes.device))
            cols[1].append(tx[keep])
            cols[2].append(ty[keep])
            cols[3].append(mine[keep, 3].long())
            cols[4].append(mine[keep, 4])
            cols[5].append(mine[keep, 5])
            cols[6].append(mine[keep, 6])
        base += len(boxes)
    device = rois[0].device
    points = [torch.cat(c) if c else torch.zeros(0, device=device) for c in cols]
    points[0], points[3] = points[0].long(), points[3].long()
    return torch.cat(segm), points


class DensePoseRCNN(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        backbone, levels = _backbone(config)
        ch = backbone.out_channels
        n_levels = len(levels) + 1
        anchors = AnchorGenerator(tuple((s,) for s in config.anchor_sizes[:n_levels]),
                                  (tuple(config.anchor_ratios),) * n_levels)  # fmt: skip
        kp = {}
        if config.keypoints:
            kp = dict(
                keypoint_roi_pool=MultiScaleRoIAlign(levels, 14, 2),
                keypoint_head=KeypointRCNNHeads(ch, tuple([config.dp_channels] * 4)),
                keypoint_predictor=KeypointRCNNPredictor(config.dp_channels, len(parts.COCO_KEYPOINT_FLIP)),
            )
        detector = FasterRCNN(
            backbone, num_classes=None, min_size=config.min_size, max_size=config.max_size,
            rpn_anchor_generator=anchors,
            box_roi_pool=MultiScaleRoIAlign(levels, 7, 2),
            box_head=TwoMLPHead(ch * 49, config.box_head_dim),
            box_predictor=FastRCNNPredictor(config.box_head_dim, 2),
            rpn_pre_nms_top_n_train=config.rpn_pre_nms_train, rpn_post_nms_top_n_train=config.rpn_post_nms_train,
            rpn_pre_nms_top_n_test=config.rpn_pre_nms_test, rpn_post_nms_top_n_test=config.rpn_post_nms_test,
            rpn_batch_size_per_image=config.rpn_batch_per_image,
            box_batch_size_per_image=config.box_batch_per_image,
            box_detections_per_img=config.detections_per_image, box_score_thresh=config.score_threshold,
        )  # fmt: skip
        old = detector.roi_heads
        detector.roi_heads = DensePoseRoIHeads(
            old.box_roi_pool, old.box_head, old.box_predictor, 0.5, 0.5, config.box_batch_per_image, 0.25, None,
            config.score_threshold, 0.5, config.detections_per_image, **kp,
            dp_pooler=MultiScaleRoIAlign(levels, config.dp_pool, 2), dp_head=DensePoseHead(ch, config),
            config=config,
        )  # fmt: skip
        self.detector = detector
        self.train(True)

    def train(self, mode: bool = True):
        super().train(mode)
        # multi-scale training; one fixed size for inference
        self.detector.transform.min_size = self.config.min_size if mode else (self.config.test_size,)
        return self

    def forward(self, images, targets=None):
        return self.detector(images, targets)


def resolve_norm(config: Config) -> str:
    """The backbone's norm layers: as configured, or (auto) those the initial weights were trained with."""
    if config.norm != "auto":
        return config.norm
    if not config.pretrained:
        return "gn"
    state = torch.load(config.pretrained, map_location="cpu", weights_only=False)
    if isinstance(state, dict) and "model" in state and "config" in state:  # a run's checkpoint
        return state["config"].get("norm", "gn") if state["config"].get("norm") != "auto" else "gn"
    return "frozen_bn"  # ImageNet ResNet-50 weights


def build_model(config: Config) -> DensePoseRCNN:
    model = DensePoseRCNN(config)
    if config.pretrained:
        load_weights(model, config.pretrained)
    return model


def load_weights(model: DensePoseRCNN, path: str) -> str:
    """Weights by path, never downloaded: a run's checkpoint (the whole model) or a torchvision ResNet-50
    state dict (the backbone). Says which; a file that fits neither is an error naming it."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(state, dict) and "model" in state:
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as exc:
            first = str(exc).splitlines()[1:2] or [str(exc)[:200]]
            raise ValueError(f"{path}: that run's model does not fit this config ({first[0].strip()})") from None
        return "model"
    body = getattr(model.detector.backbone, "body", None)
    if body is None:
        raise ValueError(f"{path}: backbone weights fit the resnet50 backbone only (this config's is tiny)")
    result = body.load_state_dict(state, strict=False)
    loaded = len(body.state_dict()) - len(result.missing_keys)
    if loaded == 0:
        raise ValueError(f"{path}: no tensor fits the ResNet-50 backbone (is it a ResNet-50 state dict?)")
    return f"backbone ({loaded} tensors)"
