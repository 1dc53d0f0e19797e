"""Per-body-model assets: charts, six views per part with id and depth buffers, pictures, contact sheet, and the
whole body from the front and back (the stage-2 reviewer's overview).

``ensure_assets(body, cache_dir)`` builds them once per content hash (template + the code constants that
shape them) into ``cache_dir/assets/<body>-<hash>/`` and returns that folder; a second call with nothing
changed does no work. ``load_assets(folder)`` reads them for click mapping.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import parts
from pipeline.body import BodyModel, load_body_model
from pipeline.body.base import BodyTemplate, vertex_normals
from pipeline.charts import build_charts
from pipeline.charts.build import CHARTS_VERSION
from pipeline.render import views as V
from pipeline.render.camera import Camera
from pipeline.render.overview import build_overview
from pipeline.render.raster import NO_FACE

ASSET_FORMAT = "4"  # bump whenever the views, pictures or buffers change
CONTACT_THUMB = 160
Progress = Callable[[float, str], None]


@dataclass
class Assets:
    folder: Path
    body: str
    key: str
    vertices: np.ndarray  # (V, 3)
    faces: np.ndarray  # (F, 3)
    face_part: np.ndarray  # (F,) 1..14
    face_chart: np.ndarray  # (F,) 1..24
    corner_uv: np.ndarray  # (F, 3, 2)
    exterior: np.ndarray  # (F,) bool: can be seen from outside
    cameras: list[list[Camera]]  # [part - 1][view]
    face_ids: np.ndarray  # (14, 6, H, W) int32, NO_FACE where the part is not seen
    depth: np.ndarray  # (14, 6, H, W) float32, inf where the part is not seen
    report: dict

    @property
    def size(self) -> int:
        return self.face_ids.shape[-1]

    def picture_path(self, part: int, view: int) -> Path:
        return self.folder / "views" / f"part{part:02d}-view{view}.png"


def asset_key(template: BodyTemplate, charts_source: str = "built") -> str:
    digest = hashlib.sha256(charts_source.encode())
    for array in (template.vertices, template.faces, template.face_parts):
        digest.update(np.ascontiguousarray(array).tobytes())
    settings = [
        ASSET_FORMAT,
        CHARTS_VERSION,
        V.VIEW_SIZE,
        V.VIEWS_PER_PART,
        V.FOV_DEG,
        V.MARGIN,
        V.GRID_LINES,
        V.SUPERSAMPLE,
    ]
    digest.update(json.dumps(settings).encode())
    return digest.hexdigest()[:16]


def asset_folder(body: str, template: BodyTemplate, cache_dir: Path, charts_source: str = "built") -> Path:
    return Path(cache_dir) / "assets" / f"{body}-{asset_key(template, charts_source)}"


def ensure_assets(body: str | BodyModel, cache_dir: str | os.PathLike, progress: Progress | None = None) -> Path:
    """The asset folder for this body model, built if missing. ``progress(percent, message)``."""
    report = progress or (lambda percent, message: None)
    cache_dir = Path(cache_dir)
    model = load_body_model(body, cache_dir=cache_dir) if isinstance(body, str) else body
    report(0, f"loading the {model.name} body model (the first time takes about a minute)")
    template = model.template()
    folder = asset_folder(model.name, template, cache_dir, model.charts_source())
    if (folder / "report.json").exists():
        report(100, f"assets up to date in {folder.name}")
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    # One builder at a time (two workers, or a worker and a command): the others wait, then find it built.
    with open(folder.with_name(folder.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "report.json").exists():
            report(100, f"assets up to date in {folder.name} (built meanwhile)")
            return folder
        tmp = folder.with_name(folder.name + ".building")
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "views").mkdir(parents=True)
        _build(model, template, tmp, report)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    id_buffers(folder)
    report(100, f"assets built in {folder.name}")
    return folder


ID_BUFFERS_FILE = "face_ids.npy"


def id_buffers(folder: str | os.PathLike) -> np.ndarray:
    """The views' id buffers, ``Assets.face_ids`` (part - 1, view, row, col), memory-mapped: what a web process needs
    to check where a click lands, without reading the whole asset file (seconds, and 170 MB a process). Written
    beside ``assets.npz`` the first time it is asked for."""
    folder = Path(folder)
    path = folder / ID_BUFFERS_FILE
    if not path.exists():
        with np.load(folder / "assets.npz") as data:
            ids = data["face_ids"]
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, ids)
        os.replace(tmp, path)  # two processes at once both write the same bytes; neither reads half a file
    return np.load(path, mmap_mode="r")


def _build(model: BodyModel, template: BodyTemplate, out: Path, report: Progress) -> None:
    from PIL import Image

    timings = {}
    start = time.monotonic()
    official = model.official_charts()
    report(5, "reading the model's own charts" if official else "cutting and unwrapping the 24 charts")
    charts = official or build_charts(template)
    timings["charts_s"] = round(time.monotonic() - start, 2)

    t0 = time.monotonic()
    report(10, "finding the faces one can see from outside")
    exterior = V.exterior_faces(template)
    timings["exterior_s"] = round(time.monotonic() - t0, 2)

    mesh = template.with_occluders()
    normals = vertex_normals(mesh.vertices, mesh.faces)
    n = V.VIEW_SIZE
    face_ids = np.full((parts.NUM_MASK_PARTS, V.VIEWS_PER_PART, n, n), NO_FACE, dtype=np.int32)
    depth = np.full(face_ids.shape, np.inf, dtype=np.float32)
    cameras, coverage, thumbs = [], [], []
    render_s = []
    for part in parts.MASK_PARTS:
        report(12 + 85 * (part - 1) / parts.NUM_MASK_PARTS, f"rendering the six views of {parts.mask_part_name(part)}")
        pv = V.part_views(template, part, exterior)
        cameras.append([view.camera.to_dict() for view in pv.views])
        row = []
        for view in pv.views:
            t0 = time.monotonic()
            face_ids[part - 1, view.index] = view.face_ids
            buffers = V.surface_buffers(template, view.camera, view.face_ids)
            depth[part - 1, view.index] = buffers.depth
            picture = V.render_picture(template, charts.face_chart, charts.corner_uv, view, normals)
            Image.fromarray(picture).save(out / "views" / f"part{part:02d}-view{view.index}.png", optimize=True)
            row.append(np.asarray(Image.fromarray(picture).resize((CONTACT_THUMB, CONTACT_THUMB), Image.LANCZOS)))
            render_s.append(time.monotonic() - t0)
        thumbs.append(np.concatenate(row, axis=1))
        hidden = int(np.sum((template.face_parts == part) & ~exterior))
        coverage.append(
            {
                "part": part,
                "name": parts.mask_part_name(part),
                "faces": len(pv.faces),
                "hidden_faces": hidden,
                "coverage_faces": round(pv.coverage_faces, 5),
                "coverage_area": round(pv.coverage_area, 5),
                "unseen_faces": len(pv.unseen_faces),
                "directions": [np.round(v.direction, 4).tolist() for v in pv.views],
                "labels": [V.direction_label(v.direction) for v in pv.views],
            }
        )
    timings["ms_per_view"] = round(1000 * float(np.mean(render_s)), 1)
    report(97, "rendering the whole body from the front and the back (the reviewer's overview)")
    overview_cameras = build_overview(template, normals, out)
    _contact_sheet(np.concatenate(thumbs, axis=0), out / "contact_sheet.png")

    report(98, "writing the asset files")
    np.savez_compressed(
        out / "assets.npz",
        vertices=template.vertices,
        faces=template.faces,
        face_part=template.face_parts,
        face_chart=charts.face_chart,
        corner_uv=charts.corner_uv,
        exterior=exterior,
        face_ids=face_ids,
        depth=depth,
    )
    timings["total_s"] = round(time.monotonic() - start, 1)
    result = {
        "body": model.name,
        "charts_source": model.charts_source(),
        "template_version": template.version,
        "key": out.name.split("-")[-1].removesuffix(".building"),
        "view_size": V.VIEW_SIZE,
        "cameras": cameras,
        "overview_cameras": overview_cameras,
        "charts": charts.metrics_table(),
        "coverage": coverage,
        "timings": timings,
    }
    (out / "report.json").write_text(json.dumps(result, indent=1))


def _contact_sheet(grid: np.ndarray, path: Path) -> None:
    from PIL import Image, ImageDraw

    label_w = 150
    sheet = Image.new("RGB", (grid.shape[1] + label_w, grid.shape[0]), (255, 255, 255))
    sheet.paste(Image.fromarray(grid), (label_w, 0))
    draw = ImageDraw.Draw(sheet)
    for part in parts.MASK_PARTS:
        y = (part - 1) * CONTACT_THUMB + CONTACT_THUMB // 2 - 6
        draw.text((8, y), f"{part:2d} {parts.mask_part_name(part)}", fill=(30, 35, 48))
    sheet.save(path, optimize=True)


def load_assets(folder: str | os.PathLike) -> Assets:
    folder = Path(folder)
    report = json.loads((folder / "report.json").read_text())
    with np.load(folder / "assets.npz") as data:
        arrays = {name: data[name] for name in data.files}
    return Assets(
        folder=folder,
        body=report["body"],
        key=report["key"],
        vertices=arrays["vertices"],
        faces=arrays["faces"],
        face_part=arrays["face_part"],
        face_chart=arrays["face_chart"],
        corner_uv=arrays["corner_uv"],
        exterior=arrays["exterior"],
        cameras=[[Camera.from_dict(c) for c in views] for views in report["cameras"]],
        face_ids=arrays["face_ids"],
        depth=arrays["depth"],
        report=report,
    )
