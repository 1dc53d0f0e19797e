"""Body models behind one interface (see base.py). ``load_body_model("anny", cache_dir=...)``."""

from __future__ import annotations

from pathlib import Path

from pipeline.body.base import BodyModel, BodyModelError, BodyTemplate

BODY_MODELS = ("anny", "smpl")


def load_body_model(name: str, *, cache_dir: str | Path, smpl_dir: str | Path | None = None) -> BodyModel:
    """``anny`` (free, the default) or ``smpl`` (model files supplied by the user in ``smpl_dir``)."""
    if name == "anny":
        from pipeline.body.anny_backend import AnnyBody

        return AnnyBody(cache_dir)
    if name == "smpl":
        from pipeline.body.smpl_backend import SmplBody

        if smpl_dir is None:
            raise BodyModelError("the smpl body model needs the folder with your SMPL model files (SMPL_MODEL_DIR)")
        return SmplBody(smpl_dir)
    raise BodyModelError(f"unknown body model {name!r}; available: {', '.join(BODY_MODELS)}")


__all__ = ["BODY_MODELS", "BodyModel", "BodyModelError", "BodyTemplate", "load_body_model"]
