"""The body-model asset build as a job: charts, six views per part, buffers, contact sheet."""

from __future__ import annotations

import shutil
import threading

from django.conf import settings

from annotator_web.core.jobs import JobContext, JobError, job_kind
from annotator_web.core.models import Job
from pipeline.assets import asset_folder, ensure_assets
from pipeline.body import BODY_MODELS, BodyModelError, load_body_model

KIND = "build_assets"


def body_model(body: str):
    return load_body_model(body, cache_dir=settings.ASSET_CACHE_DIR, smpl_dir=settings.SMPL_MODEL_DIR)


_folders: dict[tuple[str, str], object] = {}


def built_asset_folder(body: str):
    """The folder of ``body``'s built assets, or None while they are not built. Found once per process and cache
    folder (naming it loads the body model and hashes its template, milliseconds that a request should not pay):
    a process sees body-model files replaced under it only once restarted."""
    key = (body, str(settings.ASSET_CACHE_DIR))
    known = _folders.get(key)
    if known is not None and (known / "report.json").exists():
        return known
    folder = _find_asset_folder(body)
    if folder is not None:
        _folders[key] = folder
    return folder


def _find_asset_folder(body: str):
    try:
        model = body_model(body)
    except BodyModelError:
        return None
    if not model.has_cached_template():
        return None
    folder = asset_folder(body, model.template(), settings.ASSET_CACHE_DIR, model.charts_source())
    return folder if (folder / "report.json").exists() else None


def assets_ready(body: str) -> bool:
    return built_asset_folder(body) is not None


_mappers: dict[str, object] = {}
_checkers: dict[str, tuple] = {}
# a process's threads wait for one load instead of each reading the assets; a click check (milliseconds) never
# waits behind a mapper's load (seconds)
_loading_mapper, _loading_checker = threading.Lock(), threading.Lock()


def click_mapper(body: str):
    """The click mapper of a body model's built assets, loaded once per process (seconds: the worker maps clicks,
    a web request only checks them with :func:`click_checker`); None when not built."""
    from pipeline.assets import load_assets
    from pipeline.correspond import ClickMapper

    folder = built_asset_folder(body)
    if folder is None:
        return None
    with _loading_mapper:
        cached = _mappers.get(body)
        if cached is None or cached.assets.folder != folder:
            cached = _mappers[body] = ClickMapper(load_assets(folder))
    return cached


def click_checker(body: str):
    """Where clicks land on a body model's views (the id buffers, memory-mapped, shared by every process); None
    when the assets are not built."""
    from pipeline.assets import id_buffers
    from pipeline.correspond import ClickChecker

    folder = built_asset_folder(body)
    if folder is None:
        return None
    with _loading_checker:
        cached = _checkers.get(body)
        if cached is None or cached[0] != folder:
            cached = _checkers[body] = (folder, ClickChecker(id_buffers(folder)))
    return cached[1]


_overviews: dict[str, tuple] = {}


def body_overview(body: str):
    """The whole-body front and back pictures' cameras and depth (a few MB), loaded once per process; None when
    the assets are not built."""
    import json

    from pipeline.render.overview import load_overview

    folder = built_asset_folder(body)
    if folder is None:
        return None
    cached = _overviews.get(body)
    if cached is None or cached[0] != folder:
        report = json.loads((folder / "report.json").read_text())
        cached = _overviews[body] = (folder, load_overview(folder, report))
    return cached[1]


def _asset_key(folder) -> str:
    """The asset build's key (the folder is ``<body>-<key>``): asset URLs carry it, so browsers may cache them."""
    return folder.name.rsplit("-", 1)[-1]


def overview_picture_url(body: str, side: str) -> str | None:
    from django.urls import reverse

    folder = built_asset_folder(body)
    if folder is None:
        return None
    return reverse("api-body-overview", args=[body, side]) + f"?key={_asset_key(folder)}"


_lookups: dict[str, object] = {}


def chart_lookup(body: str):
    """(I, U, V) -> surface point on a body model's built charts, loaded once per process; None when not built."""
    from pipeline.charts.lookup import ChartLookup

    mapper = click_mapper(body)
    if mapper is None:
        return None
    cached = _lookups.get(body)
    if cached is None or cached[0] is not mapper:
        a = mapper.assets
        cached = _lookups[body] = (mapper, ChartLookup(a.vertices, a.faces, a.face_chart, a.corner_uv))
    return cached[1]


def chart_assets_folder(body: str, progress=None, build: bool = True):
    """The folder of a body model's chart-set files for detectron2 (built the first time, about a minute, unless
    ``build`` is False), or None while its assets (or, without ``build``, these files) are not built."""
    from pipeline.charts import interchange

    mapper = click_mapper(body)
    if mapper is None:
        return None
    if not build:
        return interchange.built(mapper.assets)
    return interchange.ensure(mapper.assets, body, progress)


def part_bundle_file(body: str, part: int):
    """The gzipped view bundle of one part for the browser (written once per asset build), or None while
    the assets are not built."""
    import gzip
    import os

    from pipeline.render.bundle import part_bundle

    folder = built_asset_folder(body)
    if folder is None:
        return None
    path = folder / "web" / f"part{part:02d}.bin.gz"
    if not path.exists():
        mapper = click_mapper(body)
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(gzip.compress(part_bundle(mapper.assets, part), compresslevel=6))
        os.replace(tmp, path)  # two requests at once both write the same bytes; neither sees half a file
    return path


def body_info(body: str) -> dict | None:
    """What the browser needs to fetch a body model's views (URLs carry the asset key, so they cache)."""
    from django.urls import reverse

    folder = built_asset_folder(body)
    if folder is None:
        return None
    key = _asset_key(folder)
    return {
        "name": body,
        "key": key,
        "bundle_url": reverse("api-body-bundle", args=[body, 0]).replace("/0/", "/{part}/") + f"?key={key}",
        "picture_url": reverse("api-body-picture", args=[body, 0, 0]).replace("/0/views/0", "/{part}/views/{view}")
        + f"?key={key}",
    }


@job_kind(KIND, title="Build body-model assets", queue="render", roles=("admin",))
def build_assets(job: Job, ctx: JobContext) -> dict:
    body = job.params.get("body", settings.BODY_MODEL)
    if body not in BODY_MODELS:
        raise JobError(f"unknown body model {body!r}; available: {', '.join(BODY_MODELS)}")
    try:
        folder = ensure_assets(body_model(body), settings.ASSET_CACHE_DIR,
                               progress=lambda p, m: ctx.progress(p * 0.8, m))  # fmt: skip
    except BodyModelError as exc:
        raise JobError(str(exc)) from None
    # the chart-set files for detectron2 and the evaluation too: built by this job, never inside a request
    chart_assets_folder(body, lambda p, m: ctx.progress(80 + p * 0.2, f"chart assets: {m}"))
    import json

    report = json.loads((folder / "report.json").read_text())
    out = ctx.output_dir
    shutil.copy(folder / "contact_sheet.png", out / "contact_sheet.png")
    shutil.copy(folder / "report.json", out / "report.json")
    coverage = {c["name"]: c["coverage_faces"] for c in report["coverage"]}
    return {
        "body": body,
        "folder": str(folder),
        "key": report["key"],
        "coverage_faces_min": min(coverage.values()),
        "coverage": coverage,
        "charts_disks": sum(1 for c in report["charts"] if c["is_disk"]),
        "charts_folds": sum(c["folds"] for c in report["charts"]),
        "timings": report["timings"],
        "result_path": (out / "contact_sheet.png").relative_to(settings.MEDIA_ROOT).as_posix(),
        "message": f"{body} assets ready ({folder.name}); 84 views, contact sheet attached",
    }
