"""Body models behind one interface (see base.py). ``load_body_model("anny", cache_dir=...)``."""

from __future__ import annotations

from pathlib import Path

from pipeline.body.base import BodyModel, BodyModelError, BodyTemplate

BODY_MODELS = ("anny",)


def load_body_model(name: str, *, cache_dir: str | Path) -> BodyModel:
    if name == "anny":
        from pipeline.body.anny_backend import AnnyBody

        return AnnyBody(cache_dir)
    raise BodyModelError(f"unknown body model {name!r}; available: {', '.join(BODY_MODELS)}")


__all__ = ["BODY_MODELS", "BodyModel", "BodyModelError", "BodyTemplate", "load_body_model"]
