"""The DensePose constants: the one home for part and chart ids, names, maps and flip symmetries.

Two label sets:

- **mask parts** (``dp_masks``, stage 1): 14 regions, label 1..14 (0 is background).
- **charts** (``dp_I``, stage 2): 24 surface patches, id 1..24, each inside exactly one mask part.

Left and right are always the person's own: the person's right hand is chart 3 and mask part 2.
"""

from __future__ import annotations

from types import MappingProxyType

# The box frame of dp_masks and of this project's own points (sampled points, synthetic truth, training
# targets): this many units wide and tall, x = x0 + box_x * w / 256.
BOX_SCALE = 256
MASK_SIZE = 256
# DensePose-COCO's point rule: x = x0 + dp_x * w / 255 (its evaluator, its authors' notebook); detectron2's
# training code reads / 256 instead.
POINT_SCALE = 255
MAX_POINTS_PER_PART = 14

# --- mask parts (label = index + 1) ----------------------------------------------------------------------
MASK_PART_NAMES = (
    "Torso",
    "Right Hand",
    "Left Hand",
    "Left Foot",
    "Right Foot",
    "Upper Leg Right",
    "Upper Leg Left",
    "Lower Leg Right",
    "Lower Leg Left",
    "Upper Arm Left",
    "Upper Arm Right",
    "Lower Arm Left",
    "Lower Arm Right",
    "Head",
)
NUM_MASK_PARTS = len(MASK_PART_NAMES)  # 14
MASK_PARTS = tuple(range(1, NUM_MASK_PARTS + 1))

# Display colours of the mask parts (RGB), for the annotator's palette and the review overlays: left parts
# warm, right parts cool, so a left/right mix-up shows at a glance. Chosen so that every two of them differ by at
# least 12 CIEDE2000 units for normal vision and under simulated deuteranopia, and none is near white or black
# (a mask must show on light and dark clothing); tests/test_parts.py checks it.
MASK_PART_COLORS = (
    (202, 23, 118),  # Torso (magenta)
    (46, 203, 255),  # Right Hand
    (201, 23, 0),  # Left Hand
    (210, 98, 97),  # Left Foot
    (79, 135, 255),  # Right Foot
    (7, 103, 110),  # Upper Leg Right
    (241, 192, 159),  # Upper Leg Left
    (14, 161, 162),  # Lower Leg Right
    (244, 96, 0),  # Lower Leg Left
    (252, 110, 165),  # Upper Arm Left
    (84, 218, 210),  # Upper Arm Right
    (255, 193, 65),  # Lower Arm Left
    (0, 85, 194),  # Lower Arm Right
    (0, 111, 50),  # Head
)

# --- charts (dp_I = 1..24) -------------------------------------------------------------------------------
CHART_NAMES = (
    "Torso Back",
    "Torso Front",
    "Right Hand",
    "Left Hand",
    "Left Foot",
    "Right Foot",
    "Upper Leg Right Back",
    "Upper Leg Left Back",
    "Upper Leg Right Front",
    "Upper Leg Left Front",
    "Lower Leg Right Back",
    "Lower Leg Left Back",
    "Lower Leg Right Front",
    "Lower Leg Left Front",
    "Upper Arm Left Back",
    "Upper Arm Right Back",
    "Upper Arm Left Front",
    "Upper Arm Right Front",
    "Lower Arm Left Back",
    "Lower Arm Right Back",
    "Lower Arm Left Front",
    "Lower Arm Right Front",
    "Head Right",
    "Head Left",
)
NUM_CHARTS = len(CHART_NAMES)  # 24
CHARTS = tuple(range(1, NUM_CHARTS + 1))

# chart id -> mask part label (REFERENCE.md: 1,2 Torso; 3 Right Hand; ...; 23,24 Head)
CHART_TO_MASK_PART = MappingProxyType(
    {
        1: 1, 2: 1,
        3: 2, 4: 3, 5: 4, 6: 5,
        7: 6, 9: 6, 8: 7, 10: 7,
        11: 8, 13: 8, 12: 9, 14: 9,
        15: 10, 17: 10, 16: 11, 18: 11,
        19: 12, 21: 12, 20: 13, 22: 13,
        23: 14, 24: 14,
    }
)  # fmt: skip
MASK_PART_TO_CHARTS = MappingProxyType(
    {part: tuple(c for c in CHARTS if CHART_TO_MASK_PART[c] == part) for part in MASK_PARTS}
)

# Horizontal flip: index = label / chart id, value = the id after mirroring the image (0 = background).
MASK_FLIP = (0, 1, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 14)
CHART_FLIP = (0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21, 24, 23)


# COCO person keypoints (DensePose-COCO keeps them) and their skeleton (1-based pairs, as COCO writes it).
COCO_KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)  # fmt: skip
# Horizontal flip of COCO keypoints: index -> the index after mirroring the image (left and right swap).
COCO_KEYPOINT_FLIP = tuple(
    COCO_KEYPOINT_NAMES.index(n.replace("left_", "@").replace("right_", "left_").replace("@", "right_"))
    for n in COCO_KEYPOINT_NAMES
)
COCO_SKELETON = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9), (8, 10),
    (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)  # fmt: skip


# A keypoint marked visible (v = 2) means the person shows the part(s) around it: used to warn an annotator
# who submits without them (a warning, not a rule: the part may be hidden by something in front).
KEYPOINT_PARTS = MappingProxyType(
    {
        "nose": (14,), "left_eye": (14,), "right_eye": (14,),
        "left_shoulder": (1,), "right_shoulder": (1,), "left_hip": (1,), "right_hip": (1,),
        "left_elbow": (10, 12), "right_elbow": (11, 13), "left_wrist": (12,), "right_wrist": (13,),
        "left_knee": (7, 9), "right_knee": (6, 8), "left_ankle": (9,), "right_ankle": (8,),
    }
)  # fmt: skip
ALWAYS_EXPECTED_PARTS = (1, 14)  # torso and head: nearly every annotated person shows them


def expected_parts(keypoints) -> list[int]:
    """Mask parts a person obviously has: torso and head, plus those next to visible COCO keypoints."""
    found = set(ALWAYS_EXPECTED_PARTS)
    if keypoints and len(keypoints) == 3 * len(COCO_KEYPOINT_NAMES):
        for k, name in enumerate(COCO_KEYPOINT_NAMES):
            if keypoints[3 * k + 2] == 2:
                found.update(KEYPOINT_PARTS.get(name, ()))
    return sorted(found)


SIDE_VIEW_MARGIN = 0.15  # left and right keypoints closer than this share of their distance apart: side on


def seen_from(keypoints) -> str | None:
    """ "front" or "back": whether the camera sees the person from the front (their right on the image's left)
    or from behind, by their visible shoulders (or, without both, hips); None when no pair shows or the person
    is side on (the pair's horizontal gap under SIDE_VIEW_MARGIN of its length)."""
    if not keypoints or len(keypoints) != 3 * len(COCO_KEYPOINT_NAMES):
        return None
    for pair in ("shoulder", "hip"):
        left, right = (COCO_KEYPOINT_NAMES.index(f"{side}_{pair}") for side in ("left", "right"))
        if keypoints[3 * left + 2] > 0 and keypoints[3 * right + 2] > 0:
            dx = keypoints[3 * left] - keypoints[3 * right]
            dy = keypoints[3 * left + 1] - keypoints[3 * right + 1]
            if abs(dx) < SIDE_VIEW_MARGIN * max((dx * dx + dy * dy) ** 0.5, 1e-9) or dx == 0:
                return None
            return "front" if dx > 0 else "back"
    return None


class UnknownPart(ValueError):
    pass


def mask_part_name(label: int) -> str:
    check_mask_part(label)
    return MASK_PART_NAMES[label - 1]


def chart_name(chart: int) -> str:
    check_chart(chart)
    return CHART_NAMES[chart - 1]


def check_mask_part(label) -> int:
    if not isinstance(label, int) or isinstance(label, bool) or not 1 <= label <= NUM_MASK_PARTS:
        raise UnknownPart(f"unknown body part {label!r}: mask parts are 1..{NUM_MASK_PARTS}")
    return label


def check_chart(chart) -> int:
    if not isinstance(chart, int) or isinstance(chart, bool) or not 1 <= chart <= NUM_CHARTS:
        raise UnknownPart(f"unknown chart {chart!r}: charts are 1..{NUM_CHARTS}")
    return chart
