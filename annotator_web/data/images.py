"""Taking images in (upload, COCO import): type and size limits, a decompression-bomb guard, dedupe."""

from __future__ import annotations

import hashlib
import io

from django.conf import settings
from django.core.files.base import ContentFile

from annotator_web.data.models import Image, Project

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
    """Store an image in a project: (the image, whether it is new). The same bytes twice give the same image."""
    fmt, width, height = check_image(data, name)
    digest = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(project=project, sha256=digest).first()
    if existing is not None:
        return existing, False
    image = Image(
        project=project, width=width, height=height, sha256=digest, source=source, source_id=source_id, split=split
    )
    image.file.save(f"{digest[:16]}.{FORMATS[fmt]}", ContentFile(data), save=False)
    image.save()
    return image, True
