import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotator_web.launcher import redis_answers
from pipeline.assets import ensure_assets, load_assets
from pipeline.body import load_body_model
from tests.stack import ASSET_CACHE, Stack, redis_url, services_required

PASSWORD = "a-long-test-password-1"


def pytest_configure(config):
    from django.conf import settings

    settings.DATA.ensure()  # the SQLite test database lives in the test run's data folder


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, role: str | None = None, **extra):
        user = django_user_model.objects.create_user(username=username, password=PASSWORD, **extra)
        if role:
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        return user

    return make


@pytest.fixture
def users(make_user):
    return {
        "admin": make_user("alice", "admin"),
        "reviewer": make_user("rita", "reviewer"),
        "annotator": make_user("anna", "annotator"),
        "annotator2": make_user("otto", "annotator"),
        "norole": make_user("nobody"),
    }


@pytest.fixture
def client_for():
    def make(user) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


def _redis_reachable() -> bool:
    from urllib.parse import urlparse

    url = urlparse(redis_url())
    return redis_answers(url.hostname or "127.0.0.1", url.port or 6379)


@pytest.fixture(params=["redis", "filesystem"])
def broker(request):
    if request.param == "redis" and not _redis_reachable():
        message = f"no Redis answers at {redis_url()}"
        if services_required():
            pytest.fail(message)
        pytest.skip(message)
    return request.param


@pytest.fixture
def stack(broker, tmp_path, transactional_db, make_user):
    """Web server and one worker over the given broker; an admin 'root' is logged in."""
    make_user("root", "admin")
    s = Stack(tmp_path, broker)
    try:
        s.start_web()
        s.start_worker()
        s.login("root", PASSWORD)
        yield s
    except BaseException:
        print(s.all_logs())
        raise
    finally:
        s.stop()


@pytest.fixture(scope="session")
def anny():
    body = load_body_model("anny", cache_dir=ASSET_CACHE)
    body.template()  # the first build takes about a minute; later runs read the cache
    return body


@pytest.fixture(scope="session")
def assets(anny):
    """The anny assets (charts, 84 views, buffers), built once into the shared test cache."""
    return load_assets(ensure_assets(anny, ASSET_CACHE))


@pytest.fixture(scope="session")
def eval_mesh(assets):
    """The anny evaluation mesh with its geodesic distance table (built once into the asset cache, ~1 min)."""
    from pipeline.evaluation.mesh import EvalMesh

    return EvalMesh.from_assets(assets)
