"""Simulated annotators: clients that work through the REST API like people, on synthetic projects.

Each one logs in with its token and asks for the next task, saves a draft halfway, and submits, over HTTP.
What it answers comes from the synthetic ground truth (read from the data folder through
:class:`annotator_web.data.truth.TruthCache`, never sent through the API) by the simulated person's behaviour,
:mod:`pipeline.synthetic.annotator`. An optional reviewer accepts everything that waits for review, so a project
runs to the end unattended.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import requests

from pipeline.synthetic.annotator import Behaviour, answer_point, noisy_masks

if TYPE_CHECKING:
    from annotator_web.data.truth import TruthCache

SIM_PREFIX = "sim-"
ENDPOINT = re.compile(r"/\d+")  # task ids in paths, for timing by endpoint


@dataclass
class Tally:
    masks: int = 0
    points_tasks: int = 0
    clicks: int = 0
    marked: int = 0
    errors: list[str] = field(default_factory=list)
    acknowledged: list[int] = field(default_factory=list)  # submission ids the server confirmed


class SimulatedAnnotator(threading.Thread):
    """One simulated person. ``stages``: which queues it works (stage 2 first); ``max_tasks``: it stops after
    this many submissions; ``timings``: a shared dict that collects each call's latency by endpoint (the API
    load benchmark reads it)."""

    def __init__(self, url: str, token: str, name: str, project: str, truth: TruthCache | None, behaviour: Behaviour,
                 seed: int, idle_seconds: float = 15.0, max_points_tasks: int | None = None, stages=(2, 1),
                 max_tasks: int | None = None, timings: dict | None = None, lock=None, mapper=None):  # fmt: skip
        super().__init__(name=name, daemon=True)
        self.url, self.project, self.truth, self.behaviour = url.rstrip("/"), project, truth, behaviour
        self.mapper = mapper
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.rng = np.random.default_rng(seed)
        self.idle_seconds, self.max_points_tasks = idle_seconds, max_points_tasks
        self.stages, self.max_tasks = tuple(stages), max_tasks
        self.timings, self.lock = timings, lock or threading.Lock()
        self.tally = Tally()

    def call(self, method: str, path: str, **kw) -> requests.Response:
        if self.behaviour.think_seconds:
            time.sleep(self.rng.uniform(0.5, 1.5) * self.behaviour.think_seconds)
        for attempt in range(5):
            try:
                start = time.perf_counter()
                resp = self.session.request(method, self.url + path, timeout=60, **kw)
                if self.timings is not None:
                    with self.lock:
                        self.timings.setdefault(f"{method} {ENDPOINT.sub('/{id}', path)}", []).append(
                            time.perf_counter() - start
                        )
                return resp
            except requests.ConnectionError:
                time.sleep(0.5 * 2**attempt)  # a person waits for the connection to come back
        raise RuntimeError(f"{self.name}: no connection to {self.url}")

    def run(self) -> None:
        from django.db import connection

        try:
            idle_since = time.monotonic()
            while time.monotonic() - idle_since < self.idle_seconds:
                if self.max_tasks is not None and self.tally.masks + self.tally.points_tasks >= self.max_tasks:
                    break
                stages = tuple(s for s in self.stages if not (s == 2 and self._points_quota_used()))
                worked = False
                for stage in stages:
                    resp = self.call("POST", "/api/tasks/next", json={"project": self.project, "stage": stage})
                    if resp.status_code == 200:
                        self._work(resp.json())
                        worked = True
                        break
                    if resp.status_code != 204:
                        self.tally.errors.append(f"next stage {stage}: {resp.status_code} {resp.text[:200]}")
                if worked:
                    idle_since = time.monotonic()
                else:
                    time.sleep(0.5)  # nothing now: tasks may come once submissions are processed and reviewed
        except Exception as exc:  # reported by the command, not lost in the thread
            self.tally.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    def _points_quota_used(self) -> bool:
        return self.max_points_tasks is not None and self.tally.points_tasks >= self.max_points_tasks

    def _work(self, task: dict) -> None:
        data = self.answers(task)
        if task["stage"] == 1:
            self.call("PUT", f"/api/tasks/{task['id']}/draft", json={"draft": data})
        else:
            half = {"answers": data["answers"][: len(data["answers"]) // 2], "current": len(data["answers"]) // 2}
            self.call("PUT", f"/api/tasks/{task['id']}/draft", json={"draft": half})
        seconds = float(self.rng.uniform(20, 60) if task["stage"] == 1 else 4 * len(task.get("points", [])))
        self.submit(task, data, seconds)

    def answers(self, task: dict) -> dict:
        """What this person submits for a task (``person``: ``id`` and ``bbox``; stage 2: its ``points``), from
        the person's truth; counted in the tally."""
        truth, index = self.truth.person(task["person"]["id"])
        if task["stage"] == 1:
            self.tally.masks += 1
            return {"dp_masks": noisy_masks(truth.person(index)["dp_masks"], self.rng, self.behaviour)}
        bbox = task["person"]["bbox"]
        answers = [answer_point(self.rng, self.mapper, self.behaviour, truth, index, bbox, p) for p in task["points"]]
        self.tally.points_tasks += 1
        self.tally.clicks += sum(a["status"] == "ok" for a in answers)
        self.tally.marked += sum(a["status"] != "ok" for a in answers)
        return {"answers": answers}

    def submit(self, task: dict, data: dict, seconds: float) -> None:
        """Submit once under a fresh key; the server's acknowledgement (or refusal) goes into the tally."""
        resp = self.call("POST", f"/api/tasks/{task['id']}/submit",
                         json={"key": uuid.uuid4().hex, "data": data, "seconds_spent": seconds})  # fmt: skip
        if resp.status_code not in (200, 201):
            self.tally.errors.append(f"submit task {task['id']}: {resp.status_code} {resp.text[:200]}")
        else:
            self.tally.acknowledged.append(resp.json()["submission"])


class AutoReviewer(threading.Thread):
    """Accepts every task that waits for review (through the API) until told to stop."""

    def __init__(self, url: str, token: str, project: str):
        super().__init__(name="sim-reviewer", daemon=True)
        self.url, self.project = url.rstrip("/"), project
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.stop = threading.Event()
        self.accepted = 0
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            busy = False
            for stage in (1, 2):
                try:
                    resp = self.session.get(f"{self.url}/api/reviews/next",
                                            params={"project": self.project, "stage": stage}, timeout=60)  # fmt: skip
                    if resp.status_code == 200:
                        task = resp.json()
                        done = self.session.post(f"{self.url}/api/tasks/{task['id']}/review",
                                                 json={"decision": "accept"}, timeout=60)  # fmt: skip
                        self.accepted += done.status_code == 200
                        busy = True
                except requests.ConnectionError:
                    time.sleep(1)
            if not busy:
                self.stop.wait(0.3)


def sim_users(count: int, role: str = "annotator") -> list[tuple[str, str]]:
    """(username, API token) of ``count`` simulated users, made once (they have no password)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    users = []
    group = Group.objects.get_or_create(name=role)[0]
    for k in range(1, count + 1):
        name = f"{SIM_PREFIX}{role}-{k}"
        user, created = get_user_model().objects.get_or_create(username=name)
        if created:
            user.set_unusable_password()
            user.save()
        user.groups.add(group)
        users.append((name, Token.objects.get_or_create(user=user)[0].key))
    return users
