"""Who may call what: a matrix over every API endpoint and every role (401/403 before any work is done)."""

import pytest

from annotator_web.data.models import Project

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "norole", "annotator", "reviewer", "admin")
# endpoint -> (method, path, body, roles allowed past the permission check)
ENDPOINTS = {
    "jobs list": ("get", "/api/jobs", None, {"annotator", "reviewer", "admin"}),
    "job kinds": ("get", "/api/job-kinds", None, {"annotator", "reviewer", "admin"}),
    "start job": ("post", "/api/jobs", {"kind": "integrity_check"}, {"admin"}),
    "next task": ("post", "/api/tasks/next", {"project": "p", "stage": 1}, {"annotator", "admin"}),
    "save draft": ("put", "/api/tasks/999/draft", {"draft": {}}, {"annotator", "admin"}),
    "submit": ("post", "/api/tasks/999/submit", {"key": "k", "data": {}}, {"annotator", "admin"}),
    "next review": ("get", "/api/reviews/next?project=p", None, {"reviewer", "admin"}),
    "review": ("post", "/api/tasks/999/review", {"decision": "accept"}, {"reviewer", "admin"}),
    "create tasks": ("post", "/api/projects/p/tasks", {"stage": 1}, {"admin"}),
    "pause": ("post", "/api/projects/p/pause", None, {"admin"}),
    "assign": ("post", "/api/tasks/999/assign", {"username": "anna"}, {"admin"}),
    "release": ("post", "/api/tasks/999/release", None, {"admin"}),
    "requeue": ("post", "/api/tasks/999/requeue", None, {"admin"}),
    "priority": ("post", "/api/tasks/priority", {"tasks": [], "priority": 1}, {"admin"}),
    "image file": ("get", "/api/images/999/file", None, {"annotator", "reviewer", "admin"}),
    "view bundle": ("get", "/api/bodies/anny/parts/1/bundle", None, {"annotator", "reviewer", "admin"}),
    "view picture": ("get", "/api/bodies/anny/parts/1/views/0.png", None, {"annotator", "reviewer", "admin"}),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_permission_matrix(endpoint, role, users, client_for):
    Project.objects.create(name="p")
    method, path, body, allowed = ENDPOINTS[endpoint]
    user = {"anonymous": None, "norole": users["norole"], "annotator": users["annotator"],
            "reviewer": users["reviewer"], "admin": users["admin"]}[role]  # fmt: skip
    resp = getattr(client_for(user), method)(path, body, format="json")
    if role == "anonymous":
        assert resp.status_code == 401, (endpoint, resp.status_code)
    elif role in allowed:
        assert resp.status_code not in (401, 403), (endpoint, role, resp.status_code, resp.content[:200])
    else:
        assert resp.status_code == 403, (endpoint, role, resp.status_code)


def test_openapi_schema_and_docs_page(users, client_for, client):
    from tests.conftest import PASSWORD

    admin = client_for(users["admin"])
    schema = admin.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/tasks/next", "/api/tasks/{id}/submit", "/api/jobs/{id}", "/api/reviews/next"):
        assert any(p.startswith(path) for p in paths), path
    assert client_for(None).get("/api/schema/").status_code == 401
    client.login(username="alice", password=PASSWORD)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
    assert b"cdn.jsdelivr" not in docs.content and b"unpkg.com" not in docs.content, "no assets from the internet"


def test_projects_with_members_are_theirs_alone(users, make_user, client_for, settings, tmp_path):
    """Annotators and reviewers work on the projects that list them, or on open ones (no members)."""
    from annotator_web.work import services
    from annotator_web.work.models import Task
    from annotator_web.work.views import app_config
    from tests.helpers import make_person

    settings.MEDIA_ROOT = tmp_path / "media"
    closed = Project.objects.create(name="closed")
    closed.members.add(users["annotator2"], users["reviewer"])
    Project.objects.create(name="open")
    person = make_person(closed)
    services.create_tasks(closed)
    anna, otto = client_for(users["annotator"]), client_for(users["annotator2"])

    refused = anna.post("/api/tasks/next", {"project": "closed", "stage": 1}, format="json")
    assert refused.status_code == 403 and "not a member of project closed" in refused.json()["detail"]
    assert anna.post("/api/tasks/next", {"project": "open", "stage": 1}, format="json").status_code == 204
    task = otto.post("/api/tasks/next", {"project": "closed", "stage": 1}, format="json").json()
    assert task["person"]["id"] == person.pk

    outsider = client_for(make_user("rex", "reviewer"))
    assert outsider.get("/api/reviews/next?project=closed").status_code == 403
    Task.objects.filter(pk=task["id"]).update(state="review")
    assert outsider.post(f"/api/tasks/{task['id']}/review", {"decision": "accept"}, format="json").status_code == 403
    assert outsider.get(task["person"]["image"]["url"]).status_code == 404
    rita = client_for(users["reviewer"])
    assert rita.get("/api/reviews/next?project=closed&stage=1").json()["id"] == task["id"]
    assert rita.get("/api/reviews/next?project=closed&stage=7").json()["field"] == "stage"
    assert rita.get(task["person"]["image"]["url"]).status_code == 200

    class Request:
        user = users["annotator"]

    assert [p["name"] for p in app_config(Request, "annotate")["projects"]] == ["open"]
    Request.user = users["annotator2"]
    assert [p["name"] for p in app_config(Request, "annotate")["projects"]] == ["closed", "open"]


def test_a_role_is_read_once_a_request_and_a_change_counts_at_once(make_user, django_assert_num_queries):
    """The role is read once per user object (one query however many checks a request makes), and giving or
    taking a group on that object is seen by the next check."""
    from django.contrib.auth.models import Group

    from annotator_web.core import policy

    user = make_user("rhea", "annotator")
    with django_assert_num_queries(1):
        assert [policy.role_of(user) for _ in range(5)] == ["annotator"] * 5
    user.groups.add(Group.objects.get_or_create(name="reviewer")[0])
    assert policy.role_of(user) == "reviewer"
    user.groups.clear()
    assert policy.role_of(user) is None
