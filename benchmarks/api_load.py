"""Load on the task API: simulated annotators doing the real mix on gunicorn + PostgreSQL + Redis + a worker.

    .venv/bin/python benchmarks/api_load.py [--clients 200] [--rounds 3] [--think 2] [--drafts 2]
        [--sweep 50,100,200,300] [--restart-redis] [--queued 100000] [--stages 1] [--database postgres://...]

It makes its own database (default: densepose_bench on the local PostgreSQL), data folder and Redis server (on a
port of its own, never the machine's), renders a synthetic project, brings part of its people through stage 1
(so both queues have work), starts gunicorn and one Celery worker, and lets the clients work. Each client is a
simulated annotator (``annotator_web.studies.simulate``): it asks for the next task of stage 2 or stage 1, saves
``--drafts`` growing drafts as the UI's autosave does, and submits, waiting about ``--think`` seconds before each
call. What it answers (masks with boundary noise, clicks on the views) is worked out before the clock starts,
and the clients run in processes of their own, so they neither read the server's database nor hold the
server's interpreter.

Each step (one per ``--sweep`` entry, else one of ``--clients``) prints latency per endpoint (p50, p95, max),
the requests per second served, errors, and whether every acknowledged submission is in the database and has
been processed by the worker (counted in the database afterwards). ``--restart-redis`` kills the benchmark's
Redis halfway through the last step and starts it again (empty: it keeps nothing on disk) two seconds later.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from annotator_web.launcher import die_with_parent  # noqa: E402  (needs ROOT on the path)

TARGET_MS = 150.0
MAX_DRAFTS = 5
WARMUP_ROUNDS = 2
PLAN_VERSION = 2  # bump when plans() changes: a kept setup with an older plan is made again
GUNICORN_CONF = ROOT / "annotator_web" / "deploy" / "gunicorn.conf.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_database(url: str, template: str | None = None) -> None:
    """A new empty database at ``url`` (a copy of database ``template`` if given)."""
    if not url.startswith("postgres"):
        return
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def database_exists(url: str, name: str) -> bool:
    import psycopg

    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


class RedisServer:
    """A redis-server of the benchmark's own, on a free port, keeping nothing on disk."""

    def __init__(self, folder: Path):
        self.port, self.folder, self.proc = free_port(), folder, None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
        )  # fmt: skip
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the benchmark's redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


# --- setup (in this process, before the clock starts) ---------------------------------------------------------


def setup(people: int, stage2_share: float) -> None:
    """A synthetic project with at least ``people`` people; ``stage2_share`` of them through stage 1 already
    (their true masks submitted and processed: points sampled, stage-2 task queued)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from annotator_web.data.models import Person, Project
    from annotator_web.data.truth import TruthCache
    from annotator_web.studies.synthetic import make_synthetic
    from annotator_web.work.models import Submission, Task
    from annotator_web.work.processing import process_stage1

    call_command("migrate", verbosity=0)
    images = 0
    while (have := Person.objects.filter(image__project__name="load").count()) < people:
        count = max(4, (people - have) // 2)  # about two people an image
        make_synthetic("load", count=count, seed=1000 + images)
        images += count
    # the setup's people go straight to stage 2; during the run every submission waits for review, so no stage-2
    # task appears whose answers were not planned
    Project.objects.filter(name="load").update(review_fraction=0.0)
    author = get_user_model().objects.get_or_create(username="load-setup")[0]
    truths = TruthCache()
    first = Task.objects.filter(project__name="load", stage=Task.Stage.MASKS, state=Task.State.PENDING)
    for task in first.select_related("person").order_by("person__image_id", "id")[: int(people * stage2_share)]:
        truths.forget_images(keep=task.person.image_id)
        truth, index = truths.person(task.person)
        submission = Submission.objects.create(
            task=task, annotator=author, key=f"setup-{task.pk}", data={"dp_masks": truth.person(index)["dp_masks"]}
        )
        Task.objects.filter(pk=task.pk).update(state=Task.State.SUBMITTED)
        process_stage1(submission)
    Project.objects.filter(name="load").update(review_fraction=1.0)


def queue_behind(count: int) -> None:
    """``count`` more pending stage-1 tasks at a lower priority than the planned ones (people with boxes on the
    project's first image), as a project of a real size has: the queue's cost must not grow with them."""
    from annotator_web.data.models import Image, Person
    from annotator_web.work.models import Task

    image = Image.objects.filter(project__name="load").order_by("id").first()
    people = Person.objects.bulk_create(
        [Person(image=image, x=1, y=1, w=10, h=10, source_id="queued") for _ in range(count)], batch_size=5000
    )
    Task.objects.bulk_create([Task(project=image.project, person=p, stage=1, priority=-1) for p in people],
                             batch_size=5000)  # fmt: skip
    from django.db import connection

    with connection.cursor() as cursor:  # statistics for the planner, as autovacuum would gather them in time
        cursor.execute("ANALYZE")


def plans(seed: int = 0) -> dict:
    """What a simulated annotator sends for each person of the project, worked out now: person id -> stage ->
    (drafts in the order the UI would save them, the submitted data)."""
    from annotator_web.core.body_assets import click_mapper
    from annotator_web.data.models import Person
    from annotator_web.data.truth import TruthCache
    from annotator_web.studies.simulate import SimulatedAnnotator
    from annotator_web.work.models import SampledPoint
    from pipeline.synthetic.annotator import Behaviour

    truths = TruthCache()
    behaviour = Behaviour(boundary_noise_px=1.0, click_noise_px=2.0)
    clicker = SimulatedAnnotator("http://unused", "unused", "planner", "load", truths, behaviour, seed=seed,
                                 mapper=click_mapper("anny"))  # fmt: skip
    points: dict[int, list] = {}
    for p in SampledPoint.objects.filter(person__image__project__name="load").order_by("part", "order"):
        points.setdefault(p.person_id, []).append(
            {"id": p.pk, "part": p.part, "order": p.order, "box_x": p.box_x, "box_y": p.box_y}
        )
    out = {}
    for person in Person.objects.filter(image__project__name="load").order_by("image_id", "id"):
        truths.forget_images(keep=person.image_id)  # one image's truth in memory at a time
        task = {"person": {"id": person.pk, "bbox": person.bbox}}
        masks = clicker.answers({**task, "stage": 1})["dp_masks"]
        # the UI's drafts as the work grows: more parts painted, more points answered
        grown = [[m if k < len(masks) * (d + 1) // MAX_DRAFTS else [] for k, m in enumerate(masks)]
                 for d in range(MAX_DRAFTS)]  # fmt: skip
        plan = {1: ([{"dp_masks": g} for g in grown], {"dp_masks": masks})}
        if person.pk in points:
            answers = clicker.answers({**task, "stage": 2, "points": points[person.pk]})["answers"]
            steps = [len(answers) * (d + 1) // (MAX_DRAFTS + 1) for d in range(MAX_DRAFTS)]
            drafts = [{"answers": answers[:n], "current": n} for n in steps]
            plan[2] = (drafts, {"answers": answers})
        out[person.pk] = plan
    return out


# --- the clients (in processes of their own) -------------------------------------------------------------------


def client_process(url, tokens, first_index, plan, args, out) -> None:
    from annotator_web.studies.simulate import SimulatedAnnotator
    from pipeline.synthetic.annotator import Behaviour

    class Planned(SimulatedAnnotator):
        """Sends the drafts and data planned for the person (the UI's autosave: up to ``--drafts`` drafts)."""

        def _work(self, task: dict) -> None:
            drafts, data = plan[task["person"]["id"]][task["stage"]]
            for draft in drafts[MAX_DRAFTS - args.drafts :] if args.drafts else []:
                self.call("PUT", f"/api/tasks/{task['id']}/draft", json={"draft": draft})
            self.submit(task, data, 40.0 if task["stage"] == 1 else 4.0 * len(data["answers"]))
            if task["stage"] == 1:
                self.tally.masks += 1
            else:
                self.tally.points_tasks += 1

    timings, lock = {}, threading.Lock()
    threads = [
        Planned(url, token, f"load-{first_index + i}", "load", None, Behaviour(think_seconds=args.think),
                seed=first_index + i, idle_seconds=3, stages=args.stages, max_tasks=args.rounds, timings=timings,
                lock=lock)
        for i, token in enumerate(tokens)
    ]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(
        {
            "timings": timings,
            "acknowledged": [a for t in threads for a in t.tally.acknowledged],
            "errors": [e for t in threads for e in t.tally.errors],
        }
    )


def run_step(url, tokens, plan, args, redis: RedisServer | None) -> dict:
    from django.db import connections

    connections.close_all()  # the client processes are forked from this one: no shared database connection
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    shares = np.array_split(np.arange(len(tokens)), args.client_processes)
    procs = [
        ctx.Process(target=client_process, args=(url, [tokens[i] for i in share], int(share[0]), plan, args, out))
        for share in shares
        if len(share)
    ]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    if redis is not None:  # halfway through the step (about rounds x calls x think seconds)
        time.sleep(args.rounds * (2 + args.drafts) * args.think / 2)
        redis.kill()
        time.sleep(2)
        redis.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    timings: dict[str, list] = {}
    for r in results:
        for name, values in r["timings"].items():
            timings.setdefault(name, []).extend(values)
    return {
        "timings": timings,
        "wall": wall,
        "acknowledged": [a for r in results for a in r["acknowledged"]],
        "errors": [e for r in results for e in r["errors"]],
    }


def settle(acknowledged: list[int], deadline_s: float) -> tuple[int, int, int]:
    """(stored, processed, submitted twice) of the acknowledged submissions, once the worker has processed them
    all or ``deadline_s`` has passed."""
    from annotator_web.work.models import Submission, Task

    rows = Submission.objects.filter(pk__in=acknowledged)
    end = time.monotonic() + deadline_s
    while True:
        processed = rows.exclude(task__state=Task.State.SUBMITTED).count()  # the worker moved it on to review
        if processed == len(acknowledged) or time.monotonic() > end:
            break
        time.sleep(1)
    stored = rows.count()
    twice = stored - len(set(rows.values_list("task", flat=True)))
    return stored, processed, twice


def report(clients: int, step: dict, settled: tuple[int, int, int], args) -> dict:
    stored, processed, twice = settled
    calls = sum(len(v) for v in step["timings"].values())
    print(f"\n{clients} clients, think {args.think:g} s, {args.rounds} tasks each, {args.drafts} drafts a task")
    print(f"{'endpoint':<30} {'calls':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    print("-" * 64)
    worst = 0.0
    for name, values in sorted(step["timings"].items()):
        ms = np.array(values) * 1000
        p95 = np.percentile(ms, 95)
        worst = max(worst, p95)
        print(f"{name:<30} {len(ms):>6} {np.percentile(ms, 50):>8.1f} {p95:>8.1f} {ms.max():>8.1f}")
    print("-" * 64)
    acknowledged = len(step["acknowledged"])
    rps = calls / step["wall"]
    print(
        f"{calls} requests in {step['wall']:.1f} s = {rps:.1f}/s; {len(step['errors'])} errors; "
        f"{acknowledged} submissions acknowledged, {stored} stored, {processed} processed by the worker, "
        f"{acknowledged - stored} lost, {twice} tasks submitted twice"
    )
    for e in step["errors"][:5]:
        print("error:", e)
    return {"clients": clients, "rps": rps, "p95": worst, "errors": len(step["errors"]),
            "lost": acknowledged - stored, "unprocessed": acknowledged - processed}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--sweep", default="", help="comma-separated client counts, one step each (e.g. 50,100,200)")
    ap.add_argument("--rounds", type=int, default=3, help="tasks each client does in a step")
    ap.add_argument("--think", type=float, default=4.0,
                    help="mean seconds a client waits before each call (4: the UI's pace, see the README)")  # fmt: skip
    ap.add_argument("--drafts", type=int, default=5, choices=range(MAX_DRAFTS + 1), help="drafts saved each task")
    ap.add_argument("--stage2-share", type=float, default=0.5, help="share of the people already through stage 1")
    ap.add_argument("--stages", default="2,1", help="the queues a client asks, in order (1: stage 1 only)")
    ap.add_argument(
        "--queued",
        type=int,
        default=0,
        help="more pending stage-1 tasks behind the planned ones (a large queue, never reached)",
    )
    ap.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/densepose_bench")
    ap.add_argument("--web-workers", type=int, default=0, help="gunicorn workers (default: its configuration's)")
    ap.add_argument("--web-threads", type=int, default=0, help="threads a gunicorn worker (default: configured)")
    ap.add_argument("--client-processes", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=8, help="clients of a first step that is not reported")
    ap.add_argument("--worker-nice", type=int, default=10,
                    help="the worker's CPU priority: requests first, the queue drains behind them")  # fmt: skip
    ap.add_argument("--restart-redis", action="store_true", help="restart Redis (empty) during the last step")
    ap.add_argument("--settle", type=float, default=120, help="seconds to wait for the worker after a step")
    ap.add_argument(
        "--keep-setup",
        action="store_true",
        help="keep the project made (test-artifacts/api-load/ and a template database) for later runs",
    )
    args = ap.parse_args()
    steps = [int(c) for c in args.sweep.split(",") if c.strip()] or [args.clients]
    try:
        args.stages = tuple(int(s) for s in args.stages.split(","))
    except ValueError:
        args.stages = ()
    if not args.stages or not set(args.stages) <= {1, 2}:
        sys.exit("--stages lists 1 and/or 2, e.g. 2,1")
    if args.queued < 0:
        sys.exit(f"--queued is a number of tasks, 0 or more; got {args.queued}")

    people = int((sum(steps) * args.rounds + args.warmup * WARMUP_ROUNDS) * 1.1) + 40
    kept = f"{args.database.rsplit('/', 1)[1]}_v{PLAN_VERSION}_{people}_{args.stage2_share:g}".replace(".", "_")
    if args.keep_setup:  # one folder and one template database per size, reused by later runs
        data_dir = ROOT / "test-artifacts" / "api-load" / kept
        reuse = (data_dir / "plan.pkl").exists() and database_exists(args.database, kept)
    else:
        data_dir, reuse = Path(tempfile.mkdtemp(prefix="densepose-load-")), False
    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_database(args.database, template=kept if reuse else None)
    redis = RedisServer(data_dir) if shutil.which("redis-server") else None
    env = {
        "APP_ENV": "test", "DATA_DIR": str(data_dir), "DATABASE_URL": args.database,
        "DJANGO_SETTINGS_MODULE": "annotator_web.settings", "PYTHONUNBUFFERED": "1",
        "ASSET_CACHE_DIR": os.environ.get("ASSET_CACHE_DIR", str(ROOT / "test-artifacts" / "cache")),
        # after a broker restart, waiting jobs are sent again once this old (production default: 600 s)
        "JOB_RESEND_SECONDS": "20", "JOB_SWEEP_SECONDS": "5",
    }  # fmt: skip
    if redis is not None:
        redis.start()
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis.port}/0"
    elif args.restart_redis:
        sys.exit("--restart-redis needs redis-server on the PATH")
    os.environ.update(env)
    import django

    django.setup()
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from annotator_web.datadir import DataDir
    from annotator_web.studies.simulate import sim_users

    DataDir(data_dir).ensure()
    t0 = time.perf_counter()
    if reuse:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)  # a kept setup made before the latest migrations
        with open(data_dir / "plan.pkl", "rb") as f:
            plan = pickle.load(f)
    else:
        setup(people, stage2_share=args.stage2_share)
        plan = plans()
    tokens = [token for _, token in sim_users(max(*steps, args.warmup))]
    Token.objects.filter(key__in=tokens).update(created=timezone.now())  # a kept setup's tokens may have expired
    if args.keep_setup and not reuse:
        from django.db import connections

        connections.close_all()
        ensure_database(args.database.rsplit("/", 1)[0] + "/" + kept, template=args.database.rsplit("/", 1)[1])
        with open(data_dir / "plan.pkl", "wb") as f:
            pickle.dump(plan, f)
    if args.queued:  # after the kept template is made: it holds the planned people only
        queue_behind(args.queued)
    print(f"setup: {len(plan)} people {'reused' if reuse else 'planned'} in {time.perf_counter() - t0:.0f} s",
          flush=True)  # fmt: skip

    child_env = {**os.environ, **env}
    port = free_port()
    logs = open(data_dir / "servers.log", "ab")  # noqa: SIM115
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "annotator_web.wsgi", "-c", str(GUNICORN_CONF), "-b", f"127.0.0.1:{port}",
         *(["-w", str(args.web_workers)] if args.web_workers else []),
         *(["--threads", str(args.web_threads)] if args.web_threads else [])],
        cwd=ROOT, env=child_env, stdout=logs, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=die_with_parent,
    )  # fmt: skip
    worker = subprocess.Popen(
        ["nice", "-n", str(args.worker_nice), sys.executable, "-m", "celery", "-A", "annotator_web", "worker",
         "-Q", "default", "-c", "1", "--without-mingle", "--without-gossip", "-l", "WARNING"],
        cwd=ROOT, env=child_env, stdout=logs, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=die_with_parent,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    rows = []
    try:
        for _ in range(300):
            try:
                requests.get(url + "/login/", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        if args.warmup:  # not reported: every server process has served each kind of call once or more
            warm = argparse.Namespace(**{**vars(args), "rounds": WARMUP_ROUNDS, "think": 0.0})
            settle(run_step(url, tokens[: args.warmup], plan, warm, None)["acknowledged"], args.settle)
        for k, clients in enumerate(steps):
            restart = redis if args.restart_redis and k == len(steps) - 1 else None
            step = run_step(url, tokens[:clients], plan, args, restart)
            rows.append(report(clients, step, settle(step["acknowledged"], args.settle), args))
            if restart is not None:
                print("Redis was killed and started again (empty) halfway through this step")
    finally:
        for proc in (web, worker):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        if redis is not None:
            redis.kill()
    print(f"\n{'clients':>7} {'req/s':>7} {'worst p95 ms':>13} {'errors':>7} {'lost':>5} {'unprocessed':>12}")
    for r in rows:
        print(f"{r['clients']:>7} {r['rps']:>7.1f} {r['p95']:>13.1f} {r['errors']:>7} {r['lost']:>5} "
              f"{r['unprocessed']:>12}")  # fmt: skip
    within = [r["rps"] for r in rows if r["p95"] < TARGET_MS]
    print(f"saturation: {max(within) if within else 0:.1f} requests/s served with every p95 under {TARGET_MS:g} ms")


if __name__ == "__main__":
    main()
