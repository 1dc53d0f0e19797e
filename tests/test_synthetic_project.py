"""make_synthetic: a project of rendered people, resumable, with ground truth kept out of reach."""

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from annotator_web.data.models import Image, ImageTruth, Person, Project
from annotator_web.studies import synthetic
from tests.stack import ASSET_CACHE

# transaction=True: jobs run inline keep a heartbeat from a thread with its own connection
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def media(settings, tmp_path, assets):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ASSET_CACHE_DIR = ASSET_CACHE
    return settings.MEDIA_ROOT


def test_make_synthetic_creates_images_people_and_hidden_truth(media, capsys):
    call_command("make_synthetic", project="synth", count=3, seed=5)
    project = Project.objects.get(name="synth")
    assert project.synthetic and project.images.count() == 3
    for image in project.images.all():
        assert (media / image.file.name).exists() and image.width in (427, 480, 512, 640)
        truth = ImageTruth.objects.get(image=image)
        assert truth.file.name.startswith(f"truth/{project.pk}/")
        with np.load(media / truth.file.name) as data:
            assert data["part"].shape == (image.height, image.width)
            labelled = {int(i) for i in np.unique(data["instance"]) if i}
        annotated = [p for p in truth.people if not p["ignore"]]
        assert Person.objects.filter(image=image).count() == len(annotated)
        assert {p["index"] for p in annotated} <= labelled
        for person in Person.objects.filter(image=image):
            mine = next(p for p in truth.people if f"{image.source_id}:{p['index']}" == person.source_id)
            assert person.bbox == mine["bbox"] and len(mine["points"]) > 0

    from annotator_web.work.models import Task

    assert (
        Task.objects.filter(project=project, stage=1).count() == Person.objects.filter(image__project=project).count()
    )
    first = sorted(Image.objects.values_list("sha256", flat=True))
    call_command("make_synthetic", project="synth", count=4, seed=5)
    assert project.images.count() == 4, "a second run adds only what is missing"
    assert set(first) <= set(Image.objects.values_list("sha256", flat=True)), "same seed, same images"
    call_command("make_synthetic", project="synth", count=4, seed=5, if_missing=True)
    assert "already has 4 images" in capsys.readouterr().out


def test_ground_truth_is_not_served(media, client, make_user):
    call_command("make_synthetic", project="hidden", count=1, seed=1)
    make_user("boss", "admin")
    from tests.conftest import PASSWORD

    client.login(username="boss", password=PASSWORD)
    truth = ImageTruth.objects.get()
    assert client.get(f"/media/{truth.file.name}").status_code == 404
    assert client.get(f"/{truth.file.name}").status_code == 404


def test_a_failed_image_leaves_nothing_behind(media, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Person.objects, "bulk_create", broken)
    with pytest.raises(CommandError, match="disk full"):
        call_command("make_synthetic", project="broken", count=1, seed=3)
    assert Image.objects.count() == 0 and ImageTruth.objects.count() == 0
    assert not any(p.is_file() for p in media.rglob("*")), "no orphan files"


def test_bad_requests_are_refused(media):
    Project.objects.create(name="real-photos")
    with pytest.raises(CommandError, match="holds real images"):
        call_command("make_synthetic", project="real-photos", count=1)
    with pytest.raises(CommandError, match="project names are slugs"):
        call_command("make_synthetic", project="My Project!", count=1)
    with pytest.raises(CommandError, match="count must be between 1 and 100000"):
        call_command("make_synthetic", project="zero", count=0)
    assert synthetic.KIND == "make_synthetic"
