import io
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from PIL import Image as PILImage
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotator_web.data.models import Image, Person, Project
from annotator_web.launcher import redis_answers
from annotator_web.work import services
from pipeline.assets import ensure_assets, load_assets
from pipeline.body import load_body_model
from tests.stack import ASSET_CACHE, Stack, redis_url, unavailable

PASSWORD = "a-long-test-password-1"
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def budget(seconds: float, what: str):
    """A time limit of its own for a slow fixture's setup (test timeouts count the test function only)."""
    import signal

    def expired(signum, frame):
        pytest.fail(f"{what} took more than {seconds:.0f} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


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
        unavailable(f"no Redis answers at {redis_url()}")
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


@pytest.fixture
def chromium():
    exe = shutil.which("chromium")
    if exe is None:
        unavailable("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def project(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    project = Project.objects.create(name="queue-test")
    for i in range(3):
        buffer = io.BytesIO()
        PILImage.new("RGB", (200, 150), (i * 40, 90, 120)).save(buffer, format="JPEG")
        image = Image(project=project, width=200, height=150, sha256=f"{i:064d}")
        image.file.save(f"img{i}.jpg", ContentFile(buffer.getvalue()), save=True)
        for k in range(10):
            Person.objects.create(image=image, x=10 + k, y=5, w=60, h=120)
    services.create_tasks(project)
    return project
