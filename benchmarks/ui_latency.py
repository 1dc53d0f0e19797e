"""Stage 2 in the browser: time from a click on a view to the frame that shows the point on all six views.

    .venv/bin/python benchmarks/ui_latency.py [--clicks 300] [--asset-cache test-artifacts/cache]

It makes a synthetic project in a temporary data folder (SQLite, file broker), answers stage 1 with the true
masks, starts gunicorn, and drives Debian's Chromium through Playwright: an annotator opens the stage-2 task
and clicks random spots of the views, point after point. The page records each click's latency
(``window.__clickLatencies``, in the app's test build, frontend/dist-test: from the pointer event to the next
animation frame after the markers are drawn);
misses (off the part) are not timed. Prints one table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "bench-password-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(env: dict) -> None:
    """Migrate, make the annotator, a synthetic project and one person's stage-2 task."""
    os.environ.update(env)
    from annotator_web.datadir import DataDir

    DataDir(Path(env["DATA_DIR"])).ensure()
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from rest_framework.test import APIClient

    from annotator_web.studies.synthetic import make_synthetic
    from annotator_web.work import services
    from annotator_web.work.models import Task
    from tests.perfect import perfect_masks, run_processing_jobs

    settings.ALLOWED_HOSTS.append("testserver")
    call_command("migrate", verbosity=0)
    anna = User.objects.create_user("anna", password=PASSWORD)
    anna.groups.add(Group.objects.get_or_create(name="annotator")[0])
    admin = User.objects.create_user("root", password=PASSWORD, is_superuser=True)
    make_synthetic("bench", count=2, seed=11)
    api = APIClient()
    api.force_authenticate(anna)
    task = perfect_masks(api, "bench")
    run_processing_jobs()
    services.review(admin, task["id"], "accept")
    assert Task.objects.filter(stage=2).exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=300)
    parser.add_argument("--asset-cache", default=str(ROOT / "test-artifacts" / "cache"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if not (ROOT / "frontend" / "dist-test" / "annotate" / "app.js").exists():
        sys.exit("the app's test build reports the latencies: build it first (cd frontend && npm run build-test)")
    tmp = Path(tempfile.mkdtemp(prefix="ui-latency-"))
    env = {
        "FRONTEND_DIST": "frontend/dist-test",  # the build with the latency counters
        "APP_ENV": "test",
        "DATA_DIR": str(tmp / "data"),
        "EMBEDDED_BROKER": "1",
        "ASSET_CACHE_DIR": str(Path(args.asset_cache).resolve()),
        "DJANGO_SETTINGS_MODULE": "annotator_web.settings",
    }
    env.pop("DATABASE_URL", None)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    prepare(env)
    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "annotator_web.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1",
         "--threads", "4"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(url + "/login/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        latencies, misses, load_s = drive(url, args.clicks, np.random.default_rng(args.seed))
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    ms = np.asarray(latencies)
    print(f"\nstage-2 click -> markers on all six views, {len(ms)} clicks timed ({misses} misses), Chromium headless")
    print(f"{'':24}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}")
    print(f"{'latency (ms)':24}" + "".join(f"{np.percentile(ms, q):8.1f}" for q in (50, 95, 99)) + f"{ms.max():8.1f}")
    print(f"first view bundle + six pictures loaded in {load_s:.2f} s")


def drive(url: str, clicks: int, rng) -> tuple[list[float], int, float]:
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM_ARGS
    from tests.stack import wait_until

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url + "/login/")
        page.fill("input[name=username]", "anna")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        start = time.monotonic()
        page.goto(url + "/annotate/#project=bench&stage=2")
        wait_until(
            page,
            "document.querySelectorAll('.view-cell img').length === 6 && "
            "[...document.querySelectorAll('.view-cell img')].every((i) => i.complete && i.naturalWidth > 0)",
        )
        wait_until(page, "document.querySelector('.point-info').textContent.startsWith('Click')")
        load_s = time.monotonic() - start
        overlays = page.locator(".view-overlay")
        boxes = [overlays.nth(v).bounding_box() for v in range(6)]
        handled = 0
        n_points = int(page.locator(".point-title").inner_text().split(" of ")[-1])
        for k in range(clicks):
            box = boxes[int(rng.integers(6))]
            fx, fy = rng.uniform(0.3, 0.7, size=2)
            page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
            handled += 1
            wait_until(page, f"window.__viewClicks === {handled}")
            if k % 4 == 3:  # move on now and then: new parts load their bundles
                page.keyboard.press("ArrowRight" if (k // 4) % (2 * n_points) < n_points else "ArrowLeft")
                wait_until(page, "document.querySelector('.point-info').textContent !== ''")
        latencies = page.evaluate("window.__clickLatencies")
        browser.close()
    return latencies, handled - len(latencies), load_s


if __name__ == "__main__":
    main()
