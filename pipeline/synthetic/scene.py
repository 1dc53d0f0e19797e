"""Synthetic scenes of people with exact per-pixel DensePose ground truth.

An image has one to several people standing on a floor in front of a wall, seen by a random camera. Every
person pixel knows its person, mask part, chart I, U, V, face and barycentric coordinates and the 3-D point on
the T-pose template (the surface point a perfect annotator would click). Deterministic under (seed, index).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline import boxframe, parts
from pipeline.body.anny_backend import AnnyBody
from pipeline.body.base import vertex_normals
from pipeline.coco.densepose import encode_rle
from pipeline.render.camera import Camera
from pipeline.render.raster import NO_FACE, pixel_centres, rasterize_ids, ray_triangle
from pipeline.sampling import sample_points
from pipeline.synthetic.people import Person, sample_person, surface_colours

IMAGE_SIZES = ((640, 480), (480, 640), (640, 427), (640, 512))
MIN_VISIBLE_PIXELS = 600  # people with fewer visible pixels are marked "ignore" (like COCO's tiny people)


@dataclass
class PersonTruth:
    index: int  # 1-based instance id in the label maps
    bbox: list[float]  # COCO [x, y, w, h] of the visible pixels
    area: int  # visible pixels
    keypoints: list[float]  # 17 × (x, y, v): v = 2 visible, 1 in the image but hidden, 0 outside
    ignore: bool  # too small or too hidden to annotate
    person: Person
    segmentation: dict = field(default_factory=dict)  # COCO RLE of the visible pixels
    dp_masks: list = field(default_factory=list)  # 14 RLEs of the part masks in the 256 × 256 box frame
    points: list[dict] = field(default_factory=list)  # a perfect annotator's stage-2 answers


@dataclass
class SyntheticImage:
    image: np.ndarray  # (H, W, 3) uint8
    instance: np.ndarray  # (H, W) int16: 0 background, 1.. person index
    part: np.ndarray  # (H, W) uint8: mask part 1..14
    chart: np.ndarray  # (H, W) uint8: DensePose I 1..24
    uv: np.ndarray  # (H, W, 2) float32
    face: np.ndarray  # (H, W) int32: face of the body template, -1 on background
    bary: np.ndarray  # (H, W, 3) float32
    surface: np.ndarray  # (H, W, 3) float32: the point on the T-pose template
    depth: np.ndarray  # (H, W) float32, inf on background
    camera: Camera
    people: list[PersonTruth]
    seed: int
    index: int
    posed: list[np.ndarray] = field(default_factory=list)  # each person's posed vertices (world, metres)

    def part_masks_in_box(self, person: PersonTruth, size: int = parts.MASK_SIZE) -> np.ndarray:
        """The person's part label map resampled into the box frame (size × size), DensePose's dp_masks frame."""
        centres = np.arange(size) + 0.5
        rows, cols = boxframe.pixel(person.bbox, centres, centres, self.part.shape, scale=size)
        labels = self.part[rows[:, None], cols[None, :]]
        mine = self.instance[rows[:, None], cols[None, :]] == person.index
        return np.where(mine, labels, 0).astype(np.uint8)


class SceneGenerator:
    def __init__(self, body: AnnyBody, assets):
        """``assets``: the body's built assets (charts); ``body``: the anny model that poses people."""
        self.body = body
        self.template = body.template()
        self.faces = self.template.faces
        self.face_part = assets.face_part
        self.face_chart = assets.face_chart
        self.corner_uv = assets.corner_uv
        self.n_faces = len(self.faces)

    # --- composition -------------------------------------------------------------------------------------

    def generate(self, seed: int, index: int, size: tuple[int, int] | None = None) -> SyntheticImage:
        """Image ``index`` of the series ``seed``; ``size`` (width, height) fixes the image size."""
        rng = np.random.default_rng([seed, index])
        width, height = IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))]
        if size is not None:
            width, height = size
        n_people = int(rng.choice([1, 2, 3, 4], p=[0.4, 0.3, 0.2, 0.1]))
        people = [sample_person(rng) for _ in range(n_people)]
        spread = 0.3 + 0.45 * n_people
        for person in people:
            person.position = np.array([rng.uniform(-spread, spread), rng.uniform(-1.0, 1.5)])

        posed, keypoints = [], []
        for person in people:
            vertices, kps = self.body.posed_with_keypoints(person.pose, person.phenotype)
            c, s = np.cos(person.yaw), np.sin(person.yaw)
            turn = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
            centre = vertices.mean(axis=0)
            lift = -vertices[:, 2].min()
            place = np.array([person.position[0], person.position[1], 0.0])
            posed.append((vertices - [centre[0], centre[1], 0]) @ turn.T + place + [0, 0, lift])
            keypoints.append((kps - [centre[0], centre[1], 0]) @ turn.T + place + [0, 0, lift])

        camera = self._camera(rng, width, height, posed)
        return self._render(rng, camera, people, posed, keypoints, seed, index)

    def _camera(self, rng, width, height, posed) -> Camera:
        points = np.concatenate(posed)
        lo, hi = points.min(axis=0), points.max(axis=0)
        target = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, rng.uniform(0.6, 1.1)])
        fov = rng.uniform(40, 65)
        f = (width / 2) / np.tan(np.deg2rad(fov) / 2)
        radius = max(hi[0] - lo[0], hi[2] - lo[2], 1.0) / 2 + 0.2
        distance = radius * f / (min(width, height) / 2) * rng.uniform(0.8, 1.3)
        azimuth = rng.normal(0, 0.25)
        eye = target + distance * np.array([np.sin(azimuth), -np.cos(azimuth), 0.0])
        eye[2] = rng.uniform(0.9, 2.0)
        forward = target - eye
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0, 0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        rotation = np.stack([right, down, forward])
        return Camera(width, height, f, f, width / 2, height / 2, rotation, -rotation @ eye)

    # --- rendering ---------------------------------------------------------------------------------------

    def _render(self, rng, camera, people, posed, keypoints, seed, index) -> SyntheticImage:
        h, w = camera.height, camera.width
        n = self.n_faces
        all_vertices = np.concatenate(posed)
        all_faces = np.concatenate([self.faces + i * len(posed[0]) for i in range(len(posed))])
        ids = rasterize_ids(all_vertices, all_faces, camera).ravel()
        hit = np.flatnonzero(ids != NO_FACE)
        person_of = ids[hit] // n
        face = ids[hit] % n
        origin, dirs = camera.rays(pixel_centres(camera)[hit])
        bary, t = ray_triangle(origin, dirs, all_vertices[all_faces[ids[hit]]])

        instance = np.zeros(h * w, dtype=np.int16)
        instance[hit] = person_of + 1
        face_img = np.full(h * w, -1, dtype=np.int32)
        face_img[hit] = face
        bary_img = np.zeros((h * w, 3), dtype=np.float32)
        bary_img[hit] = bary
        part = np.zeros(h * w, dtype=np.uint8)
        part[hit] = self.face_part[face]
        chart = np.zeros(h * w, dtype=np.uint8)
        chart[hit] = self.face_chart[face]
        uv = np.zeros((h * w, 2), dtype=np.float32)
        uv[hit] = np.einsum("nk,nkj->nj", bary, self.corner_uv[face])
        surface = np.zeros((h * w, 3), dtype=np.float32)
        surface[hit] = np.einsum("nk,nkj->nj", bary, self.template.vertices[self.faces[face]])
        world = origin + t[:, None] * dirs
        depth = np.full(h * w, np.inf, dtype=np.float32)
        depth[hit] = camera.to_camera(world)[:, 2]

        image = self._background(rng, camera).reshape(-1, 3)
        light = np.array([rng.uniform(-0.6, 0.6), rng.uniform(-1.0, -0.3), rng.uniform(0.4, 1.0)])
        light /= np.linalg.norm(light)
        surface_hit = surface[hit]  # the person pixels' template points, gathered once for all people
        for p, person in enumerate(people):
            sel = person_of == p
            if not sel.any():
                continue
            f_sel, b_sel = face[sel], bary[sel]
            verts = posed[p]
            normal = vertex_normals(verts, self.faces)
            nrm = np.einsum("nk,nkj->nj", b_sel, normal[self.faces[f_sel]])
            nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
            texcoords = None
            if self.template.corner_texcoords is not None:
                texcoords = np.einsum("nk,nkj->nj", b_sel, self.template.corner_texcoords[f_sel])
            albedo = surface_colours(person, surface_hit[sel], self.face_part[f_sel], texcoords)
            lambert = np.clip(nrm @ light, 0, 1)
            facing = np.abs(np.einsum("ij,ij->i", nrm, dirs[sel]))  # darker towards the silhouette
            shade = 0.30 + 0.50 * lambert + 0.20 * facing
            image[hit[sel]] = albedo * shade[:, None]
        image = _camera_look(rng, image.reshape(h, w, 3))

        truths = []
        inst2d = instance.reshape(h, w)
        for p, person in enumerate(people):
            mask = inst2d == p + 1
            area = int(mask.sum())
            ys, xs = np.nonzero(mask)
            bbox = (
                [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
                if area
                else [0.0] * 4
            )
            kp = self._keypoints(camera, keypoints[p], inst2d, p + 1)
            truths.append(PersonTruth(p + 1, bbox, area, kp, area < MIN_VISIBLE_PIXELS, person))

        result = SyntheticImage(
            image=image,
            instance=inst2d,
            part=part.reshape(h, w),
            chart=chart.reshape(h, w),
            uv=uv.reshape(h, w, 2),
            face=face_img.reshape(h, w),
            bary=bary_img.reshape(h, w, 3),
            surface=surface.reshape(h, w, 3),
            depth=depth.reshape(h, w),
            camera=camera,
            people=truths,
            seed=seed,
            index=index,
            posed=[v.astype(np.float32) for v in posed],
        )
        for truth in truths:
            truth.segmentation = encode_rle(inst2d == truth.index)
            if not truth.ignore:
                labels = result.part_masks_in_box(truth)
                truth.dp_masks = [encode_rle(labels == part) for part in parts.MASK_PARTS]
                truth.points = perfect_annotations(result, truth, seed=seed * 1000 + index)
        return result

    def _keypoints(self, camera, points3d, instance, index) -> list[float]:
        xy, z = camera.project(points3d)
        out = []
        for (x, y), depth in zip(xy, z, strict=True):
            col, row = int(np.floor(x)), int(np.floor(y))
            if depth <= 0 or not (0 <= col < camera.width and 0 <= row < camera.height):
                out += [0.0, 0.0, 0]
                continue
            # visible when the keypoint falls on this person's own visible pixels (near them, for joints
            # that sit inside the body, e.g. the hips seen from the side)
            r0, r1, c0, c1 = max(row - 2, 0), row + 3, max(col - 2, 0), col + 3
            v = 2 if (instance[r0:r1, c0:c1] == index).any() else 1
            out += [round(float(x), 2), round(float(y), 2), v]
        return out

    def _background(self, rng, camera) -> np.ndarray:
        """Floor (tiles), a wall behind the people, sky where neither: perspective-correct, computed at half
        resolution (it is blurred a little afterwards anyway)."""
        full_h, full_w = camera.height, camera.width
        h, w = (full_h + 1) // 2, (full_w + 1) // 2
        half = Camera(
            w, h, camera.fx / 2, camera.fy / 2, camera.cx / 2, camera.cy / 2, camera.rotation, camera.translation
        )
        origin, dirs = half.rays(pixel_centres(half))
        img = np.zeros((h * w, 3))
        sky_top, sky_bottom = rng.uniform(150, 250, 3), rng.uniform(120, 240, 3)
        up = np.clip(dirs[:, 2] * 2 + 0.5, 0, 1)[:, None]
        img[:] = sky_bottom * (1 - up) + sky_top * up
        wall_y = rng.uniform(2.5, 6.0)
        wall_colour, wall2 = rng.uniform(90, 230, 3), rng.uniform(60, 230, 3)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_wall = (wall_y - origin[1]) / dirs[:, 1]
            t_floor = -origin[2] / dirs[:, 2]
        t_wall = np.where(t_wall > 0, t_wall, np.inf)
        t_floor = np.where(t_floor > 0, t_floor, np.inf)
        floor = t_floor < t_wall
        wall = np.isfinite(t_wall) & ~floor
        pw = origin + t_wall[:, None] * dirs
        stripe = rng.uniform(0.2, 0.8)
        on = (np.floor(pw[:, 0] / stripe) % 2 == 0) if rng.random() < 0.5 else np.ones(len(pw), dtype=bool)
        img[wall] = np.where(on[wall, None], wall_colour, wall_colour * 0.85 + wall2 * 0.15)
        pf = origin + np.where(np.isfinite(t_floor), t_floor, 0)[:, None] * dirs
        tile = rng.uniform(0.3, 1.0)
        checker = (np.floor(pf[:, 0] / tile) + np.floor(pf[:, 1] / tile)) % 2
        fa, fb = rng.uniform(60, 200, 3), rng.uniform(60, 200, 3)
        img[floor] = np.where(checker[floor, None] == 0, fa, fb)
        fade = np.clip(np.where(floor, t_floor, 0) / 25.0, 0, 0.6)[:, None]
        img = img * (1 - fade) + sky_bottom * fade
        return img.reshape(h, w, 3).repeat(2, axis=0).repeat(2, axis=1)[:full_h, :full_w]


def _camera_look(rng, image: np.ndarray) -> np.ndarray:
    """A little softness and sensor noise, so that edges are not perfectly aliased."""
    from scipy.ndimage import gaussian_filter

    soft = gaussian_filter(image.astype(np.float32), sigma=(0.6, 0.6, 0))
    h, w = soft.shape[:2]
    grain = rng.standard_normal(((h + 1) // 2, (w + 1) // 2, 1), dtype=np.float32) * 2.5
    soft += grain.repeat(2, axis=0).repeat(2, axis=1)[:h, :w]
    return np.clip(soft, 0, 255).astype(np.uint8)


def perfect_annotations(img: SyntheticImage, person: PersonTruth, seed: int = 0) -> list[dict]:
    """Stage 2 as a perfect annotator would answer it: points sampled by k-means in the person's part masks
    (box frame), each with the true chart I, U, V, face, barycentric and template point."""
    labels = img.part_masks_in_box(person)
    answers = []
    for part, points in sample_points(labels, seed=seed).items():
        for px, py in points:
            row, col = (int(k) for k in boxframe.pixel(person.bbox, px, py, img.part.shape))
            if img.instance[row, col] != person.index:
                continue
            answers.append(
                {
                    "part": int(part),
                    "box_xy": [float(px), float(py)],
                    "image_xy": [col + 0.5, row + 0.5],
                    "I": int(img.chart[row, col]),
                    "U": float(img.uv[row, col, 0]),
                    "V": float(img.uv[row, col, 1]),
                    "face": int(img.face[row, col]),
                    "bary": img.bary[row, col].astype(float).tolist(),
                    "surface": img.surface[row, col].astype(float).tolist(),
                }
            )
    return answers


_worker_generator = None


def _init_worker(cache_dir: str) -> None:
    global _worker_generator
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)  # one core each: the processes share the machine
    threadpool_limits(1)
    from pipeline.assets import ensure_assets, load_assets
    from pipeline.body import load_body_model

    body = load_body_model("anny", cache_dir=cache_dir)
    _worker_generator = SceneGenerator(body, load_assets(ensure_assets(body, cache_dir)))


def _generate_one(args) -> SyntheticImage:
    seed, index, size = args
    return _worker_generator.generate(seed, index, size=size)


class ParallelGenerator:
    """Several processes generating images of a series, in order: ``with ParallelGenerator(cache, 2) as g:
    for img in g.generate(seed, range(n)): ...`` (the same images as SceneGenerator.generate one by one)."""

    def __init__(self, cache_dir, workers: int = 2):
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.pool = ctx.Pool(workers, initializer=_init_worker, initargs=(str(cache_dir),))

    def generate(self, seed: int, indices, size=None):
        yield from self.pool.imap(_generate_one, [(seed, i, size) for i in indices], chunksize=1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.pool.terminate()
        self.pool.join()
