"""What a careless user or a stranger does to the shared queue: rejected work that must go back to its author,
self-review, one annotator asking for work ten times at once, non-finite numbers, masks that cover nothing or
overlap, clicks on a fractional view, uploads sent twice."""

import io
import json

import numpy as np
import pytest
from PIL import Image as PILImage

from annotator_web.core import jobs
from annotator_web.core.models import Job
from annotator_web.data.models import Person
from annotator_web.work import services
from annotator_web.work.models import AuditEvent, Submission, Task
from pipeline import parts
from pipeline.coco.densepose import dp_masks_from_labels, encode_rle
from tests.helpers import at_once, masks_payload

NEXT = "/api/tasks/next"


def submit_and_process(client, task_id, key="s1", data=None):
    resp = client.post(f"/api/tasks/{task_id}/submit", {"key": key, "data": data or masks_payload()}, format="json")
    assert resp.status_code == 201, resp.json()
    done = jobs.execute(Job.objects.filter(kind=services.PROCESS_KIND).order_by("-id").first().pk, worker="test")
    assert done.state == "succeeded", done.error


@pytest.mark.django_db(transaction=True)
def test_rejected_work_goes_back_to_its_author_not_to_a_stranger(project, users, client_for):
    anna, otto, rita = (client_for(users[k]) for k in ("annotator", "annotator2", "reviewer"))
    task = anna.post(NEXT, {"project": "queue-test", "stage": 1}, format="json").json()
    submit_and_process(anna, task["id"])
    url = f"/api/tasks/{task['id']}/review"
    assert rita.post(url, {"decision": "reject", "comment": "anna: the left arm"}, format="json").status_code == 200

    theirs = otto.post(NEXT, {"project": "queue-test", "stage": 1}, format="json").json()
    assert theirs["id"] != task["id"], "another annotator gets fresh work, not anna's rejected task"
    assert theirs["draft"] is None and theirs["review_comment"] == ""
    mine = anna.post(NEXT, {"project": "queue-test", "stage": 1}, format="json").json()
    assert mine["id"] == task["id"] and mine["review_comment"] == "anna: the left arm"
    assert mine["draft"] == masks_payload()


@pytest.mark.django_db
@pytest.mark.parametrize("with_draft", [False, True])
def test_only_an_admin_hands_rejected_work_to_someone_else_and_chooses_about_the_draft(
    project,
    users,
    client_for,
    with_draft,
):
    anna, boss = client_for(users["annotator"]), client_for(users["admin"])
    task = anna.post(NEXT, {"project": "queue-test", "stage": 1}, format="json").json()
    submit_and_process(anna, task["id"])
    services.review(users["reviewer"], task["id"], "reject", "redo the head")
    body = {"username": "otto", "with_draft": with_draft}
    assigned = boss.post(f"/api/tasks/{task['id']}/assign", body, format="json")
    assert assigned.status_code == 200, assigned.json()
    otto = client_for(users["annotator2"])
    got = otto.post(NEXT, {"project": "queue-test", "stage": 1}, format="json").json()
    assert got["id"] == task["id"]
    assert got["draft"] == (masks_payload() if with_draft else None)
    assert (got["review_comment"] == "redo the head") == with_draft
    event = AuditEvent.objects.filter(action="assign", task_id=task["id"]).get()
    assert event.detail["with_draft"] is with_draft


@pytest.mark.django_db
def test_nobody_reviews_their_own_work_unless_the_project_allows_it(project, users, client_for):
    bea = client_for(users["admin"])  # admins annotate and review
    task = bea.post(NEXT, {"project": "queue-test", "stage": 1}, format="json").json()
    submit_and_process(bea, task["id"])
    nothing = bea.get("/api/reviews/next?project=queue-test&stage=1")
    assert nothing.status_code == 204 or nothing.json().get("id") != task["id"], "own work is not offered"
    resp = bea.post(f"/api/tasks/{task['id']}/review", {"decision": "accept"}, format="json")
    assert resp.status_code == 403 and "your own" in resp.json()["detail"]
    assert Task.objects.get(pk=task["id"]).state == "review"
    project.allow_self_review = True  # an admin's choice for this project
    project.save()
    resp = bea.post(f"/api/tasks/{task['id']}/review", {"decision": "accept"}, format="json")
    assert resp.status_code == 200 and resp.json()["state"] == "done"
    event = AuditEvent.objects.get(action="accept", task_id=task["id"])
    assert event.detail.get("self_review") is True, "the audit trail records the override"


@pytest.mark.django_db(transaction=True)
def test_one_annotator_asking_ten_times_at_once_holds_one_task(project, users):
    anna = users["annotator"]

    def work():
        task = services.next_task(anna, project, 1)
        return task.pk if task else None

    got = at_once(10, work)
    assert len(set(got)) == 1 and None not in got
    assert Task.objects.filter(state="leased", assignee=anna).count() == 1


def stage1_data(labels_by_part: dict) -> dict:
    masks = [[] for _ in parts.MASK_PARTS]
    for part, mask in labels_by_part.items():
        masks[part - 1] = encode_rle(mask)
    return {"dp_masks": masks}


@pytest.mark.django_db
def test_stage_one_masks_that_cover_nothing_are_absent_and_overlaps_are_refused(project, users, client_for):
    anna = client_for(users["annotator"])
    task = anna.post(NEXT, {"project": "queue-test", "stage": 1}, format="json").json()
    url = f"/api/tasks/{task['id']}/submit"
    torso = np.zeros((256, 256), dtype=np.uint8)
    torso[60:200, 60:200] = 1
    head = np.zeros((256, 256), dtype=np.uint8)
    head[20:80, 100:150] = 1  # rows 60..79 are torso too
    empty = np.zeros((256, 256), dtype=np.uint8)

    resp = anna.post(url, {"key": "a", "data": stage1_data({1: empty, 14: empty})}, format="json")
    assert resp.status_code == 400 and "all 14 part masks are empty" in resp.json()["detail"]
    resp = anna.post(url, {"key": "b", "data": stage1_data({1: torso, 14: head})}, format="json")
    assert resp.status_code == 400 and "overlap" in resp.json()["detail"]
    assert "Torso" in resp.json()["detail"] and "Head" in resp.json()["detail"]
    assert Submission.objects.count() == 0
    head[60:80] = 0
    resp = anna.post(url, {"key": "c", "data": stage1_data({1: torso, 14: head, 2: empty})}, format="json")
    assert resp.status_code == 201, resp.json()
    stored = Submission.objects.get().data["dp_masks"]
    assert stored[1] == [], "a mask that covers no pixel is stored as absent"
    assert stored == dp_masks_from_labels(np.where(head > 0, 14, torso).astype(np.uint8))


@pytest.mark.django_db
@pytest.mark.parametrize("view", [0.7, True, "1", 6, -1, None])
def test_a_stage_two_view_is_an_integer_from_0_to_5(project, users, view):
    from annotator_web.work.models import SampledPoint

    task = services.next_task(users["annotator"], project, 1)
    Task.objects.filter(pk=task.pk).update(stage=2)
    point = SampledPoint.objects.create(person=task.person, part=1, order=0, box_x=100.0, box_y=100.0)
    task.refresh_from_db()
    answers = {"answers": [{"point": point.pk, "status": "ok", "view": view, "x": 10.0, "y": 10.0}]}
    with pytest.raises(services.WorkError, match=r"answers\[0\]: view must be an integer 0\.\.5"):
        services.validate_stage2(answers, task)


@pytest.mark.django_db
def test_non_finite_numbers_never_enter_the_database(project, users, client_for):
    anna, boss = client_for(users["annotator"]), client_for(users["admin"])
    task = anna.post(NEXT, {"project": "queue-test", "stage": 1}, format="json").json()
    url = f"/api/tasks/{task['id']}/submit"
    for seconds in ("1e999", float("inf"), "nan", True):
        body = json.dumps({"key": "k", "data": masks_payload(), "seconds_spent": seconds}, allow_nan=True)
        resp = anna.post(url, body, content_type="application/json")
        assert resp.status_code == 400, (seconds, resp.content)
    raw = '{"key": "k", "data": {"dp_masks": []}, "seconds_spent": 1e999}'  # JSON numbers beyond float
    resp = anna.post(url, raw, content_type="application/json")
    assert resp.status_code == 400 and "finite" in resp.json()["detail"]
    assert Submission.objects.count() == 0

    buffer = io.BytesIO()
    PILImage.new("RGB", (120, 90), (10, 200, 30)).save(buffer, format="PNG")
    people = Person.objects.count()
    huge = "1" + "0" * 400  # a JSON integer no float holds
    for boxes in ("[[NaN, 0, 10, 10]]", "[[0, 0, Infinity, 10]]", "[[1e999, 0, 10, 10]]", "[[true, 0, 10, 10]]",
                  f"[[{huge}, 0, 10, 10]]"):  # fmt: skip
        buffer.seek(0)
        resp = boss.post("/api/projects/queue-test/images", {"file": buffer, "boxes": boxes}, format="multipart")
        assert resp.status_code == 400 and resp.json()["field"] == "boxes", (boxes, resp.content)
    assert Person.objects.count() == people


@pytest.mark.django_db
def test_the_same_upload_twice_makes_one_set_of_people(project, users, client_for):
    boss = client_for(users["admin"])
    buffer = io.BytesIO()
    PILImage.new("RGB", (120, 90), (10, 200, 30)).save(buffer, format="PNG")
    data = buffer.getvalue()
    people = Person.objects.count()
    first = boss.post("/api/projects/queue-test/images", {"file": io.BytesIO(data), "boxes": "[[1, 2, 30, 40]]"},
                      format="multipart")  # fmt: skip
    again = boss.post("/api/projects/queue-test/images", {"file": io.BytesIO(data), "boxes": "[[1, 2, 30, 40]]"},
                      format="multipart")  # fmt: skip
    assert first.status_code == 201 and again.status_code == 200, (first.content, again.content)
    assert again.json()["id"] == first.json()["id"] and again.json()["people"] == 0
    assert Person.objects.count() == people + 1
    more = boss.post("/api/projects/queue-test/images", {"file": io.BytesIO(data), "boxes": "[[50, 2, 30, 40]]"},
                     format="multipart")  # fmt: skip
    assert more.status_code == 200 and more.json()["people"] == 1, "a new box on the same image is added"


@pytest.fixture
def coco_files(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    folder = tmp_path / "images"
    folder.mkdir()
    buffer = io.BytesIO()
    PILImage.new("RGB", (120, 90), (200, 120, 40)).save(buffer, format="JPEG")
    (folder / "a.jpg").write_bytes(buffer.getvalue())
    secret = tmp_path / "secret.jpg"  # outside the images folder
    secret.write_bytes(buffer.getvalue())
    return folder, secret


def write(path, data):
    path.write_text(json.dumps(data))
    return path


@pytest.mark.django_db
def test_coco_import_refuses_non_finite_boxes_odd_entries_and_files_outside_the_folder(coco_files, tmp_path):
    from annotator_web.data.models import Image
    from annotator_web.densepose_io.coco_import import import_coco

    folder, secret = coco_files
    data = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 120, "height": 90},
                   {"id": 2, "file_name": str(secret), "width": 120, "height": 90},
                   {"id": 3, "file_name": "../secret.jpg", "width": 120, "height": 90}, "not an image entry"],
        "categories": [{"id": 1, "name": "person"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [5, 5, 40, 80]},
            {"id": 11, "image_id": 1, "category_id": 1, "bbox": [float("nan"), 5, 40, 80]},
            {"id": 12, "image_id": 1, "category_id": 1, "bbox": [True, 5, 40, 80]},
            {"id": 13, "image_id": 1, "category_id": 1, "bbox": [5, 5, 40, 80], "keypoints": [float("inf")] * 51},
            {"id": 14, "image_id": 2, "category_id": 1, "bbox": [5, 5, 40, 80]},
            {"id": 15, "image_id": 3, "category_id": 1, "bbox": [5, 5, 40, 80]},
            ["an", "array"],
            7,
        ],
    }  # fmt: skip
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data, allow_nan=True))
    report = import_coco("imp", path, folder)
    assert report.people == 2 and report.images == 1, report.problems
    text = "\n".join(report.problems)
    assert "annotation 11: bbox must be [x, y, w, h] finite numbers" in text
    assert "annotation 12: bbox must be" in text
    assert "annotation 13: keypoints must be 17 x (x, y, v)" in text
    assert "annotations[6] is not an object" in text and "annotations[7] is not an object" in text
    assert "images[3] is not an object" in text
    assert text.count("is not inside the images folder") == 2
    assert Image.objects.count() == 1 and Person.objects.filter(x=5).count() == 2


@pytest.mark.django_db
def test_a_failed_densepose_import_leaves_no_project(coco_files, tmp_path):
    from annotator_web.data.models import Project
    from annotator_web.densepose_io.densepose_import import import_densepose

    folder, _ = coco_files
    base = {"images": [{"id": 1, "file_name": "a.jpg", "width": 120, "height": 90}],
            "categories": [{"id": 1, "name": "person"}],
            "annotations": [{"id": 10, "image_id": 1, "category_id": 1, "bbox": [5, 5, 40, 80]}]}  # fmt: skip
    with pytest.raises(ValueError, match="unknown body model 'nonexistent'"):
        import_densepose("dp-a", write(tmp_path / "a.json", {**base, "info": {"body_model": "nonexistent"}}), folder)
    assert not Project.objects.filter(name="dp-a").exists()
    Project.objects.create(name="dp-b", body_model="anny")
    with pytest.raises(ValueError, match="uses anny"):
        import_densepose("dp-b", write(tmp_path / "b.json", {**base, "info": {"body_model": "smpl"}}), folder)
    with pytest.raises(ValueError, match="not built"):  # smpl assets are never built here
        import_densepose("dp-c", write(tmp_path / "c.json", {**base, "info": {"body_model": "smpl"}} | {
            "annotations": [{**base["annotations"][0], "dp_masks": [[]] * 14, "dp_x": [1.0], "dp_y": [1.0],
                             "dp_I": [1.0], "dp_U": [0.5], "dp_V": [0.5]}]}), folder)  # fmt: skip
    assert not Project.objects.filter(name="dp-c").exists(), "the project is made in the import's transaction"


@pytest.mark.django_db
def test_malformed_requests_are_4xx_with_a_reason_never_5xx(project, users, client_for):
    """What schemathesis and hand-made bodies found: each was a 500."""
    anna, boss, rita = client_for(users["annotator"]), client_for(users["admin"]), client_for(users["reviewer"])
    task = anna.post(NEXT, {"project": "queue-test", "stage": 1}, format="json").json()
    submit = f"/api/tasks/{task['id']}/submit"
    deep = "[" * 100_000 + "]" * 100_000

    def bad_mask(**rle):
        return {"key": "m", "data": {"dp_masks": [rle] + [[]] * 13}}

    raw_cases = [  # (client, method, url, raw JSON body)
        (anna, "post", NEXT, "[1, 2]"),
        (anna, "post", NEXT, '"queue-test"'),
        (anna, "put", f"/api/tasks/{task['id']}/draft", "[]"),
        (anna, "post", submit, "[]"),
        (rita, "post", f"/api/tasks/{task['id']}/review", '"accept"'),
        (boss, "post", "/api/tasks/priority", "[1]"),
        (anna, "put", f"/api/tasks/{task['id']}/draft", deep),
        (anna, "put", f"/api/tasks/{task['id']}/draft", '{"draft": {"note": "a\\u0000b"}}'),
        (boss, "post", f"/api/tasks/{task['id']}/assign", '{"username": "ot\\u0000to"}'),
        (boss, "post", "/api/jobs", '{"kind": "check_data_folder", "params": {"x": "\\u0000"}}'),
        (anna, "post", NEXT, '{"project": "queue\\u0000test", "stage": 1}'),
    ]
    for client, method, url, body in raw_cases:
        resp = getattr(client, method)(url, body, content_type="application/json")
        assert 400 <= resp.status_code < 500 and resp.json().get("detail"), (url, body[:40], resp.status_code)
    json_cases = [
        (anna, submit, bad_mask(size=5, counts="abc")),
        (anna, submit, bad_mask(size=None, counts="abc")),
        (anna, submit, bad_mask(size=[256, 256], counts=[10**30])),
        (anna, submit, bad_mask(size=[256, 256], counts=[[0, 65536]])),
        (anna, submit, bad_mask(size=[256, 256], counts=[True, 65535])),
        (boss, "/api/projects/queue-test/tasks", {"stage": "abc"}),
        (boss, "/api/projects/queue-test/tasks", {"stage": 1, "priority": 10**20}),
        (boss, "/api/tasks/priority", {"tasks": [task["id"]], "priority": 10**20}),
        (anna, NEXT, {"project": "queue-test", "stage": "abc"}),
    ]
    for client, url, body in json_cases:
        resp = client.post(url, body, format="json")
        assert 400 <= resp.status_code < 500 and resp.json().get("detail"), (url, body, resp.status_code)
    form = anna.post(NEXT, "project=%00&stage=1", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 400 and "NUL" in form.json()["detail"], "form bodies too"
    for url in ("/api/jobs?state=a%00b", "/api/jobs?kind=%00", "/api/reviews/next?project=q%00&stage=1"):
        resp = boss.get(url)
        assert 400 <= resp.status_code < 500, (url, resp.status_code)
    assert Submission.objects.count() == 0 and Task.objects.get(pk=task["id"]).draft is None


@pytest.mark.django_db
def test_oversized_bodies_are_refused_before_they_are_read(project, users, client_for, settings):
    anna, boss = client_for(users["annotator"]), client_for(users["admin"])
    huge = anna.post(NEXT, '{"project": "queue-test", "stage": 1}', content_type="application/json",
                     CONTENT_LENGTH=str(300_000_000))  # fmt: skip
    assert huge.status_code == 413 and "limit here is 10.0 MB" in huge.json()["detail"]
    assert not Task.objects.filter(state="leased").exists(), "the view never ran"
    # an image upload may be as large as an image may be (real uploads: the other tests), not more
    too_big = str(settings.MAX_IMAGE_BYTES + 2_000_000)
    resp = boss.post("/api/projects/queue-test/images", {"boxes": "[]"}, format="multipart", CONTENT_LENGTH=too_big)
    assert resp.status_code == 413
