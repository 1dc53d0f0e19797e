"""Helpers the test modules share (fixtures shared across modules are in conftest.py)."""

import io
import time

import numpy as np
from django.core.files.base import ContentFile
from PIL import Image as PILImage

from annotator_web.data.models import Image, Person
from annotator_web.work.models import Task
from pipeline import parts
from pipeline.coco.densepose import dp_masks_from_labels


def masks_payload():
    labels = np.zeros((256, 256), dtype=np.uint8)
    labels[20:80, 90:170] = parts.MASK_PART_NAMES.index("Head") + 1
    labels[80:200, 60:200] = parts.MASK_PART_NAMES.index("Torso") + 1
    labels[200:250, 70:120] = parts.MASK_PART_NAMES.index("Upper Leg Right") + 1
    return {"dp_masks": dp_masks_from_labels(labels)}


def make_person(project, keypoints=None):
    buffer = io.BytesIO()
    PILImage.new("RGB", (64, 64)).save(buffer, format="JPEG")
    image = Image(project=project, width=64, height=64, sha256="0" * 64)
    image.file.save("i.jpg", ContentFile(buffer.getvalue()), save=True)
    return Person.objects.create(image=image, x=1, y=2, w=30, h=60, keypoints=keypoints)


def wait_task_state(task_id: int, states, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = Task.objects.get(pk=task_id)
        if task.state in states:
            return task
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} stayed {Task.objects.get(pk=task_id).state}")


def log_in(browser, url: str, username: str, viewport=(1280, 800)):
    """A new page of ``browser`` signed in as ``username`` (the tests' password); (page, page errors seen)."""
    from tests.conftest import PASSWORD

    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page, errors


def at_once(count: int, work) -> list:
    """Run ``work()`` in ``count`` threads released together (each with its own database connection, closed
    after); their results, and an exception raised in a thread is raised here."""
    import threading

    from django.db import connection

    start, results, errors = threading.Barrier(count), [], []

    def run():
        try:
            start.wait()
            results.append(work())
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results
