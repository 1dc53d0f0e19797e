"""Taking images in (upload, COCO import): type and size limits, a decompression-bomb guard, dedupe."""

from __future__ import annotations

import hashlib
import io

from django.conf import settings
from django.core.files.base import ContentFile

from annotator_web.core.errors import DomainError
from annotator_web.data.models import Image, Person, Project

FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


class ImageRejected(ValueError):
    pass


def check_image(data: bytes, name: str = "image") -> tuple[str, int, int]:
    """(format, width, height) of acceptable image bytes, or ImageRejected saying why not."""
    from PIL import Image as PILImage

    if len(data) > settings.MAX_IMAGE_BYTES:
        raise ImageRejected(f"{name} is {len(data) / 1e6:.1f} MB; the limit is {settings.MAX_IMAGE_BYTES / 1e6:.0f} MB")
    if not data:
        raise ImageRejected(f"{name} is empty")
    try:
        with PILImage.open(io.BytesIO(data)) as probe:
            fmt, (width, height) = probe.format, probe.size
            if width * height > settings.MAX_IMAGE_PIXELS:
                raise ImageRejected(
                    f"{name} is {width}x{height} pixels; more than {settings.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels "
                    "is refused (a decompression bomb guard)"
                )
            probe.verify()
    except ImageRejected:
        raise
    except PILImage.DecompressionBombError:
        raise ImageRejected(f"{name} declares too many pixels (a decompression bomb guard)") from None
    except Exception as exc:
        raise ImageRejected(f"{name} is not a readable image ({type(exc).__name__})") from None
    if fmt not in FORMATS:
        raise ImageRejected(f"{name} is {fmt}; accepted: {', '.join(FORMATS)}")
    return fmt, width, height


def ingest(
    project: Project, data: bytes, name: str, source: str = Image.Source.UPLOAD, source_id: str = "", split: str = ""
) -> tuple[Image, bool]:
    """Store an image in a project: (the image, whether it is new). The same bytes twice give the same image, sent
    at the same moment too: the project's row is locked until the caller's transaction ends (call inside one), so
    its images are added one writer at a time, and so are the people the caller adds to them."""
    fmt, width, height = check_image(data, name)
    digest = hashlib.sha256(data).hexdigest()
    list(Project.objects.select_for_update().filter(pk=project.pk).values_list("pk"))
    existing = Image.objects.filter(project=project, sha256=digest).first()
    if existing is not None:
        return existing, False
    image = Image(
        project=project, width=width, height=height, sha256=digest, source=source, source_id=source_id, split=split
    )
    image.file.save(f"{digest[:16]}.{FORMATS[fmt]}", ContentFile(data), save=False)
    image.save()
    return image, True


def parse_boxes(raw) -> list[tuple[float, float, float, float]]:
    """Person boxes as sent with an upload: a JSON list (or its text) of [x, y, w, h] finite numbers."""
    from annotator_web.core.parsers import check_storable, loads_finite
    from pipeline.coco.densepose import finite_number

    try:
        boxes = loads_finite(raw or "[]") if isinstance(raw, str | bytes) or raw is None else raw
        check_storable(boxes)  # not nested deeper than a body may be
    except ValueError as exc:
        raise DomainError(f"boxes: {exc}", field="boxes") from None
    if not isinstance(boxes, list) or not all(
        isinstance(b, list) and len(b) == 4 and all(finite_number(v) for v in b) for b in boxes
    ):  # checked in code, not with assert, which python -O drops
        raise DomainError("boxes must be a JSON list of [x, y, w, h] finite numbers", field="boxes")
    return [tuple(float(v) for v in b) for b in boxes]


def add_upload(project: Project, data: bytes, name: str, boxes: list) -> tuple[Image, bool, int]:
    """An uploaded image and its people: (the image, whether it is new, how many people were added). Everything
    is checked before a file is written; the same bytes again are the same image, and a box it already has is
    not a second person. Call inside a transaction."""
    try:
        _, width, height = check_image(data, name)
    except ImageRejected as exc:
        raise DomainError(str(exc), field="file") from None
    bad = [b for b in boxes if b[2] < 1 or b[3] < 1 or b[0] < 0 or b[1] < 0
           or b[0] + b[2] > width + 1 or b[1] + b[3] > height + 1]  # fmt: skip
    if bad:
        raise DomainError(f"box {list(bad[0])} is not inside the {width}x{height} image", field="boxes")
    image, created = ingest(project, data, name)
    have = {tuple(b) for b in image.people.values_list("x", "y", "w", "h")}
    new = list(dict.fromkeys(b for b in boxes if b not in have))
    Person.objects.bulk_create(Person(image=image, x=b[0], y=b[1], w=b[2], h=b[3]) for b in new)
    return image, created, len(new)
