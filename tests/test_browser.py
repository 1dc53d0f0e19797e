"""The admin's pages in a real browser (Debian's Chromium through Playwright)."""

import pytest

from tests.conftest import PASSWORD, SHOTS

pytestmark = [pytest.mark.browser, pytest.mark.stack]


@pytest.mark.parametrize("broker", ["filesystem"])
def test_admin_logs_in_runs_a_check_and_sees_it_finish(stack, chromium):
    SHOTS.mkdir(parents=True, exist_ok=True)
    (stack.media / "images").mkdir()
    (stack.media / "images" / "one.jpg").write_bytes(b"jpeg bytes")
    page = chromium.new_page(viewport={"width": 1280, "height": 800})

    page.goto(stack.url + "/jobs/")
    assert "/login/" in page.url
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    assert page.locator(".error").inner_text().startswith("Wrong user name or password")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/jobs/")
    page.get_by_text("No jobs yet.").wait_for()
    assert page.locator(".role").inner_text() == "admin"

    page.get_by_role("button", name="Data-folder integrity check").click()
    row = page.locator("tr[data-state=succeeded]")
    row.wait_for(timeout=60_000)
    assert "1 file," in row.locator("td.message").inner_text()
    assert row.get_by_role("link", name="download").count() == 1
    page.screenshot(path=str(SHOTS / "jobs.png"))

    row.locator("td").first.get_by_role("link").click()
    page.wait_for_url("**/jobs/*/")
    assert page.locator(".state").inner_text() == "succeeded"
    assert '"files": 1' in page.locator("pre").inner_text()
    page.screenshot(path=str(SHOTS / "job-detail.png"))

    # The server goes away: the page says so and recovers by itself when it is back.
    page.goto(stack.url + "/jobs/")
    page.locator("tr[data-state=succeeded]").wait_for()
    stack.stop_web()
    banner = page.locator("#banner")
    banner.wait_for(state="visible", timeout=15_000)
    assert "Cannot reach the server" in banner.inner_text()
    page.screenshot(path=str(SHOTS / "jobs-offline.png"))
    stack.start_web()
    banner.wait_for(state="hidden", timeout=15_000)


@pytest.mark.parametrize("broker", ["filesystem"])
def test_admin_releases_reassigns_and_prioritises_single_tasks_on_the_dashboard(
    stack, chromium, make_user, settings, monkeypatch
):
    from annotator_web.data.models import Project
    from annotator_web.work import services
    from annotator_web.work.models import Task
    from tests.helpers import make_person

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")  # the test's ORM calls beside Playwright's loop
    settings.MEDIA_ROOT = stack.media
    anna, otto = make_user("anna", "annotator"), make_user("otto", "annotator")
    project = Project.objects.create(name="desk")
    make_person(project)
    services.create_tasks(project)
    task = services.next_task(anna, project, 1)

    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    page.goto(stack.url + "/login/?next=/queues/")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    row = page.locator(f"tr[data-task='{task.pk}']")
    row.wait_for()
    assert "anna" in row.inner_text() and row.get_attribute("data-state") == "leased"
    page.screenshot(path=str(SHOTS / "queues-tasks.png"))

    assert row.locator("select.assignee option").all_inner_texts() == ["anna", "otto", "root"]
    row.locator("select.assignee").select_option("otto")
    with page.expect_navigation():
        row.get_by_role("button", name="Reassign").click()
    assert "otto" in page.locator(f"tr[data-task='{task.pk}']").inner_text()
    assert Task.objects.get(pk=task.pk).assignee == otto
    assert page.locator(".notice.success").inner_text() == f"Task {task.pk}: reassigned to otto."

    row = page.locator(f"tr[data-task='{task.pk}']")
    row.locator("input.priority").fill("7")
    with page.expect_navigation():  # the page reloads with the new numbers once the change is saved
        row.get_by_role("button", name="Set").click()
    assert page.locator(f"tr[data-task='{task.pk}'] input.priority").input_value() == "7"
    assert Task.objects.get(pk=task.pk).priority == 7

    with page.expect_navigation():
        page.locator(f"tr[data-task='{task.pk}']").get_by_role("button", name="Release").click()
    assert page.locator(".notice.success").inner_text() == f"Task {task.pk}: released."
    # back in the queue, listed as next up (its priority can still be changed there)
    assert page.locator(f"tr[data-task='{task.pk}']").get_attribute("data-state") == "pending"
    assert Task.objects.get(pk=task.pk).state == "pending"

    # pausing asks first: no, then yes
    page.once("dialog", lambda d: d.dismiss())
    page.locator("[data-project='desk'] [data-action='pause']").click()
    assert not Project.objects.get(pk=project.pk).paused
    page.once("dialog", lambda d: d.accept())
    with page.expect_navigation():
        page.locator("[data-project='desk'] [data-action='pause']").click()
    assert Project.objects.get(pk=project.pk).paused and page.locator(".notice.success").inner_text() == "desk: paused."
    page.screenshot(path=str(SHOTS / "queues-after.png"))

    # a project with members offers only them for a reassignment (not the admin who is not one)
    Project.objects.filter(pk=project.pk).update(paused=False)
    project.members.add(anna)
    services.next_task(anna, project, 1)
    page.reload()
    options = page.locator(f"tr[data-task='{task.pk}'] select.assignee option").all_inner_texts()
    assert options == ["anna"], options
