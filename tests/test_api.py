"""The jobs API and pages: authentication, roles and who sees what."""

import pytest

from annotator_web.core.models import Job

pytestmark = pytest.mark.django_db


def make_job(user, kind="integrity_check", state=Job.State.QUEUED):
    return Job.objects.create(kind=kind, created_by=user, state=state)


@pytest.mark.parametrize(
    "method,path", [("get", "/api/jobs"), ("get", "/api/jobs/1"), ("post", "/api/jobs"), ("get", "/api/job-kinds")]
)
def test_anonymous_calls_are_refused_with_401(client_for, method, path):
    resp = getattr(client_for(None), method)(path)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Token")


def test_pages_send_anonymous_users_to_the_login_page(client):
    resp = client.get("/jobs/")
    assert resp.status_code == 302 and resp.url.startswith("/login/")
    assert client.get("/login/").status_code == 200


def test_user_without_a_role_can_do_nothing(users, client_for):
    make_job(users["admin"])
    make_job(users["norole"])  # even their own (created before their role was taken away)
    api = client_for(users["norole"])
    resp = api.get("/api/jobs")
    assert resp.status_code == 403
    assert "no role" in resp.json()["detail"]
    assert api.post("/api/jobs", {"kind": "integrity_check"}, format="json").status_code == 403


def test_annotators_see_only_their_own_jobs_and_admins_see_all(users, client_for):
    mine = make_job(users["annotator"])
    other = make_job(users["annotator2"])
    admins = make_job(users["admin"])

    api = client_for(users["annotator"])
    listed = api.get("/api/jobs").json()
    assert [j["id"] for j in listed["results"]] == [mine.pk]
    assert api.get(f"/api/jobs/{mine.pk}").status_code == 200
    assert api.get(f"/api/jobs/{other.pk}").status_code == 404
    assert api.get(f"/api/jobs/{admins.pk}").status_code == 404

    everything = client_for(users["admin"]).get("/api/jobs").json()
    assert {j["id"] for j in everything["results"]} == {mine.pk, other.pk, admins.pk}
    assert everything["count"] == 3


def test_list_filters_by_state_and_kind(users, client_for):
    done = make_job(users["admin"], state=Job.State.SUCCEEDED)
    make_job(users["admin"], state=Job.State.QUEUED)
    api = client_for(users["admin"])
    assert [j["id"] for j in api.get("/api/jobs?state=succeeded").json()["results"]] == [done.pk]
    assert api.get("/api/jobs?kind=nonexistent").json()["count"] == 0


def test_only_admins_may_start_the_integrity_check(users, client_for):
    resp = client_for(users["annotator"]).post("/api/jobs", {"kind": "integrity_check"}, format="json")
    assert resp.status_code == 403
    assert "may not start" in resp.json()["detail"]

    resp = client_for(users["admin"]).post("/api/jobs", {"kind": "integrity_check"}, format="json")
    assert resp.status_code == 201
    job = Job.objects.get(pk=resp.json()["id"])
    assert (job.state, job.created_by, job.queue) == ("queued", users["admin"], "default")


def test_unknown_job_kind_is_a_400_naming_the_known_kinds(users, client_for):
    resp = client_for(users["admin"]).post("/api/jobs", {"kind": "make_coffee"}, format="json")
    assert resp.status_code == 400
    assert "make_coffee" in resp.json()["kind"][0] and "integrity_check" in resp.json()["kind"][0]
    assert Job.objects.count() == 0


def test_cancel_a_queued_job(users, client_for):
    job = make_job(users["annotator"])
    assert client_for(users["annotator2"]).post(f"/api/jobs/{job.pk}/cancel").status_code == 404
    resp = client_for(users["annotator"]).post(f"/api/jobs/{job.pk}/cancel")
    assert resp.status_code == 200 and resp.json()["state"] == "cancelled"


def test_result_link_only_for_a_finished_job_with_a_file(users, client_for):
    job = make_job(users["admin"])
    assert client_for(users["admin"]).get(f"/api/jobs/{job.pk}/result").status_code == 404


def test_token_login_and_me(users, client):
    resp = client.post("/api/auth/token", {"username": "rita", "password": "wrong"})
    assert resp.status_code == 400
    from tests.conftest import PASSWORD

    token = client.post("/api/auth/token", {"username": "rita", "password": PASSWORD}).json()["token"]
    me = client.get("/api/me", HTTP_AUTHORIZATION=f"Token {token}").json()
    assert me == {"username": "rita", "role": "reviewer"}


def test_jobs_page_offers_the_check_to_admins_only(users, client):
    from tests.conftest import PASSWORD

    client.login(username="alice", password=PASSWORD)
    page = client.get("/jobs/").content
    assert b'data-start-kind="integrity_check"' in page
    assert b'name="count" type="number" value="20"' in page, "make_synthetic asks for its parameters"
    client.login(username="anna", password=PASSWORD)
    assert b'data-start-kind="integrity_check"' not in client.get("/jobs/").content


def test_login_page_uses_csrf(client):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/login/", {"username": "x", "password": "y"}).status_code == 403


def test_job_parameters_are_checked_by_their_type_and_completed_with_one_default(users, client_for):
    from annotator_web.data.models import Project
    from annotator_web.densepose_io.export import ONLY_ACCEPTED

    Project.objects.create(name="p")
    api = client_for(users["admin"])
    started = api.post("/api/jobs", {"kind": "export_densepose", "params": {"project": "p"}}, format="json")
    assert started.status_code == 201
    params = Job.objects.get(pk=started.json()["id"])
    assert params.params == {"project": "p", "split": "", "only_accepted": ONLY_ACCEPTED, "provenance": False,
                             "drop_confirmed": False}, "the defaults, stored"  # fmt: skip
    for params, reason in [
        ({}, "project: required"),
        ({"project": "nope"}, "project: one of p, not 'nope'"),
        ({"project": "p", "only_accepted": 1}, "only_accepted: true or false, not 1"),
    ]:
        resp = api.post("/api/jobs", {"kind": "export_densepose", "params": params}, format="json")
        assert resp.status_code == 400 and reason in resp.json()["params"][0], (params, resp.json())
    resp = api.post("/api/jobs", {"kind": "train", "params": {"project": "p", "config": "huge", "iterations": -1}},
                    format="json")  # fmt: skip
    assert resp.status_code == 400
    assert "config: one of tiny, r50_fpn, not 'huge'" in resp.json()["params"][0]
    assert "iterations: a whole number, 0 or more, not -1" in resp.json()["params"][0], "every problem at once"
    assert Job.objects.count() == 1, "a refused job is not queued"


def test_the_systems_own_jobs_are_listed_only_when_asked_for(users, client_for):
    from annotator_web.work.services import PROCESS_KIND

    mine = make_job(users["annotator"])
    processing = Job.objects.create(kind=PROCESS_KIND, created_by=users["annotator"], params={"submission": 1})
    api = client_for(users["annotator"])
    assert [j["id"] for j in api.get("/api/jobs").json()["results"]] == [mine.pk]
    assert [j["id"] for j in api.get(f"/api/jobs?kind={PROCESS_KIND}").json()["results"]] == [processing.pk]
    assert api.get(f"/api/jobs/{processing.pk}").status_code == 200


def test_the_jobs_page_asks_for_each_parameter_by_its_type(users, client):
    from annotator_web.data.models import Project
    from tests.conftest import PASSWORD

    Project.objects.create(name="alpha")
    client.login(username="alice", password=PASSWORD)
    page = client.get("/jobs/").content.decode()
    train = page[page.index('data-start-kind="train"') :]
    train = train[: train.index("</form>")]
    assert '<select name="project" required><option value="alpha">alpha</option></select>' in train
    assert '<option value="tiny" selected>tiny</option><option value="r50_fpn">r50_fpn</option>' in train
    assert '<input name="teacher" type="checkbox">' in train
    export = page[page.index('data-start-kind="export_densepose"') :]
    export = export[: export.index("</form>")]
    assert '<input name="split" type="text" value="">' in export, "an empty split (every image) may be sent"
