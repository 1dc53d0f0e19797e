"""The second hardening round: what a probe of a production-like instance found, one test a finding (each failed
before its fix). Sign-in limits without holes, no dead-end tasks, no 500 on odd text, lax types refused."""

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from annotator_web.core.models import LoginFailure
from annotator_web.work.models import Task
from tests.conftest import PASSWORD
from tests.helpers import at_once

NEXT = "/api/tasks/next"


def token_call(client, username, password, fmt="json"):
    return client.post("/api/auth/token", {"username": username, "password": password}, format=fmt)


# --- 1, 2: sign-in limits ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_django_admin_login_counts_failures_and_is_refused_while_the_account_is_locked(make_user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 5
    make_user("boss", "admin", is_staff=True)
    browser = Client()
    codes = [browser.post("/admin/login/", {"username": "boss", "password": "wrong"}).status_code for _ in range(8)]
    assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}, codes
    assert LoginFailure.objects.filter(username="boss").count() == 5
    page = browser.post("/admin/login/", {"username": "boss", "password": PASSWORD, "next": "/admin/"})
    assert page.status_code == 429 and 1 <= int(page["Retry-After"]) <= settings.LOGIN_FAILURE_WINDOW_SECONDS
    assert b"Too many failed logins" in page.content and "_auth_user_id" not in browser.session
    # the other ways in say the same, for the same account
    assert token_call(APIClient(), "boss", PASSWORD).status_code == 429
    assert Client().post("/login/", {"username": "boss", "password": PASSWORD}).status_code == 429


@pytest.mark.django_db
def test_failures_on_the_admin_login_lock_the_token_endpoint_and_a_success_there_clears_them(make_user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    make_user("boss", "admin", is_staff=True)
    browser = Client()
    for _ in range(2):
        browser.post("/admin/login/", {"username": "boss", "password": "wrong"})
    ok = browser.post("/admin/login/", {"username": "boss", "password": PASSWORD, "next": "/admin/"})
    assert ok.status_code == 302 and browser.session.get("_auth_user_id")
    assert not LoginFailure.objects.filter(username="boss").exists(), "the right password clears the count"


@pytest.mark.django_db
@pytest.mark.parametrize("spelling", ["anna ", " anna", "anna\t", "\nanna", "anna\u00a0", "\uff41nna"])
def test_a_locked_account_stays_locked_however_its_name_is_spelt(users, settings, spelling):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 5
    client = APIClient()
    for _ in range(6):
        token_call(client, "anna", "wrong")
    answer = token_call(client, spelling, PASSWORD)
    assert answer.status_code == 429, (repr(spelling), answer.status_code, answer.content[:200])
    assert token_call(client, spelling, PASSWORD, fmt="multipart").status_code == 429
    page = Client().post("/login/", {"username": spelling, "password": PASSWORD})
    assert page.status_code == 429 and "_auth_user_id" not in page.wsgi_request.session


@pytest.mark.django_db
def test_the_names_count_against_one_account_whichever_spelling_fails(users, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 4
    client = APIClient()
    for name in ("anna", " anna", "anna\t", "anna\u00a0"):
        assert token_call(client, name, "wrong").status_code == 400
    assert token_call(client, "anna", PASSWORD).status_code == 429
    assert set(LoginFailure.objects.values_list("username", flat=True)) == {"anna"}


@pytest.mark.django_db(transaction=True)
def test_thirty_wrong_passwords_at_once_check_no_more_than_the_limit(users, settings):
    """The count and the check are one step: each attempt is counted before its password is checked."""
    settings.LOGIN_FAILURES_PER_ACCOUNT = 5
    settings.LOGIN_FAILURES_PER_ADDRESS = 1000
    codes = at_once(30, lambda: token_call(APIClient(), "anna", "wrong").status_code)
    assert len(codes) == 30 and set(codes) <= {400, 429}
    assert codes.count(400) <= 5, f"{codes.count(400)} passwords were checked; the limit is 5"
    assert LoginFailure.objects.filter(username="anna").count() == codes.count(400)


# --- 4, 5: odd text ----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["\ud800", "an\x00na", "\udfffanna"])
def test_a_username_with_a_nul_or_a_lone_surrogate_is_a_400_everywhere(users, name):
    escaped = name.encode("unicode_escape").decode().replace("\\x00", "\\u0000")
    body = '{"username": "' + escaped + '", "password": "x"}'
    api = APIClient().post("/api/auth/token", body, content_type="application/json")
    assert api.status_code == 400, (repr(name), api.status_code)
    if "\x00" in name:  # a form cannot carry a lone surrogate (it is not UTF-8); a NUL it can
        form = APIClient().post("/api/auth/token", {"username": name, "password": "x"}, format="multipart")
        assert form.status_code == 400
        encoded = APIClient().post(
            "/api/auth/token", "username=an%00na&password=x", content_type="application/x-www-form-urlencoded"
        )
        assert encoded.status_code == 400
        for url in ("/login/", "/admin/login/"):
            page = Client().post(url, {"username": name, "password": "x"})
            assert page.status_code == 400, (url, page.status_code)
    assert not LoginFailure.objects.exists()


# --- 3: no dead-end tasks ----------------------------------------------------------------------------------


def _submitted(client, project_name="queue-test"):
    """An annotator's stage-1 task, submitted: (task id, its processing job)."""
    from annotator_web.core.models import Job
    from annotator_web.work import services
    from tests.helpers import masks_payload

    task = client.post(NEXT, {"project": project_name, "stage": 1}, format="json").json()
    resp = client.post(f"/api/tasks/{task['id']}/submit", {"key": "k1", "data": masks_payload()}, format="json")
    assert resp.status_code == 201, resp.content
    return task["id"], Job.objects.filter(kind=services.PROCESS_KIND).order_by("-id").first()


@pytest.mark.django_db(transaction=True)
def test_an_annotator_cannot_cancel_the_processing_of_their_submission(project, users, client_for):
    anna = client_for(users["annotator"])
    task_id, job = _submitted(anna)
    assert Task.objects.get(pk=task_id).state == "submitted"
    listed = anna.get("/api/jobs/?kind=process_submission").json()["results"]
    assert [j["id"] for j in listed] == [job.pk], "they see it"
    refused = anna.post(f"/api/jobs/{job.pk}/cancel")
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    job.refresh_from_db()
    assert job.state == "queued" and not job.cancel_requested
    assert Task.objects.get(pk=task_id).state == "submitted"


def _assert_back_with_author(task_id, anna, reason_part):
    from annotator_web.work.models import AuditEvent
    from tests.helpers import masks_payload

    task = Task.objects.get(pk=task_id)
    assert task.state == "pending" and task.reserved_for.username == "anna", task.state
    assert reason_part in task.processing_error
    assert AuditEvent.objects.filter(task_id=task_id, action="processing_stopped").exists()
    again = anna.post(NEXT, {"project": "queue-test", "stage": 1}, format="json").json()
    assert again["id"] == task_id, "their own work comes back to them first"
    assert again["draft"] == masks_payload(), "with what they submitted, to submit again"
    assert "could not be processed" in again["review_comment"] and reason_part in again["review_comment"]
    resubmitted = anna.post(f"/api/tasks/{task_id}/submit", {"key": "k2", "data": again["draft"]}, format="json")
    assert resubmitted.status_code == 201
    assert Task.objects.get(pk=task_id).processing_error == ""


@pytest.mark.django_db(transaction=True)
def test_a_processing_job_cancelled_by_an_admin_sends_the_work_back_to_its_author(project, users, client_for):
    anna, boss = client_for(users["annotator"]), client_for(users["admin"])
    task_id, job = _submitted(anna)
    assert boss.post(f"/api/jobs/{job.pk}/cancel").json()["state"] == "cancelled"
    _assert_back_with_author(task_id, anna, "cancelled")


@pytest.mark.django_db(transaction=True)
def test_a_processing_job_that_fails_sends_the_work_back_to_its_author(project, users, client_for):
    from annotator_web.core import jobs
    from annotator_web.work.models import Submission

    anna = client_for(users["annotator"])
    task_id, job = _submitted(anna)
    # what a worker cannot read (here a submission spoilt behind the API's back) fails its processing
    Submission.objects.filter(task_id=task_id).update(data={"dp_masks": ["spoilt"]})
    failed = jobs.execute(job.pk, worker="test")
    assert failed.state == "failed"
    task = Task.objects.get(pk=task_id)
    assert task.state == "pending" and task.reserved_for.username == "anna"
    assert task.processing_error == failed.error and task.draft == {"dp_masks": ["spoilt"]}, "what they submitted"
    again = anna.post(NEXT, {"project": "queue-test", "stage": 1}, format="json").json()
    assert failed.error in again["review_comment"]


@pytest.mark.django_db(transaction=True)
def test_a_job_given_up_after_its_workers_died_sends_the_work_back(project, users, client_for, settings):
    from annotator_web.core import jobs
    from annotator_web.core.models import Job

    anna = client_for(users["annotator"])
    task_id, job = _submitted(anna)
    Job.objects.filter(pk=job.pk).update(attempts=settings.JOB_MAX_ATTEMPTS)
    assert jobs.execute(job.pk, worker="test") is None
    assert Job.objects.get(pk=job.pk).state == "failed"
    _assert_back_with_author(task_id, anna, "gave up after")


@pytest.mark.django_db(transaction=True)
def test_the_admin_sees_a_stopped_task_on_the_queues_page_and_retries_it(project, users, client_for, client):
    from annotator_web.core import jobs
    from annotator_web.core.models import Job

    anna, boss = client_for(users["annotator"]), client_for(users["admin"])
    task_id, job = _submitted(anna)
    boss.post(f"/api/jobs/{job.pk}/cancel")
    client.force_login(users["admin"])
    page = client.get("/queues/").content.decode()
    row = page[page.index(f'data-task="{task_id}"') :].split("</tr>")[0]
    assert "data-stopped" in row and "processing stopped" in row and "cancelled" in row
    for action in ("retry", "release", "requeue", "assign"):
        assert f'data-task-action="{action}"' in row, action
    retried = boss.post(f"/api/tasks/{task_id}/retry")
    assert retried.status_code == 200 and retried.json()["state"] == "submitted"
    again = Job.objects.filter(kind="process_submission").order_by("-id").first()
    assert again.pk != job.pk and jobs.execute(again.pk, worker="test").state == "succeeded"
    assert Task.objects.get(pk=task_id).state in ("review", "done")
    assert boss.post(f"/api/tasks/{task_id}/retry").status_code == 409, "only a stopped task is retried"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["release", "requeue", "assign", "retry"])
def test_a_task_left_submitted_with_nothing_processing_it_is_not_a_dead_end(project, users, client_for, action):
    """A task jammed before processing failures went back to their authors: the admin's actions work on it."""
    from annotator_web.core.models import Job

    anna, boss = client_for(users["annotator"]), client_for(users["admin"])
    task_id, job = _submitted(anna)
    Job.objects.filter(pk=job.pk).update(state="cancelled", cancel_requested=True)  # ended, the task not told
    assert Task.objects.get(pk=task_id).state == "submitted"
    resp = boss.post(
        f"/api/tasks/{task_id}/{action}", {"username": "otto"} if action == "assign" else {}, format="json"
    )
    assert resp.status_code == 200, resp.content
    assert (
        resp.json()["state"]
        == {"release": "pending", "requeue": "pending", "assign": "leased", "retry": "submitted"}[action]
    )


@pytest.mark.django_db
def test_a_lone_surrogate_in_any_json_string_is_a_400_and_nothing_is_stored(project, users, client_for):
    """Each was a 500 on PostgreSQL (the string cannot be written as UTF-8)."""
    from annotator_web.core.models import Job
    from annotator_web.work.models import AuditEvent, Review, Submission

    anna, boss, rita = client_for(users["annotator"]), client_for(users["admin"]), client_for(users["reviewer"])
    task = anna.post(NEXT, {"project": "queue-test", "stage": 1}, format="json").json()
    other = Task.objects.filter(state="pending").first()
    bad = "\ud800"  # json.dumps writes it as the escape \\ud800, as a client would send it
    cases = [
        (APIClient(), "/api/auth/token", {"username": "a" + bad, "password": "x"}),
        (anna, NEXT, {"project": "queue" + bad, "stage": 1}),
        (anna, f"/api/tasks/{task['id']}/draft", {"draft": {"dp_masks": [], "note": bad}}),
        (anna, f"/api/tasks/{task['id']}/submit", {"key": "k" + bad, "data": {"dp_masks": []}}),
        (anna, f"/api/tasks/{task['id']}/skip", {"reason": "other", "note": bad}),
        (rita, f"/api/tasks/{task['id']}/review", {"decision": "reject", "comment": bad}),
        (boss, f"/api/tasks/{other.pk}/assign", {"username": "otto" + bad}),
        (boss, f"/api/tasks/{other.pk}/requeue", {"comment": bad}),
        (boss, "/api/jobs", {"kind": "check_data_folder", "params": {"x": bad}}),
        (boss, "/api/jobs", {"kind": "export_densepose", "params": {"project": "q" + bad}}),
        (boss, "/api/tasks/priority", {"tasks": [1], "priority": 1, bad: 2}),
    ]
    for client, url, body in cases:
        method = client.put if url.endswith("/draft") else client.post
        resp = method(url, json.dumps(body), content_type="application/json")
        assert resp.status_code == 400 and "surrogate" in str(resp.json()), (url, resp.status_code, resp.content[:200])
    assert Task.objects.get(pk=task["id"]).draft is None and Task.objects.get(pk=task["id"]).state == "leased"
    assert not Submission.objects.exists() and not Review.objects.exists() and not Job.objects.exists()
    assert not AuditEvent.objects.exclude(action__in=("create_tasks", "lease")).exists()


# --- 6, 7, 11: odd bodies and lax types ---------------------------------------------------------------------


@pytest.mark.django_db
def test_odd_values_where_the_api_wants_a_number_or_text_are_refused_with_the_field_named(project, users, client_for):
    """Each was a 500, or stored as something the sender did not send (a list as its text, true as stage 1)."""
    from annotator_web.work.models import AuditEvent, Review, Submission

    anna, boss, rita = client_for(users["annotator"]), client_for(users["admin"]), client_for(users["reviewer"])
    for stage in (True, 1.0, "1", None, [1]):
        resp = anna.post(NEXT, {"project": "queue-test", "stage": stage}, format="json")
        assert resp.status_code == 400 and resp.json()["field"] == "stage", (stage, resp.status_code)
        made = boss.post("/api/projects/queue-test/tasks", {"stage": stage}, format="json")
        assert made.status_code == 400 and made.json()["field"] == "stage", (stage, made.status_code)
    for project_name in (["queue-test"], {"name": "queue-test"}, 7):
        resp = anna.post(NEXT, {"project": project_name, "stage": 1}, format="json")
        assert resp.status_code == 400 and resp.json()["field"] == "project"
    assert not Task.objects.filter(state="leased").exists(), "nobody got a task from an odd request"

    task = anna.post(NEXT, {"project": "queue-test", "stage": 1}, format="json").json()
    from tests.helpers import masks_payload

    for key in (["a"], {"k": 1}, 5, True):
        resp = anna.post(f"/api/tasks/{task['id']}/submit", {"key": key, "data": masks_payload()}, format="json")
        assert resp.status_code == 400 and resp.json()["field"] == "key", (key, resp.status_code)
    assert not Submission.objects.exists(), "nothing stored as the key's text"

    anna.post(f"/api/tasks/{task['id']}/submit", {"key": "k", "data": masks_payload()}, format="json")
    Task.objects.filter(pk=task["id"]).update(state="review")
    for comment in ({"why": "arm"}, ["arm"], 3):
        resp = rita.post(f"/api/tasks/{task['id']}/review", {"decision": "reject", "comment": comment}, format="json")
        assert resp.status_code == 400 and resp.json()["field"] == "comment", (comment, resp.status_code)
    for decision in (["accept"], {"accept": True}):
        resp = rita.post(f"/api/tasks/{task['id']}/review", {"decision": decision}, format="json")
        assert resp.status_code == 400 and resp.json()["field"] == "decision"
    assert not Review.objects.exists()
    requeued = boss.post(f"/api/tasks/{task['id']}/requeue", {"comment": ["again"]}, format="json")
    assert requeued.status_code == 400 and requeued.json()["field"] == "comment"
    other = Task.objects.filter(state="pending").first()
    for username in (["otto"], {"u": "otto"}):
        resp = boss.post(f"/api/tasks/{other.pk}/assign", {"username": username}, format="json")
        assert resp.status_code == 400 and resp.json()["field"] == "username"
    for ids in ([True], ["1"], [1.0]):
        resp = boss.post("/api/tasks/priority", {"tasks": ids, "priority": 3}, format="json")
        assert resp.status_code == 400 and resp.json()["field"] == "tasks", ids
    assert not AuditEvent.objects.filter(action__in=("requeue", "assign", "set_priority")).exists()


@pytest.mark.django_db
def test_a_stage_two_answer_whose_point_is_a_list_or_an_object_is_a_400(project, users, client_for):
    from annotator_web.work.models import SampledPoint, Submission

    anna = client_for(users["annotator"])
    person = project.images.first().people.first()
    point = SampledPoint.objects.create(person=person, part=2, order=0, box_x=100.0, box_y=100.0)
    task = Task.objects.create(project=project, person=person, stage=2)
    assert anna.post(NEXT, {"project": "queue-test", "stage": 2}, format="json").json()["id"] == task.pk
    for odd in ([point.pk], {"id": point.pk}, float(point.pk), True):
        answers = [{"point": odd, "status": "not_visible"}]
        resp = anna.post(f"/api/tasks/{task.pk}/submit", {"key": "s", "data": {"answers": answers}}, format="json")
        assert resp.status_code == 400 and resp.json()["field"] == "answers[0]", (odd, resp.status_code)
    assert not Submission.objects.exists()


@pytest.mark.django_db
def test_an_upload_whose_boxes_nest_100000_levels_deep_is_a_400(project, users, client_for):
    boss = client_for(users["admin"])
    deep = "[" * 100_000 + "]" * 100_000
    resp = boss.post("/api/projects/queue-test/images", {"file": _jpeg(), "boxes": deep}, format="multipart")
    assert resp.status_code == 400 and resp.json()["field"] == "boxes" and "deep" in resp.json()["detail"]
    assert project.images.count() == 3, "no image stored"


def _jpeg(color=(200, 30, 40), size=(120, 90)):
    import io

    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.new("RGB", size, color).save(buffer, format="JPEG")
    buffer.seek(0)
    buffer.name = "photo.jpg"
    return buffer


# --- 10: images only while the lease lives -----------------------------------------------------------------


@pytest.mark.django_db
def test_an_annotator_sees_the_tasks_image_only_while_their_lease_lives(project, users, client_for):
    from datetime import timedelta

    from django.utils import timezone

    anna = client_for(users["annotator"])
    task = anna.post(NEXT, {"project": "queue-test", "stage": 1}, format="json").json()
    url = task["person"]["image"]["url"]
    assert anna.get(url).status_code == 200
    assert anna.post(f"/api/tasks/{task['id']}/leave").status_code == 204
    assert anna.get(url).status_code == 404, "after leaving the task"
    again = anna.post(NEXT, {"project": "queue-test", "stage": 1}, format="json").json()
    assert again["id"] == task["id"] and anna.get(url).status_code == 200, "back on it"
    Task.objects.filter(pk=task["id"]).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert anna.get(url).status_code == 404, "after the lease expired"


# --- 13: jobs that would fail at once are refused at the start -----------------------------------------------


@pytest.mark.django_db
def test_a_preannotation_that_would_fail_at_once_is_refused_when_started(
    project, users, client_for, settings, assets, tmp_path
):
    from annotator_web.core.models import Job
    from tests.stack import ASSET_CACHE

    boss = client_for(users["admin"])
    base = {"project": "queue-test", "stage": "1"}
    settings.ASSET_CACHE_DIR = tmp_path / "no-assets"
    resp = boss.post("/api/jobs", {"kind": "preannotate", "params": {**base, "source": "model"}}, format="json")
    assert resp.status_code == 400 and "body assets are not built" in resp.json()["params"][0]
    settings.ASSET_CACHE_DIR = ASSET_CACHE
    cases = [
        ({"source": "model"}, "checkpoint"),
        ({"source": "model", "checkpoint": "runs/none/final.pth"}, "no such checkpoint"),
        ({"source": "model", "checkpoint": "/etc/passwd"}, "inside the data folder"),
        ({"source": "truth+noise"}, "not synthetic"),
        ({"source": "truth+noise", "min_score_percent": 150}, "probability"),
    ]
    for params, reason in cases:
        resp = boss.post("/api/jobs", {"kind": "preannotate", "params": {**base, **params}}, format="json")
        assert resp.status_code == 400 and reason in resp.json()["params"][0], (params, resp.json())
    assert not Job.objects.filter(kind="preannotate").exists(), "nothing was queued to fail"


# --- 8: the same upload sent eight times at once --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_eight_identical_uploads_at_the_same_moment_make_one_image_and_one_set_of_people(project, users, client_for):

    boss_user = users["admin"]
    photo = _jpeg(color=(10, 200, 60)).getvalue()
    boxes = "[[5, 5, 40, 60], [50, 10, 30, 50]]"

    def upload():
        import io

        body = io.BytesIO(photo)
        body.name = "same.jpg"
        client = client_for(boss_user)  # one a thread: a test client is not shared between threads
        return client.post(
            "/api/projects/queue-test/images", {"file": body, "boxes": boxes}, format="multipart"
        ).status_code

    codes = at_once(8, upload)
    assert sorted(codes) == [200] * 7 + [201], codes
    import hashlib

    images = project.images.filter(sha256=hashlib.sha256(photo).hexdigest())
    assert images.count() == 1
    assert images.get().people.count() == 2


# --- 9: what a killed process leaves behind --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_jobs_next_attempt_removes_what_the_killed_one_left_half_written(project, users, settings):
    """An export whose worker was killed left its hidden staging folder; the attempt that takes the job up again
    removes it (and writes the export)."""
    from annotator_web.core import jobs
    from annotator_web.core.models import Job

    job = jobs.start_job("export_densepose", params={"project": "queue-test"}, user=users["admin"])
    folder = jobs.output_folder(job)
    staging = folder / ".densepose.json.x1y2z3"
    staging.mkdir(parents=True)
    (staging / "chunk-0000000.json").write_text("[{")
    # the first attempt's worker died: the sweeper queued the job again
    Job.objects.filter(pk=job.pk).update(attempts=1, state="queued")
    done = jobs.execute(job.pk, worker="second")
    assert done.state == "succeeded" and done.attempts == 2, done.error
    assert not staging.exists()
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


@pytest.mark.django_db(transaction=True)
def test_the_sweep_removes_hidden_outputs_of_jobs_not_running_and_old_spooled_uploads(
    project, users, settings, tmp_path
):
    import os
    import time

    from annotator_web.core import jobs
    from annotator_web.core.models import Job

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.UPLOAD_SPOOL_DIR = tmp_path / "spool"
    given_up = Job.objects.create(kind="export_densepose", state="failed")
    running = Job.objects.create(kind="export_densepose", state="running")
    for job in (given_up, running):
        (jobs.output_folder(job) / ".export.json.abc").mkdir(parents=True)
        (jobs.output_folder(job) / "export.json").write_text("{}")
    spool = tmp_path / "spool"
    spool.mkdir()
    old, fresh = spool / "tmpa1.upload.jpg", spool / "tmpb2.upload.jpg"
    old.write_bytes(b"x" * 10)
    fresh.write_bytes(b"y" * 10)
    an_hour_and_more = time.time() - jobs.UPLOAD_SPOOL_MAX_AGE_SECONDS - 60
    os.utime(old, (an_hour_and_more, an_hour_and_more))

    assert jobs.remove_leftovers() == {"partial_outputs": 1, "spooled_uploads": 1}
    assert sorted(p.name for p in jobs.output_folder(given_up).iterdir()) == ["export.json"]
    assert (jobs.output_folder(running) / ".export.json.abc").exists(), "a running job's work in progress stays"
    assert not old.exists() and fresh.exists(), "an upload being written stays"


@pytest.mark.stack
@pytest.mark.parametrize("broker", ["filesystem"])
def test_an_upload_spooled_by_a_killed_web_server_is_in_the_data_folder_and_swept_away(stack):
    """A gunicorn worker killed mid-upload leaves its spooled file in the data folder's upload spool (not /tmp),
    and a worker's sweep removes it once it is an hour old."""
    import os
    import socket
    import time

    from annotator_web.data.models import Project

    Project.objects.create(name="spool")
    spool = stack.data_dir / "tmp" / "uploads"
    token = stack.session.headers["Authorization"]
    boundary = "spool-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    declared = len(head) + 20_000_000
    request = (
        f"POST /api/projects/spool/images HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", stack.port)) as sock:
        sock.sendall(request.encode() + head + b"\xff" * 8_000_000)  # past the 5 MB kept in memory
        deadline = time.monotonic() + 60
        while not (spool.is_dir() and any(spool.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.1)
        spooled = list(spool.iterdir()) if spool.is_dir() else []
        assert len(spooled) == 1 and ".upload" in spooled[0].name, spooled
        stack.kill(stack.web)  # mid-upload, as an out-of-memory kill or a timeout would
    assert spooled[0].exists(), "nothing else removes it"
    hours_ago = time.time() - 2 * 3600
    os.utime(spooled[0], (hours_ago, hours_ago))
    stack.start_worker()  # a worker's sweeper looks for leftovers when it starts
    deadline = time.monotonic() + 60
    while spooled[0].exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not spooled[0].exists()
