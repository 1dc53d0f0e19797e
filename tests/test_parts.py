"""The DensePose constants agree with each other (two tables typed from REFERENCE.md, cross-checked), and the
part colours can be told apart."""

import numpy as np
import pytest

from pipeline import parts


def swap_sides(name: str) -> str:
    return name.replace("Left", "@").replace("Right", "Left").replace("@", "Right")


def test_every_chart_lies_in_the_mask_part_its_name_says():
    assert len(parts.CHART_NAMES) == 24 and len(parts.MASK_PART_NAMES) == 14
    for chart in parts.CHARTS:
        part_name = parts.mask_part_name(parts.CHART_TO_MASK_PART[chart])
        chart_name = parts.chart_name(chart)
        stripped = chart_name.removesuffix(" Front").removesuffix(" Back")
        if part_name == "Head":
            stripped = "Head"
        assert stripped == part_name, (chart, chart_name, part_name)
    assert sum(len(c) for c in parts.MASK_PART_TO_CHARTS.values()) == 24


def test_flip_tables_swap_left_and_right_and_are_involutions():
    for table, name in ((parts.MASK_FLIP, parts.mask_part_name), (parts.CHART_FLIP, parts.chart_name)):
        assert table[0] == 0
        for i in range(1, len(table)):
            assert table[table[i]] == i
            assert name(table[i]) == swap_sides(name(i)), (i, name(i), name(table[i]))


def test_flips_commute_with_the_chart_to_part_map():
    for chart in parts.CHARTS:
        assert parts.MASK_FLIP[parts.CHART_TO_MASK_PART[chart]] == parts.CHART_TO_MASK_PART[parts.CHART_FLIP[chart]]


@pytest.mark.parametrize("bad", [0, 15, -1, "3", 2.0, True, None])
def test_unknown_part_is_a_clear_error(bad):
    with pytest.raises(parts.UnknownPart, match="unknown body part"):
        parts.check_mask_part(bad)


# --- the palette: legible for normal vision and under deuteranopia ---------------------------------------------
# Deuteranopia (severity 1) in linear RGB, Machado, Oliveira and Fernandes (2009).
DEUTERANOPIA = np.array(
    [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]]
)
SRGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
D65 = np.array([0.95047, 1.0, 1.08883])


def lab(rgb, simulate=None) -> np.ndarray:
    c = np.asarray(rgb, dtype=np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    if simulate is not None:
        linear = np.clip(linear @ simulate.T, 0, 1)
    xyz = linear @ SRGB_TO_XYZ.T / D65
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def ciede2000(lab1, lab2) -> np.ndarray:
    """Sharma, Wu and Dalal (2005)."""
    L1, a1, b1 = np.moveaxis(np.asarray(lab1, dtype=np.float64), -1, 0)
    L2, a2, b2 = np.moveaxis(np.asarray(lab2, dtype=np.float64), -1, 0)
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    h1, h2 = np.degrees(np.arctan2(b1, a1)) % 360, np.degrees(np.arctan2(b2, a2)) % 360
    dh = (h2 - h1 + 180) % 360 - 180
    dh = np.where(c1 * c2 == 0, 0, dh)
    d_l, d_c, d_h = L2 - L1, c2 - c1, 2 * np.sqrt(c1 * c2) * np.sin(np.radians(dh / 2))
    l_mean, c_mean = (L1 + L2) / 2, (c1 + c2) / 2
    h_sum = h1 + h2
    h_mean = np.where(np.abs(h1 - h2) > 180, np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2), h_sum / 2)
    h_mean = np.where(c1 * c2 == 0, h_sum, h_mean)
    t = (1 - 0.17 * np.cos(np.radians(h_mean - 30)) + 0.24 * np.cos(np.radians(2 * h_mean))
         + 0.32 * np.cos(np.radians(3 * h_mean + 6)) - 0.20 * np.cos(np.radians(4 * h_mean - 63)))  # fmt: skip
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c, s_h = 1 + 0.045 * c_mean, 1 + 0.015 * c_mean * t
    r_c = 2 * np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7))
    r_t = -np.sin(np.radians(60 * np.exp(-(((h_mean - 275) / 25) ** 2)))) * r_c
    return np.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h))


def test_colour_difference_matches_published_pairs():
    # Sharma et al.'s test data: pairs 1 and 7
    assert ciede2000([50, 2.6772, -79.7751], [50, 0, -82.7485]) == pytest.approx(2.0425, abs=1e-4)
    assert ciede2000([50, 0, 0], [50, -1, 2]) == pytest.approx(2.3669, abs=1e-4)


def palette_report(simulate=None) -> tuple[float, str, str]:
    colours = lab(np.array(parts.MASK_PART_COLORS), simulate)
    d = ciede2000(colours[:, None], colours[None, :])
    d[np.diag_indices(len(colours))] = np.inf
    i, j = np.unravel_index(np.argmin(d), d.shape)
    return float(d[i, j]), parts.MASK_PART_NAMES[i], parts.MASK_PART_NAMES[j]


@pytest.mark.parametrize("vision", ["normal", "deuteranopia"])
def test_every_two_part_colours_are_told_apart(vision):
    smallest, a, b = palette_report(DEUTERANOPIA if vision == "deuteranopia" else None)
    assert smallest >= 12, f"{a} and {b} differ by only {smallest:.1f} CIEDE2000 units for {vision}"


def test_no_part_colour_is_near_white_or_black():
    # a white torso vanished on light clothing (and its swatch looked like an empty checkbox)
    lightness = lab(np.array(parts.MASK_PART_COLORS))[:, 0]
    for name, value in zip(parts.MASK_PART_NAMES, lightness, strict=True):
        assert 35 <= value <= 85, f"{name}: L* {value:.0f}"


def test_left_parts_are_warm_and_right_parts_cool():
    import colorsys

    for name, colour in zip(parts.MASK_PART_NAMES, parts.MASK_PART_COLORS, strict=True):
        hue = 360 * colorsys.rgb_to_hls(*(np.array(colour) / 255))[0]
        if "Left" in name:
            assert hue <= 60 or hue >= 320, (name, hue)
        elif "Right" in name:
            assert 160 <= hue <= 270, (name, hue)


def keypoints(**points) -> list[float]:
    """COCO keypoints with the named ones visible at (x, y), the rest not labelled."""
    out = [0.0] * (3 * len(parts.COCO_KEYPOINT_NAMES))
    for name, (x, y) in points.items():
        k = parts.COCO_KEYPOINT_NAMES.index(name)
        out[3 * k : 3 * k + 3] = [x, y, 2]
    return out


@pytest.mark.parametrize(
    ("points", "seen"),
    [
        # facing the camera, the person's right shoulder is on the image's left
        ({"right_shoulder": (40, 50), "left_shoulder": (80, 52)}, "front"),
        ({"right_shoulder": (80, 50), "left_shoulder": (40, 52)}, "back"),
        # no shoulder pair: the hips tell
        ({"right_shoulder": (40, 50), "right_hip": (90, 120), "left_hip": (50, 121)}, "back"),
        # side on: the shoulders nearly one above the other
        ({"right_shoulder": (60, 40), "left_shoulder": (62, 60)}, None),
        ({"nose": (50, 20)}, None),
    ],
)
def test_keypoints_say_whether_a_person_is_seen_from_the_front_or_behind(points, seen):
    assert parts.seen_from(keypoints(**points)) == seen


def test_without_keypoints_nobody_knows_which_side_shows():
    assert parts.seen_from(None) is None and parts.seen_from([]) is None
