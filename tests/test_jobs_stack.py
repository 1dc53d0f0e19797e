"""Jobs on the real stack: web server + separate Celery worker processes, over Redis and the file broker."""

import hashlib
import os
import shutil

import pytest

pytestmark = [pytest.mark.stack]
FINISHED = ("succeeded", "failed", "cancelled")
MB = 1024 * 1024


def sparse_files(folder, count: int, size: int) -> str:
    """Files of zeros that take no disk space; returns their SHA-256."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        with open(folder / f"big-{i:02d}.bin", "wb") as handle:
            handle.truncate(size)
    digest = hashlib.sha256()
    with open(folder / "big-00.bin", "rb") as handle:
        while chunk := handle.read(8 * MB):
            digest.update(chunk)
    return digest.hexdigest()


def test_job_enqueued_through_the_api_runs_on_a_worker(stack):
    images = stack.media / "images"
    images.mkdir()
    contents = {"a.jpg": b"first image", "b.jpg": b"second", "c.png": b"\x89PNG third"}
    for name, data in contents.items():
        (images / name).write_bytes(data)

    resp = stack.post("/api/jobs", {"kind": "integrity_check"})
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["state"] == "queued" and created["created_by"] == "root"

    job = stack.wait_job(created["id"], lambda j: j["state"] in FINISHED, timeout=90)
    assert job["state"] == "succeeded", job
    assert job["progress"] == 100
    assert job["attempts"] == 1
    assert job["result"]["files"] == 3 and job["result"]["ok"] is True
    assert job["result"]["database"]["ok"] is True

    report = stack.get(job["result_url"])
    assert report.status_code == 200
    manifest = {row["path"]: row["sha256"] for row in report.json()["manifest"]}
    assert manifest == {f"images/{n}": hashlib.sha256(d).hexdigest() for n, d in contents.items()}

    # A second check compares with the first: damage that keeps size and time is reported as corruption.
    target = images / "b.jpg"
    st = target.stat()
    target.write_bytes(b"SECOND")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    (images / "c.png").unlink()
    second = stack.post("/api/jobs", {"kind": "integrity_check"}).json()
    job2 = stack.wait_job(second["id"], lambda j: j["state"] in FINISHED, timeout=90)
    assert job2["state"] == "succeeded", job2
    assert job2["result"]["baseline_job"] == created["id"]
    assert job2["result"]["changes"] == {"added": 0, "missing": 1, "modified": 0, "corrupted": 1}
    assert job2["result"]["ok"] is False
    assert any("changed content" in p for p in job2["result"]["problems"])


def test_job_survives_its_worker_being_killed(stack):
    sha = sparse_files(stack.media / "videos", count=8, size=256 * MB)
    job_id = stack.post("/api/jobs", {"kind": "integrity_check"}).json()["id"]
    stack.wait_job(job_id, lambda j: j["state"] == "running" and j["progress"] >= 10, timeout=60, interval=0.05)

    stack.kill(stack.workers[0])  # returns once the worker and its pool are gone: nothing runs the job now
    orphan = stack.get(f"/api/jobs/{job_id}").json()
    assert orphan["state"] == "running" and orphan["progress"] < 100, orphan
    assert orphan["attempts"] == 1

    stack.start_worker()
    done = stack.wait_job(job_id, lambda j: j["state"] in FINISHED, timeout=180)
    assert done["state"] == "succeeded", done
    assert done["attempts"] == 2
    assert done["result"]["files"] == 8

    # Stored once: one report, every file hashed right, and nothing runs the job again afterwards.
    assert sorted(p.name for p in (stack.media / "jobs" / str(job_id)).iterdir()) == ["integrity.json"]
    report = stack.get(done["result_url"]).json()
    assert len(report["manifest"]) == 8 and {row["sha256"] for row in report["manifest"]} == {sha}
    # a job sent afterwards on the same queue finishes: whatever was queued before it has been handled too
    shutil.rmtree(stack.media / "videos")
    after = stack.post("/api/jobs", {"kind": "integrity_check"}).json()["id"]
    assert stack.wait_job(after, lambda j: j["state"] in FINISHED, timeout=90)["state"] == "succeeded"
    later = stack.get(f"/api/jobs/{job_id}").json()
    assert (later["attempts"], later["finished_at"], later["state"]) == (2, done["finished_at"], "succeeded")


@pytest.mark.parametrize("broker", ["filesystem"])  # cancellation does not depend on the broker
def test_running_job_can_be_cancelled(stack):
    """Running jobs pause while the data folder holds ``pause-jobs``: the job is held mid-way, deterministically,
    and a cancel request still ends it."""
    sparse_files(stack.media / "videos", count=2, size=MB)
    pause = stack.data_dir / "pause-jobs"
    pause.touch()
    job_id = stack.post("/api/jobs", {"kind": "integrity_check"}).json()["id"]
    held = stack.wait_job(job_id, lambda j: (j["message"] or "").startswith("paused"), timeout=60)
    assert held["state"] == "running" and held["progress"] < 100
    resp = stack.post(f"/api/jobs/{job_id}/cancel")
    assert resp.status_code == 200 and resp.json()["cancel_requested"] is True
    done = stack.wait_job(job_id, lambda j: j["state"] in FINISHED, timeout=60)
    assert done["state"] == "cancelled" and done["progress"] < 100

    # a paused job goes on once the file is gone
    second = stack.post("/api/jobs", {"kind": "integrity_check"}).json()["id"]
    stack.wait_job(second, lambda j: (j["message"] or "").startswith("paused"), timeout=60)
    pause.unlink()
    assert stack.wait_job(second, lambda j: j["state"] in FINISHED, timeout=60)["state"] == "succeeded"
    assert done["result_url"] is None


@pytest.mark.parametrize("broker", ["filesystem"])
def test_asset_build_job_reports_the_assets_and_serves_the_contact_sheet(stack, assets):
    job_id = stack.post("/api/jobs", {"kind": "build_assets", "params": {"body": "anny"}}).json()["id"]
    done = stack.wait_job(job_id, lambda j: j["state"] in FINISHED, timeout=120)
    assert done["state"] == "succeeded", done
    assert done["queue"] == "render"
    assert done["result"]["key"] == assets.key and done["result"]["charts_folds"] == 0
    assert done["result"]["charts_disks"] == 24
    sheet = stack.get(done["result_url"])
    assert sheet.status_code == 200 and sheet.content[:8] == b"\x89PNG\r\n\x1a\n"

    bad = stack.post("/api/jobs", {"kind": "build_assets", "params": {"body": "smurf"}}).json()
    failed = stack.wait_job(bad["id"], lambda j: j["state"] in FINISHED, timeout=60)
    assert failed["state"] == "failed" and "unknown body model 'smurf'" in failed["error"]


@pytest.mark.parametrize("broker", ["redis"])
def test_a_job_whose_message_was_lost_is_sent_again(stack, transactional_db):
    from datetime import timedelta

    from django.utils import timezone

    from annotator_web.core.models import Job

    # started while the broker was unreachable: the row exists, no message was ever sent
    job = Job.objects.create(kind="integrity_check", queue="default", message="queued")
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=10))
    done = stack.wait_job(job.pk, lambda j: j["state"] in FINISHED, timeout=60)
    assert done["state"] == "succeeded" and done["attempts"] == 1
    assert Job.objects.get(pk=job.pk).sends == 1


def test_a_job_started_while_the_broker_is_down_goes_as_soon_as_it_answers(tmp_path, transactional_db, make_user):
    from tests.conftest import PASSWORD
    from tests.stack import Stack, free_port

    make_user("root", "admin")
    down = Stack(tmp_path, "redis", extra_env={"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    try:
        down.start_web()
        down.login("root", PASSWORD)
        resp = down.post("/api/jobs", {"kind": "integrity_check"})
        assert resp.status_code == 201, resp.text
        job = down.get(f"/api/jobs/{resp.json()['id']}").json()
        assert job["state"] == "queued"
    finally:
        down.stop()
    from annotator_web.core.models import Job

    assert Job.objects.get(pk=job["id"]).sends == 0, "no message went out; a sweeper will send it later"
    # the broker is back: the job goes at the first sweep, not after JOB_RESEND_SECONDS (for lost messages)
    up = Stack(tmp_path / "up", "redis", extra_env={"JOB_RESEND_SECONDS": "600"})
    try:
        up.start_web()
        up.login("root", PASSWORD)
        up.start_worker()
        done = up.wait_job(job["id"], lambda j: j["state"] in FINISHED, timeout=120)
        assert done["state"] == "succeeded", done
    except BaseException:
        print(up.all_logs())
        raise
    finally:
        up.stop()
    assert Job.objects.get(pk=job["id"]).sends == 1
