"""The stored truth of synthetic images, read as :class:`pipeline.synthetic.truth.SyntheticTruth` (the lookup
itself lives there). A synthetic person's ``source_id`` is ``"<seed>:<image>:<index>"``
(:func:`annotator_web.data.synthetic.store_synthetic_image`); its index names it in the image's truth."""

from __future__ import annotations

import threading
from pathlib import Path

from django.conf import settings

from annotator_web.data.models import ImageTruth, Person
from pipeline.synthetic.truth import SyntheticTruth


def person_index(source_id: str) -> int | None:
    """The generator's index of a synthetic person, from its source id (None for other people)."""
    head, _, tail = (source_id or "").rpartition(":")
    return int(tail) if head and tail.isdigit() else None


class TruthCache:
    """Synthetic images' truth, each read once (thread-safe); ``None`` for images without one."""

    def __init__(self, media_root=None):
        self.media_root = media_root  # default: settings.MEDIA_ROOT
        self._images: dict[int, SyntheticTruth | None] = {}
        self._people: dict[int, tuple[int, int | None]] = {}  # person id -> (image id, index)
        self._lock = threading.Lock()

    def image(self, image_id: int) -> SyntheticTruth | None:
        with self._lock:
            if image_id not in self._images:
                record = ImageTruth.objects.filter(image_id=image_id).first()
                self._images[image_id] = None if record is None else SyntheticTruth.load(
                    Path(self.media_root or settings.MEDIA_ROOT) / record.file.name, record.people
                )
            return self._images[image_id]

    def person(self, person: Person | int) -> tuple[SyntheticTruth, int] | None:
        """The truth of a person's image and the person's index in it (None: not a synthetic person)."""
        pk = person if isinstance(person, int) else person.pk
        with self._lock:
            known = self._people.get(pk)
        if known is None:
            if isinstance(person, int):
                person = Person.objects.only("image_id", "source_id").get(pk=pk)
            known = (person.image_id, person_index(person.source_id))
            with self._lock:
                self._people[pk] = known
        image_id, index = known
        truth = self.image(image_id) if index is not None else None
        return None if truth is None else (truth, index)

    def forget_images(self, keep: int | None = None) -> None:
        """Drop what was read (but image ``keep``): for a pass over many images in turn."""
        with self._lock:
            for image_id in [i for i in self._images if i != keep]:
                del self._images[image_id]
