"""``make run``: prepare the data folder and database, then run the web server and one Celery worker.

Broker: ``REDIS_URL`` if set; else a Redis server answering on 127.0.0.1:6379; else the server-less
filesystem broker in the data folder (``EMBEDDED_BROKER=1`` forces that). Ctrl-C stops everything.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_REDIS = ("127.0.0.1", 6379)
DEMO_PROJECT, DEMO_IMAGES = "demo", 24


def die_with_parent() -> None:
    """Run in a child before exec: it gets SIGKILL if this process dies (Linux), so none outlives us."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def redis_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def port_taken(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def choose_broker(env: dict) -> str:
    if env.get("EMBEDDED_BROKER") == "1":
        env.pop("REDIS_URL", None)
    elif not env.get("REDIS_URL") and redis_answers(*LOCAL_REDIS):
        env["REDIS_URL"] = f"redis://{LOCAL_REDIS[0]}:{LOCAL_REDIS[1]}/0"
    if env.get("REDIS_URL"):
        return f"Redis at {env['REDIS_URL']}"
    return "the server-less filesystem broker in the data folder (no Redis found)"


def wait_until_answers(url: str, proc: subprocess.Popen, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    return False


def stop(procs: list[subprocess.Popen], grace: float = 15) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    env = os.environ.copy()
    env.setdefault("APP_ENV", "development")
    env.setdefault("DJANGO_SETTINGS_MODULE", "annotator_web.settings")
    host = env.get("HOST", "127.0.0.1")
    port = int(env.get("PORT", "8000"))
    url = f"http://{host}:{port}/"
    if port_taken(host, port):
        print(f"{host}:{port} is already in use (another make run?); stop it or choose another PORT=", file=sys.stderr)
        return 1
    broker = choose_broker(env)
    os.environ.clear()
    os.environ.update(env)

    from annotator_web.datadir import DataDir

    data = DataDir.from_env(BASE_DIR)
    data.ensure()

    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    print(f"data folder: {data.root}\ndatabase: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}")
    print(f"broker: {broker}")
    call_command("migrate", interactive=False, verbosity=0)
    login = io.StringIO()
    call_command("ensure_admin", url=url, stdout=login)
    # The body-model assets (about two minutes the first time) are built by the worker, as a job.
    call_command("build_assets", if_missing=True, enqueue=True)
    # and a small demo project of synthetic people, once
    call_command("make_synthetic", project=DEMO_PROJECT, count=DEMO_IMAGES, seed=1, if_missing=True, enqueue=True)

    python = sys.executable
    worker = subprocess.Popen(
        [python, "-m", "celery", "-A", "annotator_web", "worker", "--loglevel", env.get("LOG_LEVEL", "INFO"),
         "-Q", ",".join(settings.JOB_QUEUES), "-c", env.get("WORKER_CONCURRENCY", "1"), "-n", "embedded@%h"],
        cwd=BASE_DIR, env=env, preexec_fn=die_with_parent,
    )  # fmt: skip
    web = subprocess.Popen(
        [python, "manage.py", "runserver", "--noreload", f"{host}:{port}"],
        cwd=BASE_DIR,
        env=env,
        preexec_fn=die_with_parent,
    )
    procs = [web, worker]

    def on_term(signum, frame):
        raise KeyboardInterrupt

    # Also SIGINT: a shell that starts us in the background leaves it ignored.
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        if not wait_until_answers(url + "login/", web):
            print("the web server did not start; see the messages above", file=sys.stderr)
            stop(procs)
            return 1
        print("\n" + "=" * 72 + f"\nThe DensePose data factory is running at {url}")
        print(login.getvalue().strip())
        print("Ctrl-C stops the web server and the worker.\n" + "=" * 72, flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        dead = "web server" if web.poll() is not None else "worker"
        print(f"the {dead} stopped (exit {web.poll() if dead == 'web server' else worker.poll()}); stopping")
        stop(procs)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
        stop(procs)
        return 0


if __name__ == "__main__":
    sys.exit(main())
