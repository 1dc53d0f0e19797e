"""Varied synthetic people: phenotypes, poses within plausible joint limits, skin and clothing.

Poses are rotations (axis-angle, radians) of anny bones relative to anny's rest A-pose, in anny's reference
frames, which are aligned with the body: about X, a negative angle swings a limb forward (-Y); about Y, a
negative angle raises the left arm (+X side) and a positive one the right arm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline import parts

POSE_FAMILIES = ("standing", "walking", "arms_raised", "sitting", "bending")

# Skin tones (sRGB), from light to dark.
SKIN_TONES = np.array(
    [[241, 206, 184], [224, 178, 150], [198, 152, 118], [168, 118, 86], [128, 86, 58], [92, 60, 42]], dtype=np.float64
)


def _parts_named(word: str) -> list[int]:
    return [i + 1 for i, name in enumerate(parts.MASK_PART_NAMES) if word in name]


_TORSO, _HEAD = _parts_named("Torso")[0], _parts_named("Head")[0]
_ARMS, _LEGS, _FEET = _parts_named("Arm"), _parts_named("Leg"), _parts_named("Foot")


@dataclass
class Person:
    phenotype: dict[str, float]
    family: str
    pose: dict[str, list[float]]  # anny bone -> rotation vector
    yaw: float  # turn about the vertical axis, radians; 0 faces the camera's side (-Y)
    position: np.ndarray  # (x, y) on the floor
    skin: np.ndarray  # RGB
    clothes: dict = field(default_factory=dict)


def sample_phenotype(rng: np.random.Generator) -> dict[str, float]:
    child = rng.random() < 0.2
    return {
        "gender": float(rng.random()),
        "age": float(rng.uniform(0.25, 0.42) if child else rng.uniform(0.45, 0.95)),
        "muscle": float(rng.uniform(0.2, 0.8)),
        "weight": float(rng.uniform(0.15, 0.85)),
        "height": float(rng.uniform(0.3, 0.7)),
        "proportions": float(rng.uniform(0.3, 0.7)),
    }


def _side(rng, left: float, right: float, jitter: float) -> tuple[float, float]:
    return left + rng.normal(0, jitter), right + rng.normal(0, jitter)


def sample_pose(rng: np.random.Generator, family: str) -> dict[str, list[float]]:
    """A pose of the given family with random variation inside joint limits."""
    if family not in POSE_FAMILIES:
        raise ValueError(f"unknown pose family {family!r}; known: {POSE_FAMILIES}")
    u = rng.uniform
    pose: dict[str, np.ndarray] = {}

    def rot(bone, x=0.0, y=0.0, z=0.0):
        pose[bone] = np.array([x, y, z]) + pose.get(bone, np.zeros(3))

    # arms come down from the A-pose by default, with some spread
    down_l, down_r = u(0.35, 0.75), u(0.35, 0.75)
    rot("upperarm01.L", x=u(-0.3, 0.3), y=down_l)
    rot("upperarm01.R", x=u(-0.3, 0.3), y=-down_r)
    rot("lowerarm01.L", x=-u(0.0, 0.6))
    rot("lowerarm01.R", x=-u(0.0, 0.6))
    rot("spine03", x=u(-0.08, 0.12), z=u(-0.15, 0.15))
    rot("neck01", x=u(-0.2, 0.3), z=u(-0.4, 0.4))
    if family == "walking":
        swing = u(0.25, 0.5)
        rot("upperleg01.L", x=-swing)
        rot("upperleg01.R", x=swing * u(0.5, 1.0))
        rot("lowerleg01.R", x=u(0.2, 0.7))
        rot("lowerleg01.L", x=u(0.0, 0.2))
        rot("upperarm01.L", x=swing * 0.8)
        rot("upperarm01.R", x=-swing * 0.8)
    elif family == "arms_raised":
        rot("upperarm01.L", y=-down_l - u(0.8, 1.6))
        rot("upperarm01.R", y=down_r + u(0.8, 1.6))
        rot("lowerarm01.L", x=-u(0.0, 0.8))
        rot("lowerarm01.R", x=-u(0.0, 0.8))
    elif family == "sitting":
        hip_l, hip_r = _side(rng, -u(1.2, 1.5), -u(1.2, 1.5), 0.05)
        rot("upperleg01.L", x=hip_l, z=u(-0.15, 0.0))
        rot("upperleg01.R", x=hip_r, z=u(0.0, 0.15))
        rot("lowerleg01.L", x=u(1.1, 1.5))
        rot("lowerleg01.R", x=u(1.1, 1.5))
        rot("upperarm01.L", x=-u(0.2, 0.6))
        rot("upperarm01.R", x=-u(0.2, 0.6))
    elif family == "bending":
        rot("spine03", x=u(0.3, 0.6))
        rot("spine02", x=u(0.2, 0.5))
        rot("upperarm01.L", x=-u(0.3, 0.9))
        rot("upperarm01.R", x=-u(0.3, 0.9))
        rot("lowerleg01.L", x=u(0.0, 0.3))
        rot("lowerleg01.R", x=u(0.0, 0.3))
    else:  # standing
        rot("upperleg01.L", z=u(-0.12, 0.0), x=u(-0.1, 0.1))
        rot("upperleg01.R", z=u(0.0, 0.12), x=u(-0.1, 0.1))
    return {bone: value.round(6).tolist() for bone, value in pose.items()}


def _colour(rng) -> np.ndarray:
    import colorsys

    h, light, s = rng.random(), rng.uniform(0.2, 0.75), rng.uniform(0.15, 0.8)
    return np.array(colorsys.hls_to_rgb(h, light, s)) * 255


def sample_clothes(rng: np.random.Generator) -> dict:
    """Top, bottoms and shoes: colours, patterns, and where sleeves and legs end (not at part borders)."""
    return {
        "top": _colour(rng),
        "top2": _colour(rng),
        "top_pattern": rng.choice(["plain", "stripes", "checks"], p=[0.5, 0.3, 0.2]),
        "stripe_period": float(rng.uniform(0.03, 0.09)),
        "sleeve_end": float(rng.uniform(0.18, 0.62)),  # |x| in the T-pose template where sleeves stop
        "bottom": _colour(rng),
        "bottom2": _colour(rng),
        "bottom_pattern": rng.choice(["plain", "stripes"], p=[0.8, 0.2]),
        "leg_end": float(rng.uniform(-0.78, -0.25)),  # template z where trousers or a skirt stop
        "shoes": _colour(rng) * 0.6,
        "hair": np.array([rng.uniform(20, 120)] * 3) * np.array([1.0, 0.8, 0.6]),
    }


def sample_person(rng: np.random.Generator, family: str | None = None) -> Person:
    family = family or str(rng.choice(POSE_FAMILIES, p=[0.3, 0.25, 0.15, 0.15, 0.15]))
    return Person(
        phenotype=sample_phenotype(rng),
        family=family,
        pose=sample_pose(rng, family),
        yaw=float(rng.uniform(-np.pi, np.pi) if rng.random() < 0.35 else rng.normal(0, 0.6)),
        position=np.zeros(2),
        skin=SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.92, 1.06),
        clothes=sample_clothes(rng),
    )


def surface_colours(
    person: Person, template_points: np.ndarray, face_part: np.ndarray, texcoords: np.ndarray | None = None
) -> np.ndarray:
    """Albedo (N, 3) for surface points given by their T-pose template position, mask part and (if the model
    has them) texture coordinates for the skin's detail."""
    from pipeline.synthetic.skin import skin_albedo

    c = person.clothes
    x, z = template_points[:, 0], template_points[:, 2]
    colour = skin_albedo(person.skin, texcoords)
    face_part = np.asarray(face_part)
    torso, head = face_part == _TORSO, face_part == _HEAD
    arm, leg, foot = np.isin(face_part, _ARMS), np.isin(face_part, _LEGS), np.isin(face_part, _FEET)

    top = (torso & (z > -0.02)) | (arm & (np.abs(x) < c["sleeve_end"]))
    bottom = (torso & (z <= -0.02)) | (leg & (z > c["leg_end"]))
    colour[top] = _pattern(c["top"], c["top2"], c["top_pattern"], c["stripe_period"], template_points[top])
    colour[bottom] = _pattern(c["bottom"], c["bottom2"], c["bottom_pattern"], 0.05, template_points[bottom])
    colour[foot] = c["shoes"]
    hair = head & (z > 0.66) & (template_points[:, 1] > -0.07)
    colour[hair] = c["hair"]
    return colour


def _pattern(a, b, kind, period, points) -> np.ndarray:
    if kind == "stripes":
        on = (np.floor(points[:, 2] / period) % 2) == 0
    elif kind == "checks":
        on = ((np.floor(points[:, 2] / period) + np.floor(points[:, 0] / period)) % 2) == 0
    else:
        on = np.ones(len(points), dtype=bool)
    return np.where(on[:, None], a, b)
