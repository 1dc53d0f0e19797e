"""Images in: COCO import and uploads, with reasons for everything refused and nothing half-stored."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from PIL import Image as PILImage

from annotator_web.data.models import Image, Person, Project
from annotator_web.work.models import Task

pytestmark = pytest.mark.django_db


def jpeg(w=120, h=90, fmt="JPEG") -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (w, h), (200, 120, 40)).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def coco(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(jpeg())
    (folder / "b.png").write_bytes(jpeg(fmt="PNG"))
    (folder / "broken.jpg").write_bytes(b"not an image at all")
    (folder / "c.jpg").write_bytes(jpeg(64, 64))
    data = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 120, "height": 90},
            {"id": 2, "file_name": "b.png", "width": 120, "height": 90},
            {"id": 3, "file_name": "broken.jpg", "width": 10, "height": 10},
            {"id": 4, "file_name": "missing.jpg", "width": 10, "height": 10},
            {"id": 5, "file_name": "c.jpg", "width": 100, "height": 100},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "bicycle"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [5, 5, 40, 80], "keypoints": [0] * 51},
            {"id": 11, "image_id": 1, "category_id": 1, "bbox": [50, 10, 30, 70]},
            {"id": 12, "image_id": 1, "category_id": 1, "bbox": [5, 5, 40, 80], "iscrowd": 1},
            {"id": 13, "image_id": 1, "category_id": 2, "bbox": [1, 1, 5, 5]},
            {"id": 14, "image_id": 2, "category_id": 1, "bbox": [100, 10, 60, 60]},
            {"id": 15, "image_id": 2, "category_id": 1, "bbox": [10, 10, 0.2, 30]},
            {"id": 16, "image_id": 2, "category_id": 1, "bbox": "wide"},
            {"id": 17, "image_id": 2, "category_id": 1, "bbox": [10, 10, 20, 30], "keypoints": [1, 2]},
            {"id": 18, "image_id": 3, "category_id": 1, "bbox": [1, 1, 5, 5]},
            {"id": 19, "image_id": 4, "category_id": 1, "bbox": [1, 1, 5, 5]},
            {"id": 20, "image_id": 5, "category_id": 1, "bbox": [1, 1, 5, 5]},
        ],
    }
    path = tmp_path / "persons.json"
    path.write_text(json.dumps(data))
    return path, folder


def test_import_coco_takes_the_valid_people_and_says_why_others_were_skipped(media, coco, capsys):
    path, folder = coco
    call_command("import_coco", project="street", annotations=str(path), images=str(folder))
    out, err = capsys.readouterr()
    assert "imported 2 images and 3 people into street; 3 new stage-1 tasks" in out
    for reason in [
        "annotation 12: a crowd region",
        "annotation 14: bbox [100, 10, 60, 60] is outside image 2",
        "annotation 15: bbox is smaller than a pixel",
        "annotation 16: bbox must be [x, y, w, h]",
        "annotation 17: keypoints must be 17 x (x, y, v)",
        "image 3 (broken.jpg) is not a readable image",
        "image 4 (missing.jpg): no such file",
        "image 5 (c.jpg): the file is 64x64, the annotations say 100x100",
    ]:
        assert reason in err, reason
    project = Project.objects.get(name="street")
    assert Person.objects.filter(image__project=project).count() == 3
    assert Person.objects.get(source_id="10").keypoints == [0] * 51
    assert Person.objects.get(source_id="17").keypoints is None
    assert Task.objects.filter(project=project, stage=1, state="pending").count() == 3

    call_command("import_coco", project="street", annotations=str(path), images=str(folder))
    assert "imported 0 images and 0 people" in capsys.readouterr().out
    assert Image.objects.count() == 2, "importing the same file twice adds nothing"


def test_a_failed_import_leaves_nothing(media, coco, monkeypatch):
    path, folder = coco

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Person.objects, "bulk_create", broken)
    with pytest.raises(RuntimeError):
        call_command("import_coco", project="street", annotations=str(path), images=str(folder))
    assert Image.objects.count() == 0
    assert not any(p.is_file() for p in media.rglob("*"))


def test_import_refuses_what_is_not_coco(media, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": 3}')
    with pytest.raises(CommandError, match="not a COCO annotation file"):
        call_command("import_coco", project="x", annotations=str(bad), images=str(tmp_path))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_coco", project="x", annotations=str(tmp_path / "nope.json"), images=str(tmp_path))


def test_upload_checks_type_size_and_boxes(media, users, client_for, settings):
    Project.objects.create(name="uploads")
    boss = client_for(users["admin"])
    url = "/api/projects/uploads/images"

    def send(data, name="x.jpg", boxes="[]", client=boss):
        return client.post(url, {"file": io.BytesIO(data), "boxes": boxes}, format="multipart")

    ok = send(jpeg(), boxes="[[10, 10, 40, 60]]")
    assert ok.status_code == 201 and ok.json()["people"] == 1 and ok.json()["width"] == 120
    assert send(jpeg()).json()["id"] == ok.json()["id"], "the same bytes twice are one image"
    resp = send(b"%PDF-1.4 not an image")
    assert (
        resp.status_code == 400 and "not a readable image" in resp.json()["detail"] and resp.json()["field"] == "file"
    )
    resp = send(jpeg(fmt="GIF"))
    assert resp.status_code == 400 and "accepted: JPEG, PNG, WEBP" in resp.json()["detail"]
    resp = send(jpeg(), boxes="[[100, 10, 60, 60]]")
    assert resp.status_code == 400 and "is not inside the 120x90 image" in resp.json()["detail"]
    settings.MAX_IMAGE_PIXELS = 5000
    resp = send(jpeg(100, 100))
    assert resp.status_code == 400 and "decompression bomb guard" in resp.json()["detail"]
    settings.MAX_IMAGE_BYTES = 100
    resp = send(jpeg(20, 20))
    assert resp.status_code == 400 and "the limit is" in resp.json()["detail"]
    assert Image.objects.count() == 1 and Person.objects.count() == 1
    assert sum(1 for p in media.rglob("*") if p.is_file()) == 1, "refused uploads leave no file"
    assert send(jpeg(), client=client_for(users["annotator"])).status_code == 403
