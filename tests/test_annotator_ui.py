"""The annotator app in a real browser (Debian's Chromium through Playwright) on the real stack: an annotator
paints stage 1 with brush and polygon, a reviewer accepts it in the review page, the annotator clicks stage 2
on the six views; the database holds the masks and the mapped I, U, V."""

import io
import re
import time

import numpy as np
import pytest
from playwright.sync_api import Error as PlaywrightError

from annotator_web.data.models import Project
from annotator_web.work.models import Correspondence, PartMasks, SampledPoint, Task
from pipeline import boxframe, parts
from pipeline.coco.densepose import decode_rle
from tests import helpers
from tests.conftest import SHOTS
from tests.helpers import wait_task_state
from tests.stack import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.stack]
FINISHED = ("succeeded", "failed", "cancelled")
FIT_MARGIN = 0.15  # the app fits the person's box with this margin around it (Home)


@pytest.fixture(autouse=True)
def orm_beside_playwright(monkeypatch):
    """Playwright's sync API keeps an event loop in this thread; the test's own ORM calls run in turn with it."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")


def log_in(browser, stack, username):
    return helpers.log_in(browser, stack.url, username)


class BoxScreen:
    """Box-frame (0..256) coordinates -> screen pixels of the stage canvas, as the app fits the box."""

    def __init__(self, page, bbox):
        c = page.locator(".image-canvas").bounding_box()
        x0, y0, w, h = bbox
        scale = min(c["width"] / (w * (1 + 2 * FIT_MARGIN)), c["height"] / (h * (1 + 2 * FIT_MARGIN)))
        self.origin = (c["x"] + c["width"] / 2 - (x0 + w / 2) * scale, c["y"] + c["height"] / 2 - (y0 + h / 2) * scale)
        self.scale, self.bbox = scale, bbox

    def __call__(self, bx, by):
        x, y = boxframe.to_image(self.bbox, bx, by)
        return self.origin[0] + float(x) * self.scale, self.origin[1] + float(y) * self.scale


def part_pixel(assets, part, view):
    """A pixel (x, y) of a view, in its 512-pixel frame, well inside the part and nearest the view's centre."""
    from pipeline.render.raster import NO_FACE

    on = assets.face_ids[part - 1, view] != NO_FACE
    inner = on.copy()
    for axis in (0, 1):
        for step in (-3, 3):
            inner &= np.roll(on, step, axis=axis)
    rows, cols = np.nonzero(inner)
    k = np.argmin((rows - 256) ** 2 + (cols - 256) ** 2)
    return cols[k] + 0.5, rows[k] + 0.5


def part_percent(page, label):
    return page.locator(f".palette .part[data-part='{label}'] .count").inner_text()


def test_annotator_paints_masks_and_clicks_views_in_the_browser(stack, assets, chromium, make_user):
    SHOTS.mkdir(parents=True, exist_ok=True)
    make_user("anna", "annotator")
    job = stack.post("/api/jobs", {"kind": "make_synthetic", "params": {"project": "ui", "count": 1, "seed": 5}})
    assert stack.wait_job(job.json()["id"], lambda j: j["state"] in FINISHED, timeout=120)["state"] == "succeeded"
    Project.objects.filter(name="ui").update(review_fraction=1.0)
    task = Task.objects.filter(project__name="ui", stage=1).order_by("-priority", "id").first()
    bbox = task.person.bbox

    # --- stage 1 --------------------------------------------------------------------------------------------
    page, errors = log_in(chromium, stack, "anna")
    assert page.url.endswith("/annotate/"), "an annotator lands in the annotator app"
    page.select_option("#project", "ui")
    page.click("#start")
    page.locator(".image-canvas").wait_for()
    page.locator(".palette .part").first.wait_for()
    assert f"Task {task.pk}" in page.locator(".task-info").inner_text()
    page.set_viewport_size({"width": 1000, "height": 700})  # a smaller window: the box is fitted again
    canvas = "document.querySelector('.image-canvas')"
    wait_until(page, f"{canvas}.style.width === {canvas}.parentElement.clientWidth + 'px'")
    at = BoxScreen(page, bbox)

    # the body figure is seen from the side the keypoints say the camera sees; Turn shows the other side
    figure = page.locator(".body-figure")
    seen = parts.seen_from(task.person.keypoints) or "front"
    assert figure.get_attribute("data-seen") == seen
    page.click(".turn-figure")
    assert figure.get_attribute("data-seen") == {"front": "back", "back": "front"}[seen]
    assert "right is on your " + ("left" if seen == "back" else "right") in page.locator(".figure-hint").inner_text()
    page.click(".turn-figure")

    page.keyboard.press("Digit1")  # torso, brush
    page.keyboard.press("KeyB")
    page.mouse.move(*at(128, 90))
    page.mouse.down()
    page.mouse.move(*at(128, 170), steps=12)
    page.mouse.up()
    assert part_percent(page, 1) != ""

    page.keyboard.press("Shift+Digit4")  # head, polygon
    page.keyboard.press("KeyP")
    for corner in ((100, 10), (156, 10), (156, 50), (100, 50)):
        page.mouse.click(*at(*corner))
    page.mouse.click(*at(100, 10))  # back on the first point closes it
    assert part_percent(page, 14) != ""

    # fill takes the connected area of similar colour, says how much, and undoes like any stroke
    page.keyboard.press("Digit5")
    page.keyboard.press("KeyF")
    assert page.locator(".tolerance-label").is_visible() and not page.locator(".size-label").is_visible()
    page.mouse.click(*at(128, 236))
    info = page.locator(".fill-info").inner_text()
    share = float(re.match(r"Filled ([\d.]+)% of the box", info).group(1))
    assert 0 < share < 90 and part_percent(page, 5) != "", info
    page.keyboard.press("Control+z")
    assert part_percent(page, 5) == ""

    page.keyboard.press("Digit2")  # a stray right-hand stroke, undone
    page.keyboard.press("KeyB")
    slider = page.locator(".brush-size")
    size = int(slider.input_value())
    page.keyboard.press("BracketRight")
    page.keyboard.press("BracketRight")
    page.keyboard.press("BracketLeft")
    assert int(slider.input_value()) == size + 2, "[ and ] move the brush-size slider too"
    page.mouse.move(*at(30, 200))
    page.mouse.down()
    page.mouse.move(*at(60, 230), steps=5)
    page.mouse.up()
    assert part_percent(page, 2) != ""
    page.keyboard.press("Control+z")
    assert part_percent(page, 2) == ""
    page.keyboard.press("Control+Shift+z")
    assert part_percent(page, 2) != ""
    page.keyboard.press("Control+z")

    # the draft reaches the server; a reload restores it exactly
    page.locator(".draft-status", has_text=re.compile("^Draft: saved")).wait_for(timeout=10_000)
    before = {label: part_percent(page, label) for label in parts.MASK_PARTS}
    draft = Task.objects.get(pk=task.pk).draft
    assert draft["dp_masks"][1] == [] and draft["dp_masks"][0]
    page.screenshot(path=str(SHOTS / "annotate-stage1.png"))
    page.reload()
    page.locator(".palette .part").first.wait_for()
    wait_until(page, "document.querySelector(\".palette .part[data-part='1'] .count\").textContent !== ''")
    assert {label: part_percent(page, label) for label in parts.MASK_PARTS} == before

    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.screenshot(path=str(SHOTS / "annotate-help.png"))
    page.keyboard.press("Escape")

    # submitting without the arms and legs the keypoints show asks first; a second Ctrl+Enter does nothing more
    submits = []
    page.on("request", lambda r: submits.append(r.url) if r.url.endswith("/submit") else None)
    page.keyboard.press("Control+Enter")
    dialog = page.locator(".modal")
    dialog.wait_for()
    assert "Some parts are empty" in dialog.inner_text()
    page.keyboard.press("Escape")  # Escape always cancels: nothing is submitted
    dialog.wait_for(state="detached")
    # a submit would start as the dialog closes; once the page has run its next task, it would have been sent
    page.evaluate("() => new Promise((resolve) => setTimeout(resolve, 0))")
    assert submits == [] and task.submissions.count() == 0 and Task.objects.get(pk=task.pk).state == "leased"
    page.keyboard.press("Control+Enter")
    dialog.wait_for()
    page.get_by_role("button", name="Submit anyway").click()
    page.locator(".notice", has_text="submitted").wait_for(timeout=15_000)
    assert task.submissions.count() == 1
    masks = wait_task_state(task.pk, ("review",)).person.part_masks.get(current=True).dp_masks
    head = decode_rle(masks[13])
    rows, cols = np.nonzero(head)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == pytest.approx((10, 50, 100, 156), abs=1.5)
    torso = decode_rle(masks[0])
    assert torso[130, 128] and not torso[130, 40] and not torso[240, 128]
    assert masks[1] == [] and all(m == [] for i, m in enumerate(masks) if i not in (0, 13))
    assert PartMasks.objects.get(person=task.person).submission.annotator.username == "anna"

    # --- review (an admin in the review page) ---------------------------------------------------------------
    reviewer, reviewer_errors = log_in(chromium, stack, "root")
    reviewer.goto(stack.url + "/review/#project=ui&stage=1")
    reviewer.locator(".image-canvas").wait_for()
    reviewer.locator("#accept").wait_for()
    reviewer.screenshot(path=str(SHOTS / "review-stage1.png"))
    reviewer.click("#accept")
    reviewer.locator(".notice", has_text="accepted").wait_for()
    assert Task.objects.get(pk=task.pk).state == "done"

    # --- stage 2 --------------------------------------------------------------------------------------------
    points = list(SampledPoint.objects.filter(person=task.person))
    assert {p.part for p in points} == {1, 14}, "k-means points only in the painted parts"
    # the head's pictures come slowly (a slow network): held back until the check below lets them through
    held = []
    page.route("**/parts/14/views/**", lambda route: held.append(route))
    page.select_option("#stage", "2")
    page.click("#start")
    page.locator(".view-cell img").first.wait_for()
    assert f"of {len(points)}" in page.locator(".point-title").inner_text()
    overlays = page.locator(".view-overlay")
    # the pause after a click is long here: the app moves on only with → (the one-click flow is checked below)
    page.evaluate("window.__advanceMs = 1e9")

    def click_view(view, fx=0.5, fy=0.5):
        box = overlays.nth(view).bounding_box()  # the element's box on screen, zoomed or not
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])

    def point_title():
        return page.locator(".point-title").inner_text()

    def wait_pictures(part):
        wait_until(page, f"document.querySelectorAll(\".view-cell[data-part='{part}']\").length === 6")

    clicked, handled = {}, 0
    for k, point in enumerate(points):
        title = page.locator(".point-title").inner_text()
        assert f"point {k + 1} of" in title and parts.mask_part_name(point.part) in title
        if k and point.part != points[k - 1].part:
            # a new part whose pictures are not shown yet: a click on the old picture must not count for it
            answered = page.locator(".point-progress .answered").inner_text()
            assert page.locator(".view-cell.loading").count() == 6
            click_view(0)
            wait_until(page, "window.__ignoredClicks === 1")
            assert "still loading" in page.locator(".point-info").inner_text()
            page.screenshot(path=str(SHOTS / "annotate-stage2-loading.png"))
            assert page.locator(".point-progress .answered").inner_text() == answered, "the click was not counted"
            for route in held:
                try:
                    route.continue_()
                except PlaywrightError:  # the page gave up on that request (its picture changed meanwhile)
                    pass
            page.unroute("**/parts/14/views/**")
        wait_pictures(point.part)
        if k == 0:
            # every view says where its camera stands, the front first
            wait_until(page, "document.querySelectorAll('.view-label svg').length === 6")
            labels = page.locator(".view-label").all_inner_texts()
            report = next(c for c in assets.report["coverage"] if c["part"] == point.part)
            assert labels == report["labels"] and labels[0] == "front", labels
            # zoomed in (the wheel, about the view's centre), a click still lands on the spot under the pointer
            box = overlays.nth(0).bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.wheel(0, -600)
            wait_until(page, "document.querySelector(\".view-cell[data-view='0']\").classList.contains('zoomed')")
            zoomed = overlays.nth(0).bounding_box()
            assert zoomed["width"] > 1.8 * box["width"]
            x, y = part_pixel(assets, point.part, 0)
            click_view(0, x / 512, y / 512)
            handled += 1
            wait_until(page, f"window.__viewClicks === {handled}")
            face = assets.face_ids[point.part - 1, 0, int(y), int(x)]
            assert page.locator(".point-info").inner_text().startswith(parts.chart_name(int(assets.face_chart[face])))
            page.locator(".view-cell[data-view='0'] .zoom-reset").click()
            # one click a point: a second click before the app moves on corrects the answer
            x, y = part_pixel(assets, point.part, 2)
            click_view(2, x / 512, y / 512)
            handled += 1
            wait_until(page, f"window.__viewClicks === {handled}")
            assert page.locator(".view-cell.chosen").get_attribute("data-view") == "2"
            assert "point 1 of" in point_title() and "1 / " in page.locator(".point-progress .answered").inner_text()
            clicked[point.pk] = page.locator(".point-info").inner_text()
            # ... and with the app's own pause, the click moves on to the next point; ← comes back to it
            page.evaluate("window.__advanceMs = undefined")
            click_view(2, x / 512, y / 512)
            handled += 1
            wait_until(page, "document.querySelector('.point-title').textContent.includes('point 2 of')")
            page.keyboard.press("ArrowLeft")
            assert "point 1 of" in point_title() and page.locator(".view-cell.chosen").get_attribute("data-view") == "2"
            page.evaluate("window.__advanceMs = 1e9")
            page.screenshot(path=str(SHOTS / "annotate-stage2.png"))
            page.keyboard.press("ArrowRight")
            continue
        if k % 5 == 3:
            page.keyboard.press("KeyN")  # not visible: moves on by itself
            continue
        view = k % 6
        click_view(view, 0.5, 0.45)
        handled += 1
        wait_until(page, f"window.__viewClicks === {handled}")
        info = page.locator(".point-info").inner_text()
        if "not on the part" in info:  # the centre of that view misses the part: mark it unsure instead
            page.keyboard.press("KeyU")
            continue
        clicked[point.pk] = info
        shown = page.locator(".view-cell.shown-point").count()
        hidden = page.locator(".view-cell.hidden-point").count()
        assert shown >= 1 and shown + hidden == 6, "the point appears on all six views, as seen or hidden"
        assert page.locator(f".view-cell[data-view='{view}']").get_attribute("class").count("chosen") == 1
        page.keyboard.press("ArrowRight")
    assert len(clicked) >= len(points) // 3
    # each click's latency is recorded at the next frame after its markers are drawn: wait for the last one
    wait_until(page, f"(window.__clickLatencies || []).length >= {len(clicked) + 2}")
    latencies = page.evaluate("window.__clickLatencies")
    assert len(latencies) == len(clicked) + 2 and all(0 < ms < 5000 for ms in latencies), latencies

    # the server goes away: the draft waits behind a banner and is saved once it is back
    page.keyboard.press("ArrowLeft")
    stack.stop_web()
    page.keyboard.press("KeyU")
    banner = page.locator("#banner")
    banner.wait_for(state="visible", timeout=15_000)
    assert "connection is lost" in banner.inner_text()
    page.screenshot(path=str(SHOTS / "annotate-offline.png"))
    stack.start_web()
    banner.wait_for(state="hidden", timeout=20_000)
    last = points[-2]
    clicked.pop(last.pk, None)
    stage2 = Task.objects.get(person=task.person, stage=2)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answers = {a["point"]: a for a in (Task.objects.get(pk=stage2.pk).draft or {}).get("answers", [])}
        if answers.get(last.pk, {}).get("status") == "unsure":
            break
        time.sleep(0.2)
    assert answers[last.pk]["status"] == "unsure", "the change made while offline reached the server"

    page.dblclick("#submit")  # a double click submits once
    page.keyboard.press("Control+Enter")  # and so does the key right after it
    page.locator(".notice", has_text="submitted").wait_for(timeout=15_000)
    assert stage2.submissions.count() == 1
    wait_task_state(stage2.pk, ("review",))
    rows = {c.point_id: c for c in Correspondence.objects.filter(point__person=task.person)}
    assert len(rows) == len(points), "every point is answered, not-visible ones included"
    assert sum(c.status == "not_visible" for c in rows.values()) >= 1
    for pk, info in clicked.items():
        row = rows[pk]
        assert row.status == "ok" and parts.CHART_TO_MASK_PART[row.chart] == row.point.part
        # the browser's own mapping (shown to the annotator) is the server's authoritative one
        chart_name, u, v = info.split(" · ")
        assert chart_name == parts.chart_name(row.chart)
        assert float(u.split()[1]) == pytest.approx(row.u, abs=2e-3)
        assert float(v.split()[1]) == pytest.approx(row.v, abs=2e-3)

    # --- the reviewer sends stage 2 back with a comment; the annotator gets it back with the answers in place --
    reviewer.goto(stack.url + "/review/#project=ui&stage=2")
    reviewer.locator(".point-progress", has_text=f"{len(points)} / {len(points)} answered").wait_for()
    reviewer.screenshot(path=str(SHOTS / "review-stage2.png"))
    # the overview: every answer on the whole body; hovering one highlights it, a click opens it
    reviewer.keyboard.press("KeyO")
    reviewer.locator(".review-overview").wait_for()
    marks = reviewer.locator(".overview-marks .mark")
    assert 1 <= marks.count() <= sum(c.status == "ok" for c in rows.values())
    mark = marks.first
    k = int(mark.get_attribute("data-point"))
    # the mark sits on the picture where its point is: the picture is scaled whole and centred, like the marks
    picture = mark.locator("xpath=ancestor::div[contains(@class, 'overview-picture')]/img").bounding_box()
    side = min(picture["width"], picture["height"])
    size = int(reviewer.locator(".overview-marks").first.get_attribute("viewBox").split()[-1])
    expected = (
        picture["x"] + (picture["width"] - side) / 2 + float(mark.get_attribute("cx")) / size * side,
        picture["y"] + (picture["height"] - side) / 2 + float(mark.get_attribute("cy")) / size * side,
    )
    box = mark.bounding_box()
    assert (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2) == pytest.approx(expected, abs=2)
    # ... and the picture on screen is the body picture undistorted (the marks hidden for a moment)
    from PIL import Image as PILImage

    holder = reviewer.locator(".overview-side[data-side='front'] .overview-picture")
    reviewer.evaluate("document.querySelectorAll('.overview-marks').forEach((s) => s.style.visibility = 'hidden')")
    shot = PILImage.open(io.BytesIO(holder.screenshot())).convert("RGB")
    reviewer.evaluate("document.querySelectorAll('.overview-marks').forEach((s) => s.style.visibility = '')")
    w, h = shot.size
    square = min(w, h)
    shown = shot.crop(((w - square) // 2, (h - square) // 2, (w - square) // 2 + square, (h - square) // 2 + square))
    truth = PILImage.open(assets.folder / "views" / "overview-front.png").convert("RGB").resize(shown.size)
    differs = np.abs(np.asarray(shown, float) - np.asarray(truth, float)).sum(axis=2) > 150  # stretched: 8 %
    assert differs.mean() < 0.02, f"{differs.mean():.1%} of the picture's pixels are not where they belong"
    mark.hover()
    assert "hover" in mark.get_attribute("class")
    mark.click()
    assert f"point {k + 1} of" in reviewer.locator(".point-title").inner_text()
    reviewer.screenshot(path=str(SHOTS / "review-stage2-overview.png"))
    reviewer.keyboard.press("KeyO")
    # flag that point: the rejection sends back only it
    reviewer.keyboard.press("KeyF")
    assert reviewer.locator(".point-progress .dot.flagged").count() == 1
    reviewer.keyboard.press("KeyR")
    reviewer.locator(".reject-scope", has_text="Only the 1 flagged point goes back").wait_for()
    reviewer.keyboard.press("Escape")
    reviewer.click("#reject")
    reviewer.get_by_role("button", name="Reject with this comment").click()  # empty: it says why nothing happens
    reviewer.locator(".modal .error", has_text="a rejection needs a comment").wait_for()
    reviewer.locator("#reject-comment").fill("Point 2 is on the back, not the front.")
    reviewer.get_by_role("button", name="Reject with this comment").click()
    reviewer.locator(".notice", has_text="sent back").wait_for()
    back = Task.objects.get(pk=stage2.pk)
    assert back.state == "pending" and back.review_comment == "Point 2 is on the back, not the front."
    flagged = Task.objects.get(pk=stage2.pk).flagged_points
    assert flagged == [points[k].pk]
    page.click("#start")
    page.locator(".notice", has_text="1 flagged point to redo").wait_for()
    assert "Point 2 is on the back" in page.locator(".notice").inner_text()
    page.locator(".point-progress", has_text="1 / 1 answered").wait_for()
    # the point has the reviewer's number, and says it was sent back
    title = page.locator(".point-title").inner_text()
    assert f"point {k + 1} of {len(points)}" in title and "flagged 1 of 1" in title and "sent back" in title
    # submitting it untouched is refused by the app (and would be by the server): answer again or keep it with C
    page.click("#submit")
    page.locator(".modal", has_text="Flagged points not looked at again").wait_for()
    page.get_by_role("button", name="Back to work").click()
    assert stage2.submissions.count() == 1 and Task.objects.get(pk=stage2.pk).state == "leased"
    page.keyboard.press("KeyC")
    page.locator(".point-title", has_text="sent back").wait_for(state="detached")
    page.click("#submit")
    page.locator(".notice", has_text="submitted").wait_for(timeout=15_000)
    resubmitted = stage2.submissions.order_by("-id").first()
    assert resubmitted.data["answers"] and any(a.get("confirmed") for a in resubmitted.data["answers"])
    # the reviewer sees that it is a resubmission, the earlier comment and what changed
    wait_task_state(stage2.pk, ("review",))
    reviewer.reload()  # the review page asks for the next task to review when it loads
    notice = reviewer.locator(".notice", has_text="Resubmission")
    notice.wait_for()
    text = notice.inner_text()
    assert "Point 2 is on the back, not the front." in text and "1 point flagged" in text, text
    assert f"No answer changed; {len(points)} the same" in text, text
    reviewer.screenshot(path=str(SHOTS / "review-resubmission.png"))
    assert not errors and not reviewer_errors, errors + reviewer_errors


@pytest.mark.parametrize("broker", ["filesystem"])
def test_a_task_given_to_someone_else_stops_at_once_and_the_next_one_opens(stack, chromium, make_user):
    """An admin reassigns the task an annotator has open: at the annotator's next saved change the task closes
    with a message saying why, and the next task opens; nothing more goes into the lost task."""
    from annotator_web.work import services

    anna, otto = make_user("anna", "annotator"), make_user("otto", "annotator")
    job = stack.post("/api/jobs", {"kind": "make_synthetic", "params": {"project": "ui", "count": 2, "seed": 7}})
    assert stack.wait_job(job.json()["id"], lambda j: j["state"] in FINISHED, timeout=180)["state"] == "succeeded"
    assert Task.objects.filter(project__name="ui", stage=1).count() >= 2
    page, errors = log_in(chromium, stack, anna.username)
    page.select_option("#project", "ui")
    page.click("#start")
    page.locator(".palette .part").first.wait_for()
    mine = Task.objects.get(project__name="ui", stage=1, assignee=anna)
    assert f"Task {mine.pk}" in page.locator(".task-info").inner_text()

    services.assign(None, mine.pk, otto)  # the admin gives it to otto
    at = BoxScreen(page, mine.person.bbox)
    page.keyboard.press("Digit1")
    page.keyboard.press("KeyB")
    page.mouse.move(*at(128, 90))
    page.mouse.down()
    page.mouse.move(*at(128, 170), steps=8)
    page.mouse.up()
    notice = page.locator(".notice", has_text="is no longer yours")
    notice.wait_for(timeout=20_000)
    assert f"Task {mine.pk}" in notice.inner_text()
    page.locator(".palette .part").first.wait_for()
    after = page.locator(".task-info").inner_text()
    assert after.startswith("Task ") and f"Task {mine.pk} " not in after, "the next task is open"
    lost = Task.objects.get(pk=mine.pk)
    assert lost.assignee == otto and lost.draft is None, "nothing of anna's reached otto's task"

    # a person anna cannot annotate: she skips it with a reason; "something else" needs a note; Escape goes back
    current = int(after.split()[1])
    page.click("#skip")
    page.keyboard.press("Escape")
    page.locator(".skip-modal").wait_for(state="detached")
    assert Task.objects.get(pk=current).state == "leased"
    page.click("#skip")
    page.check("input[name=skip-reason][value=other]")
    page.get_by_role("button", name="Skip this person").click()
    page.locator(".skip-modal .error", has_text="needs one").wait_for()
    page.fill("#skip-note", "a poster of a person, not a person")
    page.get_by_role("button", name="Skip this person").click()
    page.locator(".notice", has_text=f"Task {current} skipped").wait_for(timeout=20_000)
    skipped = Task.objects.get(pk=current)
    assert (skipped.state, skipped.skip_reason, skipped.skip_note) == (
        "skipped",
        "other",
        "a poster of a person, not a person",
    )
    assert f"Task {current} " not in page.locator(".task-info").inner_text()
    assert not errors, errors
