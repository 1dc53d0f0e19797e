"""Every answer kept: part masks, sampled points and stage-2 answers are versions that the workflow never rewrites
or deletes; a stage-1 redo carries the answers of the points that stay and asks again only for the new ones."""

import numpy as np
import pytest

from annotator_web.core import jobs
from annotator_web.core.models import Job
from annotator_web.work import services
from annotator_web.work.models import Correspondence, PartMasks, SampledPoint, Task
from pipeline import parts
from pipeline.coco.densepose import dp_masks_from_labels
from tests.helpers import masks_payload

NEXT = "/api/tasks/next"
pytestmark = pytest.mark.django_db


def masks_with_a_left_hand():
    """masks_payload's parts and a left hand as well (the other parts' pixels unchanged)."""
    labels = np.zeros((256, 256), dtype=np.uint8)
    labels[20:80, 90:170] = parts.MASK_PART_NAMES.index("Head") + 1
    labels[80:200, 60:200] = parts.MASK_PART_NAMES.index("Torso") + 1
    labels[200:250, 70:120] = parts.MASK_PART_NAMES.index("Upper Leg Right") + 1
    labels[150:190, 210:250] = parts.MASK_PART_NAMES.index("Left Hand") + 1
    return {"dp_masks": dp_masks_from_labels(labels)}


def submit(client, task_id: int, key: str, data: dict) -> Task:
    resp = client.post(f"/api/tasks/{task_id}/submit", {"key": key, "data": data}, format="json")
    assert resp.status_code == 201, resp.content
    done = jobs.execute(Job.objects.filter(kind=services.PROCESS_KIND).order_by("-id").first().pk, worker="test")
    assert done.state == "succeeded", done.error
    return Task.objects.get(pk=task_id)


def lease(client, stage: int) -> dict:
    resp = client.post(NEXT, {"project": "queue-test", "stage": stage}, format="json")
    assert resp.status_code == 200, resp.status_code
    return resp.json()


def answer_all(task: dict, status="not_visible") -> dict:
    return {"answers": [{"point": p["id"], "status": status} for p in task["points"]]}


def current_answers(person_id: int) -> dict:
    """point (part, box x, box y) -> status, of the person's current answers to current points."""
    rows = Correspondence.objects.filter(point__person_id=person_id, point__current=True, current=True)
    return {(c.point.part, c.point.box_x, c.point.box_y): c.status for c in rows.select_related("point")}


@pytest.fixture
def finished(project, users, client_for):
    """A person whose stage 1 and stage 2 are done (no review): (annotator client, stage-1 task, stage-2 task)."""
    project.review_fraction = 0.0
    project.save()
    anna = client_for(users["annotator"])
    first = lease(anna, 1)
    assert submit(anna, first["id"], "m1", masks_payload()).state == "done"
    second = lease(anna, 2)
    assert second["person"]["id"] == first["person"]["id"]
    data = answer_all(second)
    data["answers"][0]["status"] = "unsure"
    assert submit(anna, second["id"], "p1", data).state == "done"
    return anna, first, second


def test_a_stage_one_redo_with_the_same_masks_keeps_every_stage_two_answer_current(finished, users, client_for):
    """The reproduction that lost 59 accepted answers: requeue accepted masks, redo them the same, accepted."""
    anna, first, second = finished
    person = first["person"]["id"]
    before = current_answers(person)
    assert len(before) == len(second["points"]) > 0
    boss = client_for(users["admin"])
    assert boss.post(f"/api/tasks/{first['id']}/requeue", {"comment": "once more"}, format="json").status_code == 200
    again = lease(anna, 1)
    assert again["id"] == first["id"]
    assert submit(anna, first["id"], "m2", masks_payload()).state == "done"

    assert current_answers(person) == before, "every answer is still the person's answer"
    stage2 = Task.objects.get(pk=second["id"])
    assert stage2.state == "done" and stage2.flagged_points == []
    assert Correspondence.objects.filter(point__person_id=person).count() == 2 * len(before), "the first kept too"
    carried = Correspondence.objects.filter(point__person_id=person, current=True)
    assert all(c.carried_from_id is not None for c in carried), "marked as carried over"
    assert PartMasks.objects.filter(person_id=person).count() == 2
    assert PartMasks.objects.filter(person_id=person, current=True).get().submission.key == "m2"


def test_new_masks_reopen_stage_two_for_the_new_points_only(finished, users, client_for):
    anna, first, second = finished
    person = first["person"]["id"]
    before = current_answers(person)
    boss = client_for(users["admin"])
    boss.post(f"/api/tasks/{first['id']}/requeue", {"comment": "the left hand is missing"}, format="json")
    lease(anna, 1)
    assert submit(anna, first["id"], "m2", masks_with_a_left_hand()).state == "done"

    stage2 = Task.objects.get(pk=second["id"])
    hand = parts.MASK_PART_NAMES.index("Left Hand") + 1
    new_points = set(
        SampledPoint.objects.filter(person_id=person, current=True, part=hand).values_list("pk", flat=True)
    )
    assert stage2.state == "pending", "not left done with points nobody answered"
    assert set(stage2.flagged_points) == new_points and new_points
    assert "new point" in stage2.review_comment
    assert current_answers(person) == before, "the points that stayed keep their answers"

    task = lease(anna, 2)
    assert task["id"] == second["id"] and set(task["flagged_points"]) == new_points
    assert {a["point"] for a in task["draft"]["answers"]} == {p["id"] for p in task["points"]} - new_points
    answers = task["draft"]["answers"] + [{"point": p, "status": "not_visible"} for p in sorted(new_points)]
    assert submit(anna, second["id"], "p2", {"answers": answers}).state == "done"
    now = current_answers(person)
    assert len(now) == len(before) + len(new_points)
    assert {k: v for k, v in now.items() if k[0] != hand} == before


def test_a_stage_two_redo_keeps_the_earlier_answers(finished, users, client_for):
    anna, first, second = finished
    person = first["person"]["id"]
    count = Correspondence.objects.filter(point__person_id=person).count()
    boss = client_for(users["admin"])
    assert boss.post(f"/api/tasks/{second['id']}/requeue", {"comment": "again"}, format="json").status_code == 200
    task = lease(anna, 2)
    assert submit(anna, second["id"], "p2", answer_all(task, "unsure")).state == "done"
    assert set(current_answers(person).values()) == {"unsure"}
    assert Correspondence.objects.filter(point__person_id=person).count() == 2 * count
    assert Correspondence.objects.filter(point__person_id=person, current=False).count() == count


def test_a_rejected_and_resubmitted_task_keeps_both_submissions(project, users, client_for):
    anna, rita = client_for(users["annotator"]), client_for(users["reviewer"])
    task = lease(anna, 1)
    submit(anna, task["id"], "m1", masks_payload())
    resp = rita.post(f"/api/tasks/{task['id']}/review", {"decision": "reject", "comment": "the arm"}, format="json")
    assert resp.status_code == 200
    lease(anna, 1)
    submit(anna, task["id"], "m2", masks_with_a_left_hand())
    person = task["person"]["id"]
    assert PartMasks.objects.filter(person_id=person).count() == 2
    assert [m.submission.key for m in PartMasks.objects.filter(person_id=person).order_by("id")] == ["m1", "m2"]
    assert PartMasks.objects.get(person_id=person, current=True).submission.key == "m2"


@pytest.mark.django_db(transaction=True)
def test_a_database_of_the_old_schema_migrates_with_every_answer_kept_and_current():
    """Rows written by the schema before versions (one part masks a person, one answer a point) become the
    current versions, each point linked to the masks it was sampled from."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("work", "0008_task_processing_error")], [("work", "0009_answers_are_versions")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    project = old.get_model("data", "Project").objects.create(name="old")
    image = old.get_model("data", "Image").objects.create(project=project, width=64, height=64, sha256="a" * 64)
    person = old.get_model("data", "Person").objects.create(image=image, x=1, y=1, w=30, h=60)
    old.get_model("work", "PartMasks").objects.create(person=person, dp_masks=masks_payload()["dp_masks"])
    for k in range(3):
        point = old.get_model("work", "SampledPoint").objects.create(person=person, part=2, order=k, box_x=k, box_y=k)
        old.get_model("work", "Correspondence").objects.create(point=point, status="unsure")
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        new = executor.loader.project_state(after).apps
        masks = new.get_model("work", "PartMasks").objects.get(person_id=person.pk)
        assert masks.current
        points = new.get_model("work", "SampledPoint").objects.filter(person_id=person.pk)
        assert [(p.current, p.masks_id) for p in points] == [(True, masks.pk)] * 3
        answers = new.get_model("work", "Correspondence").objects.filter(point__person_id=person.pk)
        assert [(a.status, a.current) for a in answers] == [("unsure", True)] * 3
    finally:
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


# --- history you can read ------------------------------------------------------------------------------------


def test_the_history_lists_every_submission_with_its_review_and_what_changed(project, users, client_for):
    anna, rita = client_for(users["annotator"]), client_for(users["reviewer"])
    task = lease(anna, 1)
    submit(anna, task["id"], "m1", masks_payload())
    rita.post(f"/api/tasks/{task['id']}/review", {"decision": "reject", "comment": "the left hand"}, format="json")
    lease(anna, 1)
    submit(anna, task["id"], "m2", masks_with_a_left_hand())

    review = rita.get("/api/reviews/next", {"project": "queue-test", "stage": 1}).json()
    assert review["id"] == task["id"]
    again = review["resubmission"]
    assert again["number"] == 2 and again["earlier_review"]["comment"] == "the left hand"
    assert again["earlier_review"]["reviewer"] == "rita" and again["earlier_review"]["decision"] == "reject"
    hand = parts.MASK_PART_NAMES.index("Left Hand") + 1
    assert again["changes"] == {"pixels": 40 * 40, "parts": [{"part": hand, "name": "Left Hand", "pixels": 1600}]}

    history = rita.get(f"/api/tasks/{task['id']}/history").json()
    entries = history["submissions"]
    assert [e["author"] for e in entries] == ["anna", "anna"]
    assert entries[0]["review"]["comment"] == "the left hand" and entries[0]["changes"] is None
    assert entries[1]["review"] is None and entries[1]["changes"]["pixels"] == 1600
    assert entries[0]["submitted_at"] < entries[1]["submitted_at"]
    assert (
        entries[1]["data"]["dp_masks"] == PartMasks.objects.get(person_id=task["person"]["id"], current=True).dp_masks
    )
    assert anna.get(f"/api/tasks/{task['id']}/history").status_code == 403, "reviewers and admins read it"


def test_a_returned_task_is_not_accepted_with_a_flagged_point_untouched(project, users, client_for):
    project.review_fraction = 1.0
    project.save()
    anna, rita = client_for(users["annotator"]), client_for(users["reviewer"])
    first = lease(anna, 1)
    submit(anna, first["id"], "m1", masks_payload())
    rita.post(f"/api/tasks/{first['id']}/review", {"decision": "accept"}, format="json")
    task = lease(anna, 2)
    submit(anna, task["id"], "p1", answer_all(task))
    flagged = [task["points"][1]["id"], task["points"][3]["id"]]
    resp = rita.post(
        f"/api/tasks/{task['id']}/review",
        {"decision": "reject", "comment": "look again", "points": flagged},
        format="json",
    )
    assert resp.status_code == 200

    back = lease(anna, 2)
    assert back["flagged_points"] == flagged and back["draft"] == answer_all(task)
    unchanged = anna.post(f"/api/tasks/{task['id']}/submit", {"key": "p2", "data": back["draft"]}, format="json")
    assert unchanged.status_code == 400 and "flagged" in unchanged.json()["detail"]
    assert unchanged.json()["field"] == "answers[1]"
    answers = [dict(a) for a in back["draft"]["answers"]]
    answers[1]["status"] = "unsure"  # answered again
    answers[3]["confirmed"] = True  # looked at, the same answer stands
    submit(anna, task["id"], "p2", {"answers": answers})

    again = rita.get("/api/reviews/next", {"project": "queue-test", "stage": 2}).json()["resubmission"]
    assert again["earlier_review"]["points"] == flagged
    assert again["changes"]["changed"] == [
        {"point": flagged[0], "before": "not_visible", "after": "unsure", "moved_m": None}
    ]
    assert again["changes"]["unchanged"] == len(task["points"]) - 1


# --- any sequence of workflow actions ------------------------------------------------------------------------

ACTIONS = ("annotate", "annotate", "review", "review", "requeue", "skip", "release", "retry")


def _stored() -> int:
    from annotator_web.work.models import Submission

    return sum(m.objects.count() for m in (PartMasks, SampledPoint, Correspondence, Submission))


def _check_invariants() -> None:
    from annotator_web.work import versions

    for task in Task.objects.filter(state="done"):
        if task.stage == 1:
            assert PartMasks.objects.filter(person_id=task.person_id, current=True).exists(), task
        elif Task.objects.filter(person_id=task.person_id, stage=1, state="done").exists():
            assert versions.current_points(task.person_id).exists(), task
            assert versions.unanswered_points(task.person_id) == [], f"{task} is done without every answer"


def _step(action: str, k: int, clients: dict) -> None:
    anna, rita, boss = clients["annotator"], clients["reviewer"], clients["admin"]
    stage = k % 2 + 1
    if action == "annotate":
        resp = anna.post(NEXT, {"project": "queue-test", "stage": stage}, format="json")
        if resp.status_code != 200:
            return
        task = resp.json()
        if stage == 1:
            data = masks_payload() if k % 4 < 2 else masks_with_a_left_hand()
        else:
            flagged = set(task["flagged_points"])
            draft = {a["point"]: a for a in (task["draft"] or {}).get("answers", [])}
            status = ("not_visible", "unsure")[k // 2 % 2]
            data = {
                "answers": [
                    {**draft[p["id"]], "confirmed": True}
                    if p["id"] in draft and p["id"] in flagged
                    else draft.get(p["id"], {"point": p["id"], "status": status})
                    for p in task["points"]
                ]
            }
        submit(anna, task["id"], f"s{Job.objects.count()}", data)
    elif action == "review":
        resp = rita.get("/api/reviews/next", {"project": "queue-test", "stage": stage})
        if resp.status_code != 200:
            return
        task = resp.json()
        body = {"decision": "accept"} if k % 3 else {"decision": "reject", "comment": "again"}
        if body["decision"] == "reject" and stage == 2 and k % 2:
            body["points"] = [task["points"][0]["id"]]
        assert rita.post(f"/api/tasks/{task['id']}/review", body, format="json").status_code == 200
    else:
        tasks = list(Task.objects.order_by("id"))
        task = tasks[k % len(tasks)]
        if action == "skip":
            resp = anna.post(NEXT, {"project": "queue-test", "stage": stage}, format="json")
            if resp.status_code == 200:
                anna.post(f"/api/tasks/{resp.json()['id']}/skip", {"reason": "hidden"}, format="json")
        else:
            resp = boss.post(f"/api/tasks/{task.pk}/{action}", {"comment": "again"}, format="json")
            assert resp.status_code in (200, 409), resp.content


def test_no_sequence_of_workflow_actions_loses_an_answer_or_leaves_a_task_done_without_one(project, users, client_for):
    """Random sequences of what annotators, reviewers and admins do (submit, accept, reject with or without flags,
    requeue, skip, release, retry), on two people: the stored versions never decrease, and no task is done
    without its person's current answer."""
    from django.db import transaction
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    Task.objects.exclude(
        person_id__in=list(Task.objects.order_by("id").values_list("person_id", flat=True)[:2])
    ).delete()
    project.review_fraction = 0.5
    project.save()
    clients = {role: client_for(users[role]) for role in ("annotator", "reviewer", "admin")}

    @settings(max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 11)), min_size=4, max_size=24))
    def run(steps):
        with transaction.atomic():
            mark = transaction.savepoint()
            try:
                stored = _stored()
                for action, k in steps:
                    _step(action, k, clients)
                    now = _stored()
                    assert now >= stored, f"{action} lowered the stored versions from {stored} to {now}"
                    stored = now
                    _check_invariants()
            finally:
                transaction.savepoint_rollback(mark)

    run()


def test_only_an_admins_explicit_purge_deletes_earlier_versions_and_it_is_audited(finished, users, client_for):
    from io import StringIO

    from django.core.management import CommandError, call_command

    from annotator_web.work.models import AuditEvent

    anna, first, _ = finished
    person = first["person"]["id"]
    client_for(users["admin"]).post(f"/api/tasks/{first['id']}/requeue", {}, format="json")
    lease(anna, 1)
    submit(anna, first["id"], "m2", masks_payload())
    current = current_answers(person)
    earlier = Correspondence.objects.filter(current=False).count()
    assert earlier == len(current) > 0
    with pytest.raises(CommandError, match="not an admin"):
        call_command("purge_earlier_versions", project="queue-test", by="anna", yes=True)
    out = StringIO()
    call_command("purge_earlier_versions", project="queue-test", by="alice", stdout=out)
    assert f"would delete from queue-test: {earlier} answers" in out.getvalue()
    assert Correspondence.objects.filter(current=False).count() == earlier, "counting deletes nothing"
    call_command("purge_earlier_versions", project="queue-test", by="alice", yes=True, stdout=StringIO())
    assert not Correspondence.objects.filter(current=False).exists()
    assert not PartMasks.objects.filter(current=False).exists() and not SampledPoint.objects.filter(current=False)
    assert current_answers(person) == current, "the current versions stay"
    event = AuditEvent.objects.get(action="purge_earlier_versions")
    assert event.actor.username == "alice" and event.detail == {
        "answers": earlier,
        "points": len(current),
        "part_masks": 1,
    }
