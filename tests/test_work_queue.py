"""The task queue: leases, drafts, idempotent submissions, stage 1 -> k-means points -> stage 2."""

import threading
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from annotator_web.core import jobs
from annotator_web.core.models import Job
from annotator_web.data.models import Person
from annotator_web.work import services
from annotator_web.work.models import AuditEvent, PartMasks, SampledPoint, Submission, Task
from pipeline import parts
from tests.helpers import masks_payload


@pytest.mark.django_db(transaction=True)
def test_the_stage_one_flow_through_the_api(project, users, client_for):
    anna, otto = client_for(users["annotator"]), client_for(users["annotator2"])
    resp = anna.post("/api/tasks/next", {"project": "queue-test", "stage": 1}, format="json")
    assert resp.status_code == 200, resp.content
    task = resp.json()
    assert task["stage"] == 1 and task["person"]["bbox"] == [10.0, 5.0, 60.0, 120.0]
    image_url = task["person"]["image"]["url"]
    assert anna.get(image_url).status_code == 200
    assert otto.get(image_url).status_code == 404, "only the annotator holding a task sees its image"

    saved = anna.put(f"/api/tasks/{task['id']}/draft", {"draft": {"strokes": [1, 2, 3]}}, format="json")
    assert saved.status_code == 200
    again = anna.post("/api/tasks/next", {"project": "queue-test", "stage": 1}, format="json").json()
    assert again["id"] == task["id"] and again["draft"] == {"strokes": [1, 2, 3]}, "a reload resumes the work"

    body = {"key": "submit-1", "data": masks_payload(), "seconds_spent": 42}
    first = anna.post(f"/api/tasks/{task['id']}/submit", body, format="json")
    second = anna.post(f"/api/tasks/{task['id']}/submit", body, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["submission"] == second.json()["submission"]
    assert Submission.objects.count() == 1, "submitting twice stores one result"

    job = Job.objects.get(kind=services.PROCESS_KIND)
    done = jobs.execute(job.pk, worker="test")
    assert done.state == "succeeded", done.error
    person = Person.objects.get(pk=task["person"]["id"])
    assert PartMasks.objects.get(person=person).dp_masks == masks_payload()["dp_masks"]
    points = SampledPoint.objects.filter(person=person)
    per_part = {p: points.filter(part=p).count() for p in set(points.values_list("part", flat=True))}
    assert set(per_part) == {1, 6, 14} and max(per_part.values()) <= parts.MAX_POINTS_PER_PART

    # every submission of this project is reviewed (review fraction 1): a rejection sends it back
    assert Task.objects.get(pk=task["id"]).state == "review"
    assert not Task.objects.filter(person=person, stage=2).exists(), "stage 2 waits for accepted masks"
    rita = client_for(users["reviewer"])
    assert anna.get("/api/reviews/next?project=queue-test").status_code == 403
    queued = rita.get("/api/reviews/next?project=queue-test&stage=1").json()
    assert queued["id"] == task["id"] and queued["submission"] == masks_payload()
    url = f"/api/tasks/{task['id']}/review"
    assert rita.post(url, {"decision": "reject"}, format="json").json()["field"] == "comment"
    back = rita.post(url, {"decision": "reject", "comment": "the left arm is missing"}, format="json").json()
    assert (back["state"], back["review_comment"]) == ("pending", "the left arm is missing")
    again = anna.post("/api/tasks/next", {"project": "queue-test", "stage": 1}, format="json").json()
    assert again["id"] == task["id"] and again["review_comment"] == "the left arm is missing", "redone first"
    assert again["draft"] == masks_payload(), "the rejected work comes back to be fixed, not redone from scratch"
    anna.post(f"/api/tasks/{task['id']}/submit", {"key": "submit-2", "data": masks_payload()}, format="json")
    jobs.execute(Job.objects.filter(kind=services.PROCESS_KIND).order_by("-id").first().pk, worker="test")
    assert rita.post(url, {"decision": "accept"}, format="json").json()["state"] == "done"
    assert Task.objects.get(person=person, stage=2).state == "pending"
    assert rita.post(url, {"decision": "accept"}, format="json").status_code == 409, "reviewed once"
    actions = list(AuditEvent.objects.filter(task_id=task["id"]).order_by("at", "id").values_list("action", flat=True))
    assert actions == ["lease", "submit", "to_review", "reject", "lease", "submit", "to_review", "accept"]


@pytest.mark.django_db
def test_admins_manage_the_queue(project, users, client_for):
    boss, anna = client_for(users["admin"]), client_for(users["annotator"])
    assert anna.post("/api/projects/queue-test/pause", format="json").status_code == 403
    assert boss.post("/api/projects/queue-test/tasks", {"stage": 1}, format="json").json() == {"created": 0}
    task = Task.objects.order_by("id").first()
    assigned = boss.post(f"/api/tasks/{task.pk}/assign", {"username": "otto"}, format="json").json()
    assert (assigned["state"], assigned["assignee"]) == ("leased", "otto")
    assert boss.post(f"/api/tasks/{task.pk}/assign", {"username": "rita"}, format="json").status_code == 400
    assert boss.post(f"/api/tasks/{task.pk}/release", format="json").json()["state"] == "pending"
    assert boss.post(f"/api/tasks/{task.pk}/release", format="json").status_code == 409
    last = Task.objects.order_by("-id").first()
    assert boss.post("/api/tasks/priority", {"tasks": [last.pk], "priority": 9}, format="json").json() == {"updated": 1}
    first_up = anna.post("/api/tasks/next", {"project": "queue-test", "stage": 1}, format="json").json()
    assert first_up["id"] == last.pk, "higher priority first"
    assert boss.post("/api/tasks/priority", {"tasks": "all", "priority": 1}, format="json").status_code == 400
    assert boss.post("/api/projects/queue-test/pause", format="json").json() == {"paused": True}
    assert anna.post("/api/tasks/next", {"project": "queue-test", "stage": 1}, format="json").status_code == 409
    assert boss.post("/api/projects/queue-test/resume", format="json").json() == {"paused": False}
    assert boss.post(f"/api/tasks/{task.pk}/requeue", format="json").status_code == 409, "already pending"
    assert AuditEvent.objects.filter(action__in=["assign", "release", "pause", "resume", "set_priority"]).count() == 5


@pytest.mark.django_db
def test_an_expired_lease_returns_the_task_to_the_queue(project, users):
    anna, otto = users["annotator"], users["annotator2"]
    task = services.next_task(anna, project, 1)
    services.save_draft(anna, task.pk, {"mine": True})
    Task.objects.filter(pk=task.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(services.WorkError, match="expired") as refused:
        services.save_draft(anna, task.pk, {"late": True})
    assert refused.value.status == 409 and Task.objects.get(pk=task.pk).draft == {"mine": True}, "nothing stored"
    with pytest.raises(services.WorkError, match="does not exist"):
        services.save_draft(anna, 10**9, {"mine": True})
    taken = services.next_task(otto, project, 1)
    assert taken.pk == task.pk and taken.assignee == otto and taken.draft is None
    with pytest.raises(services.WorkError, match="not leased to you"):
        services.save_draft(anna, task.pk, {"mine": True})


@pytest.mark.django_db(transaction=True)
def test_twenty_annotators_at_once_never_get_the_same_task(project, make_user):
    annotators = [make_user(f"a{i}", "annotator") for i in range(20)]
    got, errors = [], []
    start = threading.Barrier(20)

    def work(user):
        try:
            start.wait()
            task = services.next_task(user, project, 1)
            got.append((user.pk, task.pk if task else None))
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(u,)) for u in annotators]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    tasks = [t for _, t in got]
    assert len(tasks) == 20 and None not in tasks and len(set(tasks)) == 20
    assert Task.objects.filter(state="leased").count() == 20


@pytest.mark.django_db
def test_bad_requests_are_refused_and_store_nothing(project, users, client_for):
    anna = client_for(users["annotator"])
    task = anna.post("/api/tasks/next", {"project": "queue-test", "stage": 1}, format="json").json()
    url = f"/api/tasks/{task['id']}/submit"
    bad_size = {"dp_masks": [{"size": [100, 100], "counts": "abc"}] + [[]] * 13}
    cases = [
        ({"key": "k", "data": bad_size}, 400, "expected [256, 256]"),
        ({"key": "k", "data": {"dp_masks": [[]] * 14}}, 400, "all 14 part masks are empty"),
        ({"key": "k", "data": {"dp_masks": [[]] * 3}}, 400, "must be a list of 14"),
        ({"data": masks_payload()}, 400, "needs a key"),
    ]
    for body, status, reason in cases:
        resp = anna.post(url, body, format="json")
        assert resp.status_code == status and reason in resp.json()["detail"], resp.json()
    assert Submission.objects.count() == 0 and Task.objects.get(pk=task["id"]).state == "leased"

    other = client_for(users["annotator2"])
    assert other.post(url, {"key": "x", "data": masks_payload()}, format="json").status_code == 409
    resp = anna.post(url, {"key": "t", "data": masks_payload(), "seconds_spent": "ten"}, format="json")
    assert resp.status_code == 400 and resp.json()["field"] == "seconds_spent"
    resp = anna.post("/api/tasks/next", {"project": "nope", "stage": 1}, format="json")
    assert resp.status_code == 400 and resp.json()["field"] == "project"
    reviewer = client_for(users["reviewer"])
    assert reviewer.post("/api/tasks/next", {"project": "queue-test"}, format="json").status_code == 403
    project.paused = True
    project.save()
    assert anna.post("/api/tasks/next", {"project": "queue-test", "stage": 1}, format="json").status_code == 409
    Task.objects.filter(pk=task["id"]).update(lease_expires_at=timezone.now() - timedelta(minutes=1))
    resp = anna.post(url, {"key": "late", "data": masks_payload()}, format="json")
    assert resp.status_code == 409 and "expired" in resp.json()["detail"]
    assert Submission.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_stage_two_clicks_become_correspondences(project, users, client_for, assets, settings):
    from annotator_web.work.models import Correspondence
    from tests.stack import ASSET_CACHE

    settings.ASSET_CACHE_DIR = ASSET_CACHE
    project.review_fraction = 0.0  # straight through, no review
    project.save()
    anna = client_for(users["annotator"])
    first = anna.post("/api/tasks/next", {"project": "queue-test", "stage": 1}, format="json").json()
    anna.post(f"/api/tasks/{first['id']}/submit", {"key": "s1", "data": masks_payload()}, format="json")
    jobs.execute(Job.objects.get(kind=services.PROCESS_KIND).pk, worker="test")

    task = anna.post("/api/tasks/next", {"project": "queue-test", "stage": 2}, format="json").json()
    assert task["stage"] == 2 and task["person"]["id"] == first["person"]["id"]
    points = task["points"]
    assert len(points) == SampledPoint.objects.filter(person_id=task["person"]["id"]).count() > 3

    def click_on(part, view=0):
        rows, cols = np.nonzero(assets.face_ids[part - 1, view] >= 0)
        return {"view": view, "x": float(cols[len(cols) // 3]) + 0.5, "y": float(rows[len(rows) // 3]) + 0.5}

    answers = [{"point": p["id"], "status": "ok", **click_on(p["part"])} for p in points]
    answers[0] = {"point": points[0]["id"], "status": "not_visible"}
    answers[1] = {"point": points[1]["id"], "status": "unsure"}
    url = f"/api/tasks/{task['id']}/submit"

    off = [dict(a) for a in answers]
    off[2].update(x=0.5, y=0.5)  # a corner of the view, not on the part
    resp = anna.post(url, {"key": "bad", "data": {"answers": off}}, format="json")
    assert resp.status_code == 400 and "not on the part's surface" in resp.json()["detail"]
    assert resp.json()["field"] == "answers[2]"
    resp = anna.post(url, {"key": "bad2", "data": {"answers": answers[:-1]}}, format="json")
    assert resp.status_code == 400 and "have no answer" in resp.json()["detail"]
    assert Submission.objects.filter(task_id=task["id"]).count() == 0

    resp = anna.post(url, {"key": "s2", "data": {"answers": answers}, "seconds_spent": 60}, format="json")
    assert resp.status_code == 201, resp.json()
    job = Job.objects.filter(kind=services.PROCESS_KIND).order_by("-id").first()
    done = jobs.execute(job.pk, worker="test")
    assert done.state == "succeeded", done.error
    rows = Correspondence.objects.filter(point__person_id=task["person"]["id"])
    assert rows.count() == len(points), "not visible and unsure answers are kept"
    assert {r.status for r in rows.filter(point_id__in=[points[0]["id"], points[1]["id"]])} == {"not_visible", "unsure"}
    for row in rows.filter(status="ok"):
        assert parts.CHART_TO_MASK_PART[row.chart] == row.point.part
        assert 0 <= row.u <= 1 and 0 <= row.v <= 1 and len(row.surface) == 3
    assert Task.objects.get(pk=task["id"]).state == "done"


@pytest.mark.django_db(transaction=True)
def test_a_task_put_down_goes_to_the_next_annotator_without_the_draft_or_back_to_its_author(project, users,
                                                                                            client_for):  # fmt: skip
    """Switching queues, the annotator puts their task down: it does not stay leased for half an hour."""
    anna, otto = client_for(users["annotator"]), client_for(users["annotator2"])
    first = anna.post("/api/tasks/next", {"project": "queue-test", "stage": 1}, format="json").json()
    anna.put(f"/api/tasks/{first['id']}/draft", {"draft": {"dp_masks": []}}, format="json")
    assert otto.post(f"/api/tasks/{first['id']}/leave").status_code == 409, "only its holder puts it down"
    assert anna.post(f"/api/tasks/{first['id']}/leave").status_code == 204
    assert AuditEvent.objects.filter(action="leave", task_id=first["id"]).exists()
    assert anna.post(f"/api/tasks/{first['id']}/leave").status_code == 409, "once"
    # nobody took it: its author finds it again, with the draft
    back = anna.post("/api/tasks/next", {"project": "queue-test", "stage": 1}, format="json").json()
    assert back["id"] == first["id"] and back["draft"] == {"dp_masks": []}
    anna.post(f"/api/tasks/{first['id']}/leave")
    taken = otto.post("/api/tasks/next", {"project": "queue-test", "stage": 1}, format="json").json()
    assert taken["id"] == first["id"] and taken["draft"] is None, "the next annotator starts afresh"


@pytest.mark.django_db
def test_a_person_who_cannot_be_annotated_is_skipped_with_a_reason_and_goes_to_an_admin(project, users, client_for):
    anna, otto, boss = client_for(users["annotator"]), client_for(users["annotator2"]), client_for(users["admin"])
    first = anna.post("/api/tasks/next", {"project": "queue-test", "stage": 1}, format="json").json()
    anna.put(f"/api/tasks/{first['id']}/draft", {"draft": {"dp_masks": []}}, format="json")
    skip_url = f"/api/tasks/{first['id']}/skip"
    # bad reasons are refused, naming the field; nothing changes
    for body, field in (({"reason": "bored"}, "reason"), ({"reason": "other"}, "note"),
                        ({"reason": "other", "note": "   "}, "note"), ({"reason": "hidden", "note": "x" * 501}, "note"),
                        ({"reason": "hidden", "note": 7}, "note")):  # fmt: skip
        resp = anna.post(skip_url, body, format="json")
        assert resp.status_code == 400 and resp.json()["field"] == field, (body, resp.content)
    assert otto.post(skip_url, {"reason": "hidden"}, format="json").status_code == 409, "only its holder skips it"
    assert Task.objects.get(pk=first["id"]).state == "leased"

    resp = anna.post(skip_url, {"reason": "too_small", "note": " only 20 pixels tall "}, format="json")
    assert resp.status_code == 200 and resp.json() == {"task": first["id"], "state": "skipped", "reason": "too_small"}
    assert anna.post(skip_url, {"reason": "too_small"}, format="json").status_code == 200, "a double click: once"
    skipped = Task.objects.get(pk=first["id"])
    assert (skipped.state, skipped.skip_reason, skipped.skip_note) == ("skipped", "too_small", "only 20 pixels tall")
    assert AuditEvent.objects.filter(action="skip", task=skipped).count() == 1
    # it leaves the queue: neither its skipper nor anyone else gets it
    again = anna.post("/api/tasks/next", {"project": "queue-test", "stage": 1}, format="json").json()
    assert again["id"] != first["id"]
    anna.post(f"/api/tasks/{again['id']}/leave")
    assert (
        otto.post("/api/tasks/next", {"project": "queue-test", "stage": 1}, format="json").json()["id"] != first["id"]
    )

    # the admin sees it with its reason on the Queues page ...
    pages = Client()
    pages.force_login(users["admin"])
    page = pages.get("/queues/").content.decode()
    assert f'data-task="{first["id"]}" data-state="skipped"' in page and "too small or blurred" in page
    assert "only 20 pixels tall" in page
    # ... and requeues it: whoever comes next starts afresh, without the skipper's draft
    assert anna.post(f"/api/tasks/{first['id']}/requeue", format="json").status_code == 403
    assert boss.post(f"/api/tasks/{first['id']}/requeue", format="json").json()["state"] == "pending"
    back = Task.objects.get(pk=first["id"])
    assert (back.skip_reason, back.skip_note, back.draft, back.review_comment) == ("", "", None, "")
    assert anna.post(f"/api/tasks/{first['id']}/skip", {"reason": "hidden"}, format="json").status_code == 409


@pytest.mark.django_db
def test_an_admin_gives_a_skipped_person_to_someone_else(project, users, client_for):
    anna, boss = client_for(users["annotator"]), client_for(users["admin"])
    first = anna.post("/api/tasks/next", {"project": "queue-test", "stage": 1}, format="json").json()
    anna.post(f"/api/tasks/{first['id']}/skip", {"reason": "other", "note": "a mannequin"}, format="json")
    given = boss.post(f"/api/tasks/{first['id']}/assign", {"username": "otto"}, format="json").json()
    assert (given["state"], given["assignee"]) == ("leased", "otto")
    assert Task.objects.get(pk=first["id"]).skip_reason == ""


@pytest.mark.django_db(transaction=True)
def test_the_same_person_gets_the_same_points_in_any_database(users, client_for, settings, tmp_path):
    """k-means is seeded from the image's content and the box, not from a database id: the same person in
    another project (another installation) gets the same stage-2 points; another box gets others."""
    from annotator_web.data.models import Project
    from tests.helpers import make_person
    from tests.perfect import run_processing_jobs

    settings.MEDIA_ROOT = tmp_path / "media"
    anna = client_for(users["annotator"])
    points = {}
    for name in ("first", "second", "third"):
        project = Project.objects.create(name=name, review_fraction=0.0)
        for _ in range(3 if name == "second" else 0):  # other people (without tasks) first: another id
            make_person(project)
        person = make_person(project)
        if name == "third":
            Person.objects.filter(pk=person.pk).update(x=2)
        Task.objects.create(project=project, person=person, stage=1)
        task = anna.post("/api/tasks/next", {"project": name, "stage": 1}, format="json").json()
        assert anna.post(f"/api/tasks/{task['id']}/submit", {"key": "k", "data": masks_payload()},
                         format="json").status_code == 201  # fmt: skip
        run_processing_jobs()
        points[name] = list(SampledPoint.objects.filter(person=person).values_list("part", "box_x", "box_y"))
    assert points["first"] and points["first"] == points["second"]
    assert points["third"] != points["first"]
