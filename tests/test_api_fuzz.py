"""Schemathesis over every operation of the API's own OpenAPI schema, as anonymous, annotator and admin:
whatever it sends, the answer is never a server error, its status is one the schema declares and its body
matches the declaration. Bounded: a few examples per operation, derandomized (the same cases every run), about
a minute."""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

# every operation but the schema document itself (drf-spectacular's own view)
schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True)).exclude(
    path="/api/schema/"
)
schema.app = get_wsgi_application()
EXAMPLES = 25


@pytest.fixture
def callers(users, settings_for_fuzz):
    """Request headers per role. Requests run inside the test's transaction: like Django's test client, the
    handler must not close the database connection after each one."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    out = {"anonymous": {}}
    for role, user in (("annotator", users["annotator"]), ("admin", users["admin"])):
        token, _ = Token.objects.get_or_create(user=user)
        out[role] = {"Authorization": f"Token {token.key}"}
    yield out
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def settings_for_fuzz(settings, tmp_path):
    """A project with people and tasks to aim at; files in a throw-away media folder."""
    import io

    from django.core.files.base import ContentFile
    from PIL import Image as PILImage

    from annotator_web.data.models import Image, Person, Project
    from annotator_web.work import services

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    project = Project.objects.create(name="fuzz")
    buffer = io.BytesIO()
    PILImage.new("RGB", (64, 48), (10, 20, 30)).save(buffer, format="JPEG")
    image = Image(project=project, width=64, height=48, sha256="f" * 64)
    image.file.save("f.jpg", ContentFile(buffer.getvalue()), save=True)
    for k in range(3):
        Person.objects.create(image=image, x=1 + k, y=1, w=20, h=30)
    services.create_tasks(project)
    return project


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
def test_every_operation_answers_as_its_schema_says_and_never_with_a_server_error(case, callers):
    checks = [not_a_server_error, status_code_conformance, response_schema_conformance]
    for role, headers in callers.items():
        response = case.call(headers={**(case.headers or {}), **headers})
        assert response.status_code < 500, (
            f"{role}: {case.method} {case.formatted_path} -> {response.status_code}\n{case.as_curl_command()}\n"
            f"{response.text[:500]}"
        )
        case.validate_response(response, checks=checks)
