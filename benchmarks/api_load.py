"""Load on the task API: 50 concurrent simulated annotators (next task -> draft -> submit) on gunicorn.

    .venv/bin/python benchmarks/api_load.py [--clients 50] [--rounds 8] [--database postgres://...]

It makes its own database (default: densepose_bench on the local PostgreSQL) and data folder, fills a
project with people, starts gunicorn and one Celery worker, lets the clients work, then prints one table:
latency per endpoint (p50, p95, max), errors, and whether every acknowledged submission is in the database.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_database(url: str) -> None:
    if not url.startswith("postgres"):
        return
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup(env: dict, clients: int, people: int) -> list[str]:
    """Migrate, make the project and the annotators; returns their API tokens."""
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.files.base import ContentFile
    from django.core.management import call_command
    from PIL import Image as PILImage
    from rest_framework.authtoken.models import Token

    from annotator_web.data.models import Image, Person, Project
    from annotator_web.work.services import create_tasks

    call_command("migrate", verbosity=0)
    project = Project.objects.create(name="load", review_fraction=0.0)
    buffer = io.BytesIO()
    PILImage.new("RGB", (640, 480), (90, 120, 150)).save(buffer, format="JPEG")
    per_image = 4
    for i in range(people // per_image):
        image = Image(project=project, width=640, height=480, sha256=f"{i:064d}")
        image.file.save(f"load-{i}.jpg", ContentFile(buffer.getvalue()), save=True)
        Person.objects.bulk_create(Person(image=image, x=20 + 100 * k, y=40, w=90, h=300) for k in range(per_image))
    create_tasks(project)
    group = Group.objects.get(name="annotator")
    tokens = []
    for i in range(clients):
        user = User.objects.create_user(f"load{i}", password="x" * 12)
        user.groups.add(group)
        tokens.append(Token.objects.create(user=user).key)
    return tokens


def masks() -> dict:
    from pipeline.coco.densepose import dp_masks_from_labels

    labels = np.zeros((256, 256), dtype=np.uint8)
    labels[20:80, 90:170] = 14
    labels[80:200, 60:200] = 1
    return {"dp_masks": dp_masks_from_labels(labels)}


def client(url, token, rounds, payload, timings, errors, acknowledged, lock, think=0.0, seed=0):
    rng = np.random.default_rng(seed)
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"

    def call(name, method, path, **kw):
        if think:
            time.sleep(rng.uniform(0.5, 1.5) * think)  # a person looks and draws before the next call
        t0 = time.perf_counter()
        try:
            resp = session.request(method, url + path, timeout=30, **kw)
        except requests.RequestException as exc:
            with lock:
                errors.append(f"{name}: {exc}")
            return None
        with lock:
            timings.setdefault(name, []).append(time.perf_counter() - t0)
            if resp.status_code >= 400:
                errors.append(f"{name}: {resp.status_code} {resp.text[:120]}")
        return resp

    for _ in range(rounds):
        resp = call("POST /api/tasks/next", "POST", "/api/tasks/next", json={"project": "load", "stage": 1})
        if resp is None or resp.status_code != 200:
            continue
        task = resp.json()["id"]
        call("PUT /api/tasks/{id}/draft", "PUT", f"/api/tasks/{task}/draft", json={"draft": {"strokes": 3}})
        key = uuid.uuid4().hex
        resp = call("POST /api/tasks/{id}/submit", "POST", f"/api/tasks/{task}/submit",
                    json={"key": key, "data": payload, "seconds_spent": 20})  # fmt: skip
        if resp is not None and resp.status_code in (200, 201):
            with lock:
                acknowledged.append(resp.json()["submission"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=8, help="tasks each client does")
    ap.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/densepose_bench")
    ap.add_argument("--gunicorn-workers", type=int, default=3)
    ap.add_argument("--think", type=float, default=0.0, help="mean seconds a client waits before each call")
    ap.add_argument("--file-broker", action="store_true", help="use the server-less broker even if Redis answers")
    args = ap.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="densepose-load-"))
    ensure_database(args.database)
    env = {
        "APP_ENV": "test", "DATA_DIR": str(data_dir), "DATABASE_URL": args.database,
        "DJANGO_SETTINGS_MODULE": "annotator_web.settings", "PYTHONUNBUFFERED": "1",
    }  # fmt: skip
    from annotator_web.launcher import LOCAL_REDIS, redis_answers

    if not args.file_broker and redis_answers(*LOCAL_REDIS):  # the production broker when there is one
        env["REDIS_URL"] = f"redis://{LOCAL_REDIS[0]}:{LOCAL_REDIS[1]}/0"
        env["CELERY_KEY_PREFIX"] = f"bench-{uuid.uuid4().hex[:8]}:"
    from annotator_web.datadir import DataDir
    from annotator_web.launcher import die_with_parent

    DataDir(data_dir).ensure()
    tokens = setup(env, args.clients, people=args.clients * args.rounds + 40)
    child_env = {**os.environ, **env}
    port = free_port()
    logs = open(data_dir / "servers.log", "ab")  # noqa: SIM115
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "annotator_web.wsgi", "-b", f"127.0.0.1:{port}",
         "-w", str(args.gunicorn_workers), "--threads", "4"],
        cwd=ROOT, env=child_env, stdout=logs, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=die_with_parent,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "annotator_web", "worker", "-Q", "default", "-c", "1",
         "--without-mingle", "--without-gossip", "-l", "WARNING"],
        cwd=ROOT, env=child_env, stdout=logs, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=die_with_parent,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                requests.get(url + "/login/", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        payload, timings, errors, acknowledged, lock = masks(), {}, [], [], threading.Lock()
        threads = [
            threading.Thread(
                target=client,
                args=(url, t, args.rounds, payload, timings, errors, acknowledged, lock, args.think, i),
            )
            for i, t in enumerate(tokens)
        ]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        for proc in (web, worker):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)

    from annotator_web.work.models import Submission, Task

    stored = Submission.objects.filter(pk__in=acknowledged).count()
    leased_twice = len(acknowledged) - len(
        set(Submission.objects.filter(pk__in=acknowledged).values_list("task", flat=True))
    )
    print(f"{'endpoint':<30} {'calls':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    print("-" * 64)
    for name, values in sorted(timings.items()):
        ms = np.array(values) * 1000
        print(f"{name:<30} {len(ms):>6} {np.percentile(ms, 50):>8.1f} {np.percentile(ms, 95):>8.1f} {ms.max():>8.1f}")
    print("-" * 64)
    print(
        f"{args.clients} clients (think {args.think:g} s), {wall:.1f} s, "
        f"{len(acknowledged)} submissions acknowledged, {stored} stored, "
        f"{leased_twice} tasks submitted twice, {len(errors)} errors (targets: p95 < 100 ms, 0 errors, 0 lost)"
    )
    print(f"tasks done by the worker meanwhile: {Task.objects.filter(state='done').count()}")
    for e in errors[:5]:
        print("error:", e)


if __name__ == "__main__":
    main()
