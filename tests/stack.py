"""The real stack for tests: a gunicorn web server and Celery worker processes, on the test database.

The test process never publishes messages itself: it talks HTTP to the web server, which enqueues through
the broker given in its environment, and a separate worker process consumes them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests
from django.conf import settings

from annotator_web.datadir import DataDir
from annotator_web.launcher import die_with_parent

ROOT = Path(__file__).resolve().parent.parent
# Built body-model assets are shared by every test (building them takes minutes).
ASSET_CACHE = ROOT / "test-artifacts" / "cache"
GUNICORN_CONF = ROOT / "annotator_web" / "deploy" / "gunicorn.conf.py"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def services_required() -> bool:
    """In CI a missing PostgreSQL or Redis is a failure, not a skip."""
    return os.environ.get("CI", "") not in ("", "0", "false") or os.environ.get("REQUIRE_SERVICES") == "1"


def unavailable(message: str):
    """What a test needs is missing here: a failure where services are required (CI), else a skip saying what."""
    import pytest

    if services_required():
        pytest.fail(message)
    pytest.skip(message)


def frontend_tool(name: str) -> Path:
    """The frontend folder, once its npm package ``name`` is installed (else :func:`unavailable`)."""
    import shutil

    frontend = ROOT / "frontend"
    if not (frontend / "node_modules" / ".bin" / name).exists() or shutil.which("npx") is None:
        unavailable("the frontend's packages are not installed (make test installs them)")
    return frontend


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The URL of the database the test run uses (pytest-django's test database)."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    if db["ENGINE"].endswith("postgresql"):
        auth = db.get("USER") or ""
        if db.get("PASSWORD"):
            auth += f":{db['PASSWORD']}"
        return f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    raise RuntimeError(f"no URL for database engine {db['ENGINE']}")


def redis_url() -> str:
    """The Redis the tests use: ``REDIS_URL`` or the local server, with the suite's own database (the settings'
    test mode applies the same rule in every process it starts)."""
    from django.conf import settings

    return settings.REDIS_URL or f"{DEFAULT_REDIS.rsplit('/', 1)[0]}/{settings.TEST_REDIS_DB}"


class Stack:
    def __init__(self, tmp: Path, broker: str, extra_env: dict | None = None):
        self.tmp = tmp
        self.data_dir = tmp / "data"
        DataDir(self.data_dir).ensure()
        self.media = self.data_dir / "media"
        self.logs = tmp / "logs"
        self.logs.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "CELERY_"))}
        env.pop("REDIS_URL", None)
        env.update(
            APP_ENV="test",
            DATA_DIR=str(self.data_dir),
            DATABASE_URL=database_url(),
            JOB_HEARTBEAT_SECONDS="0.5",
            JOB_STALE_SECONDS="3",
            JOB_SWEEP_SECONDS="1",
            JOB_RESEND_SECONDS="3",
            PYTHONUNBUFFERED="1",
            ASSET_CACHE_DIR=str(ASSET_CACHE),
        )
        if broker == "redis":
            env["REDIS_URL"] = redis_url()
            env["CELERY_KEY_PREFIX"] = f"test-{uuid.uuid4().hex[:12]}:"
        env.update(extra_env or {})
        self.env = env
        self.broker = broker
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.web: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.session = requests.Session()

    # --- processes -------------------------------------------------------------------------------------

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        log = open(self.logs / log_name, "ab")  # noqa: SIM115  (the child process writes it)
        return subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )

    def start_web(self) -> None:
        self.web = self._spawn(
            [sys.executable, "-m", "gunicorn", "annotator_web.wsgi", "-c", str(GUNICORN_CONF),
             "-b", f"127.0.0.1:{self.port}", "-w", "1", "--timeout", "60"],
            "web.log",
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                raise RuntimeError("web server exited:\n" + self.log("web.log"))
            try:
                requests.get(self.url + "/login/", timeout=2)
                return
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still loading the app
                time.sleep(0.2)
        raise RuntimeError("web server did not answer in 60 s:\n" + self.log("web.log"))

    def start_worker(self, queues: str = ",".join(settings.JOB_QUEUES)) -> subprocess.Popen:
        n = len(self.workers) + 1
        log_name = f"worker-{n}.log"
        proc = self._spawn(
            [sys.executable, "-m", "celery", "-A", "annotator_web", "worker", "-Q", queues, "-c", "1",
             "-n", f"test{n}@%h", "--without-mingle", "--without-gossip", "-l", "INFO"],
            log_name,
        )  # fmt: skip
        self.workers.append(proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("worker exited:\n" + self.log(log_name))
            if " ready." in self.log(log_name):
                return proc
            time.sleep(0.2)
        raise RuntimeError("worker not ready in 60 s:\n" + self.log(log_name))

    def stop_web(self) -> None:
        os.killpg(self.web.pid, signal.SIGTERM)
        self.web.wait(timeout=15)

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL the process and its children (the worker's pool), as a crash or OOM kill would."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def log(self, name: str) -> str:
        path = self.logs / name
        return path.read_text(errors="replace") if path.exists() else ""

    def all_logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-6000:]}" for p in sorted(self.logs.iterdir()))

    def stop(self) -> None:
        procs = [p for p in [self.web, *self.workers] if p is not None and p.poll() is None]
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    # --- HTTP ------------------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> None:
        resp = requests.post(self.url + "/api/auth/token", data={"username": username, "password": password})
        resp.raise_for_status()
        self.session.headers["Authorization"] = f"Token {resp.json()['token']}"

    def signed_in_browser(self, username: str, password: str) -> requests.Session:
        """A session signed in through the login form, as a browser is (pages need the session, not a token)."""
        browser = requests.Session()
        browser.get(self.url + "/login/", timeout=10).raise_for_status()
        resp = browser.post(self.url + "/login/", timeout=10, allow_redirects=False,
                            data={"username": username, "password": password,
                                  "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
                            headers={"Referer": self.url + "/login/"})  # fmt: skip
        assert resp.status_code == 302, f"login as {username} failed: {resp.status_code} {resp.text[:300]}"
        return browser

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.url + path, timeout=10, **kw)

    def post(self, path: str, json=None) -> requests.Response:
        return self.session.post(self.url + path, json=json, timeout=10)

    def put(self, path: str, json=None) -> requests.Response:
        return self.session.put(self.url + path, json=json, timeout=10)

    def as_user(self, username: str, password: str) -> Stack:
        """The same servers, seen by another user (own session and token)."""
        other = Stack.__new__(Stack)
        other.__dict__.update(self.__dict__)
        other.session = requests.Session()
        other.login(username, password)
        return other

    def wait_job(self, job_id: int, until, timeout: float = 120, interval: float = 0.1) -> dict:
        """Poll GET /api/jobs/{id} until ``until(job)`` holds."""
        deadline = time.monotonic() + timeout
        job = None
        while time.monotonic() < deadline:
            resp = self.get(f"/api/jobs/{job_id}")
            resp.raise_for_status()
            job = resp.json()
            if until(job):
                return job
            time.sleep(interval)
        raise AssertionError(f"job {job_id} did not reach the expected state in {timeout} s: {job}\n{self.all_logs()}")


class Launcher:
    """`make run`'s launcher as a child process, on the embedded defaults unless told otherwise."""

    def __init__(self, data_dir: Path, port: int, embedded_broker: bool = True):
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "APP_ENV")}
        env.update(DATA_DIR=str(data_dir), PORT=str(port), PYTHONUNBUFFERED="1", ASSET_CACHE_DIR=str(ASSET_CACHE))
        if embedded_broker:
            env["EMBEDDED_BROKER"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "annotator_web.launcher"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            preexec_fn=die_with_parent,
        )  # fmt: skip
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert self.proc.poll() is None, f"launcher exited early:\n{self.output}"
            assert time.monotonic() < deadline, f"no {text!r} in {timeout} s:\n{self.output}"
            time.sleep(0.2)

    def ctrl_c(self, timeout: float = 40) -> int:
        """What a terminal does on Ctrl-C: SIGINT to the whole foreground process group."""
        os.killpg(self.proc.pid, signal.SIGINT)
        code = self.proc.wait(timeout=timeout)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return code
            time.sleep(0.2)
        os.killpg(self.proc.pid, signal.SIGKILL)
        raise AssertionError(f"processes left running after Ctrl-C:\n{self.output}")


def wait_until(page, expression: str, timeout: float = 60.0, interval: float = 0.01):
    """Poll a JavaScript expression in the page until it is truthy (its value returned). Evaluated through the
    DevTools protocol: unlike Playwright's wait_for_function, which evaluates a string inside the page, it
    works under the pages' Content-Security-Policy (no 'unsafe-eval')."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout} s still false: {expression}")
        time.sleep(interval)
