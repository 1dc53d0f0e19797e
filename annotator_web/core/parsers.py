"""Request bodies the database can hold: JSON objects with only finite numbers (Python's json module takes NaN,
Infinity and numbers beyond a float, 1e999 becoming inf), no NUL character (PostgreSQL's text and jsonb refuse
it), no lone surrogate (``"\\ud800"`` parses to a string that cannot be written as UTF-8) and at most
``MAX_DEPTH`` levels of nesting; and query strings without NUL. Everything else is a 400 that says what is wrong,
before any view sees it."""

from __future__ import annotations

import codecs
import json
import math
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, TemporaryFileUploadHandler
from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser


def _constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows (numbers must be finite)")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is not finite")
    return value


def loads_finite(text: str | bytes):
    """json.loads that refuses NaN, Infinity and numbers too large for a float, and JSON nested too deep for the
    parser (ValueError, saying which)."""
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_float)
    except RecursionError:
        raise ValueError(f"the JSON nests more than {MAX_DEPTH} levels deep") from None


MAX_DEPTH = 64


def check_storable(value, depth: int = 0) -> None:
    """ValueError unless every string of ``value`` is free of NUL and lone surrogates and it nests at most
    ``MAX_DEPTH`` deep."""
    if depth > MAX_DEPTH:
        raise ValueError(f"the JSON nests more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("a string holds a NUL character (\\u0000)")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("a string holds a lone surrogate (\\ud800-\\udfff), not a character") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key, depth + 1)
            check_storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_storable(item, depth + 1)


class FiniteJSONParser(JSONParser):
    """Every API body: a JSON object that the database can store (see the module's docstring)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = loads_finite(codecs.getreader(encoding)(stream).read())
            check_storable(data)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if not isinstance(data, dict):
            raise ParseError(f"the body must be a JSON object, not a JSON {type(data).__name__}")
        return data


class StorableFormParser(FormParser):
    """Form bodies: their fields too may not hold NUL."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _check_fields(data)
        return data


class StorableMultiPartParser(MultiPartParser):
    """Multipart bodies (uploads): their fields may not hold NUL."""

    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        _check_fields(parsed.data)
        return parsed


def _check_fields(data) -> None:
    try:
        check_storable({key: data.getlist(key) for key in data})
    except ValueError as exc:
        raise ParseError(f"form field: {exc}") from None


class RefuseLargeBodiesMiddleware:
    """A body over ``MAX_REQUEST_BYTES`` (image uploads: ``MAX_IMAGE_BYTES`` and a margin) is answered 413 from its
    declared Content-Length, before a byte of it is read or spooled to disk."""

    def __init__(self, get_response):
        import re

        self.get_response = get_response
        self.upload_paths = [re.compile(p) for p in settings.UPLOAD_PATHS]

    def __call__(self, request):
        from django.http import JsonResponse

        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Content-Length is not a number"}, status=400)
        upload = any(p.match(request.path) for p in self.upload_paths)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE if upload else settings.MAX_REQUEST_BYTES
        if length > limit:
            return JsonResponse({"detail": f"the request body is {length / 1e6:.1f} MB; the limit here is "
                                           f"{limit / 1e6:.1f} MB"}, status=413)  # fmt: skip
        return self.get_response(request)


class RefuseNulMiddleware:
    """A query string with a NUL character gets a 400 (PostgreSQL cannot compare text with one)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.http import JsonResponse

        if any("\x00" in key or "\x00" in value for key, values in request.GET.lists() for value in values):
            return JsonResponse({"detail": "the query string holds a NUL character (%00)"}, status=400)
        return self.get_response(request)


class SpooledUpload(TemporaryUploadedFile):
    """An upload spooled to a file in ``UPLOAD_SPOOL_DIR`` (made when first needed) rather than the system's
    temporary folder."""

    def __init__(self, name, content_type, size, charset, content_type_extra=None):
        spool = Path(settings.UPLOAD_SPOOL_DIR)
        spool.mkdir(parents=True, exist_ok=True)
        file = tempfile.NamedTemporaryFile(suffix=".upload" + os.path.splitext(name)[1], dir=spool)  # noqa: SIM115
        UploadedFile.__init__(self, file, name, content_type, size, charset, content_type_extra)


class SpoolUploadHandler(TemporaryFileUploadHandler):
    """Django's spooling of large uploads, into the data folder's upload spool, where the workers' sweep removes
    what a killed server process left (Django's own ``FILE_UPLOAD_TEMP_DIR`` must exist before the server starts,
    and a new data folder has none)."""

    def new_file(self, *args, **kwargs):
        FileUploadHandler.new_file(self, *args, **kwargs)
        self.file = SpooledUpload(self.file_name, self.content_type, 0, self.charset, self.content_type_extra)
