"""Load on the task API: 50 concurrent simulated annotators (next task -> draft -> submit) on gunicorn.

    .venv/bin/python benchmarks/api_load.py [--clients 50] [--rounds 8] [--database postgres://...]

It makes its own database (default: densepose_bench on the local PostgreSQL) and data folder, renders a
synthetic project with enough people, starts gunicorn and one Celery worker, and lets the clients work: the
simulated annotators of ``annotator_web.work.simulate`` (stage 1, masks from the synthetic truth), each
timing its calls. Prints one table: latency per endpoint (p50, p95, max), errors, and whether every
acknowledged submission is in the database.
"""

from __future__ import annotations

import argparse
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
    """Migrate, render a synthetic project with at least ``people`` people, make the annotators; their tokens."""
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    from annotator_web.data.models import Person, Project
    from annotator_web.data.synthetic import make_synthetic
    from annotator_web.work.simulate import sim_users

    call_command("migrate", verbosity=0)
    images = 0
    while Person.objects.filter(image__project__name="load").count() < people:
        make_synthetic("load", count=max(8, people // 4), seed=1000 + images)
        images += max(8, people // 4)
    Project.objects.filter(name="load").update(review_fraction=0.0)
    return [token for _, token in sim_users(clients)]


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
        "ASSET_CACHE_DIR": os.environ.get("ASSET_CACHE_DIR", str(ROOT / "test-artifacts" / "cache")),
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
        from annotator_web.work.simulate import Behaviour, Oracle, SimulatedAnnotator

        timings, lock, oracle = {}, threading.Lock(), Oracle(None)  # stage 1 needs no click mapping
        oracle.preload("load")  # the clients read the truth from memory, never through the server's database
        threads = [
            SimulatedAnnotator(url, token, f"load-{i}", "load", oracle, Behaviour(think_seconds=args.think), seed=i,
                               idle_seconds=3, stages=(1,), max_tasks=args.rounds, timings=timings, lock=lock)
            for i, token in enumerate(tokens)
        ]  # fmt: skip
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

    acknowledged = [a for t in threads for a in t.tally.acknowledged]
    errors = [e for t in threads for e in t.tally.errors]
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
