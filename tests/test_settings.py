"""Settings come from the environment, refuse unsafe production set-ups, and write nothing on import."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = "a-strong-test-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEF"
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
    run = load(tmp_path, SECRET_KEY=KEY)
    assert run.returncode != 0
    assert "ALLOWED_HOSTS is not set" in run.stderr


def test_production_defaults_are_safe_and_nothing_is_written(tmp_path):
    run = load(tmp_path, SECRET_KEY=KEY, ALLOWED_HOSTS="example.org,www.example.org")
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
        APP_ENV="development",
        SECRET_KEY=KEY,
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
    run = load(tmp_path, SECRET_KEY=KEY, ALLOWED_HOSTS="x", DEBUG="maybe")
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


def test_production_refuses_weak_keys_debug_and_any_host(tmp_path):
    for env, reason in [
        ({"SECRET_KEY": "x", "ALLOWED_HOSTS": "example.org"}, "SECRET_KEY is too weak"),
        ({"SECRET_KEY": "k" * 60, "ALLOWED_HOSTS": "example.org"}, "SECRET_KEY is too weak"),
        ({"SECRET_KEY": KEY, "ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS=* is refused"),
        ({"SECRET_KEY": KEY, "ALLOWED_HOSTS": "example.org", "DEBUG": "1"}, "DEBUG=1 is refused in production"),
    ]:
        run = load(tmp_path, **env)
        assert run.returncode != 0 and reason in run.stderr, (env, run.stderr[-300:])


def test_check_deploy_is_clean_with_the_documented_settings(tmp_path):
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env = {**base, "APP_ENV": "production", "SECRET_KEY": KEY, "ALLOWED_HOSTS": "example.org",
           "DATA_DIR": str(tmp_path / "data")}  # fmt: skip
    run = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                         env=env, capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0 and "no issues" in run.stdout, run.stdout + run.stderr
    # behind a proxy that terminates TLS and redirects itself, the redirect can be switched off: one warning
    run = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, capture_output=True,
                         text=True, env={**env, "SECURE_SSL_REDIRECT": "0"})  # fmt: skip
    assert "security.W008" in run.stdout + run.stderr


def test_the_test_suite_keeps_to_its_own_redis_database(tmp_path):
    """make run uses Redis database 0; a test run on the same server must not share its queues."""
    run = load(tmp_path, APP_ENV="test", REDIS_URL="redis://127.0.0.1:6379/0")
    assert json.loads(run.stdout)["broker"] == "redis://127.0.0.1:6379/14", run.stderr
    run = load(tmp_path, APP_ENV="development", SECRET_KEY=KEY, REDIS_URL="redis://127.0.0.1:6379/0")
    assert json.loads(run.stdout)["broker"] == "redis://127.0.0.1:6379/0"


def test_manage_py_works_as_written_on_a_local_instance(tmp_path):
    """After make run (a data folder with its generated key), `python manage.py ...` needs no APP_ENV."""
    from annotator_web.datadir import DataDir

    DataDir(tmp_path / "data").ensure()
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    run = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True,
                         env={**base, "DATA_DIR": str(tmp_path / "data")})  # fmt: skip
    assert run.returncode == 0 and "no issues" in run.stdout, run.stderr[-500:]
    fresh = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True,
                           env={**base, "DATA_DIR": str(tmp_path / "empty")})  # fmt: skip
    assert fresh.returncode != 0 and "SECRET_KEY is not set" in fresh.stderr, "elsewhere production rules hold"


def test_the_openapi_schema_is_valid_and_types_every_answer(tmp_path):
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    out = tmp_path / "schema.yml"
    command = [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(out)]
    env = {**base, "APP_ENV": "test", "DATA_DIR": str(tmp_path / "data")}
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    text = out.read_text()
    assert "TaskResponse" in text and "ErrorResponse" in text and "SubmittedResponse" in text
