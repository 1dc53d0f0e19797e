"""Pre-annotation on the real stack: the job runs in the worker, a bad checkpoint fails it before anything is
written, and in the browser an annotator confirms a proposed point with Enter and corrects another with a
click; the database records which was which."""

import pytest

from annotator_web.data.models import Project
from annotator_web.work.models import Correspondence, SampledPoint, Task
from tests.conftest import PASSWORD, SHOTS
from tests.helpers import log_in, wait_task_state
from tests.perfect import true_masks
from tests.stack import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.stack]
FINISHED = ("succeeded", "failed", "cancelled")


@pytest.fixture(autouse=True)
def orm_beside_playwright(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")


def run_job(stack, kind, params):
    job = stack.post("/api/jobs", {"kind": kind, "params": params})
    assert job.status_code == 201, job.text
    return stack.wait_job(job.json()["id"], lambda j: j["state"] in FINISHED, timeout=300)


@pytest.mark.parametrize("broker", ["filesystem"])
def test_the_annotator_confirms_one_proposal_with_enter_and_corrects_another(stack, assets, chromium, make_user):
    SHOTS.mkdir(parents=True, exist_ok=True)
    make_user("anna", "annotator")
    assert run_job(stack, "make_synthetic", {"project": "pre", "count": 1, "seed": 5})["state"] == "succeeded"
    Project.objects.filter(name="pre").update(review_fraction=0.0, preannotated_review_fraction=0.0)
    # stage 1 proposed by a checkpoint of the training module (untrained: the mechanics, not the masks)
    from tests.test_preannotate_queue import checkpoint

    (stack.media / "runs").mkdir(parents=True, exist_ok=True)
    checkpoint(stack.media / "runs" / "tiny.pth", {"body": "anny", "asset_key": assets.key})
    done = run_job(stack, "preannotate", {"project": "pre", "stage": "1", "checkpoint": "runs/tiny.pth"})
    assert done["state"] == "succeeded" and done["result"]["tasks"] == Task.objects.filter(stage=1).count(), done
    page, errors = log_in(chromium, stack.url, "anna")
    page.select_option("#project", "pre")
    page.click("#start")
    page.locator(".palette .part").first.wait_for()
    assert "A model proposed these part masks" in page.locator(".notice").inner_text()
    badges = page.locator(".palette .proposal-confidence")
    proposed_parts = len(Task.objects.filter(stage=1).order_by("-priority", "id").first().proposal["confidence"])
    assert badges.count() == proposed_parts > 0 and badges.first.inner_text().endswith("%")
    page.screenshot(path=str(SHOTS / "annotate-stage1-proposal.png"))
    page.close()
    anna = stack.as_user("anna", PASSWORD)
    task = anna.post("/api/tasks/next", {"project": "pre", "stage": 1}).json()
    assert task["proposal"]["dp_masks"] and task["draft"] is None
    assert anna.post(f"/api/tasks/{task['id']}/submit", {"key": "m", "data": {"dp_masks": true_masks(task)}}).ok
    wait_task_state(task["id"], ("done",))
    Project.objects.filter(name="pre").update(preannotated_review_fraction=1.0)
    stage2 = Task.objects.get(person_id=task["person"]["id"], stage=2)

    # a checkpoint outside the data folder, or none at all: the job is refused at the start with the reason
    for path, reason in (("/etc/passwd", "inside the data folder"), ("runs/none", "no such checkpoint")):
        params = {"project": "pre", "stage": "2", "checkpoint": path}
        refused = stack.post("/api/jobs", {"kind": "preannotate", "params": params})
        assert refused.status_code == 400 and reason in refused.json()["params"][0], refused.text
    assert Task.objects.get(pk=stage2.pk).proposal is None
    # a model of known quality (the truth, 2 cm off): proposals on the pending stage-2 task
    done = run_job(stack, "preannotate", {"project": "pre", "stage": "2", "source": "truth+noise", "noise_mm": 20})
    assert done["state"] == "succeeded" and done["result"]["tasks"] == 1, done
    proposal = Task.objects.get(pk=stage2.pk).proposal
    points = list(SampledPoint.objects.filter(person_id=task["person"]["id"]))
    proposed = [p for p in points if str(p.pk) in proposal["points"]]
    assert len(proposed) >= 0.8 * len(points)

    page, errors = log_in(chromium, stack.url, "anna")
    page.select_option("#project", "pre")
    page.select_option("#stage", "2")
    page.click("#start")
    page.locator(".view-cell img").first.wait_for()
    page.evaluate("window.__advanceMs = 1e9")
    assert "A model proposed" in page.locator(".notice").inner_text()
    assert page.locator(".point-progress .dot.proposed").count() == len(proposed)
    order = [p.pk for p in points]  # the app's order: the sampled points' (part, order)
    first = order.index(proposed[0].pk)
    for _ in range(first):
        page.keyboard.press("KeyU")
    # the proposal shows on the views (a diamond, on every view that sees it), Enter takes it and moves on
    wait_until(page, "document.querySelectorAll('.view-cell.shown-point').length >= 1")
    assert "The model proposes" in page.locator(".point-info").inner_text()
    page.screenshot(path=str(SHOTS / "annotate-stage2-proposal.png"))
    page.keyboard.press("Enter")
    wait_until(page, f"document.querySelector('.point-title').textContent.includes('point {first + 2} of')")
    # the next proposed point: corrected with a click on the middle of the view that shows the part best
    second = next(k for k in range(first + 1, len(order)) if str(order[k]) in proposal["points"])
    for _ in range(first + 1, second):
        page.keyboard.press("KeyU")
    part = points[second].part
    wait_until(page, f"document.querySelectorAll(\".view-cell[data-part='{part}']\").length === 6")
    clicks = page.evaluate("window.__viewClicks || 0")
    view = proposal["points"][str(order[second])]["view"]
    box = page.locator(".view-overlay").nth(view).bounding_box()
    from tests.test_annotator_ui import part_pixel

    x, y = part_pixel(assets, part, view)
    page.mouse.click(box["x"] + x / 512 * box["width"], box["y"] + y / 512 * box["height"])
    wait_until(page, f"window.__viewClicks === {clicks + 1}")
    assert page.locator(".view-cell.chosen").count() == 1
    page.keyboard.press("ArrowRight")
    for _ in range(second + 1, len(order)):
        page.keyboard.press("KeyU")
    page.keyboard.press("Control+Enter")
    page.locator(".notice", has_text="submitted").wait_for(timeout=15_000)
    wait_task_state(stage2.pk, ("review",))  # pre-annotated work goes to review (its fraction is 1)
    stored = Correspondence.objects.filter(point__person_id=task["person"]["id"])
    origin = dict(stored.values_list("point_id", "origin"))
    assert origin[order[first]] == "confirmed"
    assert origin[order[second]] == "corrected"
    for k, pk in enumerate(order):
        if k not in (first, second):  # answered "unsure": a proposal replaced, or no proposal at all
            assert origin[pk] == ("corrected" if str(pk) in proposal["points"] else "click")
    stored = Correspondence.objects.get(point_id=order[first])
    given = proposal["points"][str(order[first])]
    assert (stored.view, stored.click_x, stored.click_y) == (given["view"], given["x"], given["y"])
    assert not errors, errors
