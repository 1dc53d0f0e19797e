"""docker-compose.yml is valid (checked offline by Debian's docker-compose) and has the production set."""

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.stack import unavailable

ROOT = Path(__file__).resolve().parent.parent
ENV = {"SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "example.org", "POSTGRES_PASSWORD": "pw"}


def compose(*args, env=ENV):
    exe = shutil.which("docker-compose")
    if exe is None:
        unavailable("docker-compose is not installed (make test installs it)")
    full_env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run([exe, "-f", str(ROOT / "docker-compose.yml"), *args], env=full_env,
                          capture_output=True, text=True, cwd=ROOT)  # fmt: skip


def test_compose_file_validates():
    run = compose("config", "-q")
    assert run.returncode == 0, run.stderr


def test_compose_refuses_to_run_without_secrets():
    run = compose("config", "-q", env={"ALLOWED_HOSTS": "x", "POSTGRES_PASSWORD": "pw"})
    assert run.returncode != 0 and "SECRET_KEY" in run.stderr


def test_compose_has_the_production_set():
    run = compose("config")
    assert run.returncode == 0, run.stderr
    services = yaml.safe_load(run.stdout)["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "trainer"}
    assert "gunicorn" in " ".join(services["web"]["command"])
    assert services["trainer"]["command"][services["trainer"]["command"].index("-Q") + 1] == "train"
    worker_queues = services["worker"]["command"][services["worker"]["command"].index("-Q") + 1].split(",")
    assert "train" not in worker_queues and "default" in worker_queues
    assert services["trainer"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    for name in ("web", "worker", "trainer"):
        assert services[name]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["environment"]["APP_ENV"] == "production"
