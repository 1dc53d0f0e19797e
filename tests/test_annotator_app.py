"""What the annotator app gets from the server: the view bundles (the browser maps clicks with them), the
pages by role, and the task fields the editors use."""

import gzip

import numpy as np
import pytest

from annotator_web.data.models import Project
from annotator_web.work import services
from annotator_web.work.api import task_json
from annotator_web.work.models import SampledPoint, Submission, Task
from pipeline import parts
from pipeline.body.base import FRONT, LEFT, UP
from pipeline.coco.densepose import encode_rle
from pipeline.render import views as V
from pipeline.render.bundle import NO_LOCAL_FACE, part_bundle, read_part_bundle
from pipeline.render.raster import NO_FACE
from tests.helpers import make_person
from tests.stack import ASSET_CACHE


@pytest.mark.parametrize("part", [1, 3, 14])
def test_a_bundle_holds_the_part_views_exactly(assets, part):
    bundle = read_part_bundle(part_bundle(assets, part))
    header, ids = bundle["header"], bundle["ids"]
    assert (header["part"], header["size"], header["views"]) == (part, assets.size, 6)
    assert header["visibility"] == {"base_m": V.VISIBILITY_BASE_M, "pixels": V.VISIBILITY_PIXELS}
    mesh_ids = assets.face_ids[part - 1]
    assert np.array_equal(ids == NO_LOCAL_FACE, mesh_ids == NO_FACE), "the same pixels show the part"
    seen = mesh_ids != NO_FACE
    # each local face is the mesh face seen there: same corners, same chart and UVs
    corners = assets.vertices[assets.faces[mesh_ids[seen]]].astype(np.float32)
    assert np.array_equal(bundle["triangles"][ids[seen]], corners)
    assert np.array_equal(bundle["chart"][ids[seen]], assets.face_chart[mesh_ids[seen]])
    assert np.allclose(bundle["corner_uv"][ids[seen]], assets.corner_uv[mesh_ids[seen]], atol=1e-6)
    assert set(np.unique(bundle["chart"])) <= set(parts.MASK_PART_TO_CHARTS[part])
    for cam, sent in zip(assets.cameras[part - 1], header["cameras"], strict=True):
        assert np.allclose(np.reshape(sent["rotation"], (3, 3)), cam.rotation)
        assert np.allclose(sent["position"], cam.position) and sent["fx"] == cam.fx
    # each view says where its camera stands: the direction from the part's centre to the camera, in the body's axes
    corners = assets.vertices[np.unique(assets.faces[(assets.face_part == part) & assets.exterior])]
    centre = (corners.min(axis=0) + corners.max(axis=0)) / 2
    for cam, sent in zip(assets.cameras[part - 1], header["directions"], strict=True):
        to_camera = (cam.position - centre) / np.linalg.norm(cam.position - centre)
        assert [sent["front"], sent["left"], sent["up"]] == pytest.approx(
            [to_camera @ FRONT, to_camera @ LEFT, to_camera @ UP], abs=1e-6
        )
        assert sent["label"] == V.direction_label(to_camera)


@pytest.fixture
def built(settings, assets, tmp_path):
    settings.ASSET_CACHE_DIR = ASSET_CACHE
    settings.MEDIA_ROOT = tmp_path / "media"
    return assets


@pytest.mark.django_db
def test_bundles_and_pictures_are_served_gzipped_and_cacheable(built, users, client_for):
    api = client_for(users["annotator"])
    resp = api.get("/api/bodies/anny/parts/3/bundle")
    assert resp.status_code == 200 and resp["Content-Encoding"] == "gzip"
    assert "max-age" in resp["Cache-Control"]
    data = gzip.decompress(b"".join(resp.streaming_content))
    assert read_part_bundle(data)["header"]["name"] == "Left Hand"
    assert data == part_bundle(built, 3)
    picture = api.get("/api/bodies/anny/parts/3/views/5.png")
    assert picture.status_code == 200 and b"".join(picture.streaming_content)[:4] == b"\x89PNG"
    for path, reason in [
        ("/api/bodies/anny/parts/15/bundle", "mask parts are 1..14"),
        ("/api/bodies/anny/parts/3/views/6.png", "views 0..5"),
        ("/api/bodies/nobody/parts/3/bundle", "unknown body model"),
        ("/api/bodies/smpl/parts/3/bundle", "not built"),
    ]:
        resp = api.get(path)
        assert resp.status_code == 404 and reason in resp.json()["detail"], (path, resp.content)


@pytest.mark.django_db
def test_everyone_lands_where_their_work_is(users, client):
    for role, page in [("annotator", "/annotate/"), ("reviewer", "/review/"), ("admin", "/queues/")]:
        client.force_login(users[role])
        assert client.get("/").url == page
    client.force_login(users["reviewer"])
    assert client.get("/annotate/").status_code == 403
    client.force_login(users["annotator"])
    assert client.get("/review/").status_code == 403


@pytest.mark.django_db
def test_the_app_page_carries_its_configuration(users, client, settings, tmp_path):
    Project.objects.create(name="p1")
    client.force_login(users["annotator"])
    settings.FRONTEND_DIST = tmp_path / "dist"
    resp = client.get("/annotate/")
    assert resp.status_code == 503 and "not built" in resp.content.decode(), "a missing build says so"
    (tmp_path / "dist" / "annotate").mkdir(parents=True)
    (tmp_path / "dist" / "annotate" / "app.js").write_text("")
    resp = client.get("/annotate/")
    assert resp.status_code == 200
    config = resp.context["config"]
    assert config["mode"] == "annotate" and [p["name"] for p in config["projects"]] == ["p1"]
    assert [p["name"] for p in config["parts"]] == list(parts.MASK_PART_NAMES)
    assert config["urls"]["draft"] == "/api/tasks/{id}/draft"
    assert 'id="app-config"' in resp.content.decode() and "annotate/app.js?v=" in resp.content.decode()


@pytest.mark.django_db
def test_tasks_tell_the_editors_what_to_expect_and_where_the_views_are(built, users):
    project = Project.objects.create(name="p")
    keypoints = [0.0] * 51
    keypoints[3 * parts.COCO_KEYPOINT_NAMES.index("left_wrist") + 2] = 2  # visible
    keypoints[3 * parts.COCO_KEYPOINT_NAMES.index("right_knee") + 2] = 1  # in the image but hidden
    person = make_person(project, keypoints)
    stage1 = Task.objects.create(project=project, person=person, stage=1)
    assert task_json(stage1)["expected_parts"] == [1, 12, 14], "torso, head, and the lower arm of the wrist"
    stage2 = Task.objects.create(project=project, person=person, stage=2)
    SampledPoint.objects.create(person=person, part=3, order=0, box_x=10, box_y=20)
    body = task_json(stage2)["body"]
    assert body["name"] == "anny" and body["key"] == built.key
    assert body["bundle_url"] == f"/api/bodies/anny/parts/{{part}}/bundle?key={built.key}"
    assert body["picture_url"] == f"/api/bodies/anny/parts/{{part}}/views/{{view}}.png?key={built.key}"


@pytest.mark.django_db
def test_masks_with_list_counts_are_stored_in_pycocotools_form(users, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    project = Project.objects.create(name="p")
    make_person(project)
    services.create_tasks(project)
    task = services.next_task(users["annotator"], project, 1)
    mask = np.zeros((256, 256), dtype=bool)
    mask[40:90, 100:140] = True
    column_runs = [40 + 100 * 256, 50]
    for _ in range(39):
        column_runs += [206, 50]
    column_runs.append(256 * 256 - sum(column_runs))
    sent = [[] for _ in parts.MASK_PARTS]
    sent[0] = {"size": [256, 256], "counts": column_runs}
    submission, _ = services.submit(users["annotator"], task.pk, "k", {"dp_masks": sent})
    stored = Submission.objects.get(pk=submission.pk).data["dp_masks"]
    assert stored[0] == encode_rle(mask) and stored[1:] == sent[1:]
