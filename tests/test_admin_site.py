"""Every model has a working Django admin page for admins, and the queue actions work there."""

import pytest
from django.contrib import admin
from django.urls import reverse

from annotator_web.data.models import Image, Person, Project
from annotator_web.work import services
from annotator_web.work.models import AuditEvent, Task
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_every_model_has_an_admin_page(users, client):
    client.login(username="alice", password=PASSWORD)
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url
    ours = {m._meta.app_label for m in admin.site._registry}
    assert {"core", "data", "work"} <= ours


def test_release_from_the_admin(users, client):
    project = Project.objects.create(name="adm")
    image = Image.objects.create(project=project, file="x.jpg", width=10, height=10, sha256="0" * 64)
    Person.objects.create(image=image, x=0, y=0, w=5, h=5)
    services.create_tasks(project)
    task = services.next_task(users["annotator"], project, 1)
    client.login(username="alice", password=PASSWORD)
    url = reverse("admin:work_task_changelist")
    resp = client.post(url, {"action": "release", "_selected_action": [task.pk]}, follow=True)
    assert resp.status_code == 200
    assert Task.objects.get(pk=task.pk).state == "pending"
    assert AuditEvent.objects.filter(action="release", task=task).exists()


def test_only_admins_get_into_the_admin(users, client):
    client.login(username="rita", password=PASSWORD)
    assert client.get("/admin/").status_code == 302, "a reviewer is sent to the admin login"
