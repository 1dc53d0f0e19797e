"""Every page a team uses, at 1440x900 and at 800x600, in Chromium on the real stack: nothing spills sideways, the
controls a user needs are on screen, and a screenshot of each is kept (test-artifacts/screenshots/screens/) to
look at."""

import pytest

from annotator_web.data.models import Project
from annotator_web.work import services
from annotator_web.work.models import Task
from pipeline.correspond import ClickMapper
from tests.conftest import SHOTS
from tests.helpers import log_in, wait_task_state
from tests.perfect import perfect_masks, true_answers
from tests.stack import ASSET_CACHE, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.stack]
SIZES = ((1440, 900), (800, 600))
FINISHED = ("succeeded", "failed", "cancelled")


@pytest.fixture(autouse=True)
def orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")


def fits(page, *selectors: str) -> None:
    """No sideways scrolling, and each selector's first element lies wholly inside the window."""
    width = page.evaluate("window.innerWidth")
    scroll = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5)"
        ".slice(0, 6).map((e) => `${e.tagName.toLowerCase()}.${e.className} "
        "${Math.round(e.getBoundingClientRect().right)}`)"
    )
    assert scroll <= width, f"the page is {scroll} px wide in a {width} px window: {wide}"
    height = page.evaluate("window.innerHeight")
    for selector in selectors:
        box = page.locator(selector).first.bounding_box()
        assert box is not None, f"{selector} is not shown"
        inside = box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= width + 0.5
        assert inside and box["y"] + box["height"] <= height + 0.5, f"{selector} is off screen: {box}"


@pytest.mark.parametrize("broker", ["filesystem"])
def test_every_page_fits_at_1440x900_and_800x600(stack, chromium, make_user, assets, settings):
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    settings.ASSET_CACHE_DIR = ASSET_CACHE  # this process checks the clicks it submits, as the web server does
    out = SHOTS / "screens"
    out.mkdir(parents=True, exist_ok=True)
    anna = make_user("anna", "annotator")
    job = stack.post("/api/jobs", {"kind": "make_synthetic", "params": {"project": "look", "count": 2, "seed": 3}})
    assert stack.wait_job(job.json()["id"], lambda j: j["state"] in FINISHED, timeout=180)["state"] == "succeeded"
    Project.objects.filter(name="look").update(review_fraction=1.0)
    api = APIClient()
    api.force_authenticate(anna)
    # two people through stage 1 (the worker samples their points); one of them through stage 2, for review
    root = User.objects.get(username="root")
    stage2 = []
    for _ in range(2):
        task = perfect_masks(api, "look")
        wait_task_state(task["id"], ("review",), timeout=120)
        services.review(root, task["id"], "accept")
        stage2.append(Task.objects.get(person_id=task["person"]["id"], stage=2))
    mapper = ClickMapper(assets)
    task = api.post("/api/tasks/next", {"project": "look", "stage": 2}, format="json").json()
    answers, _ = true_answers(task, mapper, stack.media)
    body = {"key": "screens", "data": {"answers": answers}, "seconds_spent": 60.0}
    assert api.post(f"/api/tasks/{task['id']}/submit", body, format="json").status_code == 201
    wait_task_state(task["id"], ("review",), timeout=120)

    errors = []
    for w, h in SIZES:
        name = f"{w}x{h}"
        page, seen = log_in(chromium, stack.url, "anna", (w, h))

        page.goto(stack.url + "/annotate/#project=look&stage=1")
        page.locator(".palette .part").first.wait_for()
        canvas = "document.querySelector('.image-canvas')"  # laid out: the canvas fills its area
        wait_until(page, f"{canvas}.style.width === {canvas}.parentElement.clientWidth + 'px'")
        fits(page, "#submit", "#skip", ".tools", ".image-canvas")
        page.screenshot(path=str(out / f"annotate-stage1-{name}.png"))
        page.goto(stack.url + "/annotate/#project=look&stage=2")
        wait_until(page, "document.querySelectorAll('.view-cell[data-part]').length === 6")
        fits(page, "#submit", ".view-cell[data-view='5']", ".stage2 .nav", ".point-progress")
        cells = [page.locator(f".view-cell[data-view='{v}']").bounding_box() for v in range(6)]
        assert min(min(c["width"], c["height"]) for c in cells) >= 120, "every view big enough to click on"
        page.screenshot(path=str(out / f"annotate-stage2-{name}.png"))
        page.close()

        admin, seen_by_admin = log_in(chromium, stack.url, "root", (w, h))
        admin.goto(stack.url + "/review/#project=look&stage=2")
        admin.locator(".point-progress .dot").first.wait_for()
        admin.keyboard.press("KeyO")
        admin.locator(".review-overview").wait_for()
        fits(admin, "#accept", "#reject", ".overview-side[data-side='back']")
        admin.screenshot(path=str(out / f"review-overview-{name}.png"))
        for path, shot in (("/queues/", "queues"), ("/jobs/", "jobs"), (f"/jobs/{job.json()['id']}/", "job")):
            admin.goto(stack.url + path)
            admin.wait_for_load_state()
            fits(admin, "h1")
            admin.screenshot(path=str(out / f"{shot}-{name}.png"), full_page=True)
        admin.close()
        errors += seen + seen_by_admin
    assert not errors, errors
