"""JSON that holds only finite numbers: request bodies and JSON-in-form fields alike. Python's json module takes
NaN, Infinity and numbers beyond a float (1e999 becomes inf); none of them may reach the database."""

from __future__ import annotations

import codecs
import json
import math

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows (numbers must be finite)")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is not finite")
    return value


def loads_finite(text: str | bytes):
    """json.loads that refuses NaN, Infinity and numbers too large for a float (ValueError, saying which)."""
    return json.loads(text, parse_constant=_constant, parse_float=_float)


def finite_number(value) -> bool:
    """A real number: int or float (never a bool), finite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class FiniteJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return loads_finite(codecs.getreader(encoding)(stream).read())
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
