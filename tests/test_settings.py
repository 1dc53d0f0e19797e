"""Settings come from the environment, refuse unsafe production set-ups, and write nothing on import."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, annotator_web.settings as s; print(json.dumps({'debug': s.DEBUG, 'engine': "
    "s.DATABASES['default']['ENGINE'], 'broker': s.CELERY_BROKER_URL, 'secure': s.SESSION_COOKIE_SECURE, "
    "'hosts': s.ALLOWED_HOSTS, 'key': s.SECRET_KEY, 'media': str(s.MEDIA_ROOT)}))"
)


def load(tmp_path, **env):
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    base.update(DATA_DIR=str(tmp_path / "data"), **env)
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=base, capture_output=True, text=True)


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    run = load(tmp_path, ALLOWED_HOSTS="example.org")
    assert run.returncode != 0
    assert "SECRET_KEY is not set" in run.stderr


def test_production_needs_allowed_hosts(tmp_path):
    run = load(tmp_path, SECRET_KEY="k" * 50)
    assert run.returncode != 0
    assert "ALLOWED_HOSTS is not set" in run.stderr


def test_production_defaults_are_safe_and_nothing_is_written(tmp_path):
    run = load(tmp_path, SECRET_KEY="k" * 50, ALLOWED_HOSTS="example.org,www.example.org")
    assert run.returncode == 0, run.stderr
    conf = json.loads(run.stdout)
    assert conf["debug"] is False and conf["secure"] is True
    assert conf["hosts"] == ["example.org", "www.example.org"]
    assert conf["engine"] == "django.db.backends.sqlite3"
    assert conf["broker"] == "filesystem://"
    assert conf["media"] == str(tmp_path / "data" / "media")
    assert not (tmp_path / "data").exists()


def test_environment_selects_database_and_redis(tmp_path):
    run = load(
        tmp_path,
        SECRET_KEY="k" * 50,
        ALLOWED_HOSTS="x",
        DEBUG="1",
        DATABASE_URL="postgres://u@db.example:5433/dp",
        REDIS_URL="redis://cache:6379/2",
    )
    conf = json.loads(run.stdout)
    assert conf["debug"] is True
    assert conf["engine"] == "django.db.backends.postgresql"
    assert conf["broker"] == "redis://cache:6379/2"


def test_bad_boolean_is_a_clear_error(tmp_path):
    run = load(tmp_path, SECRET_KEY="k", ALLOWED_HOSTS="x", DEBUG="maybe")
    assert run.returncode != 0 and "DEBUG='maybe' is not a boolean" in run.stderr


def test_development_key_is_generated_once_into_the_data_folder(tmp_path):
    run = load(tmp_path, APP_ENV="development")
    assert run.returncode != 0 and "annotator_web.datadir" in run.stderr
    assert not (tmp_path / "data").exists()

    env = {"DATA_DIR": str(tmp_path / "data"), "PATH": os.environ["PATH"]}
    for _ in range(2):
        subprocess.run([sys.executable, "-m", "annotator_web.datadir"], cwd=ROOT, env=env, check=True)
    key_file = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first = json.loads(load(tmp_path, APP_ENV="development").stdout)
    second = json.loads(load(tmp_path, APP_ENV="development").stdout)
    assert first["key"] == second["key"] == key_file.read_text().strip()
    assert len(first["key"]) >= 50
    assert first["hosts"] == ["localhost", "127.0.0.1", "[::1]"] and first["secure"] is False


def test_secret_key_and_data_are_not_committed():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [p for p in tracked if p.startswith("data/") or p.endswith("secret_key")]
