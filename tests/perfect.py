"""A perfect annotator for tests: answers stage 1 and 2 from the synthetic ground truth."""

from annotator_web.data.models import ImageTruth, Person
from annotator_web.data.truth import TruthCache, person_index
from pipeline.coco.densepose import decode_rle
from pipeline.synthetic.annotator import perfect_answer


def _truth(task: dict, media_root=None):
    """The task's person's image truth and index."""
    found = TruthCache(media_root).person(task["person"]["id"])
    assert found is not None, f"task {task['id']}'s person is not synthetic"
    return found


def true_masks(task: dict) -> list:
    """The 14 dp_masks of a stage-1 task's person, [] for the parts it does not show (from the truth's
    records: no truth file is read)."""
    truth = ImageTruth.objects.get(image_id=task["person"]["image"]["id"])
    index = person_index(Person.objects.get(pk=task["person"]["id"]).source_id)
    record = next(p for p in truth.people if p["index"] == index)
    return [m if decode_rle(m).any() else [] for m in record["dp_masks"]]


def true_answers(task: dict, mapper, media_root=None) -> tuple[list, object]:
    """Stage-2 answers clicking every sampled point where it truly is (on a view that shows it; "unsure" when
    none does), and the truth under any point of the person's box to check against: (box_x, box_y) ->
    :class:`pipeline.synthetic.truth.TruePoints`."""
    truth, index = _truth(task, media_root)
    bbox = task["person"]["bbox"]
    answers = [perfect_answer(mapper, truth, index, bbox, p) for p in task["points"]]
    return answers, lambda box_x, box_y: truth.under(index, bbox, box_x, box_y)


def perfect_masks(api, project: str) -> dict:
    """Lease the next stage-1 task and submit the person's true part masks; returns the task."""
    task = api.post("/api/tasks/next", {"project": project, "stage": 1}, format="json").json()
    body = {"key": "m", "data": {"dp_masks": true_masks(task)}}
    resp = api.post(f"/api/tasks/{task['id']}/submit", body, format="json")
    assert resp.status_code == 201, resp.content
    return task


def perfect_clicks(api, project: str, mapper, media_root) -> tuple[dict, list]:
    """Lease the next stage-2 task and submit the true clicks; returns the task and the answers."""
    task = api.post("/api/tasks/next", {"project": project, "stage": 2}, format="json").json()
    answers, _ = true_answers(task, mapper, media_root)
    body = {"key": "c", "data": {"answers": answers}, "seconds_spent": 3.0 * len(answers)}
    resp = api.post(f"/api/tasks/{task['id']}/submit", body, format="json")
    assert resp.status_code == 201, resp.content
    return task, answers


def run_processing_jobs() -> None:
    """Run the queued submission-processing jobs here, as a worker would."""
    from annotator_web.core import jobs
    from annotator_web.core.models import Job
    from annotator_web.work.services import PROCESS_KIND

    for job in Job.objects.filter(state="queued", kind=PROCESS_KIND):
        assert jobs.execute(job.pk, worker="test").state == "succeeded"
