"""Simulated annotators: clients that work through the REST API like people, on synthetic projects.

Each one logs in with its token and asks for the next task, saves a draft halfway, and submits, over HTTP.
What it answers comes from the synthetic ground truth (the *oracle*, read from the data folder, never sent
through the API): stage 1 the true part masks with boundary noise and occasional left/right confusions;
stage 2, for each sampled point, a click where the true surface point shows on one of the six views, with
Gaussian noise in pixels, sometimes on a view that shows the other side, sometimes "not visible".
An optional reviewer accepts everything that waits for review, so a project runs to the end unattended.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
import requests

from pipeline import parts
from pipeline.coco.densepose import decode_rle, dp_masks_from_labels

SIM_PREFIX = "sim-"
ENDPOINT = re.compile(r"/\d+")  # task ids in paths, for timing by endpoint


@dataclass
class Behaviour:
    click_noise_px: float = 0.0  # Gaussian, per axis, in view pixels
    boundary_noise_px: float = 1.0  # part masks grow or shrink by about this much (box frame)
    confusion: float = 0.0  # chance a part is painted as its left/right mirror
    wrong_side: float = 0.0  # chance of clicking where the point would be on a view of the other side
    not_visible: float = 0.0  # chance of answering "not visible" for a point that is visible
    think_seconds: float = 0.0  # pause before each call


@dataclass
class Tally:
    masks: int = 0
    points_tasks: int = 0
    clicks: int = 0
    marked: int = 0
    errors: list[str] = field(default_factory=list)
    acknowledged: list[int] = field(default_factory=list)  # submission ids the server confirmed


class Oracle:
    """The synthetic truth behind a task's person (loaded once per image)."""

    def __init__(self, mapper):
        from annotator_web.data.models import ImageTruth, Person

        self._truth_model, self._person_model = ImageTruth, Person
        self.mapper = mapper
        self._cache: dict = {}  # image id -> (its people's truth, its truth arrays)
        self._people: dict = {}  # person id -> (image id, source id)
        self._lock = threading.Lock()

    def preload(self, project: str) -> None:
        """Read the truth of every person of a project now, in this thread: afterwards :meth:`person` answers from
        memory, so simulated annotators in other threads never open database connections of their own (200 of
        them would take the server's)."""
        people = self._person_model.objects.filter(image__project__name=project).values_list("pk", "image_id",
                                                                                              "source_id")  # fmt: skip
        with self._lock:
            for pk, image_id, source_id in people:
                self._load_image(image_id)
                self._people[pk] = (image_id, source_id)

    def forget_images(self, keep: int | None = None) -> None:
        """Drop the truth read so far (all but image ``keep``'s): for a pass over many images in turn."""
        with self._lock:
            for image_id in [i for i in self._cache if i != keep]:
                del self._cache[image_id]

    def _load_image(self, image_id: int) -> None:
        from django.conf import settings

        if image_id not in self._cache:
            record = self._truth_model.objects.get(image_id=image_id)
            with np.load(settings.MEDIA_ROOT / record.file.name) as data:
                arrays = {k: data[k] for k in ("surface", "instance", "face")}
            self._cache[image_id] = (record.people, arrays)

    def person(self, person_id: int):
        with self._lock:
            if person_id not in self._people:
                person = self._person_model.objects.get(pk=person_id)
                self._people[person_id] = (person.image_id, person.source_id)
            image_id, source_id = self._people[person_id]
            self._load_image(image_id)
            people, arrays = self._cache[image_id]
        index = int(source_id.rsplit(":", 1)[1])
        return next(p for p in people if p["index"] == index), arrays


def noisy_masks(true_masks: list, rng, behaviour: Behaviour) -> list:
    from scipy import ndimage

    labels = np.zeros((parts.MASK_SIZE, parts.MASK_SIZE), dtype=np.uint8)
    for part, rle in zip(parts.MASK_PARTS, true_masks, strict=True):
        if not rle:
            continue
        mask = decode_rle(rle)
        if not mask.any():
            continue
        grow = round(rng.normal(0, behaviour.boundary_noise_px))
        if grow > 0:
            mask = ndimage.binary_dilation(mask, iterations=grow)
        elif grow < 0:
            mask = ndimage.binary_erosion(mask, iterations=-grow)
        label = parts.MASK_FLIP[part] if rng.random() < behaviour.confusion else part
        labels[mask] = label
    return dp_masks_from_labels(labels)


class SimulatedAnnotator(threading.Thread):
    """One simulated person. ``stages``: which queues it works (stage 2 first); ``max_tasks``: it stops after
    this many submissions; ``timings``: a shared dict that collects each call's latency by endpoint (the API
    load benchmark reads it)."""

    def __init__(self, url: str, token: str, name: str, project: str, oracle: Oracle, behaviour: Behaviour,
                 seed: int, idle_seconds: float = 15.0, max_points_tasks: int | None = None, stages=(2, 1),
                 max_tasks: int | None = None, timings: dict | None = None, lock=None):  # fmt: skip
        super().__init__(name=name, daemon=True)
        self.url, self.project, self.oracle, self.behaviour = url.rstrip("/"), project, oracle, behaviour
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
        truth, arrays = self.oracle.person(task["person"]["id"])
        if task["stage"] == 1:
            data = {"dp_masks": noisy_masks(truth["dp_masks"], self.rng, self.behaviour)}
            self.call("PUT", f"/api/tasks/{task['id']}/draft", json={"draft": data})
            self.tally.masks += 1
        else:
            answers = [self._answer(p, task, truth, arrays) for p in task["points"]]
            half = {"answers": answers[: len(answers) // 2], "current": len(answers) // 2}
            self.call("PUT", f"/api/tasks/{task['id']}/draft", json={"draft": half})
            data = {"answers": answers}
            self.tally.points_tasks += 1
        seconds = float(self.rng.uniform(20, 60) if task["stage"] == 1 else 4 * len(task.get("points", [])))
        self.submit(task, data, seconds)

    def submit(self, task: dict, data: dict, seconds: float) -> None:
        """Submit once under a fresh key; the server's acknowledgement (or refusal) goes into the tally."""
        resp = self.call("POST", f"/api/tasks/{task['id']}/submit",
                         json={"key": uuid.uuid4().hex, "data": data, "seconds_spent": seconds})  # fmt: skip
        if resp.status_code not in (200, 201):
            self.tally.errors.append(f"submit task {task['id']}: {resp.status_code} {resp.text[:200]}")
        else:
            self.tally.acknowledged.append(resp.json()["submission"])

    def _answer(self, point: dict, task: dict, truth: dict, arrays: dict) -> dict:
        b = self.behaviour
        x0, y0, w, h = task["person"]["bbox"]
        col = int(x0 + point["box_x"] * w / parts.BOX_SCALE)
        row = int(y0 + point["box_y"] * h / parts.BOX_SCALE)
        surface, instance = arrays["surface"], arrays["instance"]
        row, col = min(row, instance.shape[0] - 1), min(col, instance.shape[1] - 1)
        if instance[row, col] != truth["index"] or self.rng.random() < b.not_visible:
            self.tally.marked += 1
            return {"point": point["id"], "status": "not_visible"}
        face = int(arrays["face"][row, col])
        click = simulated_click(self.rng, self.oracle.mapper, point["part"], surface[row, col], b, face)
        if click is None:
            self.tally.marked += 1
            return {"point": point["id"], "status": "unsure"}
        self.tally.clicks += 1
        view, x, y = click
        return {"point": point["id"], "status": "ok", "view": view, "x": x, "y": y}


def simulated_click(rng, mapper, part: int, surface_point, behaviour: Behaviour, face: int | None = None):
    """Where a person clicks for a true surface point: on a view that shows it well (given the true ``face``:
    one that sees it nearly head-on, as a person picks the clearest view), or by mistake on one that shows the
    other side; off by Gaussian noise, on a pixel's centre. None when no view shows it."""
    point = np.asarray(surface_point, dtype=np.float64)
    xy, visible = mapper.project_to_views(part, point)
    shown, hidden = np.flatnonzero(visible[:, 0]), np.flatnonzero(~visible[:, 0])
    if not len(shown):
        return None
    if face is not None and len(shown) > 1:
        first = (part - 1) * mapper.n_views
        normal = mapper.face_normal[face] / np.linalg.norm(mapper.face_normal[face])
        to_camera = mapper.position[first + shown] - point
        facing = np.abs(to_camera @ normal) / np.linalg.norm(to_camera, axis=1)
        shown = shown[facing >= 0.9 * facing.max()]
    views = hidden if len(hidden) and rng.random() < behaviour.wrong_side else shown
    for _ in range(10):
        view = int(rng.choice(views))
        x, y = xy[view, 0] + (rng.normal(0, behaviour.click_noise_px, 2) if behaviour.click_noise_px else 0)
        x, y = np.floor(x) + 0.5, np.floor(y) + 0.5  # a click lands on a pixel
        if mapper.map_clicks([part], [view], [x], [y]).ok[0]:
            return view, float(x), float(y)
        views = shown  # off the part: look again on a view that shows the point
    return None


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
